package tcp

import (
	"encoding/binary"
	"errors"
	"time"
	"unsafe"

	"github.com/pmdstack/pmd/ipv4"
)

// FourTuple names a connection from this host's side.
type FourTuple struct {
	Local, Remote         ipv4.Addr
	LocalPort, RemotePort uint16
}

// Output is what the stack transmits through: the lcore's link layer.
//
// The pairing of Alloc and Send, which an implementation may rely on (the
// engine's keeps the frame of the last Alloc and finds it again in Send):
//   - Every successful Alloc is followed by exactly one Send of its token,
//     with the same id pointer and the same n, before the stack calls
//     Alloc again. Between the two the stack only writes the segment into
//     seg: no handler callback runs and no other Output call is made, so
//     at most one buffer is outstanding at any time.
//   - After a failed Alloc (ok false) the stack calls no Send. If Busy
//     then says the failure is momentary (a full TX queue), a
//     connection's segment waits: the connection stays on the list of
//     those with output to do, and Flush stops there and goes on at its
//     next call (OutputWaits). Otherwise it counts DropNoBuffer and
//     retries on a timer or drops the segment.
//   - The stack never abandons a buffer: no Alloc without its Send.
//
// The stack calls Output whenever it runs: from Input, Advance and Flush,
// and from Conn and Stack methods an application calls (Abort sends its
// reset at once, Connect its SYN), inside handler callbacks or outside
// them. id points into the stack and is valid only during the call; seg
// belongs to the stack from Alloc to Send. Output must not call back into
// the Stack.
type Output interface {
	// Alloc returns a buffer for a segment of n bytes to id.Remote: seg
	// starts where the TCP header goes and holds at least n bytes. ok is
	// false when no buffer is free.
	Alloc(id *FourTuple, n int) (tok uintptr, seg []byte, ok bool)
	// Send transmits the first n bytes of the segment in tok's buffer,
	// adding the TCP checksum, the IPv4 header and the link header.
	Send(tok uintptr, id *FourTuple, n int)
	// Busy reports whether the last Alloc failed for a moment only:
	// the device's queue is full, or the buffers are all in flight, and
	// a later poll will find room. Asked only after a failed Alloc.
	Busy() bool
}

// Errors reported by Closed and Connect.
var (
	ErrReset        = errors.New("tcp: connection reset by peer")
	ErrRefused      = errors.New("tcp: connection refused")
	ErrTimeout      = errors.New("tcp: connection timed out")
	ErrAborted      = errors.New("tcp: connection aborted")
	ErrNoPorts      = errors.New("tcp: no free source port for this destination")
	ErrDraining     = errors.New("tcp: the stack is draining: it accepts no new connections")
	ErrTableFull    = errors.New("tcp: connection table full")
	ErrPortInUse    = errors.New("tcp: port already listening")
	ErrNotConnected = errors.New("tcp: not connected")
	// ErrRecvBufferFull and *PanicError: see Handler.
)

