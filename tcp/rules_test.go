package tcp

import (
	"errors"
	"github.com/pmdstack/pmd/ipv4"
	"testing"
	"time"
)

// One test per rule of segment processing: resets for closed ports, the
// acceptability test, RFC 5961's checks, PAWS, TIME-WAIT, SYN cookies,
// the table bounds, and what the application's calls send.

// TestResetClosedPort is RFC 9293 3.10.7.1: a segment to a port nobody
// listens on is answered with a reset whose numbers make it acceptable.
func TestResetClosedPort(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Segment
		want *Segment
	}{
		// With ACK: <SEQ=SEG.ACK><CTL=RST>.
		{"ACK", Segment{Flags: FlagACK, Seq: 1000, Ack: 5000, Window: 100},
			&Segment{Flags: FlagRST, Seq: 5000}},
		{"data with ACK", Segment{Flags: FlagACK | FlagPSH, Seq: 1000, Ack: 0xfffffff0, Window: 100, Payload: []byte("hello")},
			&Segment{Flags: FlagRST, Seq: 0xfffffff0}},
		{"SYN-ACK", Segment{Flags: FlagSYN | FlagACK, Seq: 1000, Ack: 77, Window: 100},
			&Segment{Flags: FlagRST, Seq: 77}},
		{"FIN-ACK", Segment{Flags: FlagFIN | FlagACK, Seq: 1000, Ack: 77, Window: 100},
			&Segment{Flags: FlagRST, Seq: 77}},
		// Without ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
		{"SYN", Segment{Flags: FlagSYN, Seq: 1000, Window: 100, Opts: Options{MSS: 1460}},
			&Segment{Flags: FlagRST | FlagACK, Seq: 0, Ack: 1001}},
		{"SYN with data", Segment{Flags: FlagSYN, Seq: 0xffffffff, Window: 100, Payload: []byte("hello")},
			&Segment{Flags: FlagRST | FlagACK, Seq: 0, Ack: 5}},
		{"data without ACK", Segment{Flags: FlagPSH, Seq: 1000, Window: 100, Payload: []byte("hello")},
			&Segment{Flags: FlagRST | FlagACK, Seq: 0, Ack: 1005}},
		{"FIN without ACK", Segment{Flags: FlagFIN, Seq: 1000, Window: 100, Payload: []byte("ab")},
			&Segment{Flags: FlagRST | FlagACK, Seq: 0, Ack: 1003}},
		{"bare", Segment{Seq: 1000, Window: 100},
			&Segment{Flags: FlagRST | FlagACK, Seq: 0, Ack: 1000}},
		// A reset is never answered.
		{"RST", Segment{Flags: FlagRST, Seq: 1000}, nil},
		{"RST-ACK", Segment{Flags: FlagRST | FlagACK, Seq: 1000, Ack: 5}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			f.id.LocalPort = 81 // nobody listens
			f.send(tc.in)
			resets := uint64(0)
			if tc.want != nil {
				f.expect(*tc.want)
				resets = 1
			}
			f.expectNothing()
			f.counter(ResetsSent, resets)
			f.counter(DropNoConn, 1)
			if f.s.Conns() != 0 {
				t.Fatal("a connection was made")
			}
		})
	}
}

// TestListenIgnores: in LISTEN a reset is ignored, an ACK gets a reset
// (when it is no SYN cookie), anything else without SYN is dropped (RFC
// 9293 3.10.7.2).
func TestListenIgnores(t *testing.T) {
	f := newFixture(t, Config{})
	f.send(Segment{Flags: FlagRST, Seq: 1000})
	f.expectNothing()
	f.send(Segment{Flags: FlagFIN, Seq: 1000, Window: 100})
	f.expectNothing()
	f.send(Segment{Flags: FlagPSH, Seq: 1000, Window: 100, Payload: []byte("x")})
	f.expectNothing()
	f.send(Segment{Flags: FlagACK, Seq: 1000, Ack: 12345, Window: 100})
	f.expect(Segment{Flags: FlagRST, Seq: 12345})
	f.counter(SynCookiesBad, 1)
	if f.s.Conns() != 0 {
		t.Fatal("a connection was made")
	}
}

// zeroWindow brings an established connection (receive buffer 4096, no
// options) to a closed receive window: the application takes nothing and
// the peer fills the buffer. The application waits for Writable (its
// Write came up short against the peer's closed window), so the stack
// waits with it rather than abort the connection for a full buffer (see
// TestRecvBufferFull).
func zeroWindow(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, Config{RcvBuf: 4096, SndBuf: 4096})
	f.app.take = 0
	f.passiveOpen(optsNone)
	if f.win != 4096 {
		t.Fatalf("window %d", f.win)
	}
	f.peerWnd = 0
	f.send(f.ackSeg(f.p, f.u))
	if n := f.c.Write(payload(0, 4097)); n != 4096 {
		t.Fatalf("Write took %d", n)
	}
	f.flush()
	f.expectNothing()
	f.send(f.dataSeg(f.p, f.u, payload(0, 2048)))
	f.expectNothing()
	f.send(f.dataSeg(f.p+2048, f.u, payload(2048, 2048)))
	f.p += 4096
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: 0})
	return f
}

