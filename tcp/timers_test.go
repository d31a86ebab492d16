package tcp

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// The timers: delayed ACK, retransmission (RFC 6298), persist, keep-alive
// and the sender's Nagle hold, each on the virtual clock.

// TestDelayedACK: one full segment is acknowledged only when DelayedAck
// has passed, by exactly one ACK; a second segment is acknowledged at
// once (RFC 5681 4.2, RFC 9293 3.8.6.3).
func TestDelayedACK(t *testing.T) {
	for _, o := range []peerOpts{optsNone, optsAll} {
		t.Run(o.String(), func(t *testing.T) {
			f := established(t, Config{DelayedAck: 30 * time.Millisecond}, o)
			mss := f.c.mss
			f.send(f.dataSeg(f.p, f.u, payload(0, mss)))
			f.p += Seq(mss)
			f.expectNothing()
			f.expectTimer(30*time.Millisecond, Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
			f.poll(time.Second)
			f.expectNothing() // exactly one

			// Two segments: the second is acknowledged at once.
			f.send(f.dataSeg(f.p, f.u, payload(mss, mss)))
			f.expectNothing()
			f.poll(10 * time.Millisecond)
			f.send(f.dataSeg(f.p+Seq(mss), f.u, payload(2*mss, mss)))
			f.p += Seq(2 * mss)
			f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
			f.poll(time.Second)
			f.expectNothing() // the delayed ACK's timer went with it

			// Three: ACK after the second, the third waits.
			for i := range 3 {
				f.send(f.dataSeg(f.p+Seq(i*100), f.u, payload(0, 100)))
			}
			f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p + 200, Window: f.win})
			f.p += 300
			f.expectTimer(30*time.Millisecond, Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
		})
	}
}

// TestDelayedACKPiggyback: data the application sends in answer carries
// the ACK; no separate ACK follows.
func TestDelayedACKPiggyback(t *testing.T) {
	f := established(t, Config{}, optsAll)
	f.app.onRecv = func(c *Conn, d []byte) int {
		c.Write([]byte("pong"))
		return len(d)
	}
	f.send(f.dataSeg(f.p, f.u, []byte("ping")))
	f.p += 4
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("pong")})
	f.poll(100 * time.Millisecond)
	f.expectNothing()
	f.send(f.ackSeg(f.p, f.u+4))
	f.expectNothing()
}

// TestDelayedACKOff: NoDelayedAck acknowledges every segment at once.
func TestDelayedACKOff(t *testing.T) {
	f := established(t, Config{NoDelayedAck: true}, optsNone)
	f.send(f.dataSeg(f.p, f.u, []byte("x")))
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p + 1, Window: f.win})
}

// TestOutOfOrderSACK: a segment beyond a hole is acknowledged at once
// with a duplicate ACK carrying its SACK block, the most recent block
// first (RFC 2018 4, RFC 5681 4.2); the segment that fills the hole is
// acknowledged at once, and the data reaches the application in order.
func TestOutOfOrderSACK(t *testing.T) {
	f := established(t, Config{}, optsAll)
	p := f.p
	sack := func(ack Seq, blocks ...SACKBlock) Segment {
		s := Segment{Flags: FlagACK, Seq: f.u, Ack: ack, Window: f.win,
			Opts: Options{HasTS: true, TSVal: f.tsNow(), TSEcr: f.peerTS, NSACK: len(blocks)}}
		copy(s.Opts.SACK[:], blocks)
		return s
	}
	f.send(f.dataSeg(p+1000, f.u, payload(1000, 1000)))
	f.expect(sack(p, SACKBlock{p + 1000, p + 2000}))
	f.send(f.dataSeg(p+3000, f.u, payload(3000, 1000)))
	f.expect(sack(p, SACKBlock{p + 3000, p + 4000}, SACKBlock{p + 1000, p + 2000}))
	f.send(f.dataSeg(p+5000, f.u, payload(5000, 500)))
	f.expect(sack(p, SACKBlock{p + 5000, p + 5500}, SACKBlock{p + 1000, p + 2000}, SACKBlock{p + 3000, p + 4000}))
	// A block that grows moves to the front.
	f.send(f.dataSeg(p+2000, f.u, payload(2000, 500)))
	f.expect(sack(p, SACKBlock{p + 1000, p + 2500}, SACKBlock{p + 3000, p + 4000}, SACKBlock{p + 5000, p + 5500}))
	if len(f.app.got) != 0 {
		t.Fatal("out-of-order data delivered")
	}
	// Filling the first hole: an immediate ACK up to the next one.
	f.send(f.dataSeg(p, f.u, payload(0, 1000)))
	f.expect(sack(p+2500, SACKBlock{p + 3000, p + 4000}, SACKBlock{p + 5000, p + 5500}))
	f.send(f.dataSeg(p+2500, f.u, payload(2500, 500)))
	f.expect(sack(p+4000, SACKBlock{p + 5000, p + 5500}))
	f.send(f.dataSeg(p+4000, f.u, payload(4000, 1000)))
	f.expect(sack(p + 5500))
	f.expectNothing()
	if string(f.app.got) != string(payload(0, 5500)) {
		t.Fatalf("delivered %d bytes out of order", len(f.app.got))
	}
}

