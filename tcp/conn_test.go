package tcp

import (
	"errors"
	"testing"
	"time"
)

// The transitions of RFC 9293 figure 5, each from a fixture in the state
// it starts from, with the exact segments in and out.

// TestPassiveOpen: LISTEN -> SYN-RECEIVED -> ESTABLISHED for each
// combination of options in the peer's SYN. The SYN-ACK carries our MSS
// and answers only the options offered (RFC 7323 1.3 and 2.2, RFC 2018
// 2); its window is the buffer, unscaled (RFC 7323 2.2); after the
// handshake the window is scaled only if both sides offered scaling.
func TestPassiveOpen(t *testing.T) {
	for _, o := range fxOptionSets {
		t.Run(o.String(), func(t *testing.T) {
			f := newFixture(t, Config{})
			f.passiveOpen(o) // checks the SYN-ACK exactly
			c := f.c
			wantMSS := 536
			if o.mss != 0 {
				wantMSS = min(int(o.mss), 1460)
			}
			if o.ts {
				wantMSS -= 12
			}
			if c.mss != wantMSS {
				t.Errorf("effective MSS %d, want %d", c.mss, wantMSS)
			}
			if c.tsOK != o.ts || c.sackOK != o.sack || c.wsOK != o.ws {
				t.Errorf("negotiated ts=%v sack=%v ws=%v", c.tsOK, c.sackOK, c.wsOK)
			}
			// The handshake's ACK set the send window, scaled.
			wantWnd := uint32(f.peerWnd)
			if o.ws {
				wantWnd <<= o.peerShift()
			}
			if c.sndWnd != wantWnd {
				t.Errorf("send window %d, want %d", c.sndWnd, wantWnd)
			}
			// The first data carries the window scaled by our shift.
			f.send(f.dataSeg(f.p, f.u, []byte("ping")))
			f.expectNothing() // delayed
			f.expectTimer(40*time.Millisecond, Segment{Flags: FlagACK, Seq: f.u, Ack: f.p + 4, Window: f.win})
			wantWin := uint16(65535)
			if o.ws {
				wantWin = 256 << 10 >> 3
			}
			if f.win != wantWin {
				t.Errorf("fixture window %d, want %d", f.win, wantWin)
			}
			if string(f.app.got) != "ping" {
				t.Errorf("received %q", f.app.got)
			}
			f.counter(PassiveOpens, 1)
		})
	}
}

// TestPassiveOpenSegments writes one handshake out in full, with every
// number literal but the ISNs.
func TestPassiveOpenSegments(t *testing.T) {
	f := newFixture(t, Config{})
	f.send(Segment{Flags: FlagSYN, Seq: f.irs, Window: 64240, Opts: Options{MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: 1000, HasWScale: true, WScale: 7}})
	iss := f.peek().Seq
	f.iss = iss
	ts := uint32(fxStart / 1e6)
	f.expect(Segment{Flags: FlagSYN | FlagACK, Seq: iss, Ack: f.irs + 1, Window: 65535,
		Opts: Options{MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: ts, TSEcr: 1000, HasWScale: true, WScale: 3}})
	f.send(Segment{Flags: FlagACK, Seq: f.irs + 1, Ack: iss + 1, Window: 502, Opts: Options{HasTS: true, TSVal: 1001, TSEcr: ts}})
	f.expectNothing()
	c := f.s.Lookup(f.id)
	if c == nil || c.State() != Established || c.sndWnd != 502<<7 {
		t.Fatalf("after the handshake: %v", c)
	}
	f.c = c
	c.Write([]byte("hello"))
	f.flush()
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: iss + 1, Ack: f.irs + 1, Window: 32768,
		Opts: Options{HasTS: true, TSVal: ts, TSEcr: 1001}, Payload: []byte("hello")})
}

