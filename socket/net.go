// Package socket offers net.Listener and net.Conn over pmd's TCP, for code
// written against package net (net/http, crypto/tls): the connections live
// on the polling lcores, and goroutines reach them through lock-free rings.
package socket

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/ipv4"
)

// Option changes a Net's settings in New.
type Option func(*options)

type options struct {
	rxBuf, txBuf int
	conns        int
	backlog      int
}

// WithBuffers sets the bytes each connection holds between its lcore and
// its goroutines: rx received and not yet read, tx written and not yet in
// the TCP send buffer (each rounded up to a power of two; 64 KiB when 0).
func WithBuffers(rx, tx int) Option {
	return func(o *options) { o.rxBuf, o.txBuf = rx, tx }
}

// WithConns sets how many connections of the Net each lcore holds at most
// (by default the smaller of its TCP MaxConns and 16384). Dials beyond it
// fail and arrivals beyond it are reset. It also sizes each lcore's work
// ring, which holds every connection at most once.
func WithConns(n int) Option { return func(o *options) { o.conns = n } }

// WithBacklog sets how many established connections each listener holds
// for Accept (512 when 0); those that arrive while it is full are reset.
func WithBacklog(n int) Option { return func(o *options) { o.backlog = n } }

// Net is pmd's TCP seen through package net: Listen, Dial and the
// connections they make, served by an App on every lcore given to New.
// Its methods are safe from any goroutine.
type Net struct {
	apps   []*app
	rr     atomic.Uint64 // round-robin over apps for Dial
	opt    options
	rxBufs sync.Pool // *[]byte of opt.rxBuf bytes
	txBufs sync.Pool

	mu    sync.Mutex
	ports map[uint16]*Listener

	closed    atomic.Bool
	done      chan struct{} // closed by Close
	closeOnce sync.Once

	stats struct {
		acceptFull, acceptClosed, connLimit atomic.Uint64
	}
}

// New makes a Net over lcores and adds its App to each with AddApp: call
// it before the lcores run. Listen and Dial may be called at once; what
// they ask of an lcore happens when it starts.
func New(lcores []*engine.Lcore, opts ...Option) *Net {
	n := &Net{ports: make(map[uint16]*Listener), done: make(chan struct{})}
	for _, f := range opts {
		f(&n.opt)
	}
	if n.opt.rxBuf <= 0 {
		n.opt.rxBuf = 64 << 10
	}
	if n.opt.txBuf <= 0 {
		n.opt.txBuf = 64 << 10
	}
	n.opt.rxBuf, n.opt.txBuf = pow2(n.opt.rxBuf), pow2(n.opt.txBuf)
	if n.opt.backlog <= 0 {
		n.opt.backlog = 512
	}
	rx, tx := n.opt.rxBuf, n.opt.txBuf
	n.rxBufs.New = func() any { b := make([]byte, rx); return &b }
	n.txBufs.New = func() any { b := make([]byte, tx); return &b }
	for _, l := range lcores {
		limit := n.opt.conns
		if limit <= 0 {
			limit = min(l.TCP().Config().MaxConns, 16384)
		}
		a := newApp(n, l, limit)
		n.apps = append(n.apps, a)
		l.AddApp(a)
	}
	return n
}

func pow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// Stats are counts of connections the Net turned away.
type Stats struct {
	AcceptFull   uint64 // reset: the listener's backlog was full
	AcceptClosed uint64 // reset: they arrived at a port no longer listened on
	ConnLimit    uint64 // refused or reset: an lcore held its WithConns limit
}

// Stats returns the counts so far.
func (n *Net) Stats() Stats {
	return Stats{
		AcceptFull:   n.stats.acceptFull.Load(),
		AcceptClosed: n.stats.acceptClosed.Load(),
		ConnLimit:    n.stats.connLimit.Load(),
	}
}

// Close shuts the Net down: every blocked or later call on it, its
// listeners and its connections fails with an error wrapping
// net.ErrClosed (ErrNetClosed), and each lcore, at its next poll, resets
// the Net's connections and stops accepting. Call it when the lcores stop,
// too: the goroutines cannot otherwise learn that nobody polls any more.
func (n *Net) Close() error {
	n.closeOnce.Do(func() {
		n.closed.Store(true)
		close(n.done)
		for _, a := range n.apps {
			a.shutdown()
		}
	})
	return nil
}

