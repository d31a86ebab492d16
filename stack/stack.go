// Package stack runs pmd in a program of its own: it loads or takes a
// configuration, starts DPDK, the ports and the polling lcores with the
// configured services, and stops them; counters and the connection listing
// are read from Go. Services are registered by name (Register); the
// built-in ones (echo, discard, chargen, http) register the same way.
//
// A program starts one Stack per process: DPDK's EAL is initialised once.
package stack

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	pmdclock "github.com/pmdstack/pmd/clock"
	"github.com/pmdstack/pmd/config"
	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/eal"
	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/pmd"
	"github.com/pmdstack/pmd/rss"
	"github.com/pmdstack/pmd/socket"
	"github.com/pmdstack/pmd/tcp"
)

// Options are what a program adds to the configuration when it starts a
// stack.
type Options struct {
	// Log receives the start-up summary, the counter lines and warnings;
	// nil: slog.Default().
	Log *slog.Logger
	// Setup runs once the ports and lcores are built and before the
	// lcores run: the place to add applications to lcores
	// (Lcore.Engine().AddApp) or to open connections from them. An error
	// stops the start.
	Setup func(s *Stack) error
	// Program is the program name DPDK sees as argv[0]; "pmd" by default.
	Program string
	// Socket sets the net.Conn adapter's buffers and bounds (Net).
	Socket []socket.Option
}

// Lcore is one polling lcore as a service sees it: its TCP stack, clock
// and routes. Its methods other than ID and Engine may be called only on
// the lcore's own thread (from a handler or an App), or in Options.Setup
// before the lcores run.
type Lcore struct {
	id int
	e  *engine.Lcore
	st *Stack
}

// ID is the lcore's index, 0..len(eal.lcores)-1.
func (l *Lcore) ID() int { return l.id }

// Engine is the lcore's pipeline, for what this package does not wrap
// (adding an engine.App, raw modes).
func (l *Lcore) Engine() *engine.Lcore { return l.e }

// TCP is the lcore's TCP stack: Listen and Connect on it.
func (l *Lcore) TCP() *tcp.Stack { return l.e.TCP() }

// Now is the time of the lcore's current poll iteration, in nanoseconds
// on its monotonic clock.
func (l *Lcore) Now() int64 { return l.e.Now() }

// Connect opens a TCP connection to remote from the address of the port
// that routes to it, with a source port whose answers reach this lcore.
// The outcome reaches h (Open or Closed).
func (l *Lcore) Connect(remote netip.AddrPort, h tcp.Handler) (*tcp.Conn, error) {
	ra, ok := ipv4.AddrFromNetip(remote.Addr())
	if !ok {
		return nil, fmt.Errorf("stack: connect to %v: not an IPv4 address", remote)
	}
	local, err := l.st.localFor(ra)
	if err != nil {
		return nil, err
	}
	return l.e.TCP().Connect(local, ra, remote.Port(), h, l.e.Now())
}

// Stack is a running pmd: DPDK, the ports, the lcores and their services.
type Stack struct {
	cfg   *config.Config
	opts  Options
	log   *slog.Logger
	ecfg  *engine.Config
	pools []*eal.Mempool
	ports []*pmd.Port
	// excPorts are the kernel interfaces of the exception paths
	// (port.exception), not counted among the ports
	excPorts []*pmd.Port
	lcores   []*Lcore
	eals     []*eal.Lcore
	stop     atomic.Bool // set: the lcores stop polling
	eal      bool
	// wrappers of device queues (fault injectors, captures), in the order
	// made: closed from the last, once the lcores have stopped
	closers []func() error
	pcaps   []*dev.Pcap
	faults  [][]*dev.Faults // by port, by queue; nil for a port without [port.faults]
	started time.Time
	ctl     *controlServer
	net     *socket.Net
	metrics *metricsServer // the [metrics] endpoint, if served

	portsMu     sync.Mutex // held while reading device counters and while closing the ports
	portsClosed bool

	stopOnce sync.Once
	stopReq  chan struct{} // closed by Stop: drain, then stop
	nowOnce  sync.Once
	stopNow  chan struct{} // closed by StopNow or a Stop whose ctx ended: stop at once
	done     chan struct{} // closed once everything is torn down
	err      error         // teardown's, read after done
}

