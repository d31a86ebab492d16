package tcp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/pmdstack/pmd/ipv4"
)

// The Handler contract (handler.go), one rule per test: what Recv is
// offered and when it is offered again, a full receive buffer, the calls
// a callback may make and what they do, the lifetime of a *Conn and its
// generation, panics. The fixture (fixture_test.go) drives one stack with
// exact segments; the wire (wire_test.go) joins two stacks.

// logApp is a Handler that logs its events as strings; the hooks, when
// set, decide what each callback does (Recv takes everything without
// one).
type logApp struct {
	log      []string
	closed   int
	err      error
	recv     func(c *Conn, d []byte) int
	open     func(c *Conn)
	writable func(c *Conn)
	peerFin  func(c *Conn)
	onClosed func(c *Conn, err error)
}

func (a *logApp) Open(c *Conn) {
	a.log = append(a.log, "open")
	if a.open != nil {
		a.open(c)
	}
}

func (a *logApp) Recv(c *Conn, d []byte) int {
	if len(d) <= 16 {
		a.log = append(a.log, "recv "+string(d))
	} else {
		a.log = append(a.log, fmt.Sprintf("recv %d bytes", len(d)))
	}
	if a.recv != nil {
		return a.recv(c, d)
	}
	return len(d)
}

func (a *logApp) Writable(c *Conn) {
	a.log = append(a.log, "writable")
	if a.writable != nil {
		a.writable(c)
	}
}

func (a *logApp) PeerClosed(c *Conn) {
	a.log = append(a.log, "peer-closed")
	if a.peerFin != nil {
		a.peerFin(c)
	}
}

func (a *logApp) Closed(c *Conn, err error) {
	a.log = append(a.log, fmt.Sprintf("closed %v", err))
	a.closed++
	a.err = err
	if a.onClosed != nil {
		a.onClosed(c, err)
	}
}

// fixtureWith is a fixture whose listener's handler is h.
func fixtureWith(t *testing.T, cfg Config, h Handler) *fixture {
	t.Helper()
	f := newFixture(t, cfg)
	f.l.Handler = h
	return f
}

// openWith brings f to ESTABLISHED (passive open, options o) with h as the
// connection's handler.
func (f *fixture) openWith(o peerOpts) {
	f.t.Helper()
	f.synReceived(o)
	f.send(f.ackSeg(f.p, f.u))
	f.expectNothing()
	f.expectState(Established)
}

// drain forgets what the stack sent (for tests about the application's
// side only).
func (f *fixture) drain() { f.out.reset() }

// inOrder is how many data bytes the connection has received in order.
func (f *fixture) inOrder() int { return int(f.c.rcvNxt.Sub(f.irs + 1)) }

// TestRecvOneSliceAcrossWrap: Recv is offered all unread in-order data as
// one slice however the receive ring wraps: unread bytes that straddle its
// end, and out-of-order data beyond them that moves with them and is
// merged later. Each case first moves the ring's head to h (the handler
// declines h bytes, then takes exactly them from the next offer, leaving
// x unread), then sends segments at offsets from there.
func TestRecvOneSliceAcrossWrap(t *testing.T) {
	type seg struct{ off, n int } // relative to h+x
	for _, tc := range []struct {
		name string
		h, x int
		segs []seg
	}{
		{"short piece at the end", 4000, 50, []seg{{0, 100}}},
		{"long piece at the end", 2000, 1500, []seg{{0, 1000}}},
		{"one byte each side", 4095, 1, []seg{{0, 1}}},
		{"data reaching the end exactly", 3000, 1000, []seg{{0, 96}, {96, 500}}},
		{"out-of-order data across the end, gap filled", 3000, 500, []seg{{300, 400}, {0, 300}}},
		{"out-of-order data left beyond the wrap", 3000, 500, []seg{{800, 200}, {300, 200}, {0, 300}, {500, 300}}},
		{"out-of-order data wholly wrapped", 3500, 100, []seg{{1000, 500}, {0, 1000}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := payload(0, tc.h+tc.x+4096)
			taken, calls := 0, 0
			app := &logApp{}
			app.recv = func(c *Conn, d []byte) int {
				calls++
				if !bytes.Equal(d, stream[taken:taken+len(d)]) {
					t.Fatalf("offer %d: %d bytes at %d differ from the stream", calls, len(d), taken)
				}
				if c.Unread() != len(d) {
					t.Fatalf("offer %d: Unread %d during Recv of %d bytes", calls, c.Unread(), len(d))
				}
				k := len(d)
				switch calls {
				case 1:
					k = 0 // the h bytes stay
				case 2:
					k = tc.h // head moves to h
				}
				taken += k
				return k
			}
			f := fixtureWith(t, Config{RcvBuf: 4096, NoDelayedAck: true}, app)
			f.openWith(optsNone)
			inOrderCheck := func() {
				t.Helper()
				// Every offer took everything since the second: nothing
				// in order is left unoffered.
				if f.c.Unread() != f.inOrder()-taken {
					t.Fatalf("unread %d, in order %d, taken %d", f.c.Unread(), f.inOrder(), taken)
				}
			}
			f.send(f.dataSeg(f.p, f.u, stream[:tc.h]))
			f.send(f.dataSeg(f.p+Seq(tc.h), f.u, stream[tc.h:tc.h+tc.x]))
			f.drain()
			if f.c.rcv.head != tc.h || f.c.Unread() != tc.x {
				t.Fatalf("head %d unread %d, want %d and %d", f.c.rcv.head, f.c.Unread(), tc.h, tc.x)
			}
			base := tc.h + tc.x
			for _, s := range tc.segs {
				off := base + s.off
				f.send(f.dataSeg(f.p+Seq(off), f.u, stream[off:off+s.n]))
				f.drain()
				inOrderCheck()
			}
			end := base
			for _, s := range tc.segs {
				end = max(end, base+s.off+s.n)
			}
			if taken != end || f.inOrder() != end {
				t.Fatalf("taken %d, in order %d, want %d", taken, f.inOrder(), end)
			}
		})
	}
}