// Config holds the stack's knobs; zero values take the defaults of
// DefaultConfig.
type Config struct {
	MaxConns      int           // connections per lcore, TIME_WAIT included
	Backlog       int           // half-open connections per listener before SYN cookies
	SndBuf        int           // send buffer bytes per connection
	RcvBuf        int           // receive buffer (and window) bytes per connection
	Buffers       int           // send+receive buffers in existence per lcore
	MSS           uint16        // our MSS (MTU - 40)
	MinRTO        time.Duration // RFC 6298 lower bound
	MaxRTO        time.Duration
	InitialRTO    time.Duration
	DelayedAck    time.Duration // longest delay of an ACK
	NoDelayedAck  bool          // acknowledge every segment at once (DelayedAck is then ignored)
	TimeWait      time.Duration // 2*MSL
	SynRetries    int
	DataRetries   int           // retransmissions of one segment before giving up
	KeepAlive     time.Duration // idle time before probes; 0: off
	KeepInterval  time.Duration
	KeepProbes    int
	OOOSegments   int // out-of-order ranges held per connection
	ChallengeRate int // challenge ACKs per second per lcore (RFC 5961 7)
	// CookieSourceRate bounds the SYN-cookie answers per second to one
	// source address (hashed into cookieBuckets buckets): a flood that
	// spoofs one host's address gets that many SYN-ACKs, not one per SYN,
	// and neither pmd's transmit path nor that host is buried in them.
	// Only SYNs answered with cookies are counted: beyond the backlog,
	// or from a source that resets our SYN-ACKs (refusedLimit). 0: the
	// default; negative: no limit.
	CookieSourceRate int
	PortMin          uint16
	PortMax          uint16
	TWReuse          bool     // active opens may take over TIME-WAIT tuples (RFC 6191, with timestamps)
	Seed             [16]byte // ISN and SYN-cookie secret
	// OnPanic, when set, hears every handler panic the stack contained
	// (the connection is aborted and counted in HandlerPanics), so that
	// the caller can log it.
	OnPanic func(*PanicError)
	// Owns, when set, reports whether this stack receives the flow
	// local:lport -> remote:rport; active opens use only such ports, so
	// that the peer's answers arrive at the lcore that connected.
	Owns func(local, remote ipv4.Addr, lport, rport uint16) bool
}

// DefaultConfig is the configuration used for zero fields.
func DefaultConfig() Config {
	return Config{
		MaxConns: 65536, Backlog: 4096,
		SndBuf: 256 << 10, RcvBuf: 256 << 10, Buffers: 8192,
		MSS:    1460,
		MinRTO: 200 * time.Millisecond, MaxRTO: 60 * time.Second, InitialRTO: time.Second,
		DelayedAck: 40 * time.Millisecond, TimeWait: 60 * time.Second,
		SynRetries: 6, DataRetries: 15,
		KeepInterval: 75 * time.Second, KeepProbes: 9,
		OOOSegments: 16, ChallengeRate: 1000, CookieSourceRate: 10000,
		PortMin: 32768, PortMax: 60999,
	}
}

func (c *Config) fill() {
	d := DefaultConfig()
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	set(&c.MaxConns, d.MaxConns)
	set(&c.Backlog, d.Backlog)
	set(&c.SndBuf, d.SndBuf)
	set(&c.RcvBuf, d.RcvBuf)
	set(&c.Buffers, d.Buffers)
	set(&c.SynRetries, d.SynRetries)
	set(&c.DataRetries, d.DataRetries)
	set(&c.KeepProbes, d.KeepProbes)
	set(&c.OOOSegments, d.OOOSegments)
	set(&c.ChallengeRate, d.ChallengeRate)
	set(&c.CookieSourceRate, d.CookieSourceRate)
	setD(&c.MinRTO, d.MinRTO)
	setD(&c.MaxRTO, d.MaxRTO)
	setD(&c.InitialRTO, d.InitialRTO)
	setD(&c.TimeWait, d.TimeWait)
	setD(&c.KeepInterval, d.KeepInterval)
	if c.NoDelayedAck {
		c.DelayedAck = 0 // what the receive path tests
	} else if c.DelayedAck <= 0 {
		c.DelayedAck = d.DelayedAck
	}
	if c.MSS == 0 {
		c.MSS = d.MSS
	}
	if c.PortMin == 0 || c.PortMax < c.PortMin {
		c.PortMin, c.PortMax = d.PortMin, d.PortMax
	}
}

// twReuseAfter is how long an active open waits before taking over a tuple
// in TIME-WAIT: two ticks of the timestamp clock.
const twReuseAfter = 2 * int64(time.Millisecond)

// oowAckEvery is how often a connection answers bare ACKs that fall
// outside its window (Linux's net.ipv4.tcp_invalid_ratelimit default).
const oowAckEvery = int64(500 * time.Millisecond)

// Listener is a passive open on a port; every lcore has its own copy.
type Listener struct {
	Port    uint16
	Handler Handler
	synRcvd int // half-open connections, against the backlog
}

