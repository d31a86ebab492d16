// Package engine is the per-lcore run-to-completion pipeline: receive a
// burst on each owned queue, parse Ethernet/ARP/IPv4, answer ICMP and UDP
// services in place, transmit, run timers, publish counters, idle. It runs
// on any dev.Queue, so tests drive it in memory with a virtual clock.
package engine

import (
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/frag"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/rss"
	"github.com/pmdstack/pmd/spsc"
	"github.com/pmdstack/pmd/tcp"
)

// Iface is one link as the stack sees it: a port, or a VLAN on a port,
// with its IPv4 addresses. The interfaces without VLAN are the ports, in
// the order of the lcore's queues, first; VLAN interfaces follow, each
// naming its port.
type Iface struct {
	Name   string
	MAC    ipv4.MAC
	Prefix ipv4.Prefix // our address and its network
	// Addrs are our further addresses on the link, each with its
	// network (Prefix's or another).
	Addrs   []ipv4.Prefix
	Gateway ipv4.Addr // 0: none
	MTU     int       // IPv4 packet bytes; 0: 1500
	// VLAN is the 802.1Q VLAN id (1..4094) of a VLAN interface, whose
	// frames are tagged on the wire; 0 for a port's untagged link.
	VLAN uint16
	// Port is the port (the index of its queue) a VLAN interface is on;
	// unused without VLAN.
	Port  int
	index int         // position in Config.Ifaces
	queue int         // its port's queue: index for a port, Port for a VLAN
	tag   dev.Offload // what asks the device to tag a frame for VLAN
}

// vlanIface is a VLAN interface of a port, for input.
type vlanIface struct {
	port int
	vid  uint16
	ifc  int
}

// TCPService is a service listening on a TCP port: New makes its handler
// on each lcore, before the lcore runs.
type TCPService struct {
	Port uint16
	New  func(l *Lcore) tcp.Handler
}

// UDPService is a service on a UDP port: New makes its handler on each
// lcore, before the lcore runs.
type UDPService struct {
	Port uint16
	New  func(l *Lcore) UDPHandler
}

// Idle is what an lcore does after a run of empty polls.
type Idle uint8

// Idle modes: keep polling, yield the CPU, or sleep briefly.
const (
	IdlePoll Idle = iota
	IdleYield
	IdleSleep
	IdleGosched
)

// Config is shared, read-only, by every lcore.
type Config struct {
	Ifaces []Iface
	// Routes are the static routes ([[route]]); Route takes the longest
	// prefix among them and the interfaces' networks.
	Routes     []Route
	UDP        []UDPService
	Idle       Idle
	IdleAfter  int
	IdleSleep  time.Duration
	ARPRetry   time.Duration // between requests for an unresolved next hop
	ARPTries   int           // requests before pending packets are dropped
	ARPPending int           // packets held per lcore awaiting resolution
	ICMPRate   int           // ICMP errors per second per lcore
	Neigh      *ipv4.Neighbours
	// Learned, if set, is signalled (without blocking) when an lcore has
	// learned a neighbour, so that the control goroutine calls
	// Control.Tick at once instead of polling for it: an idle control
	// loop then wakes rarely and does not preempt the lcores.
	Learned     chan struct{}
	TCP         tcp.Config
	TCPServices []TCPService
	// Owner maps a TCP flow to the lcore that owns it; nil with one lcore.
	Owner *rss.Owner
	// Frag is IPv4 reassembly's; the zero value drops fragments.
	Frag FragConfig
}

// Learned is a neighbour seen by an lcore, for the single writer of the
// neighbour table.
type Learned struct {
	Addr ipv4.Addr
	MAC  ipv4.MAC
}

const publishEvery = int64(10 * time.Millisecond)

