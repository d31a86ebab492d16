package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pmdstack/pmd/bench"
)

// streamReadSize is the read buffer of stream-down: large reads mean few
// system calls per byte.
const streamReadSize = 256 << 10

// splitBytes is the most an rr connection keeps outstanding (Size×Depth)
// with one goroutine that writes and then reads. Beyond it the kernel's
// buffers on the two ends might not hold a whole round of requests and
// responses, a blocked write would stop the reads, and the connection
// would deadlock with the echo server; so a second goroutine writes.
const splitBytes = 64 << 10

// worker is one connection's goroutine (crr: one at a time).
type worker struct {
	c     *client
	meter *bench.Meter
	hist  bench.Hist
	conn  atomic.Pointer[net.TCPConn]
	// send times of the outstanding requests, a ring of Depth entries:
	// times since c.base, written when a request is sent and read when
	// its response completes.
	ring   [64]atomic.Int64
	rHead  int // next to complete
	rTail  int // next to send
	depth  int
	buf    []byte // read buffer
	reqBuf []byte // Depth requests, back to back
}

// client is one run of a workload.
type client struct {
	spec      bench.Spec
	addr      string
	base      time.Time
	measuring atomic.Bool
	stopped   atomic.Bool
	ctx       context.Context
	cancel    context.CancelFunc
	dialer    net.Dialer
	workers   []*worker
	wg        sync.WaitGroup
}

// runClient runs spec against its server on kernel sockets and returns
// the measured result; stop ends the measurement early.
func runClient(spec bench.Spec, stop <-chan struct{}) bench.Result {
	c := &client{spec: spec, addr: spec.Server.String(), base: time.Now()}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	// No keep-alive probes: a setsockopt per connection for nothing.
	c.dialer = net.Dialer{KeepAlive: -1}
	meters := make([]*bench.Meter, spec.Conns)
	for i := range meters {
		meters[i] = new(bench.Meter)
		w := &worker{c: c, meter: meters[i], depth: spec.Depth}
		c.workers = append(c.workers, w)
		c.wg.Go(w.run)
	}
	r := bench.Measure(spec, meters, &c.measuring, stop)
	c.stop()
	for _, w := range c.workers {
		r.Hist.Merge(&w.hist)
	}
	r.Impl = "kernel"
	return r
}

// stop ends the workers: it cancels dials in progress, closes every
// connection and waits.
func (c *client) stop() {
	c.stopped.Store(true)
	c.cancel()
	for _, w := range c.workers {
		if conn := w.conn.Load(); conn != nil {
			conn.Close()
		}
	}
	c.wg.Wait()
}

// dial opens a connection and publishes it so that stop can close it.
// Stores and loads of stopped and conn are sequentially consistent: stop
// closes the connection or dial sees stopped, or both.
func (w *worker) dial() (*net.TCPConn, error) {
	nc, err := w.c.dialer.DialContext(w.c.ctx, "tcp4", w.c.addr)
	if err != nil {
		return nil, err
	}
	conn := nc.(*net.TCPConn)
	w.conn.Store(conn)
	if w.c.stopped.Load() {
		conn.Close()
		return nil, net.ErrClosed
	}
	return conn, nil
}

// now is the monotonic time since the run began.
func (w *worker) now() int64 { return int64(time.Since(w.c.base)) }

// fail counts an error unless the run is stopping (closing the
// connections then is how the workers end) and waits a little before the
// caller retries, so that a dead server costs no busy loop.
func (w *worker) fail(backoff time.Duration) bool {
	if w.c.stopped.Load() {
		return false
	}
	w.meter.Errors.Add(1)
	select {
	case <-time.After(backoff):
	case <-w.c.ctx.Done():
		return false
	}
	return true
}

func (w *worker) run() {
	s := w.c.spec
	var session func(*net.TCPConn) error
	switch s.Workload {
	case bench.CRR:
		w.crr()
		return
	case bench.RR:
		if s.Size*s.Depth <= splitBytes {
			w.buf = make([]byte, s.Size*s.Depth)
			w.reqBuf = make([]byte, s.Size*s.Depth)
			session = w.rr
		} else {
			w.buf = make([]byte, ioBufSize)
			w.reqBuf = make([]byte, min(s.Size, ioBufSize))
			session = w.rrSplit
		}
		fillPattern(w.reqBuf)
	case bench.StreamUp:
		w.reqBuf = make([]byte, ioBufSize)
		fillPattern(w.reqBuf)
		session = w.streamUp
	case bench.StreamDown:
		w.buf = make([]byte, streamReadSize)
		session = w.streamDown
	case bench.HTTP:
		w.buf = make([]byte, ioBufSize)
		w.reqBuf = bytes.Repeat([]byte(bench.HTTPRequest), s.Depth)
		session = w.http
	}
	// A persistent connection that fails is an error; the worker opens
	// another and goes on.
	for !w.c.stopped.Load() {
		conn, err := w.dial()
		if err == nil {
			err = session(conn)
			conn.Close()
		}
		if err != nil && !w.fail(100*time.Millisecond) {
			return
		}
	}
}