// TestActiveOpen: CLOSED -> SYN-SENT -> ESTABLISHED. The SYN offers MSS,
// window scale, SACK and timestamps whatever the peer will do; the
// options in force are those both sides sent.
func TestActiveOpen(t *testing.T) {
	for _, o := range []peerOpts{optsNone, {}, optsAll, {mss: 1460, ws: true}, {mss: 1460, ts: true}} {
		t.Run(o.String(), func(t *testing.T) {
			f := newFixture(t, Config{})
			f.activeOpen(o)
			if f.c.tsOK != o.ts || f.c.sackOK != o.sack || f.c.wsOK != o.ws {
				t.Errorf("negotiated ts=%v sack=%v ws=%v", f.c.tsOK, f.c.sackOK, f.c.wsOK)
			}
			f.counter(ActiveOpens, 1)
			f.c.Write([]byte("GET /"))
			f.flush()
			f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("GET /")})
		})
	}
}

// TestActiveOpenSYNACKWindowNotScaled: the window of a SYN-ACK is never
// scaled (RFC 7323 2.2): a SYN-ACK with window 1000 and shift 4 allows
// 1000 bytes, not 16000; the next ACK's window is scaled.
func TestActiveOpenSYNACKWindowNotScaled(t *testing.T) {
	f := newFixture(t, Config{})
	o := peerOpts{mss: 1460, ws: true, shift: 4, wnd: 1000}
	f.activeOpen(o)
	if f.c.sndWnd != 1000 {
		t.Fatalf("send window %d after the SYN-ACK, want 1000", f.c.sndWnd)
	}
	f.c.Write(payload(0, 3000))
	f.flush()
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win, Payload: payload(0, 1000)})
	f.expectNothing()
	// The ACK's window field 1000 now means 16000 bytes.
	f.send(Segment{Flags: FlagACK, Seq: f.p, Ack: f.u + 1000, Window: 1000})
	f.expect(Segment{Flags: FlagACK, Seq: f.u + 1000, Ack: f.p, Window: f.win, Payload: payload(1000, 1460)})
	f.expectNothing() // Nagle: the last 540 bytes wait for the ACK
	f.send(Segment{Flags: FlagACK, Seq: f.p, Ack: f.u + 2460, Window: 1000})
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u + 2460, Ack: f.p, Window: f.win, Payload: payload(2460, 540)})
}

// TestPassiveOpenSYNWindowNotScaled: the same for the peer's SYN on a
// passive open: its window is taken as is until the handshake's ACK.
func TestPassiveOpenSYNWindowNotScaled(t *testing.T) {
	f := newFixture(t, Config{})
	f.synReceived(peerOpts{mss: 1460, ws: true, shift: 4, wnd: 1000})
	if f.c.sndWnd != 1000 {
		t.Fatalf("send window %d after the SYN, want 1000", f.c.sndWnd)
	}
	f.send(Segment{Flags: FlagACK, Seq: f.p, Ack: f.u, Window: 100})
	if f.c.sndWnd != 1600 {
		t.Fatalf("send window %d after the ACK (100 << 4), want 1600", f.c.sndWnd)
	}
	f.c.Write(payload(0, 3000))
	f.flush()
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win, Payload: payload(0, 1460)})
	f.expectNothing() // 140 bytes left in the window: less than half of it (sender SWS avoidance)
}