// TestOutOfOrderNoSACK: without SACK the duplicate ACK carries no blocks.
func TestOutOfOrderNoSACK(t *testing.T) {
	f := established(t, Config{}, optsNone)
	f.send(f.dataSeg(f.p+100, f.u, payload(100, 100)))
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.send(f.dataSeg(f.p, f.u, payload(0, 100)))
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p + 200, Window: f.win})
	if string(f.app.got) != string(payload(0, 200)) {
		t.Fatalf("delivered %q", f.app.got)
	}
}

// TestOutOfOrderFIN: a FIN that arrives ahead of data is taken once the
// hole is filled.
func TestOutOfOrderFIN(t *testing.T) {
	f := established(t, Config{}, optsNone)
	f.send(Segment{Flags: FlagFIN | FlagACK, Seq: f.p + 100, Ack: f.u, Window: f.peerWnd, Payload: payload(100, 50)})
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.expectState(Established)
	f.send(f.dataSeg(f.p, f.u, payload(0, 100)))
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p + 151, Window: f.win})
	f.expectState(CloseWait)
	if f.app.peerClosed != 1 || string(f.app.got) != string(payload(0, 150)) {
		t.Fatalf("PeerClosed %d, got %d bytes", f.app.peerClosed, len(f.app.got))
	}
}

// TestRTOBackoff: without an answer the first segment is retransmitted
// after the RTO, then after twice that each time (RFC 6298 5.5), capped at
// MaxRTO; after DataRetries retransmissions the connection is reset and
// fails with ErrTimeout.
func TestRTOBackoff(t *testing.T) {
	f := newFixture(t, Config{MaxRTO: 1500 * time.Millisecond, DataRetries: 5})
	f.hsRTT = 100 * time.Millisecond
	f.passiveOpen(optsNone)
	// One sample of 100 ms: SRTT 100, RTTVAR 50, RTO = 100 + 4*50 = 300 ms.
	if f.c.rto != int64(300*time.Millisecond) {
		t.Fatalf("RTO %v after the handshake", time.Duration(f.c.rto))
	}
	f.c.Write([]byte("hello"))
	f.flush()
	data := Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("hello")}
	f.expect(data)
	for _, d := range []time.Duration{300, 600, 1200, 1500, 1500} {
		f.expectTimer(d*time.Millisecond, data)
	}
	f.counter(Timeouts, 5)
	f.counter(Retransmits, 5)
	f.expectTimer(1500*time.Millisecond, Segment{Flags: FlagRST, Seq: f.u + 5})
	f.expectGone()
	if !errors.Is(f.app.err, ErrTimeout) {
		t.Fatalf("err %v", f.app.err)
	}
}

// TestRTOInitial: before any RTT sample (a SYN-cookie connection has
// none) the RTO is InitialRTO (RFC 6298 2.1).
func TestRTOInitial(t *testing.T) {
	f := newFixture(t, Config{Backlog: 1, InitialRTO: 700 * time.Millisecond})
	f.synReceived(optsNone)
	f.id.RemotePort++
	f.send(Segment{Flags: FlagSYN, Seq: f.irs, Window: 65535, Opts: Options{MSS: 1460}})
	f.iss = f.pop().Seq
	f.send(f.ackSeg(f.irs+1, f.iss+1))
	f.c = f.s.Lookup(f.id)
	// The half-open connection goes, and its SYN-ACK timer with it.
	f.sendFrom(fxPeerPort, Segment{Flags: FlagRST, Seq: f.irs + 1})
	if f.s.Conns() != 1 {
		t.Fatalf("%d connections", f.s.Conns())
	}
	f.c.Write([]byte("x"))
	f.flush()
	data := Segment{Flags: FlagACK | FlagPSH, Seq: f.iss + 1, Ack: f.irs + 1, Window: 65535, Payload: []byte("x")}
	f.expect(data)
	f.expectTimer(700*time.Millisecond, data)
	f.expectTimer(1400*time.Millisecond, data)
}