// controlEvery is how often the control goroutine looks at the neighbour
// table's ages when nothing wakes it sooner.
const controlEvery = 50 * time.Millisecond

// Start starts DPDK, the ports and the lcores of cfg (validated, as
// LoadConfig, ParseConfig or Config.Validate leave it) and returns once
// the lcores poll. The stack runs until Stop or until ctx is done.
func Start(ctx context.Context, cfg *config.Config, opts Options) (_ *Stack, err error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Program == "" {
		opts.Program = "pmd"
	}
	if err := CheckHost(cfg); err != nil {
		return nil, err
	}
	// Each polling lcore holds a P while it runs Go code: leave room for
	// the runtime, the control loop and the garbage collector.
	if want := runtime.NumCPU() + len(cfg.EAL.Lcores); runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
	s := &Stack{cfg: cfg, opts: opts, log: opts.Log, started: time.Now(), stopReq: make(chan struct{}), stopNow: make(chan struct{}), done: make(chan struct{})}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.teardown())
			close(s.done)
		}
	}()
	if err := s.setup(); err != nil {
		return nil, err
	}
	s.net = socket.New(s.engines(), opts.Socket...)
	if opts.Setup != nil {
		if err := opts.Setup(s); err != nil {
			return nil, err
		}
	}
	if err := s.startMetrics(); err != nil {
		return nil, err
	}
	if err := s.startLcores(); err != nil {
		return nil, err
	}
	s.startTelemetry()
	s.openControl()
	go s.control(ctx)
	return s, nil
}