// TestRecvDeclinedOfferedAgain: what Recv declines stays buffered and is
// offered again, whole and with new data appended, when more data
// arrives, after Writable, after an acknowledgement of sent data, and
// when the handler calls Read (outside callbacks, in PeerClosed or in
// Writable); Read in Recv does nothing.
func TestRecvDeclinedOfferedAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(f *fixture, app *logApp)
		want []string
	}{
		{"more data arrives", func(f *fixture, app *logApp) {
			f.send(f.dataSeg(f.p+3, f.u, []byte("def")))
			f.send(f.dataSeg(f.p+6, f.u, []byte("ghi")))
		}, []string{"recv abc", "recv abcdef", "recv abcdefghi"}},
		{"Read outside callbacks", func(f *fixture, app *logApp) {
			f.c.Read()
			f.c.Read()
		}, []string{"recv abc", "recv abc", "recv abc"}},
		{"Read in PeerClosed", func(f *fixture, app *logApp) {
			app.peerFin = func(c *Conn) { app.recv = nil; c.Read() }
			f.send(Segment{Flags: FlagFIN | FlagACK, Seq: f.p + 3, Ack: f.u, Window: f.peerWnd})
		}, []string{"recv abc", "peer-closed", "recv abc"}},
		{"Read in Recv does nothing", func(f *fixture, app *logApp) {
			app.recv = func(c *Conn, d []byte) int { c.Read(); return 0 }
			f.send(f.dataSeg(f.p+3, f.u, []byte("d")))
			f.c.Read()
		}, []string{"recv abc", "recv abcd", "recv abcd"}},
		{"acknowledgement of sent data", func(f *fixture, app *logApp) {
			f.c.Write([]byte("reply"))
			f.flush()
			f.send(f.ackSeg(f.p+3, f.u+5))
		}, []string{"recv abc", "recv abc"}},
		{"after Writable", func(f *fixture, app *logApp) {
			if n := f.c.Write(payload(0, 5000)); n != 4096 {
				f.t.Fatalf("Write took %d", n)
			}
			f.flush()
			f.send(f.ackSeg(f.p+3, f.u+1460))
		}, []string{"recv abc", "writable", "recv abc"}},
		{"Read in Writable", func(f *fixture, app *logApp) {
			app.writable = func(c *Conn) { app.recv = nil; c.Read() }
			f.c.Write(payload(0, 5000))
			f.flush()
			f.send(f.ackSeg(f.p+3, f.u+1460))
		}, []string{"recv abc", "writable", "recv abc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := &logApp{recv: func(c *Conn, d []byte) int { return 0 }}
			f := fixtureWith(t, Config{SndBuf: 4096, NoDelayedAck: true}, app)
			f.openWith(optsNone)
			app.log = nil
			f.send(f.dataSeg(f.p, f.u, []byte("abc")))
			tc.run(f, app)
			f.drain()
			if strings.Join(app.log, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("events\n  %q\nwant\n  %q", app.log, tc.want)
			}
			if app.closed != 0 {
				t.Fatalf("closed: %v", app.err)
			}
		})
	}
}

// framedSender writes a stream of messages (a 4-byte big-endian length,
// then the body) in chunks of random size, and closes when done.
type framedSender struct {
	stream []byte
	sent   int
	rng    *rand.Rand // nil: one Write of everything that fits
	closed bool
	err    error
}

func (a *framedSender) Open(c *Conn)     { a.push(c) }
func (a *framedSender) Writable(c *Conn) { a.push(c) }
func (a *framedSender) push(c *Conn) {
	for a.sent < len(a.stream) {
		n := len(a.stream) - a.sent
		if a.rng != nil {
			n = min(n, 1+a.rng.IntN(3000))
		}
		w := c.Write(a.stream[a.sent : a.sent+n])
		a.sent += w
		if w < n {
			return
		}
	}
	c.CloseWrite()
}
func (a *framedSender) Recv(c *Conn, d []byte) int { return len(d) }
func (a *framedSender) PeerClosed(c *Conn)         {}
func (a *framedSender) Closed(c *Conn, err error)  { a.closed, a.err = true, err }

// framedReceiver takes whole messages only and checks each against the
// list it expects.
type framedReceiver struct {
	want   [][]byte
	got    int // messages received intact
	bad    string
	offers int
	closed bool
	err    error
}

func (a *framedReceiver) Open(c *Conn)     {}
func (a *framedReceiver) Writable(c *Conn) {}
func (a *framedReceiver) Recv(c *Conn, d []byte) int {
	a.offers++
	off := 0
	for len(d)-off >= 4 {
		n := int(binary.BigEndian.Uint32(d[off:]))
		if len(d)-off-4 < n {
			break // the rest of this message has not arrived
		}
		msg := d[off+4 : off+4+n]
		if a.got >= len(a.want) || !bytes.Equal(msg, a.want[a.got]) {
			if a.bad == "" {
				a.bad = fmt.Sprintf("message %d (%d bytes) differs", a.got, n)
			}
		}
		a.got++
		off += 4 + n
	}
	return off
}
func (a *framedReceiver) PeerClosed(c *Conn)        { c.Close() }
func (a *framedReceiver) Closed(c *Conn, err error) { a.closed, a.err = true, err }

// framedStream makes the messages and their framed stream.
func framedStream(rng *rand.Rand, sizes []int) ([][]byte, []byte) {
	var msgs [][]byte
	var stream []byte
	for _, n := range sizes {
		m := randBytes(rng, n)
		msgs = append(msgs, m)
		stream = binary.BigEndian.AppendUint32(stream, uint32(n))
		stream = append(stream, m...)
	}
	return msgs, stream
}

// framedTransfer sends the messages of sizes from A to B over a wire with
// faults f, both stacks configured with cfg, and reports what went wrong.
func framedTransfer(t testing.TB, seed uint64, f faults, cfg Config, sizes []int, chunks bool, limit time.Duration) error {
	w := newWire(t, seed, f)
	w.trace = traceWire
	sa, sb := w.stack(addrA, cfg), w.stack(addrB, cfg)
	rng := rand.New(rand.NewPCG(seed, 3))
	msgs, stream := framedStream(rng, sizes)
	recv := &framedReceiver{want: msgs}
	if _, err := sb.Listen(7, recv); err != nil {
		return err
	}
	send := &framedSender{stream: stream}
	if chunks {
		send.rng = rand.New(rand.NewPCG(seed, 4))
	}
	c, err := sa.Connect(addrA, addrB, 7, send, w.now)
	if err != nil {
		return err
	}
	done := func() bool { return send.closed && recv.closed }
	if !w.run(limit, done) {
		return fmt.Errorf("seed %d: not finished after %v virtual: %d/%d messages in %d offers, %d/%d bytes written; receiver closed=%v err=%v; sender closed=%v err=%v %s",
			seed, limit, recv.got, len(msgs), recv.offers, send.sent, len(stream), recv.closed, recv.err, send.closed, send.err, c.dump())
	}
	switch {
	case recv.bad != "":
		return fmt.Errorf("seed %d: %s", seed, recv.bad)
	case recv.got != len(msgs):
		return fmt.Errorf("seed %d: %d messages received, %d sent", seed, recv.got, len(msgs))
	case send.err != nil || recv.err != nil:
		return fmt.Errorf("seed %d: close errors: sender %v, receiver %v", seed, send.err, recv.err)
	}
	return nil
}