// TestRTTSampleTimestamps: with timestamps every ACK that moves SND.UNA
// gives a sample from its TSecr, even for a retransmitted segment (RFC
// 7323 4.1, RFC 6298 2.2-2.3).
func TestRTTSampleTimestamps(t *testing.T) {
	f := newFixture(t, Config{})
	f.hsRTT = 100 * time.Millisecond
	f.passiveOpen(optsAll)
	if f.c.rto != int64(300*time.Millisecond) {
		t.Fatalf("RTO %v after the handshake", time.Duration(f.c.rto))
	}
	f.c.Write([]byte("hello"))
	f.flush()
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("hello")})
	f.expectTimer(300*time.Millisecond, Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("hello")})
	// The ACK echoes the retransmission's TSval 100 ms later: sample
	// 100 ms. SRTT 100, RTTVAR 3/4*50 = 37.5, RTO 250 ms.
	f.poll(100 * time.Millisecond)
	f.send(f.ackSeg(f.p, f.u+5))
	f.u += 5
	if f.c.rto != int64(250*time.Millisecond) {
		t.Fatalf("RTO %v, want 250ms", time.Duration(f.c.rto))
	}
	f.c.Write([]byte("again"))
	f.flush()
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("again")})
	f.expectTimer(250*time.Millisecond, Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("again")})
}

// TestRTTSampleKarn: without timestamps a retransmitted segment gives no
// sample (Karn's rule, RFC 6298 3): the backed-off RTO stays until a
// segment sent once is acknowledged.
func TestRTTSampleKarn(t *testing.T) {
	f := newFixture(t, Config{})
	f.hsRTT = 100 * time.Millisecond
	f.passiveOpen(optsNone)
	f.c.Write([]byte("hello"))
	f.flush()
	hello := Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("hello")}
	f.expect(hello)
	f.expectTimer(300*time.Millisecond, hello)
	f.poll(100 * time.Millisecond)
	f.send(f.ackSeg(f.p, f.u+5)) // ambiguous: no sample
	f.u += 5
	if f.c.rto != int64(600*time.Millisecond) {
		t.Fatalf("RTO %v, want the backed-off 600ms", time.Duration(f.c.rto))
	}
	f.c.Write([]byte("again"))
	f.flush()
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("again")})
	// Acknowledged after 100 ms without a retransmission: a sample.
	f.poll(100 * time.Millisecond)
	f.send(f.ackSeg(f.p, f.u+5))
	f.u += 5
	if f.c.rto != int64(250*time.Millisecond) {
		t.Fatalf("RTO %v, want 250ms", time.Duration(f.c.rto))
	}
	f.expectNothing()
}

// TestRTOGoBackN: after a timeout the window collapses to one segment
// (RFC 5681 3.1): the first segment is resent alone, the next ones as
// ACKs open the window again.
func TestRTOGoBackN(t *testing.T) {
	f := established(t, Config{}, optsNone) // RTO 200 ms
	f.c.Write(payload(0, 3*1460))
	f.flush()
	for i := range 3 {
		flags := FlagACK
		if i == 2 {
			flags |= FlagPSH
		}
		f.expect(Segment{Flags: flags, Seq: f.u + Seq(i*1460), Ack: f.p, Window: f.win, Payload: payload(i*1460, 1460)})
	}
	f.expectTimer(200*time.Millisecond, Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win, Payload: payload(0, 1460)})
	f.expectNothing()
	// The ACK of the first: cwnd 2 segments, the other two go again.
	f.send(f.ackSeg(f.p, f.u+1460))
	f.expect(Segment{Flags: FlagACK, Seq: f.u + 1460, Ack: f.p, Window: f.win, Payload: payload(1460, 1460)})
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u + 2920, Ack: f.p, Window: f.win, Payload: payload(2920, 1460)})
}