// Stack is one lcore's TCP: its connections, listeners, timers and
// counters. Only the owning lcore calls it; time is passed in.
type Stack struct {
	cfg       Config
	out       Output
	conns     connTable
	listeners map[uint16]*Listener
	freeConns []*Conn
	slab      []Conn  // control blocks not used yet (see connSlab)
	slabBytes int     // control blocks made, in bytes
	released  []*Conn // connections ended this poll iteration: recycled by Flush
	depth     int     // handler callbacks running, nested ones counted
	made      int
	sndPool   bufPool
	rcvPool   bufPool
	wheel     wheel
	dirty     connList     // connections with output to do since the last Flush
	backlog   connList     // connections whose output found the Output busy at a Flush
	blocked   bool         // Output is busy: the rest waits for the next Flush
	serving   *connList    // the list Flush is taking connections from
	ctlWait   []ctlSegment // resets the busy Output refused, for the next Flush
	stopping  bool         // AbortAll ran: every reset may wait
	isn       *ISNGen
	cookies   *Cookies
	nextPort  uint16
	now       int64
	scratch   []byte
	rotBuf    []byte    // for linearize: half a receive buffer, made on the first wrap
	ctlID     FourTuple // the tuple of a segment sent outside a connection

	timeWaits       int            // connections in TIME-WAIT, in the table
	states          [NumStates]int // connections by state (setState); Closed is not counted
	draining        bool           // Drain ran: no listeners
	challengeTokens int
	challengeRefill int64
	cookieBuckets   *[cookieBuckets]tokenBucket // made on the first cookie
	cookieSalt      uint32                      // from the secret: which sources share a bucket

	C Counters
}

// NewStack builds an lcore's stack sending through out.
func NewStack(cfg Config, out Output) *Stack {
	cfg.fill()
	s := &Stack{
		cfg:        cfg,
		out:        out,
		listeners:  make(map[uint16]*Listener),
		freeConns:  make([]*Conn, 0, cfg.MaxConns),
		released:   make([]*Conn, 0, 16),
		sndPool:    bufPool{size: pow2(cfg.SndBuf), limit: cfg.Buffers, free: make([][]byte, 0, cfg.Buffers)},
		rcvPool:    bufPool{size: pow2(cfg.RcvBuf), limit: cfg.Buffers, free: make([][]byte, 0, cfg.Buffers)},
		isn:        NewISNGen(cfg.Seed),
		cookies:    NewCookies(cfg.Seed),
		cookieSalt: uint32(cfg.Seed[12]) | uint32(cfg.Seed[13])<<8 | uint32(cfg.Seed[14])<<16 | uint32(cfg.Seed[15])<<24,
	}
	// Start the source-port search at a point taken from the secret, so
	// that a restarted stack does not meet its own old connections still
	// in the peer's TIME-WAIT (RFC 6056).
	span := uint64(cfg.PortMax-cfg.PortMin) + 1
	s.nextPort = cfg.PortMin + uint16(binary.LittleEndian.Uint64(cfg.Seed[:8])%span)
	s.conns.init(cfg.MaxConns, newSipKey(cfg.Seed))
	s.wheel.init()
	return s
}

func pow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// Config is the stack's configuration with defaults filled in.
func (s *Stack) Config() Config { return s.cfg }

// Listen starts a passive open on port for every local address.
func (s *Stack) Listen(port uint16, h Handler) (*Listener, error) {
	if s.draining {
		return nil, ErrDraining
	}
	if _, ok := s.listeners[port]; ok {
		return nil, ErrPortInUse
	}
	l := &Listener{Port: port, Handler: h}
	s.listeners[port] = l
	return l, nil
}

// Conns is the number of connections in the table, TIME_WAIT included.
func (s *Stack) Conns() int { return s.conns.len() }

// Active is the number of connections not in TIME-WAIT: those a drain
// waits for.
func (s *Stack) Active() int { return s.conns.len() - s.timeWaits }

// States is the number of connections in each state, indexed by State;
// Closed is always 0 (a closed connection has left the table).
func (s *Stack) States() [NumStates]int { return s.states }