func (s *Stack) setup() error {
	cfg, log := s.cfg, s.log
	args := cfg.EALArgs(s.opts.Program, os.Getpid())
	log.Info("eal init", "args", strings.Join(args[1:], " "))
	if err := eal.Init(args); err != nil {
		return fmt.Errorf("EAL: %w (see 'pmd check -c %s')", err, cfg.File)
	}
	s.eal = true
	for i := range cfg.EAL.Lcores {
		p, err := eal.NewPktPool(fmt.Sprintf("pmd_l%d", i), cfg.PoolMbufs(), cfg.Engine.MbufCache, cfg.MbufDataRoom(), -1)
		if err != nil {
			return fmt.Errorf("lcore %d: %w (see 'pmd check -c %s')", i, err, cfg.File)
		}
		s.pools = append(s.pools, p)
	}
	ecfg := &engine.Config{
		Idle:       map[config.Idle]engine.Idle{config.IdlePoll: engine.IdlePoll, config.IdleYield: engine.IdleYield, config.IdleSleep: engine.IdleSleep, config.IdleGosched: engine.IdleGosched}[cfg.Engine.Idle],
		IdleAfter:  cfg.Engine.IdleAfter,
		IdleSleep:  cfg.Engine.IdleSleep,
		ARPRetry:   cfg.ARP.Retry,
		ARPTries:   cfg.ARP.Tries,
		ARPPending: cfg.ARP.Pending,
		ICMPRate:   cfg.Engine.ICMPRate,
		Neigh:      ipv4.NewNeighbours(cfg.ARP.Entries, cfg.ARP.Timeout),
		Learned:    make(chan struct{}, 1),
	}
	s.ecfg = ecfg
	// With several lcores every TCP flow has an owner: the same Toeplitz
	// key and table in the devices (where they do RSS) and in software.
	var prss *pmd.RSS
	if len(cfg.EAL.Lcores) > 1 {
		key := rss.SymmetricKey
		if cfg.RSS.Key == "microsoft" {
			key = rss.MicrosoftKey
		}
		ecfg.Owner = &rss.Owner{H: rss.NewHasher(key), T: rss.NewTable(cfg.RSS.RETASize, len(cfg.EAL.Lcores))}
		prss = &pmd.RSS{Key: key[:], Table: ecfg.Owner.T.Entries}
	}
	for i, pc := range cfg.Ports {
		p, err := openPort(cfg, i, s.pools, prss)
		if p != nil {
			s.ports = append(s.ports, p)
		}
		if err != nil {
			return err
		}
		addr, _ := ipv4.AddrFromNetip(pc.Address.Addr())
		gw, _ := ipv4.AddrFromNetip(pc.Gateway)
		ifc := engine.Iface{Name: p.Name, MAC: p.MAC, Prefix: ipv4.Prefix{Addr: addr, Bits: pc.Address.Bits()}, Gateway: gw, MTU: pc.MTU}
		for _, a := range pc.Addresses {
			ifc.Addrs = append(ifc.Addrs, ipv4.Prefix{Addr: ipv4.AddrFrom4(a.Addr().As4()), Bits: a.Bits()})
		}
		ecfg.Ifaces = append(ecfg.Ifaces, ifc)
	}
	ecfg.Ifaces = append(ecfg.Ifaces, vlanIfaces(cfg, s.ports)...)
	// The kernel interfaces of the exception paths, with the port's MAC,
	// so that the kernel's traffic leaves the port as the port's.
	excs := make([]*pmd.Port, len(s.ports))
	for i, pc := range cfg.Ports {
		if pc.Exception == "" {
			continue
		}
		p, err := openException(cfg, i, s.ports[i].MAC, s.pools)
		if p != nil {
			s.excPorts = append(s.excPorts, p)
			excs[i] = p
		}
		if err != nil {
			return err
		}
	}
	for _, r := range cfg.Routes {
		via, _ := ipv4.AddrFromNetip(r.Via)
		ecfg.Routes = append(ecfg.Routes, engine.Route{Prefix: ipv4.Prefix{Addr: ipv4.AddrFrom4(r.Prefix.Addr().As4()), Bits: r.Prefix.Bits()}, Via: via, Port: ifaceOf(ecfg.Ifaces, r.Port, via)})
	}
	for i := range cfg.EAL.Lcores {
		s.lcores = append(s.lcores, &Lcore{id: i, st: s})
	}
	// A factory receives the stack's Lcore; the engine's lcore it wraps
	// is being built when the factory runs.
	wrap := func(el *engine.Lcore) *Lcore {
		l := s.lcores[el.ID]
		l.e = el
		return l
	}
	for _, sv := range cfg.Services {
		k, opts := lookup(sv.Kind), sv.Options
		if sv.Proto == config.ProtoUDP {
			ecfg.UDP = append(ecfg.UDP, engine.UDPService{Port: uint16(sv.Port), New: func(el *engine.Lcore) engine.UDPHandler { return k.udp(wrap(el), opts) }})
		} else {
			ecfg.TCPServices = append(ecfg.TCPServices, engine.TCPService{Port: uint16(sv.Port), New: func(el *engine.Lcore) tcp.Handler { return k.tcp(wrap(el), opts) }})
		}
	}
	ecfg.TCP = TCPConfig(cfg)
	ecfg.Frag = engine.FragConfig{Config: cfg.IP.Frag(), TimeExceeded: cfg.IP.FragTimeExceeded}
	var els []*engine.Lcore
	for i := range cfg.EAL.Lcores {
		qs := make([]dev.Queue, len(s.ports))
		for j, p := range s.ports {
			q, err := s.wrapQueue(cfg.Ports[j], j, i, p.Queue(i))
			if err != nil {
				return err
			}
			qs[j] = q
		}
		el := engine.NewLcore(i, ecfg, qs)
		for j, p := range excs {
			if p != nil {
				el.SetException(j, p.Queue(i))
			}
		}
		wrap(el)
		els = append(els, el)
	}
	engine.Join(els)
	for _, p := range s.ports {
		if err := p.Start(prss); err != nil {
			return err
		}
	}
	for _, p := range s.excPorts {
		if err := p.Start(nil); err != nil {
			return err
		}
	}
	s.summary()
	return nil
}