// TestRecvFramedAcrossWrap is the regression test of the hang: 100-byte
// length-prefixed messages over a 4096-byte receive buffer, a handler
// that takes whole messages only. A message that straddled the end of the
// ring used to be offered only up to the end, declined, and never
// completed: the window closed and the transfer stopped.
func TestRecvFramedAcrossWrap(t *testing.T) {
	sizes := make([]int, 1000)
	for i := range sizes {
		sizes[i] = 96 // 100 bytes with the length
	}
	cfg := Config{RcvBuf: 4096, SndBuf: 16384}
	if err := framedTransfer(t, 1, faults{delay: time.Millisecond}, cfg, sizes, false, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// TestRecvBufferFull: a handler that declines data with the receive
// buffer full waits while the stack will offer the data again by itself
// (it asked for Writable, or data it sent is unacknowledged), and is
// aborted with ErrRecvBufferFull otherwise: it waits for a message larger
// than the buffer, which can never arrive.
func TestRecvBufferFull(t *testing.T) {
	aborted := func(f *fixture, app *logApp) {
		f.t.Helper()
		f.expect(Segment{Flags: FlagRST, Seq: f.c.sndNxt})
		f.flush()
		f.expectNothing()
		f.expectGone()
		f.counter(RecvBufferFull, 1)
		f.counter(ResetsSent, 1)
		if app.closed != 1 || !errors.Is(app.err, ErrRecvBufferFull) {
			f.t.Fatalf("Closed %d, err %v", app.closed, app.err)
		}
	}
	t.Run("nothing pending: aborted", func(t *testing.T) {
		app := &logApp{recv: func(c *Conn, d []byte) int { return 0 }}
		f := fixtureWith(t, Config{RcvBuf: 4096, NoDelayedAck: true}, app)
		f.openWith(optsNone)
		f.send(f.dataSeg(f.p, f.u, payload(0, 2048)))
		f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p + 2048, Window: 2048})
		f.send(f.dataSeg(f.p+2048, f.u, payload(2048, 2048)))
		aborted(f, app)
	})
	t.Run("one segment fills the buffer: aborted", func(t *testing.T) {
		app := &logApp{recv: func(c *Conn, d []byte) int { return 0 }}
		f := fixtureWith(t, Config{RcvBuf: 4096, NoDelayedAck: true}, app)
		f.openWith(optsNone)
		f.send(f.dataSeg(f.p, f.u, payload(0, 4096)))
		aborted(f, app)
	})
	t.Run("part taken, the rest fills the buffer: aborted", func(t *testing.T) {
		calls := 0
		app := &logApp{recv: func(c *Conn, d []byte) int {
			if calls++; calls == 1 {
				return 100
			}
			return 0
		}}
		f := fixtureWith(t, Config{RcvBuf: 4096, NoDelayedAck: true}, app)
		f.openWith(optsNone)
		f.send(f.dataSeg(f.p, f.u, payload(0, 2100)))
		f.drain()
		f.send(f.dataSeg(f.p+2100, f.u, payload(2100, 2096)))
		aborted(f, app)
	})
	t.Run("waiting for Writable: waits", func(t *testing.T) {
		take := false
		app := &logApp{}
		app.recv = func(c *Conn, d []byte) int {
			if take {
				return len(d)
			}
			return 0
		}
		app.writable = func(c *Conn) { take = true }
		f := fixtureWith(t, Config{RcvBuf: 4096, SndBuf: 4096, NoDelayedAck: true}, app)
		f.openWith(optsNone)
		if n := f.c.Write(payload(0, 5000)); n != 4096 {
			t.Fatalf("Write took %d", n)
		}
		f.flush()
		f.drain() // two full segments; Nagle holds the rest
		f.send(f.dataSeg(f.p, f.u, payload(0, 2048)))
		f.send(f.dataSeg(f.p+2048, f.u, payload(2048, 2048)))
		f.p += 4096
		f.expect(Segment{Flags: FlagACK, Seq: f.u + 2920, Ack: f.p - 2048, Window: 2048})
		f.expect(Segment{Flags: FlagACK, Seq: f.u + 2920, Ack: f.p, Window: 0})
		f.counter(RecvBufferFull, 0)
		f.expectState(Established)
		// The ACK frees send space: Writable, then the data again, taken.
		f.send(f.ackSeg(f.p, f.u+2920))
		f.u += 2920
		f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: 4096, Payload: payload(2920, 1176)})
		want := "recv 2048 bytes|recv 4096 bytes|writable|recv 4096 bytes"
		if got := strings.Join(app.log[1:], "|"); got != want {
			t.Fatalf("events %q, want %q", got, want)
		}
		f.expectState(Established)
	})
	t.Run("data in flight: waits, aborted once it is acknowledged", func(t *testing.T) {
		app := &logApp{recv: func(c *Conn, d []byte) int { return 0 }}
		f := fixtureWith(t, Config{RcvBuf: 4096, NoDelayedAck: true}, app)
		f.openWith(optsNone)
		f.c.SetNoDelay(true)
		f.c.Write([]byte("hello"))
		f.flush()
		f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: 4096, Payload: []byte("hello")})
		f.send(f.dataSeg(f.p, f.u, payload(0, 4096)))
		f.p += 4096
		f.expect(Segment{Flags: FlagACK, Seq: f.u + 5, Ack: f.p, Window: 0})
		f.counter(RecvBufferFull, 0)
		// The acknowledgement offers the data again: declined, and now
		// nothing will offer it again.
		f.send(f.ackSeg(f.p, f.u+5))
		f.u += 5
		aborted(f, app)
	})
}

// TestPause: a handler that declines with Pause is offered nothing until it
// calls Read, its full buffer closes the window instead of aborting the
// connection, and Read offers everything whole and reopens the window.
func TestPause(t *testing.T) {
	take := false
	app := &logApp{}
	app.recv = func(c *Conn, d []byte) int {
		if take {
			return len(d)
		}
		c.Pause()
		return 0
	}
	f := fixtureWith(t, Config{RcvBuf: 4096, NoDelayedAck: true}, app)
	f.openWith(optsNone)
	f.send(f.dataSeg(f.p, f.u, payload(0, 2048)))
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p + 2048, Window: 2048})
	f.send(f.dataSeg(f.p+2048, f.u, payload(2048, 2048)))
	f.p += 4096
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: 0})
	f.counter(RecvBufferFull, 0)
	f.expectState(Established)
	if got := strings.Join(app.log[1:], "|"); got != "recv 2048 bytes" {
		t.Fatalf("paused handler was offered data again: %q", got)
	}
	take = true
	f.c.Read()
	f.flush()
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: 4096}) // the window reopens
	if got := strings.Join(app.log[1:], "|"); got != "recv 2048 bytes|recv 4096 bytes" {
		t.Fatalf("events %q", got)
	}
	// No longer paused: new data goes straight to Recv.
	f.send(f.dataSeg(f.p, f.u, payload(4096, 100)))
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p + 100, Window: 4096})
	if got := app.log[len(app.log)-1]; got != "recv 100 bytes" {
		t.Fatalf("last event %q", got)
	}
}