// Buffers is the number of send and receive buffers held by connections;
// each kind is bounded by Config.Buffers.
func (s *Stack) Buffers() (send, recv int) {
	return s.sndPool.made - len(s.sndPool.free), s.rcvPool.made - len(s.rcvPool.free)
}

// ConnBytes is the memory of the connections by the stack's own
// accounting: the control blocks made so far (in use, free, or in TIME-WAIT)
// and the table, made whole for MaxConns at the start. Buffers are apart
// (BufferBytes).
func (s *Stack) ConnBytes() int { return s.slabBytes + ConnMemory(s.cfg).Table }

// BufferBytes is the memory of the send and receive buffers made so far,
// held by connections or free in the pools for the next ones: what the
// buffers add to the Go heap.
func (s *Stack) BufferBytes() int {
	return s.sndPool.made*s.sndPool.size + s.rcvPool.made*s.rcvPool.size
}

// Drainer is implemented by a Handler that can end its connections early
// when the stack drains: Drain is called once for each of its open
// connections (ESTABLISHED or CLOSE-WAIT) when Stack.Drain runs. It may
// Close a connection that is idle, or mark one to close once its current
// exchange is done; a handler without Drain keeps its connections until
// their peers end them (or the drain time runs out and the stack stops).
// The rules of the other callbacks apply.
type Drainer interface {
	Drain(c *Conn)
}

// Drain stops accepting connections: every listener is removed, so that a
// SYN for its port is answered with a reset (as on a port nobody listens
// on: a client learns at once to go elsewhere, rather than retrying a
// dropped SYN for seconds), and every open connection whose handler is a
// Drainer is told. Connections being opened keep going. Not from a
// handler callback.
func (s *Stack) Drain() {
	if s.depth != 0 {
		reentered()
	}
	if s.draining {
		return
	}
	s.draining = true
	clear(s.listeners)
	var open []*Conn
	s.conns.each(func(c *Conn) {
		if c.state == Established || c.state == CloseWait {
			if _, ok := c.handler.(Drainer); ok {
				open = append(open, c)
			}
		}
	})
	for _, c := range open { // not inside each: a callback may end c
		if c.state == Established || c.state == CloseWait {
			c.callDrain()
		}
	}
}

// ErrStopped is the error of the connections the stack resets when it
// stops (AbortAll).
var ErrStopped = errors.New("tcp: the stack stopped")

// AbortAll resets every connection but those in TIME-WAIT, as a stack
// that stops must: each handler hears Closed with ErrStopped. It returns
// how many there were. The resets the Output has no room for all wait
// (Backlogged) for the Flushes that follow: a stopping stack's peers
// should all learn it. Not from a handler callback.
func (s *Stack) AbortAll(now int64) int {
	if s.depth != 0 {
		reentered()
	}
	s.now = now
	s.stopping = true
	var open []*Conn
	s.conns.each(func(c *Conn) {
		if c.state != TimeWait && c.state != Closed {
			open = append(open, c)
		}
	})
	for _, c := range open {
		if c.state != Closed {
			c.abort(ErrStopped)
		}
	}
	return len(open)
}

// Draining reports whether Drain ran.
func (s *Stack) Draining() bool { return s.draining }

// Lookup finds a connection by its tuple.
func (s *Stack) Lookup(id FourTuple) *Conn { return s.conns.get(id) }

// Each calls fn for every connection (for listings; not on the fast path).
func (s *Stack) Each(fn func(*Conn)) {
	s.conns.each(fn)
}

// newConn takes a connection from the free list (or makes one, within
// MaxConns) and enters it in the table.
func (s *Stack) newConn(id FourTuple, h Handler) *Conn {
	if s.conns.len() >= s.cfg.MaxConns {
		s.C[TableFull]++
		return nil
	}
	var c *Conn
	if n := len(s.freeConns); n > 0 {
		c = s.freeConns[n-1]
		s.freeConns = s.freeConns[:n-1]
	} else {
		if len(s.slab) == 0 {
			// No more than the MaxConns not made yet, and at least
			// one: connections that ended in this poll iteration are
			// not on the free list yet.
			s.slab = make([]Conn, max(min(connsPerSlab, s.cfg.MaxConns-s.made), 1))
			s.slabBytes += len(s.slab) * int(unsafe.Sizeof(Conn{}))
		}
		c = &s.slab[0]
		s.slab = s.slab[1:]
		s.made++
	}
	c.reset(s, id, h)
	s.conns.put(id, c)
	return c
}