// TestPersist: with the peer's window closed and data waiting, a probe
// (SEQ=SND.UNA-1, no data) goes out after the RTO, then after twice that
// each time; when the window opens the data follows (RFC 9293 3.8.6.1,
// RFC 1122 4.2.2.17).
func TestPersist(t *testing.T) {
	f := newFixture(t, Config{})
	f.peerWnd = 0
	f.passiveOpen(optsNone) // RTO 200 ms
	if f.c.sndWnd != 0 {
		t.Fatalf("send window %d", f.c.sndWnd)
	}
	f.c.Write([]byte("waiting"))
	f.flush()
	f.expectNothing()
	probe := Segment{Flags: FlagACK, Seq: f.u - 1, Ack: f.p, Window: f.win}
	for _, d := range []time.Duration{200, 400, 800} {
		f.expectTimer(d*time.Millisecond, probe)
		// The peer answers, its window still closed.
		f.send(f.ackSeg(f.p, f.u))
		f.expectNothing()
	}
	f.counter(WindowProbes, 3)
	f.counter(Retransmits, 0)
	// The window opens: the data goes, the probes stop.
	f.peerWnd = 1000
	f.send(f.ackSeg(f.p, f.u))
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("waiting")})
	f.send(f.ackSeg(f.p, f.u+7))
	f.poll(5 * time.Second)
	f.expectNothing()
	f.counter(WindowProbes, 3)
}

// TestPersistAfterData: the peer's window fills and it acknowledges
// everything with a zero window: the rest of the data waits for the
// probes' answer.
func TestPersistAfterData(t *testing.T) {
	f := newFixture(t, Config{})
	f.peerWnd = 2920
	f.passiveOpen(optsNone)
	f.c.Write(payload(0, 4000))
	f.flush()
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win, Payload: payload(0, 1460)})
	f.expect(Segment{Flags: FlagACK, Seq: f.u + 1460, Ack: f.p, Window: f.win, Payload: payload(1460, 1460)})
	f.expectNothing()
	f.peerWnd = 0
	f.send(f.ackSeg(f.p, f.u+2920))
	f.expectNothing()
	probe := Segment{Flags: FlagACK, Seq: f.u + 2919, Ack: f.p, Window: f.win}
	f.expectTimer(200*time.Millisecond, probe)
	f.expectTimer(400*time.Millisecond, probe)
	f.peerWnd = 2920
	f.send(f.ackSeg(f.p, f.u+2920))
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u + 2920, Ack: f.p, Window: f.win, Payload: payload(2920, 1080)})
	f.send(f.ackSeg(f.p, f.u+4000))
	f.poll(time.Second)
	f.expectNothing()
	f.counter(WindowProbes, 2)
}

// TestKeepAlive: after KeepAlive idle a probe (SEQ=SND.NXT-1, no data)
// goes out every KeepInterval; KeepProbes unanswered probes reset the
// connection and close it with ErrTimeout (RFC 9293 3.8.4, RFC 1122
// 4.2.3.6).
func TestKeepAlive(t *testing.T) {
	for _, o := range []peerOpts{optsNone, optsAll} {
		t.Run(o.String(), func(t *testing.T) {
			f := established(t, Config{KeepAlive: 10 * time.Second, KeepInterval: time.Second, KeepProbes: 3}, o)
			probe := Segment{Flags: FlagACK, Seq: f.u - 1, Ack: f.p, Window: f.win}
			f.expectTimer(10*time.Second, probe)
			f.expectTimer(time.Second, probe)
			f.expectTimer(time.Second, probe)
			f.counter(KeepaliveProbes, 3)
			f.expectTimer(time.Second, Segment{Flags: FlagRST, Seq: f.u})
			f.expectGone()
			if f.app.closed != 1 || !errors.Is(f.app.err, ErrTimeout) {
				t.Fatalf("Closed %d, err %v", f.app.closed, f.app.err)
			}
		})
	}
}