// TestCallbackCalls: every callback may call Write, CloseWrite, Close,
// Abort, Read and Stack.Connect; the table gives the outcome of each in
// each callback: what the connection sends, the state it is left in, and
// for Connect, that the new connection is another object with its own SYN.
func TestCallbackCalls(t *testing.T) {
	type outcome struct {
		sent  string // flags of the segments sent on the connection after the call, in order
		state State  // Closed: gone from the table
		err   error  // what Closed got (nil: not called, or orderly)
		write int    // what Write returned
	}
	const (
		aWrite      = "Write"
		aCloseWrite = "CloseWrite"
		aClose      = "Close"
		aAbort      = "Abort"
		aRead       = "Read"
		aConnect    = "Connect"
	)
	actions := []string{aWrite, aCloseWrite, aClose, aAbort, aRead, aConnect}
	callbacks := []struct {
		name    string
		trigger func(f *fixture) // makes the stack call the callback; f.p and f.u follow
		want    map[string]outcome
	}{
		{"Open", func(f *fixture) {
			f.synReceived(optsNone)
			f.send(f.ackSeg(f.p, f.u))
		}, map[string]outcome{
			aWrite:      {"PSH|ACK", Established, nil, 1},
			aCloseWrite: {"FIN|ACK", FinWait1, nil, 0},
			aClose:      {"FIN|ACK", FinWait1, nil, 0},
			aAbort:      {"RST", Closed, ErrAborted, 0},
			aRead:       {"", Established, nil, 0},
			aConnect:    {"", Established, nil, 0},
		}},
		{"Recv", func(f *fixture) {
			f.openWith(optsNone)
			f.send(f.dataSeg(f.p, f.u, []byte("hello")))
			f.p += 5
		}, map[string]outcome{
			aWrite:      {"PSH|ACK", Established, nil, 1},
			aCloseWrite: {"FIN|ACK", FinWait1, nil, 0},
			aClose:      {"FIN|ACK", FinWait1, nil, 0},
			aAbort:      {"RST", Closed, ErrAborted, 0},
			aRead:       {"ACK", Established, nil, 0},
			aConnect:    {"ACK", Established, nil, 0},
		}},
		{"Writable", func(f *fixture) {
			f.openWith(optsNone)
			f.c.SetNoDelay(true)
			f.c.Write(payload(0, 5000))
			f.flush()
			for range 3 { // 1460, 1460, 1176
				f.pop()
			}
			f.send(f.ackSeg(f.p, f.u+4096))
			f.u += 4096
		}, map[string]outcome{
			aWrite:      {"PSH|ACK", Established, nil, 1},
			aCloseWrite: {"FIN|ACK", FinWait1, nil, 0},
			aClose:      {"FIN|ACK", FinWait1, nil, 0},
			aAbort:      {"RST", Closed, ErrAborted, 0},
			aRead:       {"", Established, nil, 0},
			aConnect:    {"", Established, nil, 0},
		}},
		{"PeerClosed", func(f *fixture) {
			f.openWith(optsNone)
			f.send(Segment{Flags: FlagFIN | FlagACK, Seq: f.p, Ack: f.u, Window: f.peerWnd})
			f.p++
		}, map[string]outcome{
			aWrite:      {"PSH|ACK", CloseWait, nil, 1},
			aCloseWrite: {"FIN|ACK", LastAck, nil, 0},
			aClose:      {"FIN|ACK", LastAck, nil, 0},
			aAbort:      {"RST", Closed, ErrAborted, 0},
			aRead:       {"ACK", CloseWait, nil, 0},
			aConnect:    {"ACK", CloseWait, nil, 0},
		}},
		{"Closed", func(f *fixture) {
			f.openWith(optsNone)
			f.send(Segment{Flags: FlagRST, Seq: f.p})
		}, map[string]outcome{
			aWrite:      {"", Closed, ErrReset, 0},
			aCloseWrite: {"", Closed, ErrReset, 0},
			aClose:      {"", Closed, ErrReset, 0},
			aAbort:      {"", Closed, ErrReset, 0},
			aRead:       {"", Closed, ErrReset, 0},
			aConnect:    {"", Closed, ErrReset, 0},
		}},
	}
	for _, cb := range callbacks {
		for _, action := range actions {
			t.Run(cb.name+"/"+action, func(t *testing.T) {
				want := cb.want[action]
				app := &logApp{}
				other := &logApp{}
				var got outcome
				var c2 *Conn
				var f *fixture
				ran := false
				act := func(c *Conn) {
					if ran {
						return
					}
					ran = true
					switch action {
					case aWrite:
						got.write = c.Write([]byte("x"))
					case aCloseWrite:
						c.CloseWrite()
					case aClose:
						c.Close()
					case aAbort:
						c.Abort()
					case aRead:
						c.Read()
					case aConnect:
						var err error
						c2, err = f.s.Connect(fxLocal, fxRemote, fxSrvPort, other, f.now)
						if err != nil {
							t.Fatal(err)
						}
					}
				}
				switch cb.name {
				case "Open":
					app.open = act
				case "Recv":
					app.recv = func(c *Conn, d []byte) int { act(c); return len(d) }
				case "Writable":
					app.writable = act
				case "PeerClosed":
					app.peerFin = act
				case "Closed":
					app.onClosed = func(c *Conn, err error) { act(c) }
				}
				f = fixtureWith(t, Config{SndBuf: 4096, NoDelayedAck: true}, app)
				cb.trigger(f)
				if !ran {
					t.Fatalf("%s was not called: %q", cb.name, app.log)
				}
				// What went out on the connection, and on another tuple.
				var flags []string
				var syns int
				for _, r := range f.out.unexpected() {
					if r.id != f.id {
						if r.seg.Flags == FlagSYN && c2 != nil && r.id == c2.ID() {
							syns++
							continue
						}
						t.Fatalf("segment %v to %+v", r.seg.Flags, r.id)
					}
					flags = append(flags, r.seg.Flags.String())
				}
				f.drain()
				got.sent = strings.Join(flags, ",")
				got.state = Closed
				if c := f.s.Lookup(f.id); c != nil {
					got.state = c.State()
				}
				got.err = app.err
				if got.sent != want.sent || got.state != want.state || !errors.Is(got.err, want.err) || got.write != want.write {
					t.Fatalf("outcome %+v, want %+v (events %q)", got, want, app.log)
				}
				if action == aRead {
					// Nothing is unread in these callbacks, and Read in
					// Recv does not offer the data being offered.
					recvs, want := strings.Count(strings.Join(app.log, "|"), "recv"), 0
					if cb.name == "Recv" {
						want = 1
					}
					if recvs != want {
						t.Fatalf("Read called Recv: %q", app.log)
					}
				}
				if want.state == Closed && app.closed != 1 {
					t.Fatalf("Closed called %d times", app.closed)
				}
				if action == aConnect {
					if c2 == nil || c2 == f.c || syns != 1 || c2.State() != SynSent || c2.Gen() == 0 {
						t.Fatalf("Connect from %s: %p (connection %p), %d SYNs", cb.name, c2, f.c, syns)
					}
				}
			})
		}
	}
}