func (s *Stack) startLcores() error {
	// Every lcore reads a clock of its own (the time-stamp counter where
	// the kernel trusts it), anchored to the monotonic clock.
	epoch := time.Now()
	for i, cpu := range s.cfg.EAL.Lcores {
		l := s.lcores[i].e
		ck := pmdclock.New(epoch)
		el, err := eal.StartLcore(cpu, func(*eal.Lcore) error {
			defer func() {
				// A panic of the stack itself (not of a service's
				// handler, which the lcore contains): its state may be
				// inconsistent, and a stack that guesses on would corrupt
				// connections. Say so plainly, then let it stop the
				// process with its trace.
				if r := recover(); r != nil {
					fmt.Fprintf(os.Stderr, "pmd: internal error on lcore %d (CPU %d): %v\nThis is a bug in pmd: please report it with the trace below.\n", i, cpu, r)
					panic(r)
				}
			}()
			l.Run(&s.stop, ck.Now)
			return nil
		})
		if err != nil {
			return err
		}
		s.eals = append(s.eals, el)
		s.log.Info("lcore started", "lcore", i, "cpu", cpu, "dpdk_lcore_id", el.ID)
	}
	return nil
}

// control runs beside the lcores until the stack stops: it enters the
// neighbours the lcores learned, ages them, prints the counters and says
// once whether the devices' RSS hashes agree with pmd's. It shares the
// CPUs with polling lcores, so it wakes when an lcore has learned a
// neighbour and otherwise rarely.
func (s *Stack) control(ctx context.Context) {
	defer close(s.done)
	ctl := &engine.Control{Neigh: s.ecfg.Neigh, Lcores: s.engines()}
	epoch := time.Now()
	clock := func() int64 { return int64(time.Since(epoch)) }
	tick := time.NewTicker(controlEvery)
	defer tick.Stop()
	var stats <-chan time.Time
	if s.cfg.Engine.StatsInterval > 0 {
		t := time.NewTicker(s.cfg.Engine.StatsInterval)
		defer t.Stop()
		stats = t.C
	}
	var lastLogged Counters // what the last counter lines said
	watchTick := time.NewTicker(time.Second)
	defer watchTick.Stop()
	var ep episodes
	hashCheck := time.After(2 * time.Second)
	stopReq := s.stopReq
	var drainTick <-chan time.Time // while draining
	var drainEnd time.Time
loop:
	for {
		select {
		case <-hashCheck:
			s.reportHash()
		case <-s.ecfg.Learned:
			ctl.Tick(clock())
		case <-tick.C:
			ctl.Tick(clock())
			s.logPanics()
		case <-stats:
			// Only news: an idle pmd prints nothing.
			if c := s.Counters(); changed(&c, &lastLogged) {
				s.logStats("stats", &c)
				lastLogged = c
			}
		case now := <-watchTick.C:
			c := s.Counters()
			s.watch(&ep, &c, now)
		case <-ctx.Done():
			s.log.Info("stopping", "reason", context.Cause(ctx).Error())
			break loop
		case <-stopReq:
			stopReq = nil
			if s.cfg.Engine.Drain <= 0 {
				break loop
			}
			for _, l := range s.lcores {
				l.e.Drain()
			}
			drainEnd = time.Now().Add(s.cfg.Engine.Drain)
			t := time.NewTicker(controlEvery)
			defer t.Stop()
			drainTick = t.C
			s.log.Info("draining: new connections are refused, open ones may finish", "for", s.cfg.Engine.Drain, "connections", s.active())
		case <-drainTick:
			ctl.Tick(clock())
			if n, all := s.drained(); all && n == 0 {
				s.log.Info("drained: every connection finished")
				break loop
			} else if time.Now().After(drainEnd) {
				s.log.Warn("drain time over: the connections left are reset", "connections", n)
				break loop
			}
		case <-s.stopNow:
			if drainTick != nil {
				s.log.Info("drain cut short: the connections left are reset", "connections", s.active())
			}
			break loop
		}
	}
	s.err = s.teardown()
}