// TestAcceptability is the table of RFC 9293 3.10.7.4: a segment is
// acceptable when its first or last sequence number falls in the receive
// window, with special cases for zero length and zero window; an
// unacceptable one is answered with <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
// and dropped.
func TestAcceptability(t *testing.T) {
	const W = 65535 // the receive window of the non-zero cases
	for _, tc := range []struct {
		name   string
		zero   bool // zero receive window
		off    int  // SEG.SEQ - RCV.NXT
		n      int  // SEG.LEN (data bytes)
		accept bool
	}{
		{"len 0, wnd 0, at RCV.NXT", true, 0, 0, true},
		{"len 0, wnd 0, after RCV.NXT", true, 1, 0, false},
		{"len 0, wnd 0, before RCV.NXT", true, -1, 0, false},
		{"len 0, wnd>0, at RCV.NXT", false, 0, 0, true},
		{"len 0, wnd>0, last in window", false, W - 1, 0, true},
		{"len 0, wnd>0, past the window", false, W, 0, false},
		{"len 0, wnd>0, before RCV.NXT", false, -1, 0, false},
		{"len>0, wnd 0, at RCV.NXT", true, 0, 1, false},
		{"len>0, wnd 0, before RCV.NXT", true, -10, 10, false},
		{"len>0, wnd>0, at RCV.NXT", false, 0, 10, true},
		{"len>0, wnd>0, starts before, ends in", false, -5, 10, true},
		{"len>0, wnd>0, starts in, ends past", false, W - 5, 10, true},
		{"len>0, wnd>0, old duplicate", false, -10, 10, false},
		{"len>0, wnd>0, past the window", false, W, 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f *fixture
			if tc.zero {
				f = zeroWindow(t)
			} else {
				f = newFixture(t, Config{NoDelayedAck: true})
				f.passiveOpen(optsNone)
				if f.win != W {
					t.Fatalf("window %d", f.win)
				}
			}
			win := f.win
			if tc.zero {
				win = 0
			}
			seq := f.p + Seq(tc.off)
			f.send(f.dataSeg(seq, f.u, payload(0, tc.n)))
			if !tc.accept {
				f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: win})
				f.expectNothing()
				f.counter(DropOutOfWindow, 1)
				return
			}
			f.counter(DropOutOfWindow, 0)
			switch {
			case tc.n == 0:
				f.expectNothing() // a bare ACK in the window: nothing to say
			case tc.off <= 0:
				// New bytes at RCV.NXT: taken and acknowledged
				// (DelayedAck off).
				got := tc.off + tc.n
				f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p + Seq(got), Window: win})
				if len(f.app.got) != got {
					t.Errorf("delivered %d bytes, want %d", len(f.app.got), got)
				}
			default:
				// Out of order, cut at the window: a duplicate ACK.
				f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: win})
				if len(f.c.ooo) != 1 || f.c.ooo[0] != (SACKBlock{seq, f.p + W}) {
					t.Errorf("out-of-order ranges %v, want [%v %v]", f.c.ooo, seq, f.p+W)
				}
			}
		})
	}
}

// TestZeroWindowProbeAnswered: with the receive window closed, the
// sender's probe gets an ACK restating the zero window; once the
// application reads, a window update goes out by itself.
func TestZeroWindowProbeAnswered(t *testing.T) {
	f := zeroWindow(t)
	f.send(f.ackSeg(f.p-1, f.u)) // a keep-alive style probe
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: 0})
	f.send(f.dataSeg(f.p, f.u, []byte("x"))) // a one-byte probe
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: 0})
	f.app.take = -1
	f.c.Read()
	f.flush()
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: 4096})
	if string(f.app.got) != string(payload(0, 4096)) {
		t.Fatalf("delivered %d bytes", len(f.app.got))
	}
}

// TestRSTExact: a reset exactly at RCV.NXT closes the connection (RFC
// 5961 3.2), nothing is sent, the application hears ErrReset.
func TestRSTExact(t *testing.T) {
	for _, o := range []peerOpts{optsNone, optsAll} {
		for _, flags := range []Flags{FlagRST, FlagRST | FlagACK} {
			t.Run(o.String()+"/"+flags.String(), func(t *testing.T) {
				f := established(t, Config{}, o)
				f.send(Segment{Flags: flags, Seq: f.p, Ack: f.u})
				f.expectNothing()
				f.expectGone()
				if f.app.closed != 1 || !errors.Is(f.app.err, ErrReset) {
					t.Fatalf("Closed %d, err %v", f.app.closed, f.app.err)
				}
				f.counter(ResetsRcvd, 1)
				f.counter(ConnsFailed, 1)
			})
		}
	}
}

// TestRSTInWindow: a reset in the window but not at RCV.NXT gets a
// challenge ACK and changes nothing (RFC 5961 3.2).
func TestRSTInWindow(t *testing.T) {
	for _, off := range []Seq{1, 1000, 65534} {
		f := established(t, Config{}, optsNone)
		f.send(Segment{Flags: FlagRST, Seq: f.p + off})
		f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
		f.expectState(Established)
		f.counter(ChallengeAcks, 1)
		// The peer, if it really reset, answers the challenge with the
		// exact reset.
		f.send(Segment{Flags: FlagRST, Seq: f.p})
		f.expectGone()
	}
}

// TestRSTOutOfWindow: a reset outside the window is dropped silently.
func TestRSTOutOfWindow(t *testing.T) {
	for _, off := range []int{-1, -1000, 65535, 1 << 20} {
		f := established(t, Config{}, optsNone)
		f.send(Segment{Flags: FlagRST, Seq: f.p + Seq(off)})
		f.expectNothing()
		f.expectState(Established)
		f.counter(DropOutOfWindow, 1)
		f.counter(ChallengeAcks, 0)
	}
}

// TestRSTIgnoresPAWS: a reset is not subject to PAWS (RFC 7323 5.3: an old
// timestamp does not keep a valid reset out).
func TestRSTIgnoresPAWS(t *testing.T) {
	f := established(t, Config{}, optsAll)
	f.send(Segment{Flags: FlagRST, Seq: f.p, Opts: Options{HasTS: true, TSVal: f.peerTS - 1000}})
	f.expectNothing()
	f.expectGone()
}

// TestSYNInSynchronizedState: a SYN in a synchronized state gets a
// challenge ACK whatever its sequence number, and is dropped (RFC 5961
// 4.2, RFC 9293 3.10.7.4 fourth step).
func TestSYNInSynchronizedState(t *testing.T) {
	for _, tc := range []struct {
		name      string
		off       int
		flags     Flags
		challenge uint64
	}{
		{"SYN at RCV.NXT", 0, FlagSYN, 1},
		{"SYN in window", 1000, FlagSYN, 1},
		{"SYN-ACK in window", 10, FlagSYN | FlagACK, 1},
		// Starting just below RCV.NXT with data reaching into the
		// window: acceptable, and the SYN must not be trimmed away.
		{"SYN straddling RCV.NXT", -1, FlagSYN | FlagPSH, 1},
		// Out of the window too: a challenge ACK, counted and within
		// the rate, not the acceptability test's plain ACK (an attacker's
		// SYNs at random sequence numbers get no more answers than
		// challenge_rate).
		{"SYN below window", -100, FlagSYN, 1},
		{"SYN past window", 100000, FlagSYN, 1},
		{"retransmitted SYN-ACK", -1, FlagSYN | FlagACK, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := established(t, Config{}, optsNone)
			seg := Segment{Flags: tc.flags, Seq: f.p + Seq(tc.off), Ack: f.u, Window: 65535, Opts: Options{MSS: 1460}}
			if tc.flags&FlagPSH != 0 {
				seg.Flags |= FlagACK
				seg.Payload = []byte("data")
			}
			f.send(seg)
			f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
			f.expectNothing()
			f.expectState(Established)
			f.counter(ChallengeAcks, tc.challenge)
		})
	}
}