// release removes c from the table and ends its incarnation. The object
// is recycled only at the end of Flush, once the stack has left every
// callback: code still running for c (the callback that closed it, the
// stack's own processing after that callback returns, a timer list that
// holds it) finds it Closed and never a different connection.
func (s *Stack) release(c *Conn) {
	if s.conns.get(c.id) == c {
		s.conns.del(c.id)
	}
	if c.state == TimeWait {
		s.timeWaits--
	}
	s.wheel.remove(c)
	c.freeBuffers()
	c.setState(Closed)
	c.handler = nil
	c.listener = nil
	c.unread = 0
	c.ooo = c.ooo[:0]
	s.released = append(s.released, c)
}

// Connect opens a connection from local to remote:port, choosing a free
// source port. Open or Closed reports the outcome.
func (s *Stack) Connect(local, remote ipv4.Addr, port uint16, h Handler, now int64) (*Conn, error) {
	s.now = now
	id := FourTuple{Local: local, Remote: remote, RemotePort: port}
	n := int(s.cfg.PortMax-s.cfg.PortMin) + 1
	for i := 0; i < n; i++ {
		p := s.nextPort
		if s.nextPort++; s.nextPort > s.cfg.PortMax || s.nextPort < s.cfg.PortMin {
			s.nextPort = s.cfg.PortMin
		}
		id.LocalPort = p
		if s.cfg.Owns != nil && !s.cfg.Owns(local, remote, p, port) {
			continue
		}
		if old := s.conns.get(id); old != nil && !s.takeOver(old, now) {
			continue
		}
		return s.ConnectFrom(id, h, now)
	}
	s.C[NoPorts]++
	return nil, ErrNoPorts
}

// takeOver releases old, a connection on the tuple of an active open, if
// it is in TIME-WAIT and may serve the new one: with tcp.tw_reuse, when
// timestamps tell the incarnations apart (RFC 6191 4.2, the active side).
// Once the millisecond timestamp clock has moved on, our new SYN's
// timestamp and ISN are both larger than anything the old one sent, and
// PAWS on either side turns away the old incarnation's duplicates.
func (s *Stack) takeOver(old *Conn, now int64) bool {
	if !s.cfg.TWReuse || old.state != TimeWait || !old.tsOK || now-old.tWaitSince < twReuseAfter {
		return false
	}
	s.C[TimeWaitReused]++
	s.release(old)
	return true
}

// ConnectFrom opens a connection on an exact tuple (the caller chose the
// source port), taking it over from TIME-WAIT as Connect does.
func (s *Stack) ConnectFrom(id FourTuple, h Handler, now int64) (*Conn, error) {
	s.now = now
	if old := s.conns.get(id); old != nil && !s.takeOver(old, now) {
		return nil, ErrPortInUse
	}
	c := s.newConn(id, h)
	if c == nil {
		return nil, ErrTableFull
	}
	c.iss = s.isn.ISN(id.Local, id.Remote, id.LocalPort, id.RemotePort, now)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss, c.iss
	c.recover = c.iss     // RFC 6582 3.2 step 1
	c.sndBase = c.iss + 1 // data written before the SYN-ACK, or a FIN, follows the SYN
	c.setState(SynSent)
	c.active = true
	c.sendSYN(now)
	s.C[ActiveOpens]++
	return c, nil
}

// Advance runs the timers due at now and flushes what they produced (and
// what input and applications queued before). Not from a handler
// callback.
func (s *Stack) Advance(now int64) {
	if s.depth != 0 {
		reentered()
	}
	s.now = now
	s.wheel.advance(now, func(c *Conn) { c.onTimer(now) })
	s.Flush(now)
}