// logPanics logs each lcore's first contained handler panic, with its
// stack, once; the later ones are counted only.
func (s *Stack) logPanics() {
	for i, l := range s.lcores {
		if p := l.e.TakePanic(); p != nil {
			s.log.Error("a service handler panicked: the lcore contained it and goes on (its connection was reset, or its datagram dropped); later panics on this lcore are only counted",
				"lcore", i, "proto", p.Proto, "panic", fmt.Sprint(p.Value), "stack", string(p.Stack))
		}
	}
}

// active is the number of TCP connections not in TIME-WAIT, as the lcores
// last published it.
func (s *Stack) active() int {
	n := 0
	for _, l := range s.lcores {
		n += l.e.Active()
	}
	return n
}

// drained is active, and whether every lcore has begun draining.
func (s *Stack) drained() (int, bool) {
	all := true
	for _, l := range s.lcores {
		all = all && l.e.Draining()
	}
	return s.active(), all
}

func (s *Stack) engines() []*engine.Lcore {
	els := make([]*engine.Lcore, len(s.lcores))
	for i, l := range s.lcores {
		els[i] = l.e
	}
	return els
}

// Stop drains, then stops. Draining refuses new TCP connections (a SYN
// gets a reset), tells the handlers that implement tcp.Drainer, and waits
// for at most engine.drain until every connection has ended (TIME-WAIT
// aside); the connections left then are reset. Then Stop stops the
// lcores, prints the final counters, closes the ports and releases DPDK,
// and returns what went wrong doing so. If ctx ends first, the drain is
// cut short, the stack stops at once, and Stop returns ctx's error without
// waiting (Wait and Done tell when it has stopped). Calling it again waits
// for the same end. With engine.drain = 0, Stop stops at once.
func (s *Stack) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stopReq) })
	select {
	case <-s.done:
		return s.err
	case <-ctx.Done():
		s.nowOnce.Do(func() { close(s.stopNow) })
		return ctx.Err()
	}
}

// StopNow stops without draining, or cuts a drain under way short: the
// open connections are reset. It returns Stop's result once the stack has
// stopped. Ending the context given to Start does the same.
func (s *Stack) StopNow() error {
	s.nowOnce.Do(func() { close(s.stopNow) })
	s.stopOnce.Do(func() { close(s.stopReq) })
	<-s.done
	return s.err
}

// Done is closed once the stack has stopped, by Stop or by the context
// given to Start.
func (s *Stack) Done() <-chan struct{} { return s.done }

// Wait blocks until the stack has stopped and returns Stop's result.
func (s *Stack) Wait() error {
	<-s.done
	return s.err
}

// Net is pmd's TCP through package net's interfaces, for code written
// against net.Listener and net.Conn (net/http, crypto/tls): its
// connections live on the lcores and hand their data to goroutines over
// bounded lock-free rings.
func (s *Stack) Net() *socket.Net { return s.net }

// Listen listens on a TCP port on every lcore and address, as a
// net.Listener (see Net).
func (s *Stack) Listen(port uint16) (net.Listener, error) { return s.net.Listen(port) }

// DialContext connects to address ("198.18.0.2:80") from one of the
// lcores, as a net.Conn (see Net).
func (s *Stack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return s.net.DialContext(ctx, network, address)
}