// Lcore is one polling thread's stack: its queues (one per interface, in
// Config.Ifaces order), counters, pending packets and timers. Only its own
// goroutine touches it, except the published counters and the learn ring.
type Lcore struct {
	ID     int
	cfg    *Config
	queues []dev.Queue
	caps   []ipv4.ChecksumCaps // each queue's, read once: no interface call per packet
	c      Counters
	pub    published
	learn  *spsc.Ring[Learned]

	tcp     *tcp.Stack
	tcpOut  tcpOut
	apps    []App
	started bool // the apps have been started
	raw     *Raw
	// udpPort maps a UDP port to 1 + its index in udp, 0 for none: a
	// lookup per datagram without a map.
	udpPort *[65536]uint8
	udp     []UDPHandler
	dgram   Datagram          // the datagram being handled, reused
	reasm   *frag.Reassembler // nil: fragments are dropped
	fq      fragQueue         // a reassembled datagram as the input paths see it

	listReq atomic.Pointer[listRequest] // listings asked for by RequestListing, newest first

	steerTo, steerFrom []*spsc.Ring[steered] // by lcore ID; nil with one lcore
	exc                []dev.Queue           // by port: the kernel interface's queue (exception.go); nil for none
	vlans              []vlanIface           // the VLAN interfaces; nil without
	pubTCP             publishedTCP
	pubConns           atomic.Int64
	pubActive          atomic.Int64 // connections not in TIME-WAIT
	pubGauges          publishedGauges
	drainReq           atomic.Bool
	firstPanic         atomic.Pointer[HandlerPanic] // the first handler panic, until taken
	panicSeen          bool
	pubDraining        atomic.Bool
	now                int64

	pending     []pendingPkt
	pendingHops map[ipv4.Addr]pendingHop // the next hops pending frames wait for
	pendingVer  ipv4.NeighVersion        // the neighbour table at servicePending's last pass
	pendingDue  int64                    // the earliest request or deadline after that pass
	pendingPass int                      // servicePending's passes through the frames (tests)
	refreshing  map[ipv4.Addr]int64      // next hops asked again before their entry expires: when they may be asked next
	nextPublish int64
	ipID        uint16
	icmpTokens  int
	icmpRefill  int64
	sent        uint64 // packets queued for TX, to tell a busy iteration
}

// NewLcore builds lcore id's stack over its queues.
func NewLcore(id int, cfg *Config, queues []dev.Queue) *Lcore {
	l := &Lcore{
		ID:          id,
		cfg:         cfg,
		queues:      queues,
		learn:       spsc.New[Learned](256),
		pending:     make([]pendingPkt, 0, cfg.ARPPending),
		pendingHops: make(map[ipv4.Addr]pendingHop),
		ipID:        uint16(id) << 12,
	}
	for i := range cfg.Ifaces {
		ifc := &cfg.Ifaces[i]
		ifc.index, ifc.queue = i, i
		if ifc.VLAN != 0 {
			ifc.queue, ifc.tag = ifc.Port, dev.VLANTag(ifc.VLAN)
			l.vlans = append(l.vlans, vlanIface{port: ifc.Port, vid: ifc.VLAN, ifc: i})
		}
	}
	for _, q := range queues {
		l.caps = append(l.caps, q.Caps())
	}
	l.tcpOut.l = l
	if fc := cfg.Frag.Config; fc.Datagrams > 0 {
		fc.Headroom = ethLen + ipLen
		if fc.Seed == 0 {
			fc.Seed = rand.Uint64() // unknown to senders: they cannot choose colliding datagrams
		}
		l.reasm = frag.New(fc)
		l.fq.l = l
	}
	tc := cfg.TCP
	if cfg.Owner != nil {
		tc.Owns = l.ownsFlow // active opens pick ports whose replies come home
	}
	tc.OnPanic = l.notePanic
	l.tcp = tcp.NewStack(tc, &l.tcpOut)
	for _, sv := range cfg.TCPServices {
		l.tcp.Listen(sv.Port, sv.New(l))
	}
	l.udpPort = new([65536]uint8)
	for _, sv := range cfg.UDP {
		if len(l.udp) == 255 {
			panic("engine: more than 255 UDP services")
		}
		l.udp = append(l.udp, sv.New(l))
		l.udpPort[sv.Port] = uint8(len(l.udp))
	}
	return l
}

// Add adds n to one of the lcore's counters; for services running on the
// lcore's own thread.
func (l *Lcore) Add(c Counter, n uint64) { l.c[c] += n }

// Start starts the lcore's apps at time now, once; Run calls it, and a
// caller that polls the lcore itself (MemLink) calls it before the first
// Poll.
func (l *Lcore) Start(now int64) {
	if l.started {
		return
	}
	l.started = true
	l.now = now
	for _, a := range l.apps {
		a.Start(l, now)
	}
}

// AddApp runs a on this lcore; call before Run.
func (l *Lcore) AddApp(a App) { l.apps = append(l.apps, a) }

// Learn is the ring of neighbours this lcore has seen, drained by the
// control goroutine (Control).
func (l *Lcore) Learn() *spsc.Ring[Learned] { return l.learn }

