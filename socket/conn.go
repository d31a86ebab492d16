package socket

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// Connection state set by the lcore (Conn.state).
const (
	stOpen   = 1 << iota // established; id is set
	stEOF                // the peer's FIN: every byte before it is in rx or overflow
	stClosed             // the lcore let go of the TCP connection; err says why
)

// Requests from goroutines to the lcore (Conn.req).
const (
	reqConnect    = 1 << iota // open the connection (Dial)
	reqRead                   // rx has room again after Recv declined data
	reqCloseWrite             // FIN once tx is sent
	reqCloseRead              // take no more data: discard what comes
	reqClose                  // both: FIN after tx, then no more data
	reqAbort                  // reset now
)

// Conn is one TCP connection of a Net; it implements net.Conn, and also
// CloseRead and CloseWrite like *net.TCPConn. Reads, Writes and Closes may
// come from different goroutines; Reads are serialized with each other,
// and so are Writes.
//
// The bytes pass through two single-producer rings: rx, filled by the
// lcore's Recv and drained by Read, and tx, filled by Write and drained by
// the lcore into the TCP send buffer. A goroutine tells the lcore that it
// has work for it by putting the Conn on the lcore's work ring (once: the
// queued flag); the lcore wakes a blocked goroutine with a non-blocking
// send on a channel of capacity one, and only when the goroutine said, by
// rwait or wwait, that it is about to block.
type Conn struct {
	n  *Net
	a  *app
	rx byteRing
	tx byteRing

	// Set by the lcore; id before stOpen, err before stClosed.
	state     atomic.Uint32
	id        tcp.FourTuple
	err       error
	overflow  atomic.Pointer[[]byte] // data that arrived with the FIN and did not fit rx
	rxBlocked atomic.Bool            // Recv declined data for want of room in rx

	// Set by goroutines, read by the lcore.
	req      atomic.Uint32
	queued   atomic.Bool // on the lcore's work ring
	userDone atomic.Bool // no goroutine touches rx and tx any more
	remote   ipv4.Addr   // Dial's destination, before reqConnect
	rport    uint16

	rwait, wwait atomic.Bool   // a goroutine is about to block on rwake, wwake
	rwake, wwake chan struct{} // capacity 1

	// Goroutines only.
	rmu, wmu       sync.Mutex
	closed         atomic.Bool // Close was called
	rdShut, wrShut atomic.Bool
	rdl, wdl       deadline
	ov             []byte // the overflow being read, under rmu
	laddr, raddr   *net.TCPAddr
	rxb, txb       *[]byte // the rings' buffers, from the Net's pools

	ls lside // the lcore's half
}

func (n *Net) newConn(a *app) *Conn {
	c := &Conn{n: n, a: a, rwake: make(chan struct{}, 1), wwake: make(chan struct{}, 1)}
	c.rxb = n.rxBufs.Get().(*[]byte)
	c.txb = n.txBufs.Get().(*[]byte)
	c.rx.init(*c.rxb)
	c.tx.init(*c.txb)
	c.ls.c = c
	c.ls.idx = -1
	return c
}

// setAddrs fills the addresses once the connection is established, on the
// goroutine that hands the Conn out.
func (c *Conn) setAddrs() {
	c.laddr = tcpAddr(c.id.Local, c.id.LocalPort)
	c.raddr = tcpAddr(c.id.Remote, c.id.RemotePort)
}