// NextDeadline is when Advance next has work, or 0 when no timer is set.
func (s *Stack) NextDeadline() int64 { return s.wheel.next() }

// Flush sends what connections queued during this iteration: data, ACKs,
// FINs. Call once per poll iteration, after input, timers and
// applications (Advance ends with it); not from a handler callback.
//
// When the Output is busy (its TX queue full) Flush stops, and the
// connections not served keep their place in a backlog for the next
// Flush: a burst of output larger than the device's ring (a million
// connections closed at once) goes out over several polls instead of
// being dropped and waiting for retransmission timeouts. Each Flush
// serves a few of the backlog first (so that it moves even when the
// iteration's own output fills the queue), then what this iteration
// queued (answers to what just arrived: their peers time them, and
// behind a long backlog they would wait past the peers' retransmission
// timeouts), then the rest of the backlog; what is left of this
// iteration's goes at the head of the backlog. It then recycles the
// connections that ended during the iteration.
func (s *Stack) Flush(now int64) {
	if s.depth != 0 {
		reentered()
	}
	if s.dirty.head != nil || s.backlog.head != nil || len(s.ctlWait) > 0 {
		s.flushOutput(now)
	}
	if len(s.released) > 0 {
		kept := s.released[:0]
		for _, c := range s.released {
			if c.dirty {
				// Still in the backlog (Flush stopped before it):
				// recycled once the list has let go of it.
				kept = append(kept, c)
				continue
			}
			c.Context, c.Tag = nil, 0
			s.freeConns = append(s.freeConns, c)
		}
		clear(s.released[len(kept):])
		s.released = kept
	}
}

// flushOutput is Flush's sending: the waiting resets, the backlog and
// this iteration's connections, in the order Flush describes.
func (s *Stack) flushOutput(now int64) {
	s.blocked = false
	if len(s.ctlWait) > 0 {
		s.sendWaitingControl()
	}
	s.serving = &s.backlog
	for i := 0; i < backlogFirst && s.backlog.head != nil && !s.blocked; i++ {
		s.backlog.pop().output(now)
	}
	s.serving = &s.dirty
	for s.dirty.head != nil && !s.blocked {
		s.dirty.pop().output(now) // nothing for a connection that ended since it queued
	}
	s.serving = &s.backlog
	for s.backlog.head != nil && !s.blocked {
		s.backlog.pop().output(now)
	}
	s.serving = nil
	// What the busy Output left of this iteration's goes first next
	// time, answers before the bulk.
	if s.dirty.head != nil {
		s.dirty.appendList(&s.backlog)
		s.backlog, s.dirty = s.dirty, connList{}
	}
}

// backlogFirst is how many connections of the backlog each Flush serves
// before the iteration's own output.
const backlogFirst = 16

// Backlogged reports whether connections wait with output the Output had
// no room for at the last Flush, or timers wait to come down the wheel:
// the caller should poll again soon, not idle.
func (s *Stack) Backlogged() bool {
	return s.backlog.head != nil || s.dirty.head != nil || len(s.ctlWait) > 0 || s.wheel.descending()
}

// connList is a first-in first-out list of connections with output to
// do, linked through Conn.nextDirty; Conn.dirty says a connection is on
// one.
type connList struct{ head, tail *Conn }

func (l *connList) pushBack(c *Conn) {
	c.dirty = true
	if l.tail == nil {
		l.head = c
	} else {
		l.tail.nextDirty = c
	}
	l.tail = c
}

func (l *connList) pushFront(c *Conn) {
	c.dirty = true
	c.nextDirty = l.head
	l.head = c
	if l.tail == nil {
		l.tail = c
	}
}

func (l *connList) pop() *Conn {
	c := l.head
	if l.head = c.nextDirty; l.head == nil {
		l.tail = nil
	}
	c.nextDirty = nil
	c.dirty = false
	return c
}