// TestOOWAckRateLimit: a bare ACK outside the window is answered at most
// once per 500 ms per connection (no ACK loop); data outside the window
// (a retransmission whose ACK was lost) is always answered.
func TestOOWAckRateLimit(t *testing.T) {
	f := established(t, Config{}, optsNone)
	bare := Segment{Flags: FlagACK, Seq: f.p + 100000, Ack: f.u, Window: 65535}
	f.send(bare)
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	for i := 0; i < 10; i++ {
		f.send(bare)
	}
	f.expectNothing()
	f.counter(OOWAcksLimited, 10)
	f.send(Segment{Flags: FlagACK | FlagPSH, Seq: f.p - 4, Ack: f.u, Window: 65535, Payload: []byte("dupe")})
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.poll(500 * time.Millisecond)
	f.send(bare)
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.expectState(Established)
}

// TestChallengeACKRateLimit: at most ChallengeRate challenge ACKs per
// second per lcore (RFC 5961 7); the excess is counted.
func TestChallengeACKRateLimit(t *testing.T) {
	f := established(t, Config{ChallengeRate: 2}, optsNone)
	challenge := Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win}
	for i := range 3 {
		f.send(Segment{Flags: FlagRST, Seq: f.p + Seq(10+i)})
	}
	f.expect(challenge)
	f.expect(challenge)
	f.expectNothing()
	f.counter(ChallengeAcks, 2)
	f.counter(ChallengeAcksLimited, 1)
	// SYNs and bad ACKs draw on the same budget.
	f.send(Segment{Flags: FlagSYN, Seq: f.p, Window: 100})
	f.expectNothing()
	f.counter(ChallengeAcksLimited, 2)
	// A second later the budget is back.
	f.poll(time.Second)
	f.send(Segment{Flags: FlagSYN, Seq: f.p, Window: 100})
	f.expect(challenge)
	f.counter(ChallengeAcks, 3)
}

// TestACKAboveSndMax: an ACK of data never sent is answered with an ACK
// and the segment is dropped, its data not taken (RFC 9293 3.10.7.4 fifth
// step, RFC 5961 5.2).
func TestACKAboveSndMax(t *testing.T) {
	f := established(t, Config{}, optsNone)
	f.send(f.dataSeg(f.p, f.u+1, []byte("data")))
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.expectNothing()
	if len(f.app.got) != 0 {
		t.Fatalf("took %q", f.app.got)
	}
	f.counter(DropBadAck, 1)
	// With data in flight, the same past SND.MAX.
	f.c.Write([]byte("abc"))
	f.flush()
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("abc")})
	f.send(f.ackSeg(f.p, f.u+4))
	f.expect(Segment{Flags: FlagACK, Seq: f.u + 3, Ack: f.p, Window: f.win})
	f.counter(DropBadAck, 2)
	if f.c.sndUna != f.u {
		t.Fatal("SND.UNA moved")
	}
}

// TestACKTooOld: an ACK below SND.UNA - MAX.SND.WND is dropped with its
// data (RFC 5961 5.2, which answers it with an ACK); an old ACK within
// that range is only a duplicate, and the data it carries is taken.
func TestACKTooOld(t *testing.T) {
	f := established(t, Config{NoDelayedAck: true}, optsNone)
	maxWnd := Seq(f.peerWnd) // MAX.SND.WND: no scaling
	f.send(f.dataSeg(f.p, f.u-maxWnd-1, []byte("old")))
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	if len(f.app.got) != 0 {
		t.Fatalf("took %q", f.app.got)
	}
	f.counter(DropBadAck, 1)
	f.send(f.dataSeg(f.p, f.u-maxWnd, []byte("ok")))
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p + 2, Window: f.win})
	if string(f.app.got) != "ok" {
		t.Fatalf("took %q", f.app.got)
	}
	f.counter(DropBadAck, 1)
}

// TestACKMissing: a segment without ACK in a synchronized state is
// dropped (RFC 9293 3.10.7.4 fifth step).
func TestACKMissing(t *testing.T) {
	f := established(t, Config{}, optsNone)
	f.send(Segment{Flags: FlagPSH, Seq: f.p, Window: 100, Payload: []byte("x")})
	f.expectNothing()
	if len(f.app.got) != 0 {
		t.Fatal("data taken")
	}
	f.counter(DropBadAck, 1)
}

// TestPAWS: a segment whose TSval is older than TS.Recent is an old
// duplicate: dropped, answered with an ACK, counted (RFC 7323 5.3).
func TestPAWS(t *testing.T) {
	f := established(t, Config{NoDelayedAck: true}, optsAll)
	old := Segment{Flags: FlagACK | FlagPSH, Seq: f.p, Ack: f.u, Window: f.peerWnd, Payload: []byte("old"),
		Opts: Options{HasTS: true, TSVal: f.peerTS - 1, TSEcr: f.ourTS}}
	f.send(old)
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.expectNothing()
	f.counter(DropPAWS, 1)
	if len(f.app.got) != 0 {
		t.Fatal("data taken")
	}
	// The same data with a current timestamp is taken; a newer TSval
	// becomes TS.Recent and is echoed.
	f.peerTS += 5
	f.send(f.dataSeg(f.p, f.u, []byte("new")))
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p + 3, Window: f.win})
	if string(f.app.got) != "new" {
		t.Fatalf("took %q", f.app.got)
	}
	// Across the wrap of the timestamp clock, "older" is modular: each
	// step below is less than 2^31 ahead of the last.
	f.p += 3
	for _, ts := range []uint32{0xc0000000, 0xfffffff0, 5} {
		f.peerTS = ts
		f.send(f.dataSeg(f.p, f.u, []byte("a")))
		f.p++
		f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	}
	// 0xfffffff0 is now older than 5.
	f.send(Segment{Flags: FlagACK | FlagPSH, Seq: f.p, Ack: f.u, Window: f.peerWnd, Payload: []byte("old"),
		Opts: Options{HasTS: true, TSVal: 0xfffffff0, TSEcr: f.ourTS}})
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.counter(DropPAWS, 2)
}

