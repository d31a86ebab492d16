package socket

import (
	"net"
	"sync/atomic"

	"github.com/pmdstack/pmd/mpsc"
)

// Listener is a port listened on by every lcore of a Net; it implements
// net.Listener. The lcores put connections, once established, into its
// backlog ring, and Accept takes them from it.
type Listener struct {
	n       *Net
	port    uint16
	q       *mpsc.Ring[*Conn] // pushed by the lcores, popped by Accept
	waiting atomic.Int32      // Accepts blocked on wake
	wake    chan struct{}
	closed  atomic.Bool
	done    chan struct{} // closed by Close
	failed  atomic.Pointer[error]
}

func newListener(n *Net, port uint16) *Listener {
	return &Listener{n: n, port: port, q: mpsc.New[*Conn](n.opt.backlog), wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Addr is 0.0.0.0 and the port: every local address.
func (ln *Listener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4zero, Port: int(ln.port)} }

func (ln *Listener) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Addr: ln.Addr(), Err: err}
}

// Accept waits for the next connection. On a closed listener it returns an
// error wrapping net.ErrClosed, at once and also to the Accepts blocked
// when Close is called.
func (ln *Listener) Accept() (net.Conn, error) {
	for {
		if ln.closed.Load() {
			return nil, ln.opErr("accept", net.ErrClosed)
		}
		if ln.n.closed.Load() {
			return nil, ln.opErr("accept", ErrNetClosed)
		}
		if c, ok := ln.q.Pop(); ok {
			if ln.q.Len() > 0 {
				ln.signal() // another Accept may be waiting for the rest
			}
			c.setAddrs()
			return c, nil
		}
		if e := ln.failed.Load(); e != nil {
			return nil, ln.opErr("accept", *e)
		}
		ln.waiting.Add(1)
		if ln.q.Len() > 0 {
			ln.waiting.Add(-1)
			continue
		}
		select {
		case <-ln.wake:
		case <-ln.done:
		case <-ln.n.done:
		}
		ln.waiting.Add(-1)
	}
}

// signal wakes a blocked Accept, without blocking.
func (ln *Listener) signal() {
	select {
	case ln.wake <- struct{}{}:
	default:
	}
}

// Close stops listening on every lcore and resets the connections that
// arrived and were not accepted. pmd's TCP cannot stop listening on a
// port, so each lcore keeps the port and resets what completes a
// handshake on it from then on (counted in Stats.AcceptClosed), until the
// port is listened on again. Close waits for the lcores to take the
// change (not once the Net is closed).
func (ln *Listener) Close() error {
	if !ln.closed.CompareAndSwap(false, true) {
		return ln.opErr("close", net.ErrClosed)
	}
	close(ln.done)
	n := ln.n
	n.mu.Lock()
	if n.ports[ln.port] == ln {
		delete(n.ports, ln.port)
	}
	n.mu.Unlock()
	for _, a := range n.apps {
		a.request(&ctlReq{op: opUnlisten, port: ln.port, ln: ln})
	}
	// No lcore pushes any more (unless the Net closed and we did not
	// wait, in which case the lcores reset everything anyway).
	for {
		c, ok := ln.q.Pop()
		if !ok {
			break
		}
		c.abandon()
	}
	return nil
}