// TestSimultaneousOpen is RFC 9293 figure 8: both sides send SYN, each
// answers the other's with SYN-ACK, and each goes from SYN-RECEIVED to
// ESTABLISHED on the other's SYN-ACK.
func TestSimultaneousOpen(t *testing.T) {
	f := newFixture(t, Config{})
	f.synSent() // line 2: our SYN
	x, y := f.iss, f.irs
	peer := optsAll.synOptions(f.peerTS)
	// Line 3: the peer's SYN crosses ours; we answer with SYN-ACK,
	// our SYN again (line 5), offering what we offered before.
	f.send(Segment{Flags: FlagSYN, Seq: y, Window: 65535, Opts: peer})
	f.expectState(SynReceived)
	f.expect(Segment{Flags: FlagSYN | FlagACK, Seq: x, Ack: y + 1, Window: 65535, Opts: f.ourSYNOpts(optsAll, false)})
	if f.app.opened != 0 {
		t.Fatal("Open before the SYN was acknowledged")
	}
	// Line 6: the peer's SYN-ACK: its SYN is old news, its ACK is not.
	f.negotiated(optsAll)
	f.send(Segment{Flags: FlagSYN | FlagACK, Seq: y, Ack: x + 1, Window: 65535, Opts: Options{HasTS: true, TSVal: f.peerTS, TSEcr: f.ourTS}})
	f.expectState(Established)
	f.expectNothing()
	if f.app.opened != 1 {
		t.Fatal("Open not called")
	}
	// Both sides are synchronized: data flows.
	f.send(f.dataSeg(y+1, x+1, []byte("a")))
	f.send(f.dataSeg(y+2, x+1, []byte("b")))
	f.expect(Segment{Flags: FlagACK, Seq: x + 1, Ack: y + 3, Window: f.win})
}

// TestSimultaneousOpenPeerACK: the same, when the peer's answer to our
// SYN-ACK is a plain ACK (the peer saw our SYN-ACK first).
func TestSimultaneousOpenPeerACK(t *testing.T) {
	f := newFixture(t, Config{})
	f.synSent()
	f.send(Segment{Flags: FlagSYN, Seq: f.irs, Window: 65535, Opts: optsNone.synOptions(0)})
	f.expectState(SynReceived)
	// The SYN-ACK answers only what the peer's SYN offered (RFC 7323
	// 1.3, 3.2), like a passive open's.
	f.expect(Segment{Flags: FlagSYN | FlagACK, Seq: f.iss, Ack: f.irs + 1, Window: 65535, Opts: Options{MSS: 1460}})
	f.negotiated(optsNone)
	f.send(f.ackSeg(f.irs+1, f.iss+1))
	f.expectNothing()
	f.expectState(Established)
	if f.app.opened != 1 {
		t.Fatal("Open not called")
	}
}

// TestSynSentClose: CLOSE in SYN-SENT deletes the connection; nothing is
// sent (RFC 9293 3.10.4).
func TestSynSentClose(t *testing.T) {
	f := newFixture(t, Config{})
	f.synSent()
	f.c.Close()
	f.flush()
	f.expectNothing()
	f.expectGone()
	if f.app.closed != 1 || f.app.err != nil {
		t.Fatalf("Closed %d times, err %v", f.app.closed, f.app.err)
	}
}

// TestSynSentRefused: SYN-SENT, a RST acknowledging our SYN: connection
// refused (RFC 9293 3.10.7.3).
func TestSynSentRefused(t *testing.T) {
	f := newFixture(t, Config{})
	f.synSent()
	f.send(Segment{Flags: FlagRST | FlagACK, Ack: f.iss + 1})
	f.expectNothing()
	f.expectGone()
	if f.app.closed != 1 || !errors.Is(f.app.err, ErrRefused) {
		t.Fatalf("Closed %d times, err %v", f.app.closed, f.app.err)
	}
}

// TestSynSentBadACK: SYN-SENT, a segment acknowledging something we never
// sent gets <SEQ=SEG.ACK><CTL=RST> and is dropped; a RST with a bad ACK is
// ignored (RFC 9293 3.10.7.3).
func TestSynSentBadACK(t *testing.T) {
	f := newFixture(t, Config{})
	f.synSent()
	f.send(Segment{Flags: FlagSYN | FlagACK, Seq: f.irs, Ack: f.iss + 5, Window: 65535})
	f.expect(Segment{Flags: FlagRST, Seq: f.iss + 5})
	f.send(Segment{Flags: FlagRST | FlagACK, Seq: f.irs, Ack: f.iss})
	f.expectNothing()
	f.expectState(SynSent)
	f.send(Segment{Flags: FlagRST, Seq: f.irs}) // no ACK: ignored
	f.expectNothing()
	f.expectState(SynSent)
}