// TestWindowUpdateRules: the send window follows SND.WL1 and SND.WL2
// (RFC 9293 3.10.7.4, fifth step): a segment older than the one that last
// set the window, here one that fills a gap behind it, does not set it.
func TestWindowUpdateRules(t *testing.T) {
	f := established(t, Config{}, optsAll)
	shift := uint32(fxPeerShift)
	if f.c.sndWnd != uint32(f.peerWnd)<<shift {
		t.Fatalf("window %d", f.c.sndWnd)
	}
	// Out of order, window 100: SND.WL1 = p+100.
	f.send(Segment{Flags: FlagACK, Seq: f.p + 100, Ack: f.u, Window: 100, Payload: payload(100, 10)})
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win,
		Opts: Options{HasTS: true, TSVal: f.tsNow(), TSEcr: f.peerTS, NSACK: 1, SACK: [4]SACKBlock{{f.p + 100, f.p + 110}}}})
	if f.c.sndWnd != 100<<shift {
		t.Fatalf("window %d, want %d", f.c.sndWnd, 100<<shift)
	}
	// The segment that fills the gap is older: its window does not count.
	f.send(Segment{Flags: FlagACK, Seq: f.p, Ack: f.u, Window: 5000, Payload: payload(0, 100)})
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p + 110, Window: f.win})
	if f.c.sndWnd != 100<<shift {
		t.Fatalf("window %d after an older segment, want %d", f.c.sndWnd, 100<<shift)
	}
	// A newer one does.
	f.send(Segment{Flags: FlagACK, Seq: f.p + 110, Ack: f.u, Window: 5000})
	f.expectNothing()
	if f.c.sndWnd != 5000<<shift {
		t.Fatalf("window %d, want %d", f.c.sndWnd, 5000<<shift)
	}
}

// TestTimeWaitRetransmittedFIN: in TIME-WAIT a retransmitted FIN is
// acknowledged again and restarts the 2*MSL timer (RFC 9293 3.10.7.4,
// eighth step).
func TestTimeWaitRetransmittedFIN(t *testing.T) {
	for _, o := range []peerOpts{optsNone, optsAll} {
		t.Run(o.String(), func(t *testing.T) {
			f := established(t, Config{TimeWait: 10 * time.Second}, o)
			f.timeWait()
			f.poll(6 * time.Second)
			f.send(Segment{Flags: FlagFIN | FlagACK, Seq: f.p - 1, Ack: f.u, Window: f.peerWnd})
			f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
			f.expectState(TimeWait)
			// The wait now ends 10 s after the retransmission, not
			// after the first FIN.
			f.poll(10*time.Second - fxStep)
			if f.s.Conns() != 1 {
				t.Fatal("TIME-WAIT ended on its first timer")
			}
			f.poll(fxSlack)
			f.expectNothing()
			f.expectGone()
		})
	}
}

// TestTimeWaitExpiry: after TimeWait the entry leaves the table and a
// segment for the tuple is answered as for a closed port.
func TestTimeWaitExpiry(t *testing.T) {
	f := established(t, Config{TimeWait: 5 * time.Second}, optsAll)
	f.timeWait()
	if f.s.Conns() != 1 {
		t.Fatal("TIME-WAIT not in the table")
	}
	if f.s.NextDeadline() == 0 {
		t.Fatal("no timer set for TIME-WAIT")
	}
	f.poll(5*time.Second + fxSlack)
	f.expectGone()
	f.expectNothing()
	f.tsOK = false
	f.send(f.ackSeg(f.p, f.u))
	f.expect(Segment{Flags: FlagRST, Seq: f.u})
}

// TestTimeWaitOtherSegments: in TIME-WAIT an ACK in the window is
// ignored, an old duplicate is answered with an ACK, a RST ends it
// early (RFC 9293 3.10.7.4).
func TestTimeWaitOtherSegments(t *testing.T) {
	f := established(t, Config{}, optsNone)
	f.timeWait()
	f.send(f.ackSeg(f.p, f.u))
	f.expectNothing()
	f.send(f.dataSeg(f.p-10, f.u, payload(0, 5)))
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.send(Segment{Flags: FlagRST, Seq: f.p})
	f.expectNothing()
	f.expectGone()
	if f.app.closed != 1 || f.app.err != nil {
		t.Fatalf("Closed %d, err %v: the application heard of TIME-WAIT once", f.app.closed, f.app.err)
	}
}

// TestTimeWaitReuseTimestamp: a new SYN for a tuple in TIME-WAIT whose
// timestamp is newer than the old connection's takes the tuple over (RFC
// 6191); one with an older timestamp is answered with an ACK.
func TestTimeWaitReuseTimestamp(t *testing.T) {
	t.Run("newer", func(t *testing.T) {
		f := established(t, Config{}, optsAll)
		f.timeWait()
		f.poll(time.Second)
		// A lower ISN: with timestamps the sequence number does not
		// matter (RFC 6191 2).
		f.irs -= 100000
		f.tsOK = false
		f.peerTS += 1000
		f.synReceived(optsAll)
		f.counter(TimeWaitReused, 1)
		f.tsOK = true
		f.send(f.ackSeg(f.p, f.u))
		f.expectState(Established)
		if f.app.opened != 2 {
			t.Fatalf("Open called %d times", f.app.opened)
		}
	})
	t.Run("older", func(t *testing.T) {
		f := established(t, Config{}, optsAll)
		f.timeWait()
		f.send(Segment{Flags: FlagSYN, Seq: f.p + 100000, Window: 65535, Opts: optsAll.synOptions(f.peerTS - 1)})
		f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
		f.expectState(TimeWait)
		f.counter(TimeWaitReused, 0)
		f.counter(DropPAWS, 1)
	})
}

