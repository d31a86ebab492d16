package tcp

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// Handler receives a connection's events. The stack calls it on the lcore
// that owns the connection, from Stack.Input and Stack.Advance and from
// the methods named below, one call at a time. The contract:
//
// Data. Recv is offered all unread in-order data as one slice, however the
// receive ring wraps: when the unread bytes straddle the end of the ring,
// the stack first moves them (and the out-of-order data beyond them)
// together; data that arrives with nothing buffered is offered straight
// from the packet. Recv returns how many bytes it took from the front of
// data. The rest stays in the receive buffer (it shrinks the window the
// peer sees) and is offered again, whole and with whatever arrived since
// appended, when more in-order data arrives, after each acknowledgement
// of data or a FIN the connection sent (after Writable when one is due),
// and when the handler calls Conn.Read. A handler may so take only whole messages and
// wait for the rest of one: it is never stuck while the peer has sent it.
//
// A full receive buffer. When Recv declines data and the receive buffer is
// full, nothing more can arrive. The stack then waits if it will offer the
// data again by itself: the handler asked for Writable (a Write came up
// short), or data or a FIN the connection wrote is not yet acknowledged.
// Otherwise the handler is waiting for a message larger than the buffer,
// which can never come: the stack aborts the connection (a reset to the
// peer, counter RecvBufferFull) and Closed receives ErrRecvBufferFull. A
// handler that declines because its own consumer is slow, not because it
// waits for more bytes, says so with Conn.Pause: then nothing is offered
// and nothing is aborted until it calls Conn.Read.
//
// Calls from callbacks. Every callback may call any method of its Conn or
// of another Conn of the same Stack, and Stack.Connect, ConnectFrom and
// Listen; not Input, Advance or Flush, which belong to the lcore (they
// panic, and the panic is handled as below). The effects:
//   - Write, CloseWrite, SetNoDelay: as outside callbacks; what they queue
//     goes out when the lcore flushes.
//   - Close: CloseWrite, and the handler takes no more data. Called from
//     Recv, the bytes Recv returns count as read; a Close that leaves
//     received data unread resets the connection, as Abort.
//   - Abort: the reset goes out at once and Closed(c, ErrAborted) runs
//     before Abort returns. No other callback for c follows, and the
//     stack does nothing more with the event in progress: what Recv
//     returns after an Abort is ignored.
//   - Read: in Recv it does nothing (the data is being offered now); in
//     Open, Writable and PeerClosed it offers the unread data to Recv at
//     once, inside the callback.
//   - Connect, ConnectFrom: a new connection, never the *Conn of one that
//     ended in this poll iteration: connection objects are recycled only
//     once the stack has left every callback (at the end of Flush), so
//     the new connection never sees the old one's data or events.
//   - In Closed, and after it within the poll iteration, c is gone: Write
//     returns 0, Writable returns 0, Close, CloseWrite, Abort and Read do
//     nothing, SetNoDelay has no effect on any connection.
//
// Lifetime. A *Conn must not be used after Closed returns, except to
// compare its Gen with one saved earlier: from the next poll iteration on
// (or once TIME-WAIT ends) the stack may reuse the object for another
// connection. Code that holds a *Conn
// across poll iterations (an adapter whose goroutines hand work back to
// the lcore, say) saves Gen while the connection is open and calls nothing
// on c unless c.Gen() still equals it.
//
// Panics. A callback that panics does not reach the lcore. The stack
// recovers at the callback boundary, counts the panic (HandlerPanics),
// aborts the connection as Abort does (with a reset to the peer unless
// both sides had closed already) and calls Closed with a *PanicError. A panic in
// Closed is counted and recovered; Closed is not called again. A Recv that
// returns a count outside [0, len(data)] is handled as a panic.
type Handler interface {
	// Open: the connection is established (accepted or connected). It is
	// called once, before any other callback of the connection, except
	// that an active open that fails (refused, timed out, aborted) gets
	// Closed alone; a passive open that never completes is not reported.
	Open(c *Conn)
	// Recv: all unread in-order data as one slice, a view valid only
	// during the call (it may be the packet or the receive buffer: copy
	// what must be kept). Recv returns how many bytes it took, 0 to
	// len(data); the rest is offered again as the Handler contract says.
	// During the call Conn.Unread is len(data).
	Recv(c *Conn, data []byte) int
	// Writable: send space has become free after a Write came up short
	// (or Conn.Writable returned 0). Buffered received data is offered to
	// Recv again after it returns.
	Writable(c *Conn)
	// PeerClosed: the peer sent FIN; no more data will come. Data the
	// handler declined stays readable with Conn.Read.
	PeerClosed(c *Conn)
	// Closed: the connection is gone (err nil after an orderly close;
	// ErrReset, ErrRefused, ErrTimeout, ErrAborted, ErrRecvBufferFull or a
	// *PanicError otherwise). It is the last callback of the connection; c
	// must not be used after it returns (see Handler on Gen).
	Closed(c *Conn, err error)
}