// TestKeepAliveAnswered: an answered probe, or any segment, restarts the
// idle time.
func TestKeepAliveAnswered(t *testing.T) {
	f := established(t, Config{KeepAlive: 10 * time.Second, KeepInterval: time.Second, KeepProbes: 3}, optsAll)
	probe := func() Segment { return Segment{Flags: FlagACK, Seq: f.u - 1, Ack: f.p, Window: f.win} }
	f.expectTimer(10*time.Second, probe())
	f.send(f.ackSeg(f.p, f.u)) // the answer
	f.expectTimer(10*time.Second, probe())
	f.expectTimer(time.Second, probe())
	f.send(f.ackSeg(f.p, f.u))
	// Data from the peer 4 s later: idle counts from it.
	f.poll(4 * time.Second)
	f.send(f.dataSeg(f.p, f.u, []byte("x")))
	f.p++
	f.expectTimer(40*time.Millisecond, Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.expectTimer(10*time.Second-40*time.Millisecond, probe())
	f.counter(KeepaliveProbes, 4)
	if f.c.State() != Established {
		t.Fatal("closed")
	}
}

// TestKeepAliveOff: KeepAlive 0 (the default) sends nothing, however long
// the connection idles.
func TestKeepAliveOff(t *testing.T) {
	f := established(t, Config{}, optsNone)
	f.poll(3 * time.Hour / 1000) // all the virtual time the wheel needs to turn many times
	f.expectNothing()
	if f.s.NextDeadline() != 0 {
		t.Fatal("a timer is set on an idle connection")
	}
}

// TestNagle: a small segment waits while data is unacknowledged (RFC 896,
// RFC 9293 3.7.4); the writes in between join it. SetNoDelay(true) sends
// each write at once.
func TestNagle(t *testing.T) {
	f := established(t, Config{}, optsAll)
	f.c.Write([]byte("a"))
	f.flush()
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("a")})
	f.c.Write([]byte("b"))
	f.flush()
	f.expectNothing()
	f.c.Write([]byte("c"))
	f.flush()
	f.expectNothing()
	f.send(f.ackSeg(f.p, f.u+1))
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u + 1, Ack: f.p, Window: f.win, Payload: []byte("bc")})
	// A full segment is not held, its short tail is.
	mss := f.c.mss
	f.send(f.ackSeg(f.p, f.u+3))
	f.c.Write(payload(0, mss+10))
	f.flush()
	f.expect(Segment{Flags: FlagACK, Seq: f.u + 3, Ack: f.p, Window: f.win, Payload: payload(0, mss)})
	f.expectNothing()
	f.send(f.ackSeg(f.p, f.u+3+Seq(mss)))
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u + 3 + Seq(mss), Ack: f.p, Window: f.win, Payload: payload(mss, 10)})
}

// TestNoDelay: with SetNoDelay(true) each small write goes at once.
func TestNoDelay(t *testing.T) {
	f := established(t, Config{}, optsAll)
	f.c.SetNoDelay(true)
	for i, s := range []string{"a", "b", "c"} {
		f.c.Write([]byte(s))
		f.flush()
		f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u + Seq(i), Ack: f.p, Window: f.win, Payload: []byte(s)})
	}
}

// TestNoBuffer: when the Output has no buffer the segment is dropped and
// counted, and the retransmission timer sends it later: a local drop
// must not leave data, a SYN or a SYN-ACK waiting for an event that never
// comes.
func TestNoBuffer(t *testing.T) {
	t.Run("data", func(t *testing.T) {
		f := established(t, Config{}, optsNone) // RTO 200 ms
		f.out.refuse = true
		f.c.Write([]byte("x"))
		f.flush()
		f.counter(DropNoBuffer, 1)
		f.out.refuse = false
		f.expectTimer(200*time.Millisecond, Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("x")})
	})
	t.Run("SYN", func(t *testing.T) {
		f := newFixture(t, Config{})
		f.out.refuse = true
		f.connect()
		f.counter(DropNoBuffer, 1)
		f.out.refuse = false
		f.waitTimer(time.Second)
		f.expectSYN()
		f.send(Segment{Flags: FlagSYN | FlagACK, Seq: f.irs, Ack: f.iss + 1, Window: 65535, Opts: Options{MSS: 1460}})
		f.negotiated(optsNone)
		f.expect(Segment{Flags: FlagACK, Seq: f.iss + 1, Ack: f.irs + 1, Window: f.win})
		f.expectState(Established)
	})
	t.Run("SYN-ACK", func(t *testing.T) {
		f := newFixture(t, Config{})
		f.out.refuse = true
		f.send(Segment{Flags: FlagSYN, Seq: f.irs, Window: 65535, Opts: Options{MSS: 1460}})
		f.counter(DropNoBuffer, 1)
		f.out.refuse = false
		f.waitTimer(time.Second)
		f.iss = f.peek().Seq
		f.expect(Segment{Flags: FlagSYN | FlagACK, Seq: f.iss, Ack: f.irs + 1, Window: 65535, Opts: Options{MSS: 1460}})
	})
}