// TestSynSentRetransmit: the SYN is retransmitted after the initial RTO,
// then after twice that.
func TestSynSentRetransmit(t *testing.T) {
	f := newFixture(t, Config{})
	f.synSent()
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		f.waitTimer(d)
		f.expect(Segment{Flags: FlagSYN, Seq: f.iss, Window: 65535, Opts: f.ourSYNOpts(peerOpts{}, true)})
	}
	f.counter(Timeouts, 3)
}

// TestSynSentTimeout: after SynRetries retransmissions the connection
// fails with ErrTimeout, without a reset.
func TestSynSentTimeout(t *testing.T) {
	f := newFixture(t, Config{SynRetries: 2})
	f.synSent()
	for _, d := range []time.Duration{time.Second, 2 * time.Second} {
		f.waitTimer(d)
		f.expect(Segment{Flags: FlagSYN, Seq: f.iss, Window: 65535, Opts: f.ourSYNOpts(peerOpts{}, true)})
	}
	f.poll(4*time.Second + fxSlack)
	f.expectNothing()
	f.expectGone()
	if f.app.closed != 1 || !errors.Is(f.app.err, ErrTimeout) {
		t.Fatalf("Closed %d, err %v", f.app.closed, f.app.err)
	}
}

// TestSynReceivedRetransmitSYNACK: a retransmitted SYN in SYN-RECEIVED is
// answered with the SYN-ACK again.
func TestSynReceivedRetransmitSYNACK(t *testing.T) {
	f := newFixture(t, Config{})
	f.synReceived(optsNone)
	f.send(Segment{Flags: FlagSYN, Seq: f.irs, Window: 65535, Opts: optsNone.synOptions(0)})
	f.expect(Segment{Flags: FlagSYN | FlagACK, Seq: f.iss, Ack: f.irs + 1, Window: 65535, Opts: Options{MSS: 1460}})
	f.expectState(SynReceived)
	if f.s.Conns() != 1 {
		t.Fatalf("%d connections", f.s.Conns())
	}
}

// TestSynReceivedRST: a RST in SYN-RECEIVED from a passive open returns
// to LISTEN: the connection goes, the application never heard of it.
func TestSynReceivedRST(t *testing.T) {
	f := newFixture(t, Config{})
	f.synReceived(optsNone)
	f.send(Segment{Flags: FlagRST, Seq: f.irs + 1})
	f.expectNothing()
	f.expectGone()
	if f.app.opened != 0 || f.app.closed != 0 {
		t.Fatalf("Open %d, Closed %d", f.app.opened, f.app.closed)
	}
	// The listener still listens.
	f.synReceived(optsNone)
}

// TestSynReceivedBadACK: an ACK of something other than our SYN in
// SYN-RECEIVED gets <SEQ=SEG.ACK><CTL=RST> (RFC 9293 3.10.7.4).
func TestSynReceivedBadACK(t *testing.T) {
	f := newFixture(t, Config{})
	f.synReceived(optsNone)
	f.send(f.ackSeg(f.p, f.u+10))
	f.expect(Segment{Flags: FlagRST, Seq: f.u + 10})
	f.expectState(SynReceived)
}

// TestSynReceivedTimeout: an unanswered SYN-ACK is retransmitted
// SynRetries times, then the half-open connection goes.
func TestSynReceivedTimeout(t *testing.T) {
	f := newFixture(t, Config{SynRetries: 2})
	f.synReceived(optsNone)
	sa := Segment{Flags: FlagSYN | FlagACK, Seq: f.iss, Ack: f.irs + 1, Window: 65535, Opts: Options{MSS: 1460}}
	f.expectTimer(time.Second, sa)
	f.expectTimer(2*time.Second, sa)
	f.poll(4*time.Second + fxSlack)
	f.expectNothing()
	f.expectGone()
	if f.app.closed != 0 {
		t.Fatal("Closed for a connection never opened")
	}
}

