package socket

import (
	"sync"
	"sync/atomic"

	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/mpsc"
	"github.com/pmdstack/pmd/tcp"
)

// ctlSlots bounds the listen requests in flight to one lcore; one more
// slot is kept for the shutdown.
const ctlSlots = 63

type ctlOp uint8

const (
	opListen ctlOp = iota
	opUnlisten
	opShutdown
)

// ctlReq is a request for the lcore's TCP as a whole.
type ctlReq struct {
	op   ctlOp
	port uint16
	ln   *Listener
	done chan error // capacity 1; nil for the shutdown
}

// app is the Net's half on one lcore, an engine.App. Goroutines reach it
// through two bounded lock-free rings it drains on every poll: work
// (connections with something to do, each at most once thanks to its
// queued flag, so the ring's size bounds it by the connection limit) and
// ctl (listens and the shutdown, bounded by tokens the requester holds).
// The lcore never blocks: it answers through atomics in the Conn and
// non-blocking sends on channels of capacity one.
//
// Lifetime. A Conn is shared; its lside is the lcore's alone. The lside
// holds the *tcp.Conn from the connect (or accept) until the handler's
// Closed, where finish drops it for good (gone) and publishes the error
// and stClosed. The rings' buffers go back to the Net's pools only once
// the lcore is gone and no goroutine will touch them again (userDone, set
// at the end of Close, after the Reads and Writes under way returned); a
// Conn still on the work ring after that is popped and ignored. The Conn
// itself is left to the collector: a goroutine may hold it forever.
type app struct {
	n      *Net
	l      *engine.Lcore
	work   *mpsc.Ring[*Conn]
	ctl    *mpsc.Ring[*ctlReq]
	slots  chan struct{} // tokens for ctl
	conns  atomic.Int64  // connections counted against limit
	limit  int64
	rcvBuf int // the TCP receive buffer's size

	mu      sync.Mutex // started and pending, until the lcore starts
	started bool
	pending []*ctlReq

	// The lcore's own.
	running bool
	shut    bool
	now     int64
	live    []*lside // connections with a TCP connection
	listens map[uint16]*listenHandler
}

func newApp(n *Net, l *engine.Lcore, limit int) *app {
	return &app{
		n: n, l: l,
		work:    mpsc.New[*Conn](limit + ctlSlots + 1),
		ctl:     mpsc.New[*ctlReq](ctlSlots + 1),
		slots:   make(chan struct{}, ctlSlots),
		limit:   int64(limit),
		rcvBuf:  pow2(l.TCP().Config().RcvBuf),
		listens: make(map[uint16]*listenHandler),
	}
}

// request hands r to the lcore and waits for its answer; before the lcore
// starts, it leaves r for Start and returns nil.
func (a *app) request(r *ctlReq) error {
	r.done = make(chan error, 1)
	a.mu.Lock()
	if !a.started {
		a.pending = append(a.pending, r)
		a.mu.Unlock()
		return nil
	}
	a.mu.Unlock()
	select {
	case a.slots <- struct{}{}:
	case <-a.n.done:
		return ErrNetClosed
	}
	a.ctl.Push(r) // a token guarantees room
	select {
	case err := <-r.done:
		<-a.slots
		return err
	case <-a.n.done:
		return ErrNetClosed
	}
}