// Config is the configuration the stack runs.
func (s *Stack) Config() *config.Config { return s.cfg }

// Lcores are the polling lcores, in eal.lcores order.
func (s *Stack) Lcores() []*Lcore { return s.lcores }

// Log is the logger the stack writes to.
func (s *Stack) Log() *slog.Logger { return s.log }

// localFor is the address of the port that routes to remote.
func (s *Stack) localFor(remote ipv4.Addr) (ipv4.Addr, error) {
	a, ok := s.lcores[0].e.SourceAddr(remote)
	if !ok {
		return 0, fmt.Errorf("no route to %v: no port's prefix holds it and no gateway is configured", remote)
	}
	return a, nil
}

// LocalFor is the address of the port that routes to remote: the source
// address of connections to it.
func (s *Stack) LocalFor(remote netip.Addr) (netip.Addr, error) {
	ra, ok := ipv4.AddrFromNetip(remote)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%v is not an IPv4 address", remote)
	}
	a, err := s.localFor(ra)
	if err != nil {
		return netip.Addr{}, err
	}
	return a.Netip(), nil
}

// reportHash says once what the devices' RSS hashes looked like on the
// first packets that carried one.
func (s *Stack) reportHash() {
	var match, mismatch uint64
	for _, l := range s.lcores {
		c := l.e.Counters()
		match += c[engine.RSSHashMatch]
		mismatch += c[engine.RSSHashMismatch]
	}
	switch {
	case match+mismatch == 0:
		return // no device reported a hash
	case mismatch == 0:
		s.log.Info("device RSS hash agrees with pmd's", "packets", match)
	default:
		s.log.Warn("device RSS hash differs from pmd's: flows that land on the wrong lcore are steered to their owner",
			"agree", match, "differ", mismatch)
	}
}

// TCPConfig is cfg's [tcp] table for the lcores' stacks, with a fresh
// secret for ISNs and SYN cookies.
func TCPConfig(cfg *config.Config) tcp.Config {
	c := cfg.TCP.Stack(cfg.MSS())
	rand.Read(c.Seed[:])
	return c
}

func openPort(cfg *config.Config, i int, pools []*eal.Mempool, prss *pmd.RSS) (*pmd.Port, error) {
	pc := cfg.Ports[i]
	key := fmt.Sprintf("%s: port[%d]", cfg.File, i)
	p, err := pmd.Open(pmd.WithRingSize(pc.Device, pc.RxDesc))
	if err != nil {
		return nil, fmt.Errorf("%s.device: %w", key, err)
	}
	err = p.Configure(pmd.Config{
		Queues: pc.Queues, RxDesc: pc.RxDesc, TxDesc: pc.TxDesc, MTU: pc.MTU,
		Burst: cfg.Engine.Burst, ChecksumOffload: pc.ChecksumOffload, TrustedLink: pc.TrustedLink, Promiscuous: pc.Promiscuous,
		VLAN: len(pc.VLANs) > 0, VLANSoftware: pc.VLANSoftware,
		Pools: pools, RSS: prss,
	})
	if errors.Is(err, pmd.ErrQueues) {
		return p, fmt.Errorf("%s.queues: %w", key, err)
	}
	if err != nil {
		return p, fmt.Errorf("%s: %w", key, err)
	}
	return p, nil
}