// TestSynReceivedClose: CLOSE in SYN-RECEIVED (reachable through a
// simultaneous open) sends FIN and enters FIN-WAIT-1 (RFC 9293 3.10.4);
// the peer's ACK of SYN and FIN leads to FIN-WAIT-2.
func TestSynReceivedClose(t *testing.T) {
	f := newFixture(t, Config{})
	f.synSent()
	f.send(Segment{Flags: FlagSYN, Seq: f.irs, Window: 65535, Opts: optsNone.synOptions(0)})
	f.expect(Segment{Flags: FlagSYN | FlagACK, Seq: f.iss, Ack: f.irs + 1, Window: 65535, Opts: Options{MSS: 1460}})
	f.negotiated(optsNone)
	f.expectState(SynReceived)
	f.c.CloseWrite()
	f.flush()
	f.expectState(FinWait1)
	f.expect(Segment{Flags: FlagFIN | FlagACK, Seq: f.iss + 1, Ack: f.irs + 1, Window: f.win})
	f.send(f.ackSeg(f.irs+1, f.iss+2))
	f.expectNothing()
	f.expectState(FinWait2)
	f.send(Segment{Flags: FlagFIN | FlagACK, Seq: f.irs + 1, Ack: f.iss + 2, Window: f.peerWnd})
	f.expect(Segment{Flags: FlagACK, Seq: f.iss + 2, Ack: f.irs + 2, Window: f.win})
	f.expectState(TimeWait)
}

// TestEstablishedClose: ESTABLISHED -> FIN-WAIT-1 -> FIN-WAIT-2 ->
// TIME-WAIT -> CLOSED, the active close of RFC 9293 figure 12.
func TestEstablishedClose(t *testing.T) {
	for _, o := range []peerOpts{optsNone, optsAll} {
		t.Run(o.String(), func(t *testing.T) {
			f := established(t, Config{TimeWait: 10 * time.Second}, o)
			f.finWait1()
			f.finWait2AfterFinWait1()
			// FIN-WAIT-2 still receives.
			f.send(f.dataSeg(f.p, f.u, []byte("late")))
			f.p += 4
			f.expectTimer(40*time.Millisecond, Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
			f.send(Segment{Flags: FlagFIN | FlagACK, Seq: f.p, Ack: f.u, Window: f.peerWnd})
			f.p++
			f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
			f.expectState(TimeWait)
			if f.app.closed != 1 || f.app.err != nil || f.app.peerClosed != 1 {
				t.Fatalf("Closed %d (err %v), PeerClosed %d", f.app.closed, f.app.err, f.app.peerClosed)
			}
			if string(f.app.got) != "late" {
				t.Fatalf("received %q", f.app.got)
			}
			// TIME-WAIT -> CLOSED after 2*MSL; the entry is freed.
			f.poll(10*time.Second - fxStep)
			if f.s.Conns() != 1 {
				t.Fatal("TIME-WAIT ended early")
			}
			f.poll(fxSlack)
			f.expectNothing()
			f.expectGone()
			f.counter(ConnsClosed, 1)
		})
	}
}

// finWait2AfterFinWait1 is the FIN-WAIT-1 -> FIN-WAIT-2 step alone.
func (f *fixture) finWait2AfterFinWait1() {
	f.t.Helper()
	f.send(f.ackSeg(f.p, f.u))
	f.expectNothing()
	f.expectState(FinWait2)
}

// TestFinWait1FinAck: FIN-WAIT-1, the peer's FIN acknowledging ours:
// straight to TIME-WAIT (RFC 9293 3.10.7.4, eighth step).
func TestFinWait1FinAck(t *testing.T) {
	f := established(t, Config{}, optsAll)
	f.finWait1()
	f.send(Segment{Flags: FlagFIN | FlagACK, Seq: f.p, Ack: f.u, Window: f.peerWnd})
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p + 1, Window: f.win})
	f.expectState(TimeWait)
}