// PanicError is the error Closed receives when one of the connection's
// handler callbacks panicked; the stack aborted the connection.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the stack trace at the recovery (runtime/debug.Stack)
}

// Error describes the panic.
func (e *PanicError) Error() string { return fmt.Sprintf("tcp: handler panicked: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// ErrRecvBufferFull is Closed's error for a connection aborted because its
// handler declined data with the receive buffer full and nothing would
// offer the data again (see Handler).
var ErrRecvBufferFull = errors.New("tcp: handler declined data with the receive buffer full")

// errBadCount is the panic value of a Recv that returned a count outside
// [0, len(data)].
type errBadCount struct{ k, n int }

func (e errBadCount) Error() string {
	return fmt.Sprintf("tcp: Recv returned %d for %d bytes offered", e.k, e.n)
}

// errReentered is the panic of Input, Advance or Flush called from a
// handler callback.
var errReentered = errors.New("tcp: Stack.Input, Advance or Flush called from a handler callback")

// reentered panics with errReentered, out of line: the check costs the
// callers a comparison and nothing more.
//
//go:noinline
func reentered() { panic(errReentered) }

// The callback wrappers below are the only places the stack calls a
// Handler. Each counts itself in s.depth (Input, Advance and Flush refuse
// to run inside a callback) and recovers a panic at the boundary with one
// deferred closure that calls recover directly (a deferred method with
// arguments would cost a wrapper call on every callback). After any of
// them the caller checks c.state == Closed before touching c again: the
// callback may have ended the connection; deferred recycling guarantees c
// is still the same incarnation (Gen unchanged) until the poll iteration's
// Flush, which cannot run inside a callback.

// callback names a Handler method, for handlerPanicked.
type callback uint8

const (
	cbOpen callback = iota
	cbRecv
	cbWritable
	cbPeerClosed
	cbClosed
	cbDrain
)

func (c *Conn) callOpen() {
	s := c.s
	s.depth++
	defer func() {
		s.depth--
		if r := recover(); r != nil {
			s.handlerPanicked(c, cbOpen, r)
		}
	}()
	c.handler.Open(c)
}

// callRecv offers data; a panic returns 0 (the connection is closed by
// then).
func (c *Conn) callRecv(data []byte) int {
	s := c.s
	s.depth++
	c.inRecv, c.offered = true, len(data)
	defer func() {
		s.depth--
		c.inRecv = false
		if r := recover(); r != nil {
			s.handlerPanicked(c, cbRecv, r)
		}
	}()
	k := c.handler.Recv(c, data)
	if uint(k) > uint(len(data)) {
		panic(errBadCount{k, len(data)})
	}
	return k
}

func (c *Conn) callWritable() {
	s := c.s
	s.depth++
	defer func() {
		s.depth--
		if r := recover(); r != nil {
			s.handlerPanicked(c, cbWritable, r)
		}
	}()
	c.handler.Writable(c)
}

func (c *Conn) callPeerClosed() {
	s := c.s
	s.depth++
	defer func() {
		s.depth--
		if r := recover(); r != nil {
			s.handlerPanicked(c, cbPeerClosed, r)
		}
	}()
	c.handler.PeerClosed(c)
}

func (c *Conn) callDrain() {
	s := c.s
	s.depth++
	defer func() {
		s.depth--
		if r := recover(); r != nil {
			s.handlerPanicked(c, cbDrain, r)
		}
	}()
	c.handler.(Drainer).Drain(c)
}

// callClosed tells h, already detached from c.
func (c *Conn) callClosed(h Handler, err error) {
	s := c.s
	s.depth++
	defer func() {
		s.depth--
		if r := recover(); r != nil {
			s.handlerPanicked(c, cbClosed, r)
		}
	}()
	h.Closed(c, err)
}

// handlerPanicked contains a panic recovered from c's handler: counted,
// and unless it came from Closed (the handler is detached already; it is
// not called again), the connection is aborted and Closed hears why.
func (s *Stack) handlerPanicked(c *Conn, cb callback, r any) {
	s.C[HandlerPanics]++
	if cb == cbClosed || c.handler == nil {
		if s.cfg.OnPanic != nil {
			s.cfg.OnPanic(&PanicError{Value: r, Stack: debug.Stack()})
		}
		return // Closed ran, or runs no more: nobody to tell
	}
	pe := &PanicError{Value: r, Stack: debug.Stack()}
	if s.cfg.OnPanic != nil {
		s.cfg.OnPanic(pe)
	}
	c.abort(pe)
}