// shutdown asks the lcore to reset everything (Net.Close), without
// waiting: it uses the slot no token covers.
func (a *app) shutdown() {
	r := &ctlReq{op: opShutdown}
	a.mu.Lock()
	if !a.started {
		a.pending = append(a.pending, r)
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	a.ctl.Push(r)
}

// Start applies what was asked before the lcore ran.
func (a *app) Start(l *engine.Lcore, now int64) {
	if a.running {
		return
	}
	a.running, a.now = true, now
	a.mu.Lock()
	a.started = true
	pending := a.pending
	a.pending = nil
	a.mu.Unlock()
	for _, r := range pending {
		if err := a.control(r); err != nil && r.ln != nil {
			r.ln.failed.Store(&err) // nobody waits for the answer: Accept reports it
			r.ln.signal()
		}
	}
}

// Poll serves the listen requests, then each connection that goroutines
// put on the work ring, as many as were there when it began: a goroutine
// that keeps queueing cannot hold the lcore.
func (a *app) Poll(l *engine.Lcore, now int64) {
	if !a.running {
		a.Start(l, now) // driven by Poll alone, as tests do
	}
	a.now = now
	if a.ctl.Len() > 0 {
		for {
			r, ok := a.ctl.Pop()
			if !ok {
				break
			}
			err := a.control(r)
			if r.done != nil {
				r.done <- err
			}
		}
	}
	for k := a.work.Len(); k > 0; k-- {
		c, ok := a.work.Pop()
		if !ok {
			break
		}
		c.queued.Store(false) // before serving: what comes after queues it again
		a.serve(&c.ls)
	}
}

// control carries out a listen request on the lcore.
func (a *app) control(r *ctlReq) error {
	switch r.op {
	case opListen:
		if a.shut {
			return ErrNetClosed
		}
		h := a.listens[r.port]
		if h == nil {
			h = &listenHandler{a: a}
			if _, err := a.l.TCP().Listen(r.port, h); err != nil {
				return mapErr(err)
			}
			a.listens[r.port] = h
		}
		h.ln = r.ln
	case opUnlisten:
		if h := a.listens[r.port]; h != nil && h.ln == r.ln {
			h.ln = nil
		}
	case opShutdown:
		a.shut = true
		for _, h := range a.listens {
			h.ln = nil
		}
		for len(a.live) > 0 {
			s := a.live[len(a.live)-1]
			s.tc.Abort() // Closed takes it off live
			s.finish(ErrNetClosed)
		}
	}
	return nil
}

// serve does what the goroutines asked of a connection, and sends what
// they wrote.
func (a *app) serve(s *lside) {
	c := s.c
	s.pend |= c.req.Swap(0)
	if s.gone {
		a.release(s)
		return
	}
	if s.tc == nil {
		switch {
		case a.shut:
			s.finish(ErrNetClosed)
		case s.pend&reqAbort != 0:
			s.finish(errAborted)
		case s.pend&reqConnect != 0:
			s.pend &^= reqConnect
			a.connect(s)
		}
		return
	}
	tc := s.tc
	if s.pend&reqAbort != 0 || a.shut {
		tc.Abort() // Closed follows at once
		return
	}
	if s.pend&(reqClose|reqCloseRead) != 0 {
		s.discard = true
	}
	if s.pend&reqRead != 0 || s.discard && tc.Unread() > 0 {
		s.pend &^= reqRead
		tc.Read() // ends the Pause and offers the rest: Recv takes what now fits
		if s.gone {
			return
		}
	}
	s.flush()
	if c.tx.len() > 0 {
		return // Writable comes when the send buffer has room
	}
	switch {
	case s.pend&reqClose != 0:
		s.pend &^= reqClose | reqCloseWrite
		tc.Close()
	case s.pend&reqCloseWrite != 0:
		s.pend &^= reqCloseWrite
		tc.CloseWrite()
	}
}

// connect opens a dialed connection.
func (a *app) connect(s *lside) {
	c := s.c
	local, ok := a.l.SourceAddr(c.remote)
	if !ok {
		s.finish(errNoRoute)
		return
	}
	tc, err := a.l.TCP().Connect(local, c.remote, c.rport, s, a.now)
	if err != nil {
		s.finish(mapErr(err))
		return
	}
	if s.gone {
		return // Closed already
	}
	s.attach(tc)
}

// accept takes a connection established on a listened port.
func (a *app) accept(h *listenHandler, tc *tcp.Conn) {
	ln := h.ln
	switch {
	case ln == nil || a.shut || ln.closed.Load():
		a.n.stats.acceptClosed.Add(1)
		tc.Abort()
		return
	case a.conns.Load() >= a.limit:
		a.n.stats.connLimit.Add(1)
		tc.Abort()
		return
	}
	a.conns.Add(1)
	c := a.n.newConn(a) // allocates: the Conn, its channels, maybe buffers
	tc.Context = &c.ls
	c.ls.attach(tc)
	c.state.Store(stOpen)
	if !ln.q.Push(c) {
		a.n.stats.acceptFull.Add(1)
		c.userDone.Store(true)
		tc.Abort()
		return
	}
	if ln.waiting.Load() > 0 {
		ln.signal()
	}
}

// release drops the Net's count of a connection both sides are done with,
// and recycles its rings.
func (a *app) release(s *lside) {
	c := s.c
	if s.released || !s.gone || !c.userDone.Load() {
		return
	}
	s.released = true
	a.conns.Add(-1)
	a.n.rxBufs.Put(c.rxb)
	a.n.txBufs.Put(c.txb)
}

// listenHandler is the tcp.Handler of a listened port on one lcore: it
// turns each connection into a Conn for the listener's Accept, then passes
// the connection's events to its lside. ln is nil while nobody listens.
type listenHandler struct {
	a  *app
	ln *Listener
}

func side(tc *tcp.Conn) *lside {
	s, _ := tc.Context.(*lside)
	return s
}

func (h *listenHandler) Open(tc *tcp.Conn) { h.a.accept(h, tc) }

func (h *listenHandler) Recv(tc *tcp.Conn, data []byte) int {
	if s := side(tc); s != nil {
		return s.Recv(tc, data)
	}
	return len(data)
}

func (h *listenHandler) Writable(tc *tcp.Conn) {
	if s := side(tc); s != nil {
		s.Writable(tc)
	}
}

func (h *listenHandler) PeerClosed(tc *tcp.Conn) {
	if s := side(tc); s != nil {
		s.PeerClosed(tc)
	}
}

func (h *listenHandler) Closed(tc *tcp.Conn, err error) {
	if s := side(tc); s != nil {
		s.Closed(tc, err)
	}
}

// lside is the lcore's half of a Conn: the TCP connection and what the
// lcore knows of it. It is the tcp.Handler of dialed connections.
type lside struct {
	c        *Conn
	tc       *tcp.Conn // nil before the connect and after Closed
	idx      int       // in app.live; -1 when not there
	pend     uint32    // requests taken from c.req and not yet done
	gone     bool      // Closed was called: tc is never touched again
	released bool
	discard  bool   // the goroutines read no more: Recv drops what comes
	eof      bool   // PeerClosed was called
	spill    bool   // PeerClosed is taking the unread data into ovf
	ovf      []byte // that data
}

// attach makes tc the connection's TCP connection.
func (s *lside) attach(tc *tcp.Conn) {
	a := s.c.a
	s.tc = tc
	s.c.id = tc.ID()
	tc.SetNoDelay(true) // as package net does
	s.idx = len(a.live)
	a.live = append(a.live, s)
}

// finish ends the lcore's part: tc is dropped, the goroutines learn why.
func (s *lside) finish(err error) {
	if s.gone {
		return
	}
	a, c := s.c.a, s.c
	s.gone, s.tc = true, nil
	if s.idx >= 0 {
		last := a.live[len(a.live)-1]
		a.live[s.idx] = last
		last.idx = s.idx
		a.live[len(a.live)-1] = nil
		a.live = a.live[:len(a.live)-1]
		s.idx = -1
	}
	c.err = err
	c.state.Or(stClosed)
	wake(c.rwake)
	wake(c.wwake)
	a.release(s)
}

// wake signals ch without blocking.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// flush moves what the goroutines wrote into the TCP send buffer, as much
// as it takes.
func (s *lside) flush() {
	c := s.c
	moved := 0
	for {
		p, q := c.tx.peek()
		if len(p) == 0 {
			break
		}
		w := s.tc.Write(p)
		if w == len(p) && len(q) > 0 {
			w += s.tc.Write(q)
		}
		c.tx.discard(w)
		moved += w
		if w < len(p)+len(q) {
			break // full: Writable follows
		}
	}
	if moved > 0 && c.wwait.Load() {
		wake(c.wwake)
	}
}

// Open: a dialed connection is established.
func (s *lside) Open(tc *tcp.Conn) {
	if s.gone {
		return
	}
	c := s.c
	c.state.Or(stOpen)
	if c.rwait.Load() {
		wake(c.rwake)
	}
}

// Recv copies what fits into rx and declines the rest with Pause: the TCP
// keeps it, its window closing as it fills, and offers nothing more until
// the goroutine's Read has made room and asked for it (reqRead, then
// tc.Read).
func (s *lside) Recv(tc *tcp.Conn, data []byte) int {
	switch {
	case s.gone || s.discard || s.eof && !s.spill:
		return len(data)
	case s.spill:
		s.ovf = append(s.ovf, data...)
		return len(data)
	}
	c := s.c
	before := c.rx.tail.Load()
	n := c.rx.write(data)
	if n < len(data) {
		c.rxBlocked.Store(true)
		// The reader may have made room before it could see the flag.
		n += c.rx.write(data[n:])
		if n < len(data) {
			tc.Pause()
		}
	}
	if c.rx.tail.Load() != before && c.rwait.Load() {
		wake(c.rwake)
	}
	return n
}

// Writable: the send buffer has room again.
func (s *lside) Writable(tc *tcp.Conn) { s.c.a.serve(s) }

// PeerClosed: FIN. Data the TCP still holds because rx was full would be
// freed with the connection once it closes, so it is taken now, into an
// overflow buffer of its own (allocated on this rare path; at most the
// receive buffer's size), and handed over before the EOF.
func (s *lside) PeerClosed(tc *tcp.Conn) {
	if s.gone || s.eof {
		return
	}
	s.eof = true
	c := s.c
	if !s.discard && tc.Unread() > 0 {
		s.spill = true
		tc.Read()
		s.spill = false
		if len(s.ovf) > 0 {
			ovf := s.ovf
			s.ovf = nil
			c.overflow.Store(&ovf)
		}
	}
	c.state.Or(stEOF)
	if c.rwait.Load() {
		wake(c.rwake)
	}
}

// Closed: the lcore lets go of tc.
func (s *lside) Closed(tc *tcp.Conn, err error) { s.finish(mapErr(err)) }