// TestSimultaneousClose is RFC 9293 figure 13: both FINs cross; FIN-WAIT-1
// -> CLOSING -> TIME-WAIT.
func TestSimultaneousClose(t *testing.T) {
	for _, o := range []peerOpts{optsNone, optsAll} {
		t.Run(o.String(), func(t *testing.T) {
			f := established(t, Config{}, o)
			f.closing()
			if f.app.peerClosed != 1 || f.app.closed != 0 {
				t.Fatalf("PeerClosed %d, Closed %d", f.app.peerClosed, f.app.closed)
			}
			// The peer's ACK of our FIN.
			f.send(f.ackSeg(f.p, f.u))
			f.expectNothing()
			f.expectState(TimeWait)
			if f.app.closed != 1 || f.app.err != nil {
				t.Fatalf("Closed %d, err %v", f.app.closed, f.app.err)
			}
		})
	}
}

// TestSimultaneousCloseTable is figure 13 as an exchange table.
func TestSimultaneousCloseTable(t *testing.T) {
	f := established(t, Config{}, optsNone)
	x, y := f.u, f.p // SEQ=100 and SEQ=300 of the figure
	for i, r := range []struct {
		close bool     // line: the application closes
		in    *Segment // line: the peer's segment arrives
		out   []Segment
		state State
	}{
		{close: true, out: []Segment{{Flags: FlagFIN | FlagACK, Seq: x, Ack: y, Window: f.win}}, state: FinWait1},
		{in: &Segment{Flags: FlagFIN | FlagACK, Seq: y, Ack: x, Window: 65535}, out: []Segment{{Flags: FlagACK, Seq: x + 1, Ack: y + 1, Window: f.win}}, state: Closing},
		{in: &Segment{Flags: FlagACK, Seq: y + 1, Ack: x + 1, Window: 65535}, state: TimeWait},
	} {
		if r.close {
			f.c.Close()
			f.flush()
		} else {
			f.send(*r.in)
		}
		for _, w := range r.out {
			f.expect(w)
		}
		f.expectNothing()
		if f.c.State() != r.state {
			t.Fatalf("line %d: state %v, want %v", i+1, f.c.State(), r.state)
		}
	}
}

// TestCloseWaitLastAck: ESTABLISHED -> CLOSE-WAIT (the peer's FIN) ->
// LAST-ACK (our close) -> CLOSED (the ACK of our FIN): the passive close.
func TestCloseWaitLastAck(t *testing.T) {
	for _, o := range []peerOpts{optsNone, optsAll} {
		t.Run(o.String(), func(t *testing.T) {
			f := established(t, Config{}, o)
			f.closeWait()
			// CLOSE-WAIT still sends.
			f.c.Write([]byte("bye"))
			f.flush()
			f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p, Window: f.win, Payload: []byte("bye")})
			f.u += 3
			f.send(f.ackSeg(f.p, f.u))
			f.expectNothing()
			f.c.Close()
			f.flush()
			f.expect(Segment{Flags: FlagFIN | FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
			f.u++
			f.expectState(LastAck)
			f.send(f.ackSeg(f.p, f.u))
			f.expectNothing()
			f.expectGone()
			if f.app.closed != 1 || f.app.err != nil {
				t.Fatalf("Closed %d, err %v", f.app.closed, f.app.err)
			}
		})
	}
}

// TestLastAckRetransmitsFIN: in LAST-ACK an unacknowledged FIN is
// retransmitted on the RTO. (The fixture's handshake took no time: the
// RTT sample of 0 puts the RTO at MinRTO, 200 ms.)
func TestLastAckRetransmitsFIN(t *testing.T) {
	f := established(t, Config{}, optsNone)
	f.lastAck()
	f.expectTimer(200*time.Millisecond, Segment{Flags: FlagFIN | FlagACK, Seq: f.u - 1, Ack: f.p, Window: f.win})
	f.send(f.ackSeg(f.p, f.u))
	f.expectGone()
}

