package socket

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/pmdstack/pmd/tcp"
)

// connPair connects host B to host A on port and returns both ends; the
// test's cleanup closes them.
func connPair(t *testing.T, w *wire, port uint16) (client, server *Conn) {
	t.Helper()
	ln, err := w.a.net.Listen(port)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		c   net.Conn
		err error
	}
	acc := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		acc <- result{c, err}
	}()
	c, err := w.b.net.Dial("tcp", "198.18.0.1:"+itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	r := <-acc
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() {
		c.Close()
		r.c.Close()
	})
	return c.(*Conn), r.c.(*Conn)
}

func itoa(p uint16) string { return (&net.TCPAddr{Port: int(p)}).String()[1:] }

// isTimeout checks the net package's deadline error.
func isTimeout(t *testing.T, err error) {
	t.Helper()
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v (%T): want os.ErrDeadlineExceeded, a net.Error with Timeout", err, err)
	}
}

// readWithin reads into b and fails the test unless it returned within d.
func readWithin(t *testing.T, c net.Conn, b []byte, d time.Duration) (int, error, time.Duration) {
	t.Helper()
	start := time.Now()
	n, err := c.Read(b)
	took := time.Since(start)
	if took > d {
		t.Fatalf("Read took %v, want at most %v (%d, %v)", took, d, n, err)
	}
	return n, err, took
}

func TestAddrs(t *testing.T) {
	w := newWire(t, hostSpec{}, hostSpec{})
	c, s := connPair(t, w, 5000)
	cl, cr := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
	sl, sr := s.LocalAddr().(*net.TCPAddr), s.RemoteAddr().(*net.TCPAddr)
	if cr.String() != "198.18.0.1:5000" || sl.String() != "198.18.0.1:5000" || cl.String() != sr.String() || !cl.IP.Equal(net.IPv4(198, 18, 0, 2)) {
		t.Fatalf("client %v -> %v, server %v <- %v", cl, cr, sl, sr)
	}
}

// TestDeadlines: the net package's deadline semantics for Read and Write.
func TestDeadlines(t *testing.T) {
	w := newWire(t, hostSpec{}, hostSpec{})
	tests := []struct {
		name string
		run  func(t *testing.T, c, s *Conn)
	}{
		{"past-fails-at-once", func(t *testing.T, c, s *Conn) {
			s.Write([]byte("x"))
			b := make([]byte, 10)
			if n, err := c.Read(b); n != 1 || err != nil {
				t.Fatalf("read %d, %v", n, err)
			}
			s.Write([]byte("y"))
			time.Sleep(20 * time.Millisecond) // "y" is there: still no read
			c.SetReadDeadline(time.Now().Add(-time.Second))
			_, err, _ := readWithin(t, c, b, 250*time.Millisecond)
			isTimeout(t, err)
			_, err, _ = readWithin(t, c, b, 250*time.Millisecond) // and again
			isTimeout(t, err)
			c.SetReadDeadline(time.Time{}) // re-enabled
			if n, err := c.Read(b); n != 1 || b[0] != 'y' || err != nil {
				t.Fatalf("after clearing the deadline: %q, %v", b[:n], err)
			}
		}},
		{"expires-while-blocked", func(t *testing.T, c, s *Conn) {
			c.SetReadDeadline(time.Now().Add(60 * time.Millisecond))
			_, err, took := readWithin(t, c, make([]byte, 10), 2*time.Second)
			isTimeout(t, err)
			if took < 50*time.Millisecond {
				t.Fatalf("timed out after %v, deadline 60ms", took)
			}
		}},
		{"extended-while-blocked", func(t *testing.T, c, s *Conn) {
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			go func() {
				time.Sleep(10 * time.Millisecond)
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				time.Sleep(150 * time.Millisecond)
				s.Write([]byte("late"))
			}()
			b := make([]byte, 10)
			n, err, took := readWithin(t, c, b, 3*time.Second)
			if err != nil || string(b[:n]) != "late" || took < 100*time.Millisecond {
				t.Fatalf("read %q, %v after %v", b[:n], err, took)
			}
		}},
		{"set-past-wakes-blocked", func(t *testing.T, c, s *Conn) {
			go func() {
				time.Sleep(30 * time.Millisecond)
				c.SetDeadline(time.Now().Add(-time.Millisecond))
			}()
			_, err, _ := readWithin(t, c, make([]byte, 10), 2*time.Second)
			isTimeout(t, err)
		}},
		{"write", func(t *testing.T, c, s *Conn) {
			// Nobody reads s: the buffers fill and Write blocks.
			big := make([]byte, 4<<20)
			fill(3, 0, big)
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			n, err := c.Write(big)
			isTimeout(t, err)
			if n == 0 || n == len(big) {
				t.Fatalf("timed-out Write queued %d of %d bytes", n, len(big))
			}
			if _, err := c.Write(big[n:]); err == nil {
				t.Fatal("Write after the deadline passed succeeded")
			}
			c.SetWriteDeadline(time.Time{})
			done := make(chan error, 1)
			go func() {
				_, err := c.Write(big[n:])
				done <- err
			}()
			got := make([]byte, len(big))
			if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, big) {
				t.Fatalf("read back: %v, equal %v", err, bytes.Equal(got, big))
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := connPair(t, w, uint16(6000+i))
			tt.run(t, c, s)
		})
	}
}