// TestBusyOutput: a segment the Output refuses for a moment (Busy: its
// TX queue is full) is not dropped and not left to a timer: the
// connection keeps its place on the list of those with output to do, and
// the first Flush that finds room sends it, with no timeout counted.
// Connections are served in the order they asked.
func TestBusyOutput(t *testing.T) {
	// held runs act on a connection with the Output busy: nothing goes
	// out, one wait is counted and nothing dropped.
	held := func(t *testing.T, act func(f *fixture)) *fixture {
		f := established(t, Config{}, optsNone)
		f.out.busy = true
		act(f)
		f.flush()
		f.expectNothing()
		f.counter(OutputWaits, 1)
		f.counter(DropNoBuffer, 0)
		if !f.s.Backlogged() {
			t.Fatal("Backlogged is false with a segment waiting")
		}
		return f
	}
	t.Run("data and FIN", func(t *testing.T) {
		f := held(t, func(f *fixture) {
			f.c.Write([]byte("x"))
			f.c.CloseWrite()
		})
		f.poll(time.Second) // many polls, the queue still full
		f.expectNothing()
		f.out.busy = false
		f.poll(fxStep)
		f.expect(Segment{Flags: FlagACK | FlagPSH | FlagFIN, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("x")})
		f.counter(Timeouts, 0)
		if f.s.Backlogged() {
			t.Fatal("Backlogged after everything went out")
		}
	})
	t.Run("SYN", func(t *testing.T) {
		f := newFixture(t, Config{})
		f.out.busy = true
		f.connect()
		f.counter(OutputWaits, 1)
		f.out.busy = false
		f.poll(fxStep)
		f.expectSYN()
		f.counter(Timeouts, 0)
	})
	t.Run("reset", func(t *testing.T) {
		f := held(t, func(f *fixture) { f.c.Abort() })
		f.out.busy = false
		f.poll(fxStep)
		f.expect(Segment{Flags: FlagRST, Seq: f.u})
		if f.s.Backlogged() {
			t.Fatal("Backlogged after the reset went out")
		}
	})
	t.Run("order", func(t *testing.T) {
		f := newFixture(t, Config{})
		ports := []uint16{40001, 40002, 40003}
		conns := make([]*Conn, len(ports))
		for i, p := range ports {
			f.sendFrom(p, Segment{Flags: FlagSYN, Seq: f.irs, Window: 65535, Opts: Options{MSS: 1460}})
			iss := f.pop().Seq
			f.sendFrom(p, Segment{Flags: FlagACK, Seq: f.irs + 1, Ack: iss + 1, Window: 65535})
			conns[i] = f.app.conn
		}
		f.out.busy = true
		for _, c := range conns {
			c.Write([]byte("x"))
		}
		f.flush()
		f.out.busy = false
		f.flush()
		got := f.out.unexpected()
		if len(got) != len(ports) {
			t.Fatalf("%d segments after the wait, want %d", len(got), len(ports))
		}
		for i, p := range ports {
			if got[i].id.RemotePort != p {
				t.Errorf("segment %d went to port %d, want %d (the order they asked in)", i, got[i].id.RemotePort, p)
			}
		}
		f.out.head = len(f.out.sent)
	})
}

// swsSmallWindow: the peer has offered a large window (MAX.SND.WND), then
// acknowledged our first 1460 bytes with a window of 100, too small to be
// worth a segment under silly-window avoidance.
func swsSmallWindow(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, Config{})
	f.peerWnd = 8000
	f.passiveOpen(optsNone)
	f.c.Write(payload(0, 1460))
	f.flush()
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: payload(0, 1460)})
	f.peerWnd = 100
	f.send(f.ackSeg(f.p, f.u+1460))
	return f
}