// TestFinWait1RetransmitsFIN: the same in FIN-WAIT-1, and FIN-WAIT-1
// survives the peer's ACK of older data.
func TestFinWait1RetransmitsFIN(t *testing.T) {
	f := established(t, Config{}, optsNone)
	f.finWait1()
	f.expectTimer(200*time.Millisecond, Segment{Flags: FlagFIN | FlagACK, Seq: f.u - 1, Ack: f.p, Window: f.win})
	f.send(f.ackSeg(f.p, f.u-1)) // the ACK of nothing new
	f.expectNothing()
	f.expectState(FinWait1)
	f.send(f.ackSeg(f.p, f.u))
	f.expectState(FinWait2)
}

// TestClosingRetransmitsFIN: CLOSING without the ACK of our FIN: the FIN
// again on the RTO; then the ACK: TIME-WAIT.
func TestClosingRetransmitsFIN(t *testing.T) {
	f := established(t, Config{}, optsNone)
	f.closing()
	f.expectTimer(200*time.Millisecond, Segment{Flags: FlagFIN | FlagACK, Seq: f.u - 1, Ack: f.p, Window: f.win})
	f.send(f.ackSeg(f.p, f.u))
	f.expectState(TimeWait)
}

// TestHandshakeACKWithData: the ACK that completes a passive open may
// carry data (and a FIN): Open, then Recv, then PeerClosed.
func TestHandshakeACKWithData(t *testing.T) {
	f := newFixture(t, Config{})
	f.synReceived(optsAll)
	f.send(Segment{Flags: FlagACK | FlagPSH | FlagFIN, Seq: f.p, Ack: f.u, Window: f.peerWnd, Payload: []byte("GET")})
	f.p += 4
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.expectState(CloseWait)
	if f.app.opened != 1 || string(f.app.got) != "GET" || f.app.peerClosed != 1 {
		t.Fatalf("Open %d, got %q, PeerClosed %d", f.app.opened, f.app.got, f.app.peerClosed)
	}
}

// TestWriteInSynSent: data written before the handshake completes goes
// with the ACK of the SYN-ACK, in one segment.
func TestWriteInSynSent(t *testing.T) {
	f := newFixture(t, Config{})
	f.synSent()
	if n := f.c.Write([]byte("hi")); n != 2 {
		t.Fatalf("Write took %d", n)
	}
	f.flush()
	f.expectNothing()
	f.send(Segment{Flags: FlagSYN | FlagACK, Seq: f.irs, Ack: f.iss + 1, Window: 65535, Opts: f.synAckOpts(optsNone)})
	f.negotiated(optsNone)
	f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.iss + 1, Ack: f.irs + 1, Window: f.win, Payload: []byte("hi")})
	f.expectNothing()
}

// TestSYNACKWithData: data and FIN on the peer's SYN-ACK are taken.
func TestSYNACKWithData(t *testing.T) {
	f := newFixture(t, Config{})
	f.synSent()
	f.send(Segment{Flags: FlagSYN | FlagACK | FlagFIN, Seq: f.irs, Ack: f.iss + 1, Window: 65535, Opts: Options{MSS: 1460}, Payload: []byte("banner")})
	f.negotiated(optsNone)
	f.expect(Segment{Flags: FlagACK, Seq: f.iss + 1, Ack: f.irs + 8, Window: f.win})
	f.expectState(CloseWait)
	if string(f.app.got) != "banner" || f.app.peerClosed != 1 {
		t.Fatalf("got %q, PeerClosed %d", f.app.got, f.app.peerClosed)
	}
}