// Counters are the lcore's counters as last published (every 10 ms and at
// exit); safe from any goroutine.
func (l *Lcore) Counters() Counters { return l.pub.load() }

// Poll runs one iteration at time now (nanoseconds, monotonic): flush and
// receive on every queue, handle each packet, then timers. It returns the
// number of packets received plus those queued for sending by timers, so
// that zero means idle.
func (l *Lcore) Poll(now int64) int {
	l.now = now
	if l.raw != nil {
		return l.rawPoll(now)
	}
	sent := l.sent
	work := 0
	l.c[Polls]++
	for i, q := range l.queues {
		n := q.Poll()
		if n > 0 {
			l.c[RxBursts]++
		}
		for j := 0; j < n; j++ {
			b, data, meta := q.Packet(j)
			l.input(i, q, b, data, meta, now)
		}
		work += n
	}
	if l.steerFrom != nil {
		work += l.drainSteered(now)
	}
	// The kernel's traffic is the host's own management traffic, and a
	// poll of its interface may cost a system call (net_tap reads the
	// TAP's file): a busy lcore looks every 32nd poll, an idle one at
	// each.
	if l.exc != nil && (work == 0 || l.c[Polls]&31 == 0) {
		work += l.fromKernel()
	}
	for _, a := range l.apps {
		a.Poll(l, now)
	}
	if l.reasm != nil {
		l.expireFrags(now)
	}
	l.tcp.Advance(now) // timers, then everything input, timers and apps queued
	if l.tcp.Backlogged() {
		work++ // output waits for the TX queue's room: poll again, do not idle
	}
	if l.listReq.Load() != nil {
		l.answerListing()
	}
	if len(l.pending) > 0 {
		l.servicePending(now)
	}
	if now >= l.nextPublish {
		if l.drainReq.Load() && !l.tcp.Draining() {
			l.tcp.Drain()
		}
		l.publish()
		l.nextPublish = now + publishEvery
	}
	return work + int(l.sent-sent)
}

func (l *Lcore) publish() {
	var qs dev.QueueStats
	for _, q := range l.queues {
		qs.Add(q.Stats())
	}
	l.c[DropTxFull], l.c[DropMultiSeg], l.c[PcapSkipped] = qs.TxFull, qs.MultiSeg, qs.PcapSkipped
	l.c[DropVLANInsert] = qs.VLANInsertFail
	l.c[FaultDropped], l.c[FaultDuplicated], l.c[FaultReordered], l.c[FaultCorrupted] = qs.FaultDropped, qs.FaultDuplicated, qs.FaultReordered, qs.FaultCorrupted
	if l.reasm != nil {
		l.publishFrag()
	}
	l.pub.store(&l.c)
	l.pubTCP.store(&l.tcp.C)
	l.pubConns.Store(int64(l.tcp.Conns()))
	l.pubActive.Store(int64(l.tcp.Active()))
	l.pubGauges.store(l.tcp)
	l.pubDraining.Store(l.tcp.Draining())
}

// Draining reports whether the lcore has begun draining (Drain), as last
// published: Active counts from then on.
func (l *Lcore) Draining() bool { return l.pubDraining.Load() }

// HandlerPanic is a panic of a service's handler (TCP or UDP) that the
// lcore contained: the connection was reset, or the datagram dropped, and
// the lcore went on polling.
type HandlerPanic struct {
	Proto string // "tcp" or "udp"
	Value any
	Stack []byte
}

// notePanic keeps the lcore's first handler panic for TakePanic.
func (l *Lcore) notePanic(pe *tcp.PanicError) {
	l.keepPanic(&HandlerPanic{Proto: "tcp", Value: pe.Value, Stack: pe.Stack})
}

func (l *Lcore) keepPanic(p *HandlerPanic) {
	if !l.panicSeen {
		l.panicSeen = true
		l.firstPanic.Store(p)
	}
}

// TakePanic returns the lcore's first contained handler panic, once (nil
// if none, or already taken); safe from any goroutine. The later ones are
// only counted (tcp_handler_panics, udp_handler_panics): one stack trace
// tells what is wrong, a flood of them would bury the log.
func (l *Lcore) TakePanic() *HandlerPanic { return l.firstPanic.Swap(nil) }

// Drain asks the lcore to stop accepting TCP connections (tcp.Stack.Drain)
// within its next 10 ms; safe from any goroutine. Active tells how many
// connections remain.
func (l *Lcore) Drain() { l.drainReq.Store(true) }