// TestSWSOverride: the peer first offers a large window (MAX.SND.WND),
// then acknowledges everything with a window too small to be worth a
// segment under silly-window avoidance. With nothing in flight no ACK
// will widen it, so after the override timeout the small segment goes
// (RFC 9293 3.8.6.2.1).
func TestSWSOverride(t *testing.T) {
	f := swsSmallWindow(t)
	f.c.Write(payload(1460, 3000))
	f.flush()
	f.expectNothing() // 100 bytes is under half of the largest window seen
	f.expectTimer(200*time.Millisecond, Segment{Flags: FlagACK, Seq: f.u + 1460, Ack: f.p, Window: f.win, Payload: payload(1460, 100)})
}

// TestSWSOverrideAfterDuplicateACK: the override timeout survives an ACK
// that changes nothing (a duplicate, or one riding on the peer's data):
// it used to be cleared by any ACK with a non-zero window, and with
// nothing in flight nothing armed it again, so the data a small window
// held back never went.
func TestSWSOverrideAfterDuplicateACK(t *testing.T) {
	f := swsSmallWindow(t)
	f.c.Write(payload(1460, 3000))
	f.flush()
	f.expectNothing()
	f.poll(50 * time.Millisecond)
	f.send(f.ackSeg(f.p, f.u+1460)) // the same ACK again
	f.expectNothing()
	f.expectTimer(150*time.Millisecond, Segment{Flags: FlagACK, Seq: f.u + 1460, Ack: f.p, Window: f.win, Payload: payload(1460, 100)})
}

// TestSWSOverrideRetransmit: a short segment the override timeout sent,
// when lost, is sent again on the retransmission timeout: silly-window
// avoidance holds back new data only. It used to hold the retransmission
// back too, and the connection timed out.
func TestSWSOverrideRetransmit(t *testing.T) {
	f := swsSmallWindow(t)
	f.u += 1460
	f.c.Write(payload(1460, 3000))
	f.flush()
	f.expectNothing()
	f.expectTimer(200*time.Millisecond, Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win, Payload: payload(1460, 100)})
	// Lost: the retransmission timer sends it again.
	f.expectTimer(200*time.Millisecond, Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win, Payload: payload(1460, 100)})
	f.send(f.ackSeg(f.p, f.u+100))
	f.expectState(Established)
	f.out.reset()
}

// TestShrunkWindow: the peer acknowledges nothing and closes its window
// while our data is in flight, then answers every probe with a zero
// window. The connection survives far more timeouts than DataRetries
// (RFC 1122 4.2.2.17) and sends its data once the window opens.
func TestShrunkWindow(t *testing.T) {
	f := newFixture(t, Config{DataRetries: 3, MaxRTO: time.Second})
	f.peerWnd = 10000
	f.passiveOpen(optsNone)
	f.c.Write(payload(0, 1000))
	f.flush()
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: payload(0, 1000)})
	f.peerWnd = 0
	f.send(f.ackSeg(f.p, f.u)) // nothing acknowledged, window shut
	f.expectNothing()
	for i := 0; i < 10; i++ {
		f.poll(time.Second + 10*time.Millisecond)
		probes := 0
		for len(f.out.unexpected()) > 0 {
			seg := f.pop()
			if seg.Seq != f.u-1 || len(seg.Payload) != 0 || seg.Flags != FlagACK {
				t.Fatalf("round %d: sent %v seq %d len %d, want a window probe", i, seg.Flags, seg.Seq-f.u, len(seg.Payload))
			}
			probes++
		}
		if probes == 0 {
			t.Fatalf("round %d: no probe", i)
		}
		f.send(f.ackSeg(f.p, f.u)) // still shut
	}
	f.expectState(Established)
	f.peerWnd = 10000
	f.send(f.ackSeg(f.p, f.u))
	f.poll(2 * time.Second)
	seg := f.pop()
	if seg.Seq != f.u || !bytes.Equal(seg.Payload, payload(0, 1000)) {
		t.Fatalf("after the window opened: seq %d len %d", seg.Seq-f.u, len(seg.Payload))
	}
	f.out.reset()
}