// TestAbortInRecvThenConnect is the regression test of the reuse of a
// *Conn inside a callback: a handler that aborts its connection in Recv
// and then connects got the same *Conn back, and the new connection's
// handler was handed the old connection's bytes. A *Conn is recycled only
// once the stack has left every callback of the old incarnation.
func TestAbortInRecvThenConnect(t *testing.T) {
	for _, tc := range []struct {
		name     string
		buffered bool // the old data came from the receive buffer, not the packet
		take     bool // Recv returns len(data) after the Abort (else 0)
	}{
		{"from the packet, declined", false, false},
		{"from the packet, taken", false, true},
		{"from the buffer, declined", true, false},
		{"from the buffer, taken", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newApp := &logApp{}
			var c2 *Conn
			var f *fixture
			old := &logApp{}
			calls := 0
			old.recv = func(c *Conn, d []byte) int {
				if calls++; tc.buffered && calls == 1 {
					return 0 // keep it: the next offer comes from the buffer
				}
				c.Abort()
				var err error
				c2, err = f.s.Connect(fxLocal, fxRemote, fxSrvPort, newApp, f.now)
				if err != nil {
					t.Fatal(err)
				}
				if tc.take {
					return len(d)
				}
				return 0
			}
			f = fixtureWith(t, Config{}, old)
			f.openWith(optsNone)
			c1, gen1 := f.c, f.c.Gen()
			secret := []byte("old connection's secret")
			if tc.buffered {
				f.send(f.dataSeg(f.p, f.u, secret[:5]))
				f.send(f.dataSeg(f.p+5, f.u, secret[5:]))
			} else {
				f.send(f.dataSeg(f.p, f.u, secret))
			}
			f.expect(Segment{Flags: FlagRST, Seq: f.u})
			if c2 == nil {
				t.Fatal("Connect did not run")
			}
			if c2 == c1 {
				t.Errorf("Connect in Recv returned the *Conn being aborted")
			}
			if old.closed != 1 || !errors.Is(old.err, ErrAborted) {
				t.Fatalf("old connection: Closed %d, err %v", old.closed, old.err)
			}
			// The new connection, from the peer's side: its SYN, the
			// peer's SYN-ACK with data, and more data.
			f.id, f.c, f.irs = c2.ID(), c2, 0x1000
			f.iss = f.peek().Seq
			f.expect(Segment{Flags: FlagSYN, Seq: f.iss, Window: 65535, Opts: f.ourSYNOpts(peerOpts{}, true)})
			f.send(Segment{Flags: FlagSYN | FlagACK, Seq: f.irs, Ack: f.iss + 1, Window: 65535, Opts: optsNone.synOptions(0)})
			f.negotiated(optsNone)
			f.u, f.p = f.iss+1, f.irs+1
			f.drain()
			f.send(f.dataSeg(f.p, f.u, []byte("new")))
			f.drain()
			want := "open|recv new"
			if got := strings.Join(newApp.log, "|"); got != want {
				t.Fatalf("the new connection's handler saw %q, want %q", got, want)
			}
			if strings.Join(old.log, "|") != map[bool]string{
				false: "open|recv 23 bytes|closed tcp: connection aborted",
				true:  "open|recv old c|recv 23 bytes|closed tcp: connection aborted",
			}[tc.buffered] {
				t.Fatalf("the old handler saw %q", old.log)
			}
			// Once the iteration is over the object may serve again,
			// under a new generation.
			c3, err := f.s.Connect(fxLocal, fxRemote, fxSrvPort, &logApp{}, f.now)
			if err != nil {
				t.Fatal(err)
			}
			f.drain()
			if c3 == c1 && c3.Gen() == gen1 {
				t.Fatal("the object came back with the same generation")
			}
		})
	}
}

// TestConnGen: Gen is never 0 and changes each time the object serves a
// new connection; an object is not reused within the poll iteration in
// which its connection ended, even outside callbacks; and the methods of
// a connection that has ended are harmless.
func TestConnGen(t *testing.T) {
	f := fixtureWith(t, Config{NoDelayedAck: true}, &logApp{})
	f.openWith(optsNone)
	c1, gen1 := f.c, f.c.Gen()
	if gen1 == 0 {
		t.Fatal("Gen 0")
	}
	// The peer resets c1; in the same iteration (before Flush) a new
	// connection gets another object.
	rst := Segment{Flags: FlagRST, Seq: f.p}
	f.fill(&rst)
	f.s.Input(f.id.Local, f.id.Remote, f.encode(&rst), f.now)
	c2, err := f.s.Connect(fxLocal, fxRemote, fxSrvPort, &logApp{}, f.now)
	if err != nil {
		t.Fatal(err)
	}
	if c2 == c1 {
		t.Fatal("an object reused in the iteration its connection ended in")
	}
	// The ended connection's methods do nothing, to it or to anyone.
	if c1.Write([]byte("x")) != 0 || c1.Writable() != 0 {
		t.Fatal("Write on an ended connection")
	}
	c1.CloseWrite()
	c1.Close()
	c1.Abort()
	c1.Read()
	c1.SetNoDelay(true)
	f.flush()
	if n := len(f.out.unexpected()); n != 1 || f.out.unexpected()[0].seg.Flags != FlagSYN {
		t.Fatalf("sent %d segments, want c2's SYN alone:\n%s", n, f.pending())
	}
	f.drain()
	if c1.Gen() != gen1 || c1.State() != Closed {
		t.Fatalf("ended connection: Gen %d (was %d), state %v", c1.Gen(), gen1, c1.State())
	}
	// After Flush the object serves again (the free list is LIFO), with a
	// new generation: a holder of the old handle can tell.
	c3, err := f.s.Connect(fxLocal, fxRemote, fxSrvPort, &logApp{}, f.now)
	if err != nil {
		t.Fatal(err)
	}
	f.drain()
	if c3 != c1 {
		t.Fatal("the free object was not reused")
	}
	if c3.Gen() == gen1 || c3.Gen() == 0 {
		t.Fatalf("Gen %d after reuse, was %d", c3.Gen(), gen1)
	}
}