// TestTimeWaitReuseSequence: without timestamps a new SYN may take over
// TIME-WAIT when its sequence number is above the old RCV.NXT (RFC 9293
// 3.10.7.4, RFC 1122 4.2.2.13); a lower one gets an ACK.
func TestTimeWaitReuseSequence(t *testing.T) {
	t.Run("higher", func(t *testing.T) {
		f := established(t, Config{}, optsNone)
		f.timeWait()
		f.irs = f.p + 100000
		f.synReceived(optsNone)
		f.counter(TimeWaitReused, 1)
	})
	t.Run("lower", func(t *testing.T) {
		f := established(t, Config{}, optsNone)
		f.timeWait()
		f.send(Segment{Flags: FlagSYN, Seq: f.p - 100, Window: 65535, Opts: Options{MSS: 1460}})
		f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
		f.expectState(TimeWait)
		f.counter(TimeWaitReused, 0)
	})
}

// TestUrgentIgnored: the urgent pointer is ignored (RFC 6093): URG data
// is delivered in line like any other, acknowledged as usual.
func TestUrgentIgnored(t *testing.T) {
	for _, o := range []peerOpts{optsNone, optsAll} {
		t.Run(o.String(), func(t *testing.T) {
			f := established(t, Config{NoDelayedAck: true}, o)
			for i, urg := range []uint16{3, 0xffff, 0} {
				seg := Segment{Flags: FlagACK | FlagPSH | FlagURG, Seq: f.p, Ack: f.u, Window: f.peerWnd, Payload: []byte("hello")}
				f.fill(&seg)
				h := f.encode(&seg)
				h.SetUrgent(urg)
				h.ComputeChecksum(f.id.Remote, f.id.Local)
				f.input(h)
				f.p += 5
				f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
				if want := 5 * (i + 1); len(f.app.got) != want {
					t.Fatalf("delivered %d bytes, want %d", len(f.app.got), want)
				}
			}
			if string(f.app.got) != "hellohellohello" {
				t.Fatalf("delivered %q", f.app.got)
			}
		})
	}
}

// TestCloseThenData: after Close the application takes no more data: data
// that still arrives is answered with a reset (RFC 9293 3.10.4, RFC 1122
// 4.2.2.13) and the connection is gone.
func TestCloseThenData(t *testing.T) {
	f := established(t, Config{}, optsNone)
	f.c.Close()
	f.flush()
	f.expect(Segment{Flags: FlagFIN | FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.u++
	f.send(f.dataSeg(f.p, f.u, []byte("too late")))
	f.expect(Segment{Flags: FlagRST, Seq: f.u})
	f.expectNothing()
	f.expectGone()
	if len(f.app.got) != 0 || f.app.closed != 1 || !errors.Is(f.app.err, ErrAborted) {
		t.Fatalf("got %q, Closed %d err %v", f.app.got, f.app.closed, f.app.err)
	}
}

// TestCloseUnread: a Close that leaves received data unread resets the
// connection, so that the peer learns the data was lost (RFC 1122
// 4.2.2.13); data the handler took inside Recv counts as read.
func TestCloseUnread(t *testing.T) {
	t.Run("after Recv", func(t *testing.T) {
		f := established(t, Config{}, optsNone)
		f.app.take = 2
		f.send(f.dataSeg(f.p, f.u, []byte("hello")))
		f.p += 5
		if f.c.Unread() != 3 {
			t.Fatalf("unread %d, want 3", f.c.Unread())
		}
		f.c.Close()
		f.expect(Segment{Flags: FlagRST, Seq: f.u})
		f.flush()
		f.expectNothing()
		f.expectGone()
		f.counter(ClosedUnread, 1)
		if f.app.closed != 1 || !errors.Is(f.app.err, ErrAborted) {
			t.Fatalf("Closed %d, err %v", f.app.closed, f.app.err)
		}
	})
	t.Run("in Recv, all taken", func(t *testing.T) {
		f := established(t, Config{}, optsNone)
		f.app.onRecv = func(c *Conn, d []byte) int { c.Close(); return len(d) }
		f.send(f.dataSeg(f.p, f.u, []byte("bye")))
		f.p += 3
		f.flush()
		f.expect(Segment{Flags: FlagFIN | FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
		f.counter(ClosedUnread, 0)
	})
	t.Run("in Recv, part taken", func(t *testing.T) {
		f := established(t, Config{}, optsNone)
		f.app.onRecv = func(c *Conn, d []byte) int { c.Close(); return 1 }
		f.send(f.dataSeg(f.p, f.u, []byte("bye")))
		f.expect(Segment{Flags: FlagRST, Seq: f.u})
		f.flush()
		f.expectNothing()
		f.expectGone()
		f.counter(ClosedUnread, 1)
	})
}

// TestAbort: ABORT sends <SEQ=SND.NXT><CTL=RST> at once and the
// application hears ErrAborted (RFC 9293 3.10.5).
func TestAbort(t *testing.T) {
	t.Run("established", func(t *testing.T) {
		f := established(t, Config{}, optsAll)
		f.c.Write([]byte("unsent?"))
		f.c.Abort()
		f.expect(Segment{Flags: FlagRST, Seq: f.u})
		f.flush()
		f.expectNothing()
		f.expectGone()
		if f.app.closed != 1 || !errors.Is(f.app.err, ErrAborted) {
			t.Fatalf("Closed %d, err %v", f.app.closed, f.app.err)
		}
	})
	t.Run("with data in flight", func(t *testing.T) {
		f := established(t, Config{}, optsNone)
		f.c.Write([]byte("abc"))
		f.flush()
		f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("abc")})
		f.c.Abort()
		f.expect(Segment{Flags: FlagRST, Seq: f.u + 3})
		f.expectGone()
		f.poll(2 * time.Second) // no timer left behind
		f.expectNothing()
	})
	t.Run("syn-sent", func(t *testing.T) {
		f := newFixture(t, Config{})
		f.synSent()
		f.c.Abort()
		f.expectNothing() // nobody to reset
		f.expectGone()
		if !errors.Is(f.app.err, ErrAborted) {
			t.Fatalf("err %v", f.app.err)
		}
	})
	t.Run("close-wait", func(t *testing.T) {
		f := established(t, Config{}, optsNone)
		f.closeWait()
		f.c.Abort()
		f.expect(Segment{Flags: FlagRST, Seq: f.u})
		f.expectGone()
	})
}

// TestHalfClose: after CloseWrite the connection still receives, in
// FIN-WAIT-1 and FIN-WAIT-2, and the peer's FIN ends it orderly.
func TestHalfClose(t *testing.T) {
	f := established(t, Config{}, optsAll)
	f.c.CloseWrite()
	f.flush()
	f.expect(Segment{Flags: FlagFIN | FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	if f.c.Writable() != 0 || f.c.Write([]byte("x")) != 0 {
		t.Fatal("writable after CloseWrite")
	}
	// Data that does not yet acknowledge our FIN: FIN-WAIT-1 takes it.
	f.send(f.dataSeg(f.p, f.u, payload(0, 1000)))
	f.expectNothing() // delayed
	f.expectState(FinWait1)
	// The second segment acknowledges the FIN: FIN-WAIT-2, and two
	// segments are owed an ACK at once.
	f.u++
	f.send(f.dataSeg(f.p+1000, f.u, payload(1000, 1000)))
	f.p += 2000
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.expectState(FinWait2)
	f.send(Segment{Flags: FlagFIN | FlagACK | FlagPSH, Seq: f.p, Ack: f.u, Window: f.peerWnd, Payload: payload(2000, 10)})
	f.p += 11
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.expectState(TimeWait)
	if string(f.app.got) != string(payload(0, 2010)) {
		t.Fatalf("received %d bytes", len(f.app.got))
	}
	if f.app.peerClosed != 1 || f.app.closed != 1 || f.app.err != nil {
		t.Fatalf("PeerClosed %d, Closed %d, err %v", f.app.peerClosed, f.app.closed, f.app.err)
	}
}

// TestRecvPartial: when Recv takes less than offered, the rest stays in
// the receive buffer and the advertised window shrinks by it; Read offers
// it again, and the window that reopens is announced.
func TestRecvPartial(t *testing.T) {
	f := newFixture(t, Config{RcvBuf: 8192})
	budget := 1000
	f.app.onRecv = func(c *Conn, d []byte) int {
		k := min(len(d), budget)
		budget -= k
		f.app.got = append(f.app.got, d[:k]...)
		return k
	}
	f.passiveOpen(optsNone)
	if f.win != 8192 {
		t.Fatalf("window %d", f.win)
	}
	f.send(f.dataSeg(f.p, f.u, payload(0, 1200)))
	f.send(f.dataSeg(f.p+1200, f.u, payload(1200, 1200)))
	f.p += 2400
	// 1000 taken, 1400 kept.
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: 8192 - 1400})
	f.send(f.dataSeg(f.p, f.u, payload(2400, 1200)))
	f.send(f.dataSeg(f.p+1200, f.u, payload(3600, 1200)))
	f.p += 2400
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: 8192 - 3800})
	if string(f.app.got) != string(payload(0, 1000)) {
		t.Fatalf("took %d bytes", len(f.app.got))
	}
	// The application reads again: it takes all 3800 bytes, in order,
	// and the window reopens by more than two segments: an update.
	budget = 1 << 20
	f.c.Read()
	f.flush()
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: 8192})
	if string(f.app.got) != string(payload(0, 4800)) {
		t.Fatalf("took %d bytes", len(f.app.got))
	}
	// Nothing buffered now: the next data goes straight through.
	calls := f.app.recvCalls
	f.send(f.dataSeg(f.p, f.u, payload(4800, 100)))
	if f.app.recvCalls != calls+1 || len(f.app.got) != 4900 {
		t.Fatalf("%d calls, %d bytes", f.app.recvCalls-calls, len(f.app.got))
	}
	f.poll(50 * time.Millisecond)
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p + 100, Window: 8192})
}