func fillPattern(b []byte) {
	for i := range b {
		b[i] = bodyPattern[i%len(bodyPattern)]
	}
}

// record completes k outstanding requests at time now.
func (w *worker) record(k int, now int64) {
	measuring := w.c.measuring.Load()
	for range k {
		if measuring {
			w.hist.Record(time.Duration(now - w.ring[w.rHead].Load()))
		}
		w.rHead++
		if w.rHead == w.depth {
			w.rHead = 0
		}
	}
	w.meter.Txns.Add(uint64(k))
}

// sent notes k requests sent at time t.
func (w *worker) sent(k int, t int64) {
	for range k {
		w.ring[w.rTail].Store(t)
		w.rTail++
		if w.rTail == w.depth {
			w.rTail = 0
		}
	}
}

// rr keeps Depth requests of Size bytes outstanding; a transaction
// completes with each Size bytes that come back. One goroutine: the
// requests answered by one read are replaced by one write.
func (w *worker) rr(conn *net.TCPConn) error {
	size := w.c.spec.Size
	w.rHead, w.rTail = 0, 0
	w.sent(w.depth, w.now())
	if _, err := conn.Write(w.reqBuf); err != nil {
		return err
	}
	partial := 0
	for {
		n, err := conn.Read(w.buf)
		if err != nil {
			return err
		}
		partial += n
		k := partial / size
		if k == 0 {
			continue
		}
		partial -= k * size
		w.record(k, w.now())
		w.sent(k, w.now())
		if _, err := conn.Write(w.reqBuf[:k*size]); err != nil {
			return err
		}
	}
}

// rrSplit is rr with a writer goroutine, for rounds too large for the
// socket buffers. The reader hands the writer one credit per completed
// transaction.
func (w *worker) rrSplit(conn *net.TCPConn) error {
	size := w.c.spec.Size
	w.rHead, w.rTail = 0, 0
	credits := make(chan struct{}, w.depth)
	for range w.depth {
		credits <- struct{}{}
	}
	done := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		for {
			select {
			case <-credits:
			case <-done:
				werr <- nil
				return
			}
			w.sent(1, w.now())
			for left := size; left > 0; {
				n, err := conn.Write(w.reqBuf[:min(left, len(w.reqBuf))])
				left -= n
				if err != nil {
					conn.Close() // ends the reader
					werr <- err
					return
				}
			}
		}
	}()
	partial := 0
	var err error
	for {
		var n int
		n, err = conn.Read(w.buf)
		if err != nil {
			break
		}
		partial += n
		k := partial / size
		if k == 0 {
			continue
		}
		partial -= k * size
		w.record(k, w.now())
		for range k {
			credits <- struct{}{}
		}
	}
	conn.Close() // ends a write in progress
	close(done)
	if e := <-werr; e != nil {
		return e
	}
	return err
}

// crr opens a connection, sends Size bytes, reads Size bytes back and
// closes, over and over. Failures are counted and the loop goes on.
func (w *worker) crr() {
	size := w.c.spec.Size
	w.reqBuf = make([]byte, min(size, ioBufSize))
	w.buf = make([]byte, min(size, ioBufSize))
	fillPattern(w.reqBuf)
	for !w.c.stopped.Load() {
		t0 := w.now()
		conn, err := w.dial()
		if err == nil {
			err = w.exchange(conn, size)
			conn.Close()
		}
		if err != nil {
			if !w.fail(time.Millisecond) {
				return
			}
			continue
		}
		if w.c.measuring.Load() {
			w.hist.Record(time.Duration(w.now() - t0))
		}
		w.meter.Txns.Add(1)
	}
}

// exchange writes size bytes and reads size bytes back. Up to the buffer
// size the kernel holds the request while the goroutine reads; beyond it
// a second goroutine writes, so that the echo cannot deadlock.
func (w *worker) exchange(conn *net.TCPConn, size int) error {
	var werr chan error
	if size <= len(w.reqBuf) {
		if _, err := conn.Write(w.reqBuf[:size]); err != nil {
			return err
		}
	} else {
		werr = make(chan error, 1)
		go func() {
			for left := size; left > 0; {
				n, err := conn.Write(w.reqBuf[:min(left, len(w.reqBuf))])
				left -= n
				if err != nil {
					werr <- err
					return
				}
			}
			werr <- nil
		}()
	}
	var rerr error
	for got := 0; got < size; {
		n, err := conn.Read(w.buf)
		got += n
		if err != nil && got < size {
			if errors.Is(err, io.EOF) {
				err = errShortEcho
			}
			rerr = err
			conn.Close() // ends the writer, if any
			break
		}
	}
	if werr != nil {
		if err := <-werr; rerr == nil {
			rerr = err
		}
	}
	return rerr
}