// openException opens port i's kernel interface with a queue pair per
// lcore (each lcore carries its own share of the exception traffic) and
// the port's MAC unless the devargs give one.
func openException(cfg *config.Config, i int, mac ipv4.MAC, pools []*eal.Mempool) (*pmd.Port, error) {
	key := fmt.Sprintf("%s: port[%d].exception", cfg.File, i)
	devargs := cfg.Ports[i].Exception
	if _, ok := pmd.Devarg(devargs, "mac"); !ok {
		devargs += ",mac=" + mac.String()
	}
	n := len(cfg.EAL.Lcores)
	if _, ok := pmd.Devarg(devargs, "queues"); strings.HasPrefix(devargs, "net_virtio_user") && !ok {
		devargs += ",queues=" + strconv.Itoa(n) // virtio-user offers one queue pair unless told
	}
	p, err := pmd.Open(devargs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if err := p.Configure(pmd.Config{Queues: n, RxDesc: config.ExceptionDesc, TxDesc: config.ExceptionDesc, MTU: cfg.Ports[i].MTU, Burst: cfg.Engine.Burst, Pools: pools}); err != nil {
		return p, fmt.Errorf("%s: %w", key, err)
	}
	return p, nil
}

// wrapQueue puts the port's capture and fault injector, if configured,
// around queue i: the capture next to the device, so that it records the
// wire's side of the faults, as tcpdump on the link would.
func (s *Stack) wrapQueue(pc config.Port, port, i int, q dev.Queue) (dev.Queue, error) {
	if pc.Pcap != "" {
		name := pc.PcapFile(i, pc.Queues)
		f, err := os.Create(name)
		if err != nil {
			return nil, fmt.Errorf("port[%d].pcap: %w", port, err)
		}
		pq, err := dev.NewPcap(q, f, pc.PcapSnaplen, int64(pc.PcapLimitMB)<<20, func() int64 { return time.Now().UnixNano() })
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("port[%d].pcap: %w", port, err)
		}
		s.closers = append(s.closers, func() error { return errors.Join(pq.Close(), f.Close()) })
		pq.On.Store(pc.PcapStart)
		s.pcaps = append(s.pcaps, pq)
		s.log.Info("capture", "port", port, "queue", i, "file", name, "snaplen", pc.PcapSnaplen, "limit_mb", pc.PcapLimitMB, "recording", pc.PcapStart)
		q = pq
	}
	if fc := pc.Faults; fc != nil {
		fq := dev.NewFaults(q, dev.FaultConfig{Drop: fc.Drop, Duplicate: fc.Duplicate, Reorder: fc.Reorder, Corrupt: fc.Corrupt,
			RX: fc.Direction != "tx", TX: fc.Direction != "rx", Seed: uint64(fc.Seed) + uint64(i)})
		s.closers = append(s.closers, func() error { fq.Close(); return nil })
		for len(s.faults) <= port {
			s.faults = append(s.faults, nil)
		}
		s.faults[port] = append(s.faults[port], fq)
		if i == 0 {
			s.log.Warn("fault injection", "port", port, "drop", fc.Drop, "duplicate", fc.Duplicate, "reorder", fc.Reorder, "corrupt", fc.Corrupt, "direction", fc.Direction, "seed", fc.Seed)
		}
		q = fq
	}
	return q, nil
}

// SwitchCapture turns every port's capture on if any is off, else off,
// and returns the new state and the number of capture files; with no
// pcap file configured it returns (false, 0).
func (s *Stack) SwitchCapture() (on bool, files int) {
	if len(s.pcaps) == 0 {
		return false, 0
	}
	for _, p := range s.pcaps {
		on = on || !p.On.Load()
	}
	for _, p := range s.pcaps {
		p.On.Store(on)
	}
	return on, len(s.pcaps)
}

// SetCapture turns every port's capture on or off and returns the number
// of capture files (0: no port has port.pcap, nothing changed).
func (s *Stack) SetCapture(on bool) (files int) {
	for _, p := range s.pcaps {
		p.On.Store(on)
	}
	return len(s.pcaps)
}

// Faults are a port's fault rates in force, and whether the port has a
// fault injector at all (a [port.faults] table, whose rates may be 0):
// only such a port's rates can be changed while it runs.
func (s *Stack) Faults(port int) (dev.FaultConfig, bool) {
	if port < 0 || port >= len(s.faults) || len(s.faults[port]) == 0 {
		return dev.FaultConfig{}, false
	}
	return s.faults[port][0].Rates(), true
}