// TestRecvPartialWritable: buffered data is offered again after Writable,
// when the send buffer frees.
func TestRecvPartialWritable(t *testing.T) {
	f := newFixture(t, Config{SndBuf: 4096, NoDelayedAck: true})
	take := false
	f.app.onRecv = func(c *Conn, d []byte) int {
		if !take {
			return 0
		}
		f.app.got = append(f.app.got, d...)
		return len(d)
	}
	f.app.onWritable = func(c *Conn) { take = true }
	f.passiveOpen(optsNone)
	if n := f.c.Write(payload(0, 6000)); n != 4096 {
		t.Fatalf("Write took %d", n)
	}
	f.flush()
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win, Payload: payload(0, 1460)})
	f.expect(Segment{Flags: FlagACK, Seq: f.u + 1460, Ack: f.p, Window: f.win, Payload: payload(1460, 1460)})
	f.expectNothing() // Nagle holds the last 1176 bytes
	f.send(f.dataSeg(f.p, f.u, []byte("request")))
	f.p += 7
	f.expect(Segment{Flags: FlagACK, Seq: f.u + 2920, Ack: f.p, Window: f.win}) // 65535: unscaled, the 7 bytes do not show
	if len(f.app.got) != 0 {
		t.Fatal("taken early")
	}
	// The ACK frees the send buffer: Writable, then the request again.
	f.send(f.ackSeg(f.p, f.u+2920))
	if f.app.writable != 1 || string(f.app.got) != "request" {
		t.Fatalf("Writable %d, got %q", f.app.writable, f.app.got)
	}
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u + 2920, Ack: f.p, Window: f.win, Payload: payload(2920, 1176)})
}

// TestSynCookies: with the backlog full, a SYN is answered statelessly: a
// SYN-ACK with only the MSS option; the ACK that returns the cookie makes
// an ESTABLISHED connection without window scaling, SACK or timestamps; a
// bogus ACK gets a reset (RFC 4987 3.6).
func TestSynCookies(t *testing.T) {
	f := newFixture(t, Config{Backlog: 1})
	f.synReceived(optsAll) // the backlog's one half-open connection
	first := f.id

	f.id.RemotePort = fxPeerPort + 1
	f.tsOK = false
	f.irs = 0x12345678
	f.send(Segment{Flags: FlagSYN, Seq: f.irs, Window: 65535, Opts: optsAll.synOptions(f.peerTS)})
	cookie := f.peek().Seq
	f.iss = cookie
	f.expect(Segment{Flags: FlagSYN | FlagACK, Seq: cookie, Ack: f.irs + 1, Window: 65535, Opts: Options{MSS: 1460}})
	f.counter(SynCookiesSent, 1)
	if f.s.Conns() != 1 {
		t.Fatalf("%d connections: the cookie SYN-ACK kept state", f.s.Conns())
	}

	// The ACK returning the cookie, with data.
	f.send(f.dataSeg(f.irs+1, cookie+1, []byte("GET")))
	f.counter(SynCookiesValid, 1)
	c := f.s.Lookup(f.id)
	if c == nil || c.State() != Established || f.app.conn != c || f.app.opened != 1 {
		t.Fatalf("no connection from the cookie: %v", c)
	}
	f.c = c
	if c.mss != 1460 || c.tsOK || c.sackOK || c.wsOK {
		t.Fatalf("cookie connection: mss %d ts %v sack %v ws %v", c.mss, c.tsOK, c.sackOK, c.wsOK)
	}
	if string(f.app.got) != "GET" {
		t.Fatalf("received %q", f.app.got)
	}
	f.poll(50 * time.Millisecond)
	f.expect(Segment{Flags: FlagACK, Seq: cookie + 1, Ack: f.irs + 4, Window: 65535})
	c.Write([]byte("200"))
	f.flush()
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: cookie + 1, Ack: f.irs + 4, Window: 65535, Payload: []byte("200")})

	// A bogus ACK from a third port.
	f.id.RemotePort = fxPeerPort + 2
	f.send(f.ackSeg(0x1000, cookie+1))
	f.expect(Segment{Flags: FlagRST, Seq: cookie + 1})
	f.counter(SynCookiesBad, 1)
	if f.s.Conns() != 2 || f.s.Lookup(first) == nil {
		t.Fatalf("%d connections", f.s.Conns())
	}
}