// TestHandlerPanic: a callback that panics is contained at the callback
// boundary: counted, the connection aborted (a reset in the synchronized
// states) and Closed told with a *PanicError holding the value and the
// stack. A panic in Closed is counted and Closed is not called again. A
// Recv returning a count outside [0, len(data)], and Input, Advance or
// Flush called from a callback, are handled as panics.
func TestHandlerPanic(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		arm     func(f *fixture, app *logApp) // sets the hook that panics
		trigger func(f *fixture)
		reset   bool  // a reset goes to the peer
		value   error // what the PanicError wraps (nil: Closed gets no PanicError)
		panics  uint64
		closed  error // Closed's error when no PanicError
	}{
		{"Open", func(f *fixture, app *logApp) {
			app.open = func(c *Conn) { panic(boom) }
		}, func(f *fixture) {}, true, boom, 1, nil},
		{"Recv", func(f *fixture, app *logApp) {
			app.recv = func(c *Conn, d []byte) int { panic(boom) }
		}, func(f *fixture) {
			f.send(f.dataSeg(f.p, f.u, []byte("x")))
		}, true, boom, 1, nil},
		{"Recv from the buffer", func(f *fixture, app *logApp) {
			n := 0
			app.recv = func(c *Conn, d []byte) int {
				if n++; n == 2 {
					panic(boom)
				}
				return 0
			}
		}, func(f *fixture) {
			f.send(f.dataSeg(f.p, f.u, []byte("x")))
			f.drain()
			f.send(f.dataSeg(f.p+1, f.u, []byte("y")))
		}, true, boom, 1, nil},
		{"Recv returns more than offered", func(f *fixture, app *logApp) {
			app.recv = func(c *Conn, d []byte) int { return len(d) + 1 }
		}, func(f *fixture) {
			f.send(f.dataSeg(f.p, f.u, []byte("x")))
		}, true, errBadCount{2, 1}, 1, nil},
		{"Recv returns a negative count", func(f *fixture, app *logApp) {
			app.recv = func(c *Conn, d []byte) int { return -1 }
		}, func(f *fixture) {
			f.send(f.dataSeg(f.p, f.u, []byte("x")))
		}, true, errBadCount{-1, 1}, 1, nil},
		{"Writable", func(f *fixture, app *logApp) {
			app.writable = func(c *Conn) { panic(boom) }
		}, func(f *fixture) {
			f.c.Write(payload(0, 5000))
			f.flush()
			f.drain()
			f.send(f.ackSeg(f.p, f.u+1460))
		}, true, boom, 1, nil},
		{"PeerClosed", func(f *fixture, app *logApp) {
			app.peerFin = func(c *Conn) { panic(boom) }
		}, func(f *fixture) {
			f.send(Segment{Flags: FlagFIN | FlagACK, Seq: f.p, Ack: f.u, Window: f.peerWnd})
		}, true, boom, 1, nil},
		{"PeerClosed in FIN-WAIT-2", func(f *fixture, app *logApp) {
			app.peerFin = func(c *Conn) { panic(boom) }
		}, func(f *fixture) {
			f.finWait2()
			f.send(Segment{Flags: FlagFIN | FlagACK, Seq: f.p, Ack: f.u, Window: f.peerWnd})
		}, true, boom, 1, nil},
		{"Closed", func(f *fixture, app *logApp) {
			app.onClosed = func(c *Conn, err error) { panic(boom) }
		}, func(f *fixture) {
			f.send(Segment{Flags: FlagRST, Seq: f.p})
		}, false, nil, 1, ErrReset},
		{"Recv, then Closed", func(f *fixture, app *logApp) {
			app.recv = func(c *Conn, d []byte) int { panic(boom) }
			app.onClosed = func(c *Conn, err error) { panic("again") }
		}, func(f *fixture) {
			f.send(f.dataSeg(f.p, f.u, []byte("x")))
		}, true, boom, 2, nil},
		{"Recv after Abort", func(f *fixture, app *logApp) {
			app.recv = func(c *Conn, d []byte) int { c.Abort(); panic(boom) }
		}, func(f *fixture) {
			f.send(f.dataSeg(f.p, f.u, []byte("x")))
		}, true, nil, 1, ErrAborted},
		{"Input from Recv", func(f *fixture, app *logApp) {
			app.recv = func(c *Conn, d []byte) int {
				seg := f.dataSeg(f.p+1, f.u, []byte("y"))
				f.fill(&seg)
				f.s.Input(f.id.Local, f.id.Remote, f.encode(&seg), f.now)
				return len(d)
			}
		}, func(f *fixture) {
			f.send(f.dataSeg(f.p, f.u, []byte("x")))
		}, true, errReentered, 1, nil},
		{"Flush from Writable", func(f *fixture, app *logApp) {
			app.writable = func(c *Conn) { f.s.Flush(f.now) }
		}, func(f *fixture) {
			f.c.Write(payload(0, 5000))
			f.flush()
			f.drain()
			f.send(f.ackSeg(f.p, f.u+1460))
		}, true, errReentered, 1, nil},
		{"Advance from PeerClosed", func(f *fixture, app *logApp) {
			app.peerFin = func(c *Conn) { f.s.Advance(f.now) }
		}, func(f *fixture) {
			f.send(Segment{Flags: FlagFIN | FlagACK, Seq: f.p, Ack: f.u, Window: f.peerWnd})
		}, true, errReentered, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := &logApp{}
			f := fixtureWith(t, Config{SndBuf: 4096, NoDelayedAck: true}, app)
			tc.arm(f, app)
			if tc.name == "Open" {
				f.synReceived(optsNone)
				f.send(f.ackSeg(f.p, f.u))
			} else {
				f.openWith(optsNone)
			}
			tc.trigger(f)
			resets := 0
			for _, r := range f.out.unexpected() {
				if r.seg.Flags&FlagRST != 0 {
					resets++
				}
			}
			f.drain()
			if want := map[bool]int{true: 1}[tc.reset]; resets != want {
				t.Errorf("%d resets sent, want %d", resets, want)
			}
			f.counter(HandlerPanics, tc.panics)
			if app.closed != 1 {
				t.Fatalf("Closed called %d times", app.closed)
			}
			if f.s.Conns() != 0 {
				t.Fatalf("%d connections left", f.s.Conns())
			}
			var pe *PanicError
			if tc.value == nil {
				if errors.As(app.err, &pe) || !errors.Is(app.err, tc.closed) {
					t.Fatalf("Closed got %v, want %v", app.err, tc.closed)
				}
				return
			}
			if !errors.As(app.err, &pe) {
				t.Fatalf("Closed got %v, want a *PanicError", app.err)
			}
			if !errors.Is(app.err, tc.value) && pe.Value != any(tc.value) {
				t.Fatalf("panic value %v, want %v", pe.Value, tc.value)
			}
			if !bytes.Contains(pe.Stack, []byte("handler_test.go")) && !bytes.Contains(pe.Stack, []byte("handler.go")) {
				t.Fatalf("stack without the handler:\n%s", pe.Stack)
			}
			if !strings.Contains(pe.Error(), "panicked") {
				t.Fatalf("error text %q", pe.Error())
			}
		})
	}
}