// TestCloseWrite: a half-closed client still reads the server's answer,
// which the server sends once it has read the request to EOF; writes
// after CloseWrite fail. CloseRead makes Reads return EOF.
func TestCloseWrite(t *testing.T) {
	w := newWire(t, hostSpec{}, hostSpec{})
	c, s := connPair(t, w, 7000)
	req := bytes.Repeat([]byte("request "), 10000)
	go func() {
		got, err := io.ReadAll(s)
		if err != nil {
			t.Error(err)
		}
		s.Write([]byte("answer to "))
		s.Write(got)
		s.Close()
	}()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("more")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write after CloseWrite: %v, want EPIPE", err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte("answer to "), req...); !bytes.Equal(got, want) {
		t.Fatalf("answer of %d bytes, want %d", len(got), len(want))
	}

	c2, s2 := connPair(t, w, 7001)
	if err := s2.CloseRead(); err != nil {
		t.Fatal(err)
	}
	if n, err := s2.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read after CloseRead: %d, %v", n, err)
	}
	if _, err := c2.Write([]byte("dropped")); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Write([]byte("still sends")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 11)
	if _, err := io.ReadFull(c2, b); err != nil || string(b) != "still sends" {
		t.Fatalf("%q, %v", b, err)
	}
}

// TestDialErrors: refused, unreachable with the context's end, and
// addresses the adapter does not take.
func TestDialErrors(t *testing.T) {
	w := newWire(t, hostSpec{}, hostSpec{})
	_, err := w.b.net.Dial("tcp", "198.18.0.1:1")
	var oe *net.OpError
	if !errors.Is(err, tcp.ErrRefused) || !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("dial to a closed port: %v", err)
	}
	tests := []struct {
		name   string
		ctx    func() (context.Context, context.CancelFunc)
		cancel time.Duration // cancel after this, if not 0
		want   error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, 0, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, 50 * time.Millisecond, context.Canceled},
		{"cancelled-before", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, 0, context.Canceled},
	}
	failed := func() uint64 {
		var n uint64
		for _, l := range w.b.ls {
			c, _ := l.TCPCounters()
			n += c[tcp.ConnsFailed]
		}
		return n
	}
	waitFor(time.Second, func() bool { return failed() == 1 }) // the refused one, once published
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := failed()
			ctx, cancel := tt.ctx()
			defer cancel()
			if tt.cancel > 0 {
				time.AfterFunc(tt.cancel, cancel)
			}
			start := time.Now()
			_, err := w.b.net.DialContext(ctx, "tcp", "198.18.0.3:80") // nobody answers ARP
			if !errors.Is(err, tt.want) || !errors.As(err, &oe) {
				t.Fatalf("dial: %v, want %v in a *net.OpError", err, tt.want)
			}
			if took := time.Since(start); took > time.Second {
				t.Fatalf("dial returned after %v", took)
			}
			// The half-open connection is gone from the lcore: aborted,
			// unless the dial never reached it.
			if !waitFor(2*time.Second, func() bool { return w.b.conns() == 0 }) {
				t.Fatalf("%d connections left on the dialing host", w.b.conns())
			}
			if tt.name != "cancelled-before" && !waitFor(time.Second, func() bool { return failed() == before+1 }) {
				t.Fatalf("connections failed on the dialing host: %d, want %d", failed(), before+1)
			}
		})
	}
	for _, a := range []struct{ network, addr string }{
		{"udp", "198.18.0.1:7"}, {"tcp6", "198.18.0.1:7"}, {"tcp", "pmd.test:80"},
		{"tcp", "[::1]:80"}, {"tcp", "198.18.0.1"},
	} {
		if c, err := w.b.net.Dial(a.network, a.addr); err == nil || !errors.As(err, &oe) {
			c.Close()
			t.Errorf("Dial(%q, %q): %v, want a *net.OpError", a.network, a.addr, err)
		}
	}
}