// TestSynTimeoutRTO: once a SYN has timed out, a handshake that gave no
// RTT sample starts the data with an RTO of 3 s, not the backed-off 2 s
// (RFC 6298 5.7), and the first data retransmission waits that long. A
// handshake that did not time out keeps its measured RTO.
func TestSynTimeoutRTO(t *testing.T) {
	t.Run("after a timeout", func(t *testing.T) {
		f := newFixture(t, Config{})
		f.synSent()
		f.waitTimer(time.Second)
		if syn := f.peek(); syn.Flags != FlagSYN || syn.Seq != f.iss {
			t.Fatalf("after 1 s: %v, want our SYN again", syn.Flags)
		} else {
			f.expect(syn)
		}
		// No timestamps: the retransmitted SYN gives no sample (Karn).
		f.send(Segment{Flags: FlagSYN | FlagACK, Seq: f.irs, Ack: f.iss + 1, Window: optsNone.synWindow(), Opts: f.synAckOpts(optsNone)})
		f.negotiated(optsNone)
		f.u, f.p = f.iss+1, f.irs+1
		f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
		f.expectState(Established)
		if rto := f.c.Info().RTO; rto != 3*time.Second {
			t.Fatalf("RTO %v after the handshake, want 3s", rto)
		}
		f.c.Write([]byte("abc"))
		f.flush()
		seg := Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("abc")}
		f.expect(seg)
		f.expectTimer(3*time.Second, seg)
	})
	t.Run("without", func(t *testing.T) {
		f := newFixture(t, Config{})
		f.activeOpen(optsNone)
		if rto := f.c.Info().RTO; rto >= time.Second {
			t.Fatalf("RTO %v after a prompt handshake, want the measured one", rto)
		}
	})
}

// TestWheelFarDeadlines: deadlines from a millisecond to an hour ahead,
// on a wheel advanced every millisecond (as an lcore does) and now and
// then after a long pause. Each fires once, within a tick after its
// deadline and never before it, and the wheel looks at each entry a
// bounded number of times, however far ahead it was (with one level, an
// entry a minute ahead was looked at once a second until due).
func TestWheelFarDeadlines(t *testing.T) {
	var w wheel
	w.init()
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 20000
	conns := make([]Conn, n)
	firedAt := make(map[*Conn]int64, n)
	now := int64(time.Second)
	w.advance(now, nil)
	for i := range conns {
		c := &conns[i]
		c.wSlot = -1
		var ahead time.Duration
		switch i % 4 {
		case 0:
			ahead = time.Duration(rng.Int64N(int64(time.Second)))
		case 1:
			ahead = time.Duration(rng.Int64N(int64(time.Minute)))
		case 2:
			ahead = time.Minute + time.Duration(rng.Int64N(int64(time.Minute)))
		default:
			ahead = time.Duration(rng.Int64N(int64(time.Hour)))
		}
		w.add(c, now+1+int64(ahead))
	}
	var step int64
	var fired int    // by the current advance
	var backlog bool // the advance before fired all it may: some due ones wait
	fire := func(c *Conn) {
		if _, ok := firedAt[c]; ok {
			t.Fatalf("fired twice")
		}
		firedAt[c] = now
		fired++
		// Late by at most the time since the last advance and a tick,
		// unless the advance before fired as many as one may.
		if late := now - c.wAt; late < 0 || !backlog && late > step+1<<wheelShift {
			t.Fatalf("entry due at %v fired at %v, %v after an advance of %v", time.Duration(c.wAt), time.Duration(now), time.Duration(late), time.Duration(step))
		}
	}
	end := now + int64(time.Hour) + int64(2*time.Second)
	for now < end {
		step = int64(time.Millisecond)
		if rng.IntN(1000) == 0 {
			step = rng.Int64N(int64(40 * time.Second)) // an lcore that slept
		}
		now += step
		fired = 0
		w.advance(now, fire)
		if fired > wheelFireMax {
			t.Fatalf("one advance fired %d, more than %d", fired, wheelFireMax)
		}
		backlog = fired == wheelFireMax
	}
	if len(firedAt) != n || w.count != 0 {
		t.Fatalf("%d of %d fired, %d left on the wheel", len(firedAt), n, w.count)
	}
	// Inner level once, outer level once or twice (a deadline beyond the
	// outer turn comes down and goes back out once), plus the passes of
	// the long pauses.
	if per := float64(w.seen) / n; per > 4 {
		t.Errorf("the wheel looked at each entry %.1f times on average, want at most 4", per)
	} else {
		t.Logf("entries looked at %.2f times each", per)
	}
}