// streamUp writes 64 KiB buffers to discard as fast as the kernel takes
// them.
func (w *worker) streamUp(conn *net.TCPConn) error {
	for {
		n, err := conn.Write(w.reqBuf)
		w.meter.Bytes.Add(uint64(n))
		if err != nil {
			return err
		}
	}
}

// streamDown reads from chargen as fast as it comes.
func (w *worker) streamDown(conn *net.TCPConn) error {
	for {
		n, err := conn.Read(w.buf)
		w.meter.Bytes.Add(uint64(n))
		if err != nil {
			return err
		}
	}
}

// http keeps Depth pipelined GETs outstanding and parses the responses:
// the status line must be "HTTP/1.1 200", the head must give the body's
// Content-Length, and the body is skipped. Each response completes the
// oldest request; the requests answered by one read are replaced by one
// write.
func (w *worker) http(conn *net.TCPConn) error {
	reqLen := len(bench.HTTPRequest)
	w.rHead, w.rTail = 0, 0
	w.sent(w.depth, w.now())
	if _, err := conn.Write(w.reqBuf); err != nil {
		return err
	}
	var p respParser
	buf := w.buf
	r, e := 0, 0 // unparsed bytes are buf[r:e]
	for {
		if r == e {
			r, e = 0, 0
		} else if len(buf)-e < 4096 && r > 0 {
			e = copy(buf, buf[r:e])
			r = 0
		}
		if e == len(buf) {
			return errHeadTooLarge
		}
		n, err := conn.Read(buf[e:])
		if err != nil {
			return err
		}
		e += n
		used, k, err := p.feed(buf[r:e])
		r += used
		if err != nil {
			return err
		}
		if k == 0 {
			continue
		}
		w.record(k, w.now())
		w.sent(k, w.now())
		if _, err := conn.Write(w.reqBuf[:k*reqLen]); err != nil {
			return err
		}
	}
}

var (
	errShortEcho    = errors.New("connection closed before the echo was complete")
	errHeadTooLarge = errors.New("http: response head larger than the buffer")
	errStatus       = errors.New(`http: status is not "HTTP/1.1 200"`)
	errNoLength     = errors.New("http: response without a valid Content-Length")
)

// respParser reads back-to-back HTTP/1.1 responses whose bodies are
// delimited by Content-Length. It allocates nothing.
type respParser struct {
	inBody bool
	skip   int // body bytes still to skip
}

// feed consumes what it can of b: whole heads and any body bytes. It
// returns the bytes consumed and the responses completed; an incomplete
// head is left unconsumed for the next call.
func (p *respParser) feed(b []byte) (used, done int, err error) {
	for {
		if p.inBody {
			k := min(p.skip, len(b)-used)
			used += k
			p.skip -= k
			if p.skip > 0 {
				return used, done, nil
			}
			p.inBody = false
			done++
		}
		i := bytes.Index(b[used:], crlfcrlf)
		if i < 0 {
			return used, done, nil
		}
		n, err := parseHead(b[used : used+i])
		if err != nil {
			return used, done, err
		}
		used += i + len(crlfcrlf)
		p.inBody, p.skip = true, n
	}
}

var (
	crlf          = []byte("\r\n")
	crlfcrlf      = []byte("\r\n\r\n")
	status200     = []byte("HTTP/1.1 200")
	contentLength = []byte("content-length")
)

// parseHead checks a response head (without its final empty line) and
// returns its Content-Length.
func parseHead(head []byte) (int, error) {
	line, rest, _ := bytes.Cut(head, crlf)
	if !bytes.HasPrefix(line, status200) || len(line) > len(status200) && line[len(status200)] != ' ' {
		return 0, errStatus
	}
	length := -1
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, crlf)
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || !bytes.EqualFold(name, contentLength) {
			continue
		}
		value = bytes.Trim(value, " \t")
		if len(value) == 0 || length >= 0 {
			return 0, errNoLength
		}
		length = 0
		for _, c := range value {
			if c < '0' || c > '9' || length > 1<<40 {
				return 0, errNoLength
			}
			length = length*10 + int(c-'0')
		}
	}
	if length < 0 {
		return 0, errNoLength
	}
	return length, nil
}