// TestCloseDeliversUnsent: data written just before Close, while the
// receiver is not reading, still arrives in full, then EOF.
func TestCloseDeliversUnsent(t *testing.T) {
	small := tcp.Config{SndBuf: 16 << 10, RcvBuf: 16 << 10}
	w := newWire(t, hostSpec{tcp: small, opts: []Option{WithBuffers(4<<10, 4<<10)}},
		hostSpec{tcp: small, opts: []Option{WithBuffers(256<<10, 256<<10)}})
	c, s := connPair(t, w, 7100)
	data := make([]byte, 200<<10)
	fill(11, 0, data)
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("Close took %v", d)
	}
	t.Logf("%d bytes were still in the ring at Close", c.tx.len())
	time.Sleep(200 * time.Millisecond)
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d of %d bytes, %v", len(got), len(data), err)
	}
	// Use after Close.
	for _, err := range []error{
		func() error { _, err := c.Read(make([]byte, 1)); return err }(),
		func() error { _, err := c.Write([]byte("x")); return err }(),
		c.Close(),
		c.SetDeadline(time.Now()),
		c.CloseWrite(),
	} {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("after Close: %v, want net.ErrClosed", err)
		}
	}
}

// TestReset: data sent to a connection the peer has closed draws a reset;
// Read gives EOF (the FIN came first), Write the reset.
func TestReset(t *testing.T) {
	w := newWire(t, hostSpec{}, hostSpec{})
	c, s := connPair(t, w, 7200)
	s.Close()
	if n, err := c.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("read after the peer closed: %d, %v", n, err)
	}
	var err error
	ok := waitFor(5*time.Second, func() bool {
		_, err = c.Write([]byte("too late"))
		return err != nil
	})
	if !ok || !errors.Is(err, syscall.ECONNRESET) || !errors.Is(err, tcp.ErrReset) {
		t.Fatalf("write to a closed peer: %v", err)
	}
}

// TestListenerClose: Close wakes a blocked Accept with net.ErrClosed;
// connections arriving afterwards are reset; the port can be listened on
// again.
func TestListenerClose(t *testing.T) {
	w := newWire(t, hostSpec{}, hostSpec{})
	ln, err := w.a.net.Listen(8000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.a.net.Listen(8000); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second Listen on a port: %v", err)
	}
	accepted := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		accepted <- err
	}()
	time.Sleep(30 * time.Millisecond)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	// The lcore still listens, and resets what arrives.
	if c, err := w.b.net.Dial("tcp", "198.18.0.1:8000"); err == nil {
		_, err = c.Read(make([]byte, 1))
		c.Close()
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read on a connection to a closed listener: %v", err)
		}
	}
	if n := w.a.net.Stats().AcceptClosed; n != 1 {
		t.Fatalf("AcceptClosed = %d", n)
	}
	ln, err = w.a.net.Listen(8000)
	if err != nil {
		t.Fatal(err)
	}
	wait := serveEcho(t, ln)
	defer wait()
	defer ln.Close()
	if err := echoOnce(w.b.net, "198.18.0.1:8000", 5000, 1, 1000); err != nil {
		t.Fatal(err)
	}
}

// TestBeforeStart: Listen and Dial before the lcores run take effect when
// they start.
func TestBeforeStart(t *testing.T) {
	w := newIdleWire(t, hostSpec{lcores: 2}, hostSpec{})
	ln, err := w.a.net.Listen(8100)
	if err != nil {
		t.Fatal(err)
	}
	wait := serveEcho(t, ln)
	defer wait()
	defer ln.Close()
	dialed := make(chan error, 1)
	go func() { dialed <- echoOnce(w.b.net, "198.18.0.1:8100", 10000, 2, 3000) }()
	time.Sleep(20 * time.Millisecond)
	w.start()
	if err := <-dialed; err != nil {
		t.Fatal(err)
	}
}

// TestNetClose: once the lcores stop, Close on the Net wakes every
// goroutine blocked in Read, Write, Accept or Dial with net.ErrClosed.
func TestNetClose(t *testing.T) {
	w := newWire(t, hostSpec{}, hostSpec{})
	c, _ := connPair(t, w, 8200) // nobody writes to c
	_, s := connPair(t, w, 8202) // nobody reads what s writes
	ln, err := w.a.net.Listen(8201)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	go func() { _, err := c.Read(make([]byte, 1)); errs <- err }()
	go func() {
		big := make([]byte, 8<<20) // more than the buffers: blocks, s does not read
		_, err := s.Write(big)
		errs <- err
	}()
	go func() { _, err := ln.Accept(); errs <- err }()
	go func() { _, err := w.b.net.Dial("tcp", "198.18.0.3:80"); errs <- err }()
	time.Sleep(50 * time.Millisecond)
	w.halt() // the lcores stop
	w.a.net.Close()
	w.b.net.Close()
	for i := 0; i < 4; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("blocked call returned %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%d calls still blocked", 4-i)
		}
	}
	if _, err := w.b.net.Dial("tcp", "198.18.0.1:80"); !errors.Is(err, ErrNetClosed) {
		t.Fatalf("Dial on a closed Net: %v", err)
	}
}

func isInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) && errors.Is(err, tcp.ErrPortInUse)
}