// Listen listens on port on every lcore (and every local address). The
// listens happen on the lcores' own threads; Listen waits for them if the
// lcores run, and otherwise leaves them to the lcores' start, in which
// case a failure shows in Accept.
func (n *Net) Listen(port uint16) (net.Listener, error) {
	ln := newListener(n, port)
	if port == 0 {
		return nil, ln.opErr("listen", &net.AddrError{Err: "socket: port 0 (any port) cannot be listened on", Addr: ":0"})
	}
	n.mu.Lock()
	if n.closed.Load() {
		n.mu.Unlock()
		return nil, ln.opErr("listen", ErrNetClosed)
	}
	if n.ports[port] != nil {
		n.mu.Unlock()
		return nil, ln.opErr("listen", errPortInUse)
	}
	n.ports[port] = ln
	n.mu.Unlock()
	for i, a := range n.apps {
		if err := a.request(&ctlReq{op: opListen, port: port, ln: ln}); err != nil {
			for _, b := range n.apps[:i] {
				b.request(&ctlReq{op: opUnlisten, port: port, ln: ln})
			}
			n.mu.Lock()
			delete(n.ports, port)
			n.mu.Unlock()
			ln.closed.Store(true)
			close(ln.done)
			return nil, ln.opErr("listen", err)
		}
	}
	return ln, nil
}

// Dial is DialContext without a context.
func (n *Net) Dial(network, address string) (net.Conn, error) {
	return n.DialContext(context.Background(), network, address)
}

// DialContext connects to address ("198.18.0.1:80"; IPv4 literals only)
// from the next lcore in turn, which picks a source port whose replies
// come back to it. Network is "tcp" or "tcp4". When ctx ends first, the
// half-open connection is reset on its lcore and ctx's error returned.
func (n *Net) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	opErr := func(addr net.Addr, err error) error {
		return &net.OpError{Op: "dial", Net: network, Addr: addr, Err: err}
	}
	switch network {
	case "tcp", "tcp4":
	default:
		return nil, opErr(nil, net.UnknownNetworkError(network))
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, opErr(nil, &net.AddrError{Err: "socket: want an IPv4 address and port", Addr: address})
	}
	remote, ok := ipv4.AddrFromNetip(ap.Addr())
	if !ok {
		return nil, opErr(nil, &net.AddrError{Err: "socket: not an IPv4 address", Addr: address})
	}
	raddr := net.TCPAddrFromAddrPort(ap)
	if n.closed.Load() {
		return nil, opErr(raddr, ErrNetClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, opErr(raddr, err)
	}
	if len(n.apps) == 0 {
		return nil, opErr(raddr, errNoRoute)
	}
	a := n.apps[(n.rr.Add(1)-1)%uint64(len(n.apps))]
	if a.conns.Add(1) > a.limit {
		a.conns.Add(-1)
		n.stats.connLimit.Add(1)
		return nil, opErr(raddr, errConnLimit)
	}
	c := n.newConn(a)
	c.remote, c.rport = remote, ap.Port()
	c.request(reqConnect)
	for {
		st := c.state.Load()
		if st&stOpen != 0 {
			c.setAddrs()
			return c, nil
		}
		if st&stClosed != 0 {
			err := c.err
			c.abandon()
			return nil, opErr(raddr, err)
		}
		c.rwait.Store(true)
		if c.state.Load() != st {
			c.rwait.Store(false)
			continue
		}
		select {
		case <-c.rwake:
		case <-ctx.Done():
			c.rwait.Store(false)
			c.abandon()
			return nil, opErr(raddr, ctx.Err())
		case <-n.done:
			c.rwait.Store(false)
			c.abandon()
			return nil, opErr(raddr, ErrNetClosed)
		}
		c.rwait.Store(false)
	}
}

// tcpAddr is a and port as package net writes them.
func tcpAddr(a ipv4.Addr, port uint16) *net.TCPAddr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(a.Netip(), port))
}