// TestSynCookieNoMSS: a SYN without MSS gets a cookie for 536 bytes.
func TestSynCookieNoMSS(t *testing.T) {
	f := newFixture(t, Config{Backlog: 1})
	f.synReceived(optsNone)
	f.id.RemotePort++
	f.send(Segment{Flags: FlagSYN, Seq: f.irs, Window: 65535})
	cookie := f.pop().Seq
	f.send(f.ackSeg(f.irs+1, cookie+1))
	c := f.s.Lookup(f.id)
	if c == nil || c.mss != 536 {
		t.Fatalf("cookie connection %v", c)
	}
}

// TestMaxConns: the table holds MaxConns connections, TIME-WAIT included:
// Connect fails with ErrTableFull, a SYN gets a cookie, and the cookie's
// ACK finds no room; each refusal is counted.
func TestMaxConns(t *testing.T) {
	f := established(t, Config{MaxConns: 1}, optsNone)
	if _, err := f.s.Connect(fxLocal, fxRemote, fxSrvPort, f.app, f.now); !errors.Is(err, ErrTableFull) {
		t.Fatalf("Connect: %v", err)
	}
	f.counter(TableFull, 1)
	f.expectNothing()
	// TIME-WAIT still takes its entry.
	f.timeWait()
	if _, err := f.s.Connect(fxLocal, fxRemote, fxSrvPort, f.app, f.now); !errors.Is(err, ErrTableFull) {
		t.Fatalf("Connect: %v", err)
	}
	f.counter(TableFull, 2)
	f.id.RemotePort++
	f.irs = 1000
	f.send(Segment{Flags: FlagSYN, Seq: f.irs, Window: 65535, Opts: Options{MSS: 1460}})
	cookie := f.peek().Seq
	f.iss = cookie
	f.expect(Segment{Flags: FlagSYN | FlagACK, Seq: cookie, Ack: f.irs + 1, Window: 65535, Opts: Options{MSS: 1460}})
	f.send(f.ackSeg(f.irs+1, cookie+1))
	f.expectNothing()
	f.counter(TableFull, 3)
	f.counter(DropBacklog, 1)
	if f.s.Conns() != 1 {
		t.Fatalf("%d connections", f.s.Conns())
	}
}

// TestConnectNoPorts: with one source port and a connection on it to the
// same destination, Connect fails with ErrNoPorts and counts it; another
// destination may use the port.
func TestConnectNoPorts(t *testing.T) {
	f := newFixture(t, Config{PortMin: 40000, PortMax: 40000})
	f.synSent()
	if _, err := f.s.Connect(fxLocal, fxRemote, fxSrvPort, f.app, f.now); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("Connect: %v", err)
	}
	f.counter(NoPorts, 1)
	f.expectNothing()
	c, err := f.s.Connect(fxLocal, fxRemote, fxSrvPort+1, f.app, f.now)
	if err != nil || c.ID().LocalPort != 40000 {
		t.Fatalf("Connect to another port: %v", err)
	}
	f.flush()
	f.id = c.ID()
	f.iss = f.peek().Seq
	f.expect(Segment{Flags: FlagSYN, Seq: f.iss, Window: 65535, Opts: f.ourSYNOpts(peerOpts{}, true)})
	f.counter(NoPorts, 1)
}

// TestConnectTimeWait: the only source port is held by a connection in
// TIME-WAIT. Without tcp.tw_reuse the allocator never hands it out; with
// it, once the timestamp clock has moved on, a new connection takes the
// tuple over (RFC 6191 4.2) and the old one is gone.
func TestConnectTimeWait(t *testing.T) {
	for _, c := range []struct {
		reuse, from bool
	}{{false, false}, {true, false}, {false, true}, {true, true}} {
		reuse := c.reuse
		f := newFixture(t, Config{PortMin: 40000, PortMax: 40000, TWReuse: reuse})
		f.activeOpen(optsAll)
		f.timeWait()
		f.poll(10 * time.Millisecond)
		connect := func() (*Conn, error) { return f.s.Connect(fxLocal, fxRemote, fxSrvPort, f.app, f.now) }
		noTuple := ErrNoPorts
		if c.from { // the exact tuple: ConnectFrom takes it over the same way
			connect = func() (*Conn, error) { return f.s.ConnectFrom(f.id, f.app, f.now) }
			noTuple = ErrPortInUse
		}
		c, err := connect()
		if !reuse {
			if !errors.Is(err, noTuple) {
				t.Fatalf("without tw_reuse: Connect: %v, %v", c, err)
			}
			f.counter(TimeWaitReused, 0)
			continue
		}
		if err != nil || c.ID() != f.id {
			t.Fatalf("with tw_reuse: Connect: %v", err)
		}
		f.counter(TimeWaitReused, 1)
		f.flush()
		syn := f.pop()
		if syn.Flags != FlagSYN || !syn.Opts.HasTS || !syn.Seq.GreaterThan(f.u) {
			t.Fatalf("new SYN %v seq %d (old connection ended at %d), timestamps %v", syn.Flags, syn.Seq, f.u, syn.Opts.HasTS)
		}
	}
}