// appendList moves o's connections to l's end.
func (l *connList) appendList(o *connList) {
	if o.head == nil {
		return
	}
	if l.tail == nil {
		l.head = o.head
	} else {
		l.tail.nextDirty = o.head
	}
	l.tail = o.tail
	o.head, o.tail = nil, nil
}

// cookieBuckets is the number of per-source budgets for SYN cookies:
// sources share a bucket by hash, so a flood from random addresses spreads
// thin over all of them while one from a single address meets its own.
const cookieBuckets = 1024

// tokenBucket is a source bucket's budget of SYN-cookie answers, refilled
// once a second, and its record of refused SYN-ACKs.
type tokenBucket struct {
	tokens int32
	refill int64
	// refused counts the SYN-ACKs (of half-open connections) that the
	// source answered with a reset since refusedSince; over
	// refusedLimit in a second, its SYNs are answered in cookie mode
	// until cookiesUntil.
	refused      int32
	refusedSince int64
	cookiesUntil int64
}

// refusedLimit is how many of our SYN-ACKs a source may refuse in a second
// before its SYNs get cookies instead of half-open connections. A real
// client refuses a SYN-ACK only when it has forgotten its SYN; a host
// whose address a flood spoofs refuses every one, and each would
// otherwise cost a connection entry, a SYN-ACK, and the reset.
const refusedLimit = 64

func (s *Stack) bucket(remote ipv4.Addr) *tokenBucket {
	if s.cookieBuckets == nil {
		s.cookieBuckets = new([cookieBuckets]tokenBucket)
	}
	h := (uint32(remote) ^ s.cookieSalt) * 0x9e3779b1
	return &s.cookieBuckets[h>>(32-10)]
}

// noteRefused records that remote reset one of our half-open connections.
func (s *Stack) noteRefused(remote ipv4.Addr, now int64) {
	b := s.bucket(remote)
	if now-b.refusedSince >= int64(time.Second) {
		b.refused, b.refusedSince = 0, now
	}
	if b.refused++; b.refused > refusedLimit {
		if b.cookiesUntil <= now {
			s.C[SynSourcesRefusing]++
		}
		b.cookiesUntil = now + int64(time.Second)
	}
}

// refusing reports whether remote's SYNs go to cookie mode because it
// refused many of our SYN-ACKs in the last second.
func (s *Stack) refusing(remote ipv4.Addr, now int64) bool {
	return s.cookieBuckets != nil && s.bucket(remote).cookiesUntil > now
}

// cookieAllowed spends one of remote's SYN-cookie answers for this second.
func (s *Stack) cookieAllowed(remote ipv4.Addr, now int64) bool {
	if s.cfg.CookieSourceRate <= 0 {
		return true
	}
	b := s.bucket(remote)
	if now >= b.refill {
		b.tokens = int32(s.cfg.CookieSourceRate)
		b.refill = now + int64(time.Second)
	}
	if b.tokens <= 0 {
		s.C[SynCookiesLimited]++
		return false
	}
	b.tokens--
	return true
}

// challengeAllowed limits challenge ACKs per lcore (RFC 5961 section 7).
func (s *Stack) challengeAllowed(now int64) bool {
	if now >= s.challengeRefill {
		s.challengeTokens = s.cfg.ChallengeRate
		s.challengeRefill = now + int64(time.Second)
	}
	if s.challengeTokens <= 0 {
		s.C[ChallengeAcksLimited]++
		return false
	}
	s.challengeTokens--
	return true
}

// Listeners are the ports listened on.
func (s *Stack) Listeners() []uint16 {
	var ps []uint16
	for p := range s.listeners {
		ps = append(ps, p)
	}
	return ps
}

// Claims reports whether a segment to local:lport from remote:rport would
// reach a connection or a listener, rather than be answered with a reset.
func (s *Stack) Claims(local, remote ipv4.Addr, lport, rport uint16) bool {
	if s.listeners[lport] != nil {
		return true
	}
	return s.conns.get(FourTuple{Local: local, Remote: remote, LocalPort: lport, RemotePort: rport}) != nil
}