// TestStateDiagram walks every arc of RFC 9293 figure 5 that pmd's API
// can take, each from a fixture in the state it leaves, checking the
// segments sent and the state reached. (LISTEN -> SYN-SENT and LISTEN ->
// CLOSED have no API: a listener neither sends nor closes.)
func TestStateDiagram(t *testing.T) {
	for _, tc := range []struct {
		arc string
		run func(f *fixture)
	}{
		{"CLOSED -> SYN-SENT: active OPEN, snd SYN", func(f *fixture) { f.synSent() }},
		{"LISTEN -> SYN-RCVD: rcv SYN, snd SYN,ACK", func(f *fixture) { f.synReceived(optsAll) }},
		{"SYN-SENT -> SYN-RCVD: rcv SYN, snd SYN,ACK", func(f *fixture) {
			f.synSent()
			f.send(Segment{Flags: FlagSYN, Seq: f.irs, Window: 65535, Opts: Options{MSS: 1460}})
			f.expect(Segment{Flags: FlagSYN | FlagACK, Seq: f.iss, Ack: f.irs + 1, Window: 65535, Opts: Options{MSS: 1460}})
			f.expectState(SynReceived)
		}},
		{"SYN-SENT -> ESTAB: rcv SYN,ACK, snd ACK", func(f *fixture) { f.activeOpen(optsAll) }},
		{"SYN-SENT -> CLOSED: CLOSE", func(f *fixture) {
			f.synSent()
			f.c.Close()
			f.flush()
			f.expectNothing()
			f.expectGone()
		}},
		{"SYN-RCVD -> ESTAB: rcv ACK of SYN", func(f *fixture) { f.passiveOpen(optsAll) }},
		{"SYN-RCVD -> LISTEN: rcv RST", func(f *fixture) {
			f.synReceived(optsNone)
			f.send(Segment{Flags: FlagRST, Seq: f.p})
			f.expectNothing()
			f.expectGone()
		}},
		{"SYN-RCVD -> FIN-WAIT-1: CLOSE, snd FIN", func(f *fixture) {
			f.synSent()
			f.send(Segment{Flags: FlagSYN, Seq: f.irs, Window: 65535, Opts: Options{MSS: 1460}})
			f.pop()
			f.negotiated(optsNone)
			f.c.Close()
			f.flush()
			f.expect(Segment{Flags: FlagFIN | FlagACK, Seq: f.iss + 1, Ack: f.irs + 1, Window: f.win})
			f.expectState(FinWait1)
		}},
		{"ESTAB -> FIN-WAIT-1: CLOSE, snd FIN", func(f *fixture) { f.passiveOpen(optsAll); f.finWait1() }},
		{"ESTAB -> CLOSE-WAIT: rcv FIN, snd ACK", func(f *fixture) { f.passiveOpen(optsAll); f.closeWait() }},
		{"FIN-WAIT-1 -> FIN-WAIT-2: rcv ACK of FIN", func(f *fixture) { f.passiveOpen(optsAll); f.finWait2() }},
		{"FIN-WAIT-1 -> CLOSING: rcv FIN, snd ACK", func(f *fixture) { f.passiveOpen(optsAll); f.closing() }},
		{"FIN-WAIT-2 -> TIME-WAIT: rcv FIN, snd ACK", func(f *fixture) { f.passiveOpen(optsAll); f.timeWait() }},
		{"CLOSING -> TIME-WAIT: rcv ACK of FIN", func(f *fixture) {
			f.passiveOpen(optsAll)
			f.closing()
			f.send(f.ackSeg(f.p, f.u))
			f.expectNothing()
			f.expectState(TimeWait)
		}},
		{"TIME-WAIT -> CLOSED: timeout 2MSL", func(f *fixture) {
			f.passiveOpen(optsAll)
			f.timeWait()
			f.poll(f.s.cfg.TimeWait + fxSlack)
			f.expectNothing()
			f.expectGone()
		}},
		{"CLOSE-WAIT -> LAST-ACK: CLOSE, snd FIN", func(f *fixture) { f.passiveOpen(optsAll); f.lastAck() }},
		{"LAST-ACK -> CLOSED: rcv ACK of FIN", func(f *fixture) {
			f.passiveOpen(optsAll)
			f.lastAck()
			f.send(f.ackSeg(f.p, f.u))
			f.expectNothing()
			f.expectGone()
		}},
	} {
		t.Run(tc.arc, func(t *testing.T) {
			tc.run(newFixture(t, Config{}))
		})
	}
}