// TestSynCookieSourceRate: in cookie mode one source address gets at most
// CookieSourceRate SYN-ACKs a second; the rest of its SYNs are counted and
// dropped, another address is still answered, and the next second the
// budget is whole again.
func TestSynCookieSourceRate(t *testing.T) {
	const rate = 5
	f := newFixture(t, Config{Backlog: 1, CookieSourceRate: rate})
	f.synReceived(optsAll) // the backlog's one half-open connection
	synFrom := func(port uint16) {
		f.t.Helper()
		f.id.RemotePort = port
		f.send(Segment{Flags: FlagSYN, Seq: 0x1000, Window: 65535, Opts: Options{MSS: 1460}})
	}
	answered := func() (n int) {
		for len(f.out.unexpected()) > 0 {
			if s := f.pop(); s.Flags == FlagSYN|FlagACK {
				n++
			}
		}
		return n
	}
	for p := uint16(2000); p < 2020; p++ {
		synFrom(p)
	}
	if n := answered(); n != rate {
		t.Fatalf("%d SYN-ACKs for 20 SYNs from one address, want %d", n, rate)
	}
	f.counter(SynCookiesSent, rate)
	f.counter(SynCookiesLimited, 20-rate)

	// Another source (in another bucket) is answered.
	for i := uint32(1); ; i++ {
		other := fxRemote + ipv4.Addr(i)
		if (uint32(other)^f.s.cookieSalt)*0x9e3779b1>>22 != (uint32(fxRemote)^f.s.cookieSalt)*0x9e3779b1>>22 {
			f.id.Remote = other
			break
		}
	}
	synFrom(3000)
	if n := answered(); n != 1 {
		t.Fatalf("another address: %d SYN-ACKs, want 1", n)
	}

	// A second later the first address has its budget back.
	f.id.Remote = fxRemote
	f.now += int64(time.Second)
	for p := uint16(4000); p < 4010; p++ {
		synFrom(p)
	}
	if n := answered(); n != rate {
		t.Fatalf("the next second: %d SYN-ACKs, want %d", n, rate)
	}
}

// TestSynRefusingSource: a source that resets more than refusedLimit of
// our SYN-ACKs in a second (a host whose address a flood spoofs) has its
// next SYNs answered with cookies, keeping no state; a second later its
// SYNs make half-open connections again.
func TestSynRefusingSource(t *testing.T) {
	f := newFixture(t, Config{})
	refuse := func(port uint16) {
		f.t.Helper()
		f.id.RemotePort = port
		f.send(Segment{Flags: FlagSYN, Seq: 0x1000, Window: 65535, Opts: Options{MSS: 1460}})
		synack := f.pop()
		if synack.Flags != FlagSYN|FlagACK {
			t.Fatalf("answer to a SYN: %s", f.fmtSeg(&synack))
		}
		f.send(Segment{Flags: FlagRST, Seq: 0x1001})
	}
	for p := uint16(2000); p < 2000+refusedLimit+1; p++ {
		refuse(p)
	}
	f.counter(PassiveOpens, refusedLimit+1)
	f.counter(SynSourcesRefusing, 1)
	if f.s.Conns() != 0 {
		t.Fatalf("%d connections after the resets", f.s.Conns())
	}
	f.id.RemotePort = 3000
	f.send(Segment{Flags: FlagSYN, Seq: 0x1000, Window: 65535, Opts: Options{MSS: 1460}})
	f.pop()
	f.counter(SynCookiesSent, 1)
	if f.s.Conns() != 0 {
		t.Fatalf("a SYN from a refusing source made a connection")
	}
	f.now += int64(time.Second)
	f.id.RemotePort = 3001
	f.send(Segment{Flags: FlagSYN, Seq: 0x1000, Window: 65535, Opts: Options{MSS: 1460}})
	f.pop()
	f.counter(PassiveOpens, refusedLimit+2)
	if f.s.Conns() != 1 {
		t.Fatalf("a second later: %d connections, want the half-open one", f.s.Conns())
	}
}

// drainApp is a recApp that is a Drainer: Drain closes the connection.
type drainApp struct {
	*recApp
	drained int
}

func (d *drainApp) Drain(c *Conn) {
	d.drained++
	c.Close()
}

// TestDrain: Drain removes the listeners (a SYN then gets a reset, and
// Listen fails), tells a Drainer's open connections once, and Active
// counts the connections a drain waits for (not TIME-WAIT).
func TestDrain(t *testing.T) {
	f := newFixture(t, Config{})
	d := &drainApp{recApp: f.app}
	f.l.Handler = d
	f.passiveOpen(optsAll)
	if f.s.Active() != 1 {
		t.Fatalf("Active %d, want 1", f.s.Active())
	}
	f.s.Drain()
	f.s.Drain() // once only
	if d.drained != 1 {
		t.Fatalf("Drain called %d times, want 1", d.drained)
	}
	f.flush()
	f.expect(Segment{Flags: FlagACK | FlagFIN, Seq: f.u, Ack: f.p, Window: f.win})
	f.expectState(FinWait1)
	if _, err := f.s.Listen(fxPort+1, f.app); err != ErrDraining {
		t.Fatalf("Listen while draining: %v", err)
	}

	// A new connection is refused.
	first := f.id
	f.id.RemotePort = fxPeerPort + 1
	f.send(Segment{Flags: FlagSYN, Seq: 0x5000, Window: 65535})
	f.expect(Segment{Flags: FlagRST | FlagACK, Seq: 0, Ack: 0x5001})
	f.id = first

	// The peer ends it: TIME-WAIT, which a drain does not wait for.
	f.send(Segment{Flags: FlagACK | FlagFIN, Seq: f.p, Ack: f.u + 1, Window: 65535})
	f.expect(Segment{Flags: FlagACK, Seq: f.u + 1, Ack: f.p + 1, Window: f.win})
	f.expectState(TimeWait)
	if f.s.Active() != 0 || f.s.Conns() != 1 {
		t.Fatalf("Active %d, Conns %d: want 0 and the TIME-WAIT one", f.s.Active(), f.s.Conns())
	}
	f.poll(61 * time.Second)
	if f.s.Active() != 0 || f.s.Conns() != 0 {
		t.Fatalf("after TIME-WAIT: Active %d, Conns %d", f.s.Active(), f.s.Conns())
	}
}