// TestHandlerPanicOthersContinue: one connection's handler panics in Recv
// in the middle of a transfer; that connection is reset and the other
// connection of the same stacks carries its transfer through intact.
func TestHandlerPanicOthersContinue(t *testing.T) {
	w := newWire(t, 5, faults{delay: time.Millisecond})
	sa, sb := w.stack(addrA, Config{}), w.stack(addrB, Config{})
	rng := rand.New(rand.NewPCG(5, 5))
	data := [2][]byte{randBytes(rng, 1<<20), randBytes(rng, 1<<20)}
	var cli [2]*app
	var ports [2]uint16
	for i := range cli {
		cli[i] = &app{toSend: data[i], closeOnDone: true}
		c, err := sa.Connect(addrA, addrB, 7, cli[i], w.now)
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = c.ID().LocalPort
	}
	var srv [2]*panicky
	lh := &acceptorFunc{open: func(c *Conn) Handler {
		i := 0
		if c.ID().RemotePort == ports[1] {
			i = 1
		}
		srv[i] = &panicky{panicAt: -1}
		if i == 0 {
			srv[i].panicAt = 300 << 10 // the first connection's handler panics after 300 KiB
		}
		return srv[i]
	}}
	if _, err := sb.Listen(7, lh); err != nil {
		t.Fatal(err)
	}
	done := func() bool { return cli[0].closed && cli[1].closed && srv[1] != nil && srv[1].closed }
	if !w.run(time.Minute, done) {
		t.Fatalf("not finished: client 0 closed=%v, client 1 closed=%v sent %d", cli[0].closed, cli[1].closed, cli[1].sent)
	}
	var pe *PanicError
	if !errors.As(srv[0].err, &pe) || pe.Value != "handler bug" {
		t.Fatalf("panicking connection: Closed got %v", srv[0].err)
	}
	if !errors.Is(cli[0].err, ErrReset) {
		t.Fatalf("its peer got %v, want a reset", cli[0].err)
	}
	if srv[1].err != nil || cli[1].err != nil || !bytes.Equal(srv[1].got, data[1]) {
		t.Fatalf("other connection: errors %v/%v, %d of %d bytes, intact=%v", srv[1].err, cli[1].err, len(srv[1].got), len(data[1]), bytes.Equal(srv[1].got, data[1]))
	}
	if sb.C[HandlerPanics] != 1 {
		t.Fatalf("handler panics %d", sb.C[HandlerPanics])
	}
}

// panicky takes everything, and panics once it has panicAt bytes (-1:
// never).
type panicky struct {
	panicAt int
	got     []byte
	closed  bool
	err     error
}

func (p *panicky) Open(c *Conn)     {}
func (p *panicky) Writable(c *Conn) {}
func (p *panicky) Recv(c *Conn, d []byte) int {
	p.got = append(p.got, d...)
	if p.panicAt >= 0 && len(p.got) >= p.panicAt {
		panic("handler bug")
	}
	return len(d)
}
func (p *panicky) PeerClosed(c *Conn)        { c.Close() }
func (p *panicky) Closed(c *Conn, err error) { p.closed, p.err = true, err }

// acceptorFunc gives each accepted connection the handler open returns.
type acceptorFunc struct{ open func(c *Conn) Handler }

func (l *acceptorFunc) Open(c *Conn) {
	h := l.open(c)
	c.Context = h
	h.Open(c)
}
func (l *acceptorFunc) Recv(c *Conn, d []byte) int { return c.Context.(Handler).Recv(c, d) }
func (l *acceptorFunc) Writable(c *Conn)           { c.Context.(Handler).Writable(c) }
func (l *acceptorFunc) PeerClosed(c *Conn)         { c.Context.(Handler).PeerClosed(c) }
func (l *acceptorFunc) Closed(c *Conn, err error) {
	if h, ok := c.Context.(Handler); ok {
		h.Closed(c, err)
	}
}

// TestLinearize checks the ring rotation alone, against a model: random
// buffer sizes, head positions, unread lengths and out-of-order ranges;
// every byte of the unread data and of the out-of-order ranges keeps its
// offset from the head, and the head becomes 0.
func TestLinearize(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 2000; i++ {
		size := 1 << (2 + rng.IntN(11)) // 4 .. 4096
		s := NewStack(Config{RcvBuf: size, MaxConns: 1, Seed: fxSeed}, newRecOut())
		c := &Conn{s: s, rcvNxt: Seq(rng.Uint32())}
		c.rcv = ring{buf: randBytes(rng, size), head: rng.IntN(size)}
		c.unread = 1 + rng.IntN(size)
		c.rcv.n = c.unread
		extent := c.unread
		if room := size - c.unread; room > 1 && rng.IntN(2) == 0 {
			// One out-of-order range past a gap.
			gap := 1 + rng.IntN(room-1)
			n := 1 + rng.IntN(room-gap)
			left := c.rcvNxt.Add(uint32(gap))
			c.ooo = []SACKBlock{{Left: left, Right: left.Add(uint32(n))}}
			extent += gap + n
		}
		if c.rcv.head+c.unread <= size {
			continue // no wrap: deliver does not linearize
		}
		before := make([]byte, extent)
		c.rcv.readAt(0, before)
		c.linearize()
		after := c.rcv.buf[:extent]
		if c.rcv.head != 0 || !bytes.Equal(before, after) {
			t.Fatalf("case %d: size %d unread %d extent %d: head %d, data moved wrong", i, size, c.unread, extent, c.rcv.head)
		}
	}
}

// TestLinearizeNoAlloc: rotating a wrapped receive ring allocates nothing
// once the stack's scratch buffer exists.
func TestLinearizeNoAlloc(t *testing.T) {
	s := NewStack(Config{RcvBuf: 64 << 10, Seed: fxSeed}, newRecOut())
	c := &Conn{s: s}
	c.rcv = ring{buf: make([]byte, 64<<10)}
	heads := []int{(64 << 10) - 10, 40 << 10, 20 << 10, (64 << 10) - 1}
	c.unread = 48 << 10
	c.rcv.head = heads[0]
	c.linearize() // the first wrap makes the scratch buffer
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		i++
		c.rcv.head = heads[i%len(heads)]
		c.linearize()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per rotation", allocs)
	}
}