// kick puts c on its lcore's work ring unless it is there already. The
// ring holds every connection of the lcore once, so it is full only when
// the lcore holds more connections than WithConns allows; should that
// happen, the goroutine waits and tries again.
func (c *Conn) kick() {
	if !c.queued.CompareAndSwap(false, true) {
		return
	}
	for !c.a.work.Push(c) {
		if c.n.closed.Load() {
			return
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// request asks the lcore for what bits say.
func (c *Conn) request(bits uint32) {
	c.req.Or(bits)
	c.kick()
}

// wakeAll wakes whatever goroutine is blocked on c, without blocking.
func (c *Conn) wakeAll() {
	for _, ch := range [2]chan struct{}{c.rwake, c.wwake} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// abandon gives up a connection no goroutine will use: one that failed to
// dial, or that was never accepted. It is reset unless already gone.
func (c *Conn) abandon() {
	c.closed.Store(true)
	c.userDone.Store(true)
	c.request(reqAbort)
}

func (c *Conn) opErr(op string, err error) error {
	e := &net.OpError{Op: op, Net: "tcp", Err: err}
	if c.laddr != nil { // nil values in the interfaces would not print as nil
		e.Source, e.Addr = c.laddr, c.raddr
	}
	return e
}

// Read reads what has arrived, waiting for at least one byte. After the
// peer's FIN and every byte before it, it returns io.EOF; after a reset,
// the reset's error (matching syscall.ECONNRESET) once the bytes that came
// before it are read.
func (c *Conn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		switch {
		case c.closed.Load():
			return 0, c.opErr("read", net.ErrClosed)
		case c.n.closed.Load():
			return 0, c.opErr("read", ErrNetClosed)
		case c.rdl.expired.Load():
			return 0, c.opErr("read", errDeadline)
		case c.rdShut.Load():
			return 0, io.EOF
		case len(b) == 0:
			return 0, nil
		}
		st := c.state.Load()
		if n := c.take(b); n > 0 {
			return n, nil
		}
		if st&(stEOF|stClosed) != 0 {
			// Everything the lcore put in before the state is taken.
			if st&stEOF != 0 || c.err == nil {
				return 0, io.EOF
			}
			return 0, c.opErr("read", c.err)
		}
		c.rwait.Store(true)
		if c.rx.len() > 0 || c.state.Load() != st {
			c.rwait.Store(false)
			continue
		}
		select {
		case <-c.rwake:
		case <-c.rdl.wait():
		case <-c.n.done:
		}
		c.rwait.Store(false)
	}
}

// take copies received bytes into b: from rx, then from the overflow once
// rx is empty. It tells the lcore when it made room that Recv wanted.
func (c *Conn) take(b []byte) int {
	if c.ov == nil {
		// Loaded before rx is read: the lcore stores it after its last
		// write to rx, so an empty rx then means everything before the
		// overflow was read.
		if p := c.overflow.Load(); p != nil {
			c.ov = *p
		}
	}
	n := c.rx.read(b)
	if n > 0 {
		if c.rxBlocked.Load() && c.rxBlocked.CompareAndSwap(true, false) {
			c.request(reqRead)
		}
		return n
	}
	n = copy(b, c.ov)
	c.ov = c.ov[n:]
	return n
}

// Write queues b for sending, waiting while the connection's buffers are
// full; it returns once every byte is queued (or with the error that
// stopped it, and how many were).
func (c *Conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	for {
		switch {
		case c.closed.Load():
			return n, c.opErr("write", net.ErrClosed)
		case c.n.closed.Load():
			return n, c.opErr("write", ErrNetClosed)
		case c.wdl.expired.Load():
			return n, c.opErr("write", errDeadline)
		case c.wrShut.Load():
			return n, c.opErr("write", errBrokenPipe)
		}
		if st := c.state.Load(); st&stClosed != 0 {
			if c.err == nil {
				return n, c.opErr("write", errBrokenPipe)
			}
			return n, c.opErr("write", c.err)
		}
		if k := c.tx.write(b[n:]); k > 0 {
			n += k
			c.kick()
		}
		if n == len(b) {
			return n, nil
		}
		c.wwait.Store(true)
		if c.tx.free() > 0 || c.state.Load()&stClosed != 0 {
			c.wwait.Store(false)
			continue
		}
		select {
		case <-c.wwake:
		case <-c.wdl.wait():
		case <-c.n.done:
		}
		c.wwait.Store(false)
	}
}

// Close closes the connection as the kernel does: data already written is
// still sent, then FIN. Data that arrives afterwards is dropped and, once
// the FIN is out, answered with a reset. Blocked Reads and Writes return
// net.ErrClosed at once. Close does not wait for the data to leave.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.opErr("close", net.ErrClosed)
	}
	c.wakeAll()
	c.rdl.stop()
	c.wdl.stop()
	// Wait for Reads and Writes under way to see closed: after this no
	// goroutine touches the rings, and the lcore may recycle them.
	c.rmu.Lock()
	c.rmu.Unlock()
	c.wmu.Lock()
	c.wmu.Unlock()
	c.userDone.Store(true)
	c.request(reqClose)
	return nil
}

// CloseWrite sends FIN after the data already written (half-close); the
// connection still receives. Later Writes fail (broken pipe).
func (c *Conn) CloseWrite() error {
	if c.closed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	if c.wrShut.Swap(true) {
		return nil
	}
	select {
	case c.wwake <- struct{}{}:
	default:
	}
	c.wmu.Lock() // a Write under way finishes before the FIN is asked for
	c.wmu.Unlock()
	c.request(reqCloseWrite)
	return nil
}

// CloseRead stops receiving: later Reads return io.EOF, and data that
// arrives is discarded.
func (c *Conn) CloseRead() error {
	if c.closed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	if c.rdShut.Swap(true) {
		return nil
	}
	select {
	case c.rwake <- struct{}{}:
	default:
	}
	c.rmu.Lock()
	c.rx.drop()
	c.ov = nil
	c.rmu.Unlock()
	c.request(reqCloseRead)
	return nil
}

// LocalAddr is the connection's local address, a *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr is the peer's address, a *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets both the read and the write deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets when Reads stop waiting and fail with an error
// matching os.ErrDeadlineExceeded (a net.Error whose Timeout is true); a
// time already past makes them fail at once, the zero time waits forever.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline is SetReadDeadline for Writes. A Write that times out
// may have queued part of its bytes; it says how many.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.wdl.set(t)
	return nil
}