// SetFaults changes a port's fault rates and directions on every queue
// while it runs (the seeds stay); safe from any goroutine.
func (s *Stack) SetFaults(port int, c dev.FaultConfig) error {
	if port < 0 || port >= len(s.cfg.Ports) {
		return fmt.Errorf("no port %d (the configuration has %d)", port, len(s.cfg.Ports))
	}
	if port >= len(s.faults) || len(s.faults[port]) == 0 {
		return fmt.Errorf("port %d has no fault injector: add a [port.faults] table to its [[port]] (rates may be 0) and restart", port)
	}
	for _, rate := range []float64{c.Drop, c.Duplicate, c.Reorder, c.Corrupt} {
		if rate < 0 || rate > 1 || rate != rate {
			return fmt.Errorf("a fault rate is a probability from 0 to 1, got %v", rate)
		}
	}
	for _, f := range s.faults[port] {
		f.Set(c)
	}
	s.log.Warn("fault injection changed", "port", port, "drop", c.Drop, "duplicate", c.Duplicate, "reorder", c.Reorder,
		"corrupt", c.Corrupt, "rx", c.RX, "tx", c.TX)
	return nil
}

// teardown stops what Start started, in reverse order.
func (s *Stack) teardown() error {
	s.closeControl()
	if s.net != nil {
		// Goroutines blocked on the adapter get net.ErrClosed; the lcores
		// reset its connections in the polls before they stop.
		s.net.Close()
		time.Sleep(10 * time.Millisecond)
	}
	s.stop.Store(true)
	for _, l := range s.eals {
		l.Wait()
	}
	s.logPanics() // one that came just before the stop
	for _, l := range s.lcores {
		if l.e != nil {
			l.e.Stopped() // packets steered to an lcore after its last poll
		}
	}
	if len(s.eals) > 0 {
		s.LogStats("final")
	}
	s.stopMetrics() // after the final counters, before the devices close
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	s.portsMu.Lock()
	s.portsClosed = true
	for _, p := range append(s.ports, s.excPorts...) {
		if err := p.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.portsMu.Unlock()
	for _, p := range s.pools {
		p.Free()
	}
	if s.eal {
		if err := eal.Cleanup(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Env is what this host allows the process (its CPUs) and the registered
// service kinds: what LoadConfig and ParseConfig validate against.
func Env() (config.Env, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return config.Env{}, fmt.Errorf("sched_getaffinity: %w", err)
	}
	env := config.Env{Kinds: Kinds()}
	for cpu := 0; cpu < 1024 && len(env.CPUs) < set.Count(); cpu++ {
		if set.IsSet(cpu) {
			env.CPUs = append(env.CPUs, cpu)
		}
	}
	return env, nil
}

// LoadConfig reads and validates the configuration file at path against
// this host and the registered services.
func LoadConfig(path string) (*config.Config, error) {
	env, err := Env()
	if err != nil {
		return nil, err
	}
	return config.Load(path, env)
}

// ParseConfig validates a configuration held in memory, named name in
// errors, against this host and the registered services.
func ParseConfig(name string, data []byte) (*config.Config, error) {
	env, err := Env()
	if err != nil {
		return nil, err
	}
	return config.Parse(name, data, env)
}

// Validate checks a configuration built as a Go value (from
// config.Default) against this host and the registered services.
func Validate(cfg *config.Config) error {
	env, err := Env()
	if err != nil {
		return err
	}
	return cfg.Validate(env)
}

// CheckHost runs the host checks of config.Config.CheckHostAt on this
// host: each PCI device is bound to a driver DPDK can use, and the memory
// the configuration needs fits in the host's memory and, with hugepages,
// in its free hugepages. It returns nil or config.Errors.
func CheckHost(cfg *config.Config) error {
	return cfg.CheckHostAt("/sys", "/proc")
}