// framedSeeds is how many seeds TestFramedStreamProperty runs (about 7 ms
// each); a long run is -framedseeds=100000.
var framedSeeds = flag.Int("framedseeds", 300, "seeds in TestFramedStreamProperty")

// TestFramedStreamProperty: seeded random transfers of length-prefixed
// messages (1 byte up to what fits in the receive buffer) to a handler
// that takes whole messages only, with random receive buffers (4 KiB to
// 64 KiB), MSS, write sizes and wire faults (loss, reordering,
// duplication, corruption, delay): every message arrives intact and in
// order, both sides close cleanly, within a bounded virtual time.
func TestFramedStreamProperty(t *testing.T) {
	seeds := *framedSeeds
	if testing.Short() {
		seeds = min(seeds, 30)
	}
	start := time.Now()
	var bytesTotal int
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		rcv := 4096 << rng.IntN(5) // 4 KiB .. 64 KiB: any power of two is a pool size
		cfg := Config{
			RcvBuf: rcv,
			SndBuf: 4096 << rng.IntN(5),
			MSS:    uint16(200 + rng.IntN(1261)),
		}
		if rng.IntN(2) == 0 {
			cfg.NoDelayedAck = true
		}
		var f faults
		if rng.IntN(4) != 0 {
			f = faults{loss: 0.05 * rng.Float64(), reorder: 0.05 * rng.Float64(), dup: 0.01 * rng.Float64(),
				corrupt: 0.005 * rng.Float64(), delay: time.Millisecond, jitter: time.Duration(rng.IntN(3)) * time.Millisecond}
		} else {
			f = faults{delay: time.Duration(rng.IntN(3)) * time.Millisecond}
		}
		total := rcv * (2 + rng.IntN(5))
		var sizes []int
		for n := 0; n < total; {
			m := logUniform(rng, rcv-4) // whole messages fit the buffer
			sizes = append(sizes, m)
			n += 4 + m
		}
		bytesTotal += total
		if err := framedTransfer(t, seed, f, cfg, sizes, true, 10*time.Minute); err != nil {
			t.Fatalf("rcvbuf %d sndbuf %d mss %d faults %+v: %v", cfg.RcvBuf, cfg.SndBuf, cfg.MSS, f, err)
		}
	}
	t.Logf("%d seeds, %d KiB of messages, %v", seeds, bytesTotal>>10, time.Since(start))
}

// checkOut is an Output that checks the stack keeps the pairing the Output
// documentation promises: after a successful Alloc, exactly one Send of
// its token, with the same id and n, before the next Alloc; no Send
// without an Alloc.
type checkOut struct {
	next        Output
	t           testing.TB
	outstanding bool
	tok         uintptr
	id          *FourTuple
	n           int
	allocs      int
}

func (o *checkOut) Busy() bool { return false }

func (o *checkOut) Alloc(id *FourTuple, n int) (uintptr, []byte, bool) {
	if o.outstanding {
		o.t.Errorf("Alloc with a buffer outstanding")
	}
	tok, seg, ok := o.next.Alloc(id, n)
	if ok {
		if len(seg) < n {
			o.t.Errorf("short buffer")
		}
		o.outstanding, o.tok, o.id, o.n = true, tok, id, n
		o.allocs++
	}
	return tok, seg, ok
}

func (o *checkOut) Send(tok uintptr, id *FourTuple, n int) {
	if !o.outstanding || tok != o.tok || id != o.id || n != o.n {
		o.t.Errorf("Send(%d, %p, %d) after Alloc(%p, %d) outstanding=%v", tok, id, n, o.id, o.n, o.outstanding)
	}
	o.outstanding = false
	o.next.Send(tok, id, n)
}

// TestOutputPairing: the stack keeps the Alloc/Send pairing of Output
// through transfers over a faulty wire with handlers that abort, panic
// and connect from their callbacks.
func TestOutputPairing(t *testing.T) {
	var panics, resets uint64
	for seed := uint64(1); seed <= 20; seed++ {
		w := newWire(t, seed, impaired)
		var outs []*checkOut
		mk := func(addr ipv4.Addr) *Stack {
			o := &checkOut{next: &wireOut{w: w}, t: t}
			outs = append(outs, o)
			s := NewStack(Config{RcvBuf: 8192}, o)
			w.stacks[addr] = s
			return s
		}
		sa, sb := mk(addrA), mk(addrB)
		rng := rand.New(rand.NewPCG(seed, 8))
		lh := &acceptorFunc{open: func(c *Conn) Handler {
			switch rng.IntN(4) {
			case 0:
				return &panicky{panicAt: rng.IntN(20000)}
			case 1:
				return &abortAndConnect{s: c.s, now: &w.now}
			}
			return &app{toSend: randBytes(rng, rng.IntN(30000)), closeOnDone: true}
		}}
		if _, err := sb.Listen(7, lh); err != nil {
			t.Fatal(err)
		}
		var clients []*app
		for i := 0; i < 8; i++ {
			a := &app{toSend: randBytes(rng, rng.IntN(50000)), closeOnDone: true}
			clients = append(clients, a)
			if _, err := sa.Connect(addrA, addrB, 7, a, w.now); err != nil {
				t.Fatal(err)
			}
		}
		allClosed := func() bool {
			for _, a := range clients {
				if !a.closed {
					return false
				}
			}
			return true
		}
		if !w.run(2*time.Minute, allClosed) {
			t.Fatalf("seed %d: connections left open", seed)
		}
		for _, o := range outs {
			if o.outstanding {
				t.Fatal("a buffer left outstanding")
			}
			if o.allocs == 0 {
				t.Fatal("nothing sent")
			}
		}
		panics += sb.C[HandlerPanics]
		resets += sb.C[ResetsSent]
	}
	if panics == 0 || resets == 0 {
		t.Fatalf("%d panics, %d resets: the handlers did not do what the test is for", panics, resets)
	}
	t.Logf("%d handler panics, %d resets", panics, resets)
}

// abortAndConnect aborts its connection on the first data and connects
// back to the peer's closed port from inside Recv.
type abortAndConnect struct {
	s   *Stack
	now *int64
}

func (a *abortAndConnect) Open(c *Conn)     {}
func (a *abortAndConnect) Writable(c *Conn) {}
func (a *abortAndConnect) Recv(c *Conn, d []byte) int {
	id := c.ID()
	c.Abort()
	a.s.Connect(id.Local, id.Remote, 9, &logApp{}, *a.now)
	return 0
}
func (a *abortAndConnect) PeerClosed(c *Conn)        { c.Close() }
func (a *abortAndConnect) Closed(c *Conn, err error) {}