// Active is the number of TCP connections not in TIME-WAIT, as last
// published.
func (l *Lcore) Active() int { return int(l.pubActive.Load()) }

// Run polls until stop is set, idling as configured, then flushes, drops
// what is pending and publishes its counters a last time.
func (l *Lcore) Run(stop *atomic.Bool, clock func() int64) {
	last := clock()
	l.Start(last)
	empty := 0
	for !stop.Load() {
		now := clock()
		// A poll that begins long after the one before without an idle
		// action between them: the thread lost its CPU (to another
		// thread, to the hypervisor) or the poll was slow. Every packet
		// waiting meanwhile waited that long: latency outliers start
		// here.
		if gap := now - last; gap > pollGap {
			l.c[PollGaps]++
			l.c[PollGapMicros] += uint64(gap / 1000)
		}
		last = now
		if l.Poll(now) > 0 {
			empty = 0
			continue
		}
		if empty++; empty < l.cfg.IdleAfter {
			continue
		}

		switch l.cfg.Idle {
		case IdleYield:
			// sched_yield alone. The thread is locked to this goroutine,
			// so runtime.Gosched would hand the P to another thread and
			// wait to be woken back (two futex wakes and, across CPUs, an
			// IPI per yield); other goroutines have Ps of their own
			// (GOMAXPROCS counts the lcores). Raw, because a yield that
			// lets another thread run for a while would otherwise let
			// the runtime take the P away and hand it back afterwards.
			// Server and client lcores sharing CPUs (scripts/bench
			// section 5) went 1.13-1.25x faster without Gosched (rr,
			// 1,024 connections), and with 2 lcores a further 1.04-1.14x
			// with the raw call (256 connections).
			syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
		case IdleGosched:
			// A goroutine this lcore made runnable (the net.Conn
			// adapter's readers and writers) is queued on the lcore's
			// own P, from which another thread steals it only after a
			// deliberate delay. Gosched on this locked thread hands the
			// P, with them, to another thread at once and waits to get
			// it back. For CPUs shared with those goroutines (README,
			// "The net.Conn adapter").
			runtime.Gosched()
		case IdleSleep:
			// A plain nanosleep on this locked thread: precise, and it
			// does not go through the Go scheduler's timers.
			ts := unix.NsecToTimespec(int64(l.cfg.IdleSleep))
			unix.Nanosleep(&ts, nil)
		}
		if l.cfg.Idle != IdlePoll {
			last = clock() // the idle action's time is no gap
		}
	}
	l.Close()
}

// closeDrain bounds how long Close waits for the device to take the
// resets of the connections it aborts.
const closeDrain = time.Second

// pollGap is the time between two polls beyond which PollGaps counts.
const pollGap = int64(time.Millisecond)

// Close resets the TCP connections still open (their peers learn at
// once that they are gone, rather than retransmitting into silence),
// sends what is queued, frees packets still awaiting resolution and
// publishes the final counters.
func (l *Lcore) Close() {
	if l.tcp.AbortAll(l.now) > 0 {
		l.tcp.Advance(l.now) // the resets go out with the rest
		// More resets than the TX ring holds (a million connections)
		// wait in TCP: give the device a while to take them. (Advance,
		// not Flush alone: Backlogged also covers timers coming down the
		// wheel, which only Advance moves.)
		for start := time.Now(); l.tcp.Backlogged() && time.Since(start) < closeDrain; {
			for _, q := range l.queues {
				q.Flush()
			}
			l.tcp.Advance(l.now)
		}
	}
	for _, p := range l.pending {
		l.queues[l.cfg.Ifaces[p.port].queue].Free(p.buf)
		l.c[DropARPUnresolved]++
	}
	l.pending = l.pending[:0]
	clear(l.pendingHops)
	for _, q := range l.queues {
		q.Flush()
	}
	l.publish()
}

// send queues a frame of n bytes on queue port and counts it.
func (l *Lcore) send(q dev.Queue, b dev.Buf, n int, o dev.Offload) {
	q.Send(b, n, o)
	l.c[TxPackets]++
	l.c[TxBytes] += uint64(n)
	l.sent++
}

// drop frees b and counts why.
func (l *Lcore) drop(q dev.Queue, b dev.Buf, why Counter) {
	q.Free(b)
	l.c[why]++
}
