package tcp

import (
	"fmt"
	"testing"
)

// Loss recovery: fast retransmit on the third duplicate ACK (RFC 5681
// 3.2), NewReno partial ACKs (RFC 6582), and SACK-based recovery (RFC
// 6675).

// sendFive writes five full segments and checks they all go out (the
// initial window is ten), returning the segment size.
func (f *fixture) sendFive() int {
	f.t.Helper()
	mss := f.c.mss
	f.c.Write(payload(0, 5*mss))
	f.flush()
	for i := range 5 {
		flags := FlagACK
		if i == 4 {
			flags |= FlagPSH
		}
		f.expect(Segment{Flags: flags, Seq: f.u + Seq(i*mss), Ack: f.p, Window: f.win, Payload: payload(i*mss, mss)})
	}
	f.expectNothing()
	return mss
}

// segment i of sendFive's, as retransmitted.
func (f *fixture) segN(i, mss int) Segment {
	flags := FlagACK
	if i == 4 {
		flags |= FlagPSH
	}
	return Segment{Flags: flags, Seq: f.u + Seq(i*mss), Ack: f.p, Window: f.win, Payload: payload(i*mss, mss)}
}

// dupAck is the peer's duplicate ACK of SND.UNA with SACK blocks.
func (f *fixture) dupAck(ack Seq, blocks ...SACKBlock) Segment {
	s := f.ackSeg(f.p, ack)
	s.Opts.NSACK = len(blocks)
	copy(s.Opts.SACK[:], blocks)
	return s
}

// TestFastRetransmit: the first segment is lost; the first two duplicate
// ACKs send nothing, the third retransmits it (RFC 5681 3.2); the ACK of
// everything ends recovery. Run for connections whose ISNs lie in both
// halves of the sequence space (RFC 6582's recover starts at the ISN).
func TestFastRetransmit(t *testing.T) {
	halves := [2]bool{}
	for port := uint16(40000); port < 40008; port++ {
		t.Run(fmt.Sprint(port), func(t *testing.T) {
			f := newFixture(t, Config{})
			f.id.RemotePort = port
			f.passiveOpen(optsNone)
			halves[f.iss>>31] = true
			fastRetransmit(t, f)
		})
	}
	if !halves[0] || !halves[1] {
		t.Errorf("the ISNs did not cover both halves of the sequence space: %v", halves)
	}
}

func fastRetransmit(t *testing.T, f *fixture) {
	mss := f.sendFive()
	for range 2 {
		f.send(f.dupAck(f.u))
		f.expectNothing()
	}
	f.counter(FastRetransmits, 0)
	f.send(f.dupAck(f.u))
	f.expect(f.segN(0, mss))
	f.expectNothing()
	f.counter(DupAcks, 3)
	f.counter(FastRetransmits, 1)
	f.counter(Retransmits, 1)
	// A fourth duplicate inflates the window; nothing new to send.
	f.send(f.dupAck(f.u))
	f.expectNothing()
	f.send(f.ackSeg(f.p, f.u+Seq(5*mss)))
	f.expectNothing()
	if f.c.inRecovery {
		t.Fatal("still in recovery")
	}
	// The window after recovery: ssthresh = 5 segments / 2.
	if f.c.cwnd != uint32(mss) || f.c.ssthresh != uint32(5*mss/2) {
		t.Fatalf("cwnd %d ssthresh %d", f.c.cwnd, f.c.ssthresh)
	}
}

// TestDupAckRules: ACKs that carry data, move the window or come with
// nothing outstanding are not duplicates (RFC 5681 2).
func TestDupAckRules(t *testing.T) {
	f := established(t, Config{NoDelayedAck: true}, optsNone)
	f.sendFive()
	f.send(f.dupAck(f.u))
	w := f.ackSeg(f.p, f.u)
	w.Window--
	f.send(w) // a window update
	f.send(f.dataSeg(f.p, f.u, []byte("x")))
	f.p++
	f.expect(Segment{Flags: FlagACK, Seq: f.u + Seq(5*f.c.mss), Ack: f.p, Window: f.win})
	f.counter(DupAcks, 1)
	f.expectNothing()
}

// TestNewRenoPartialACK: the first and third segments are lost. The third
// duplicate ACK retransmits the first; the ACK that follows covers only up
// to the third (a partial ACK) and retransmits it at once (RFC 6582 3.2
// step 4); the ACK of everything ends recovery.
func TestNewRenoPartialACK(t *testing.T) {
	f := established(t, Config{}, optsNone)
	mss := f.sendFive()
	for range 3 {
		f.send(f.dupAck(f.u)) // segments 2, 4 and 5 arrived
	}
	f.expect(f.segN(0, mss))
	f.expectNothing()
	f.send(f.ackSeg(f.p, f.u+Seq(2*mss)))
	f.expect(f.segN(2, mss))
	f.expectNothing()
	if !f.c.inRecovery {
		t.Fatal("recovery ended on a partial ACK")
	}
	f.send(f.ackSeg(f.p, f.u+Seq(5*mss)))
	f.expectNothing()
	if f.c.inRecovery {
		t.Fatal("still in recovery")
	}
	f.counter(FastRetransmits, 1)
	f.counter(Retransmits, 2)
}

// TestSACKFastRetransmit: the same loss with SACK: each duplicate ACK
// reports one more segment; the third retransmits the first (RFC 6675 5)
// and nothing else is missing.
func TestSACKFastRetransmit(t *testing.T) {
	f := established(t, Config{}, optsAll)
	mss := f.sendFive()
	u := f.u
	m := Seq(mss)
	f.send(f.dupAck(u, SACKBlock{u + m, u + 2*m}))
	f.expectNothing()
	f.send(f.dupAck(u, SACKBlock{u + m, u + 3*m}))
	f.expectNothing()
	f.counter(FastRetransmits, 0)
	f.send(f.dupAck(u, SACKBlock{u + m, u + 4*m}))
	f.expect(f.segN(0, mss))
	f.expectNothing()
	f.counter(FastRetransmits, 1)
	f.send(f.dupAck(u, SACKBlock{u + m, u + 5*m}))
	f.expectNothing()
	f.send(f.ackSeg(f.p, u+5*m))
	f.expectNothing()
	if f.c.inRecovery || len(f.c.sacked) != 0 {
		t.Fatalf("recovery %v, scoreboard %v", f.c.inRecovery, f.c.sacked)
	}
}

// TestSACKRecoveryHoles: the first and third segments are lost; with SACK
// the sender knows both holes on the third duplicate ACK and resends both
// (RFC 6675 5, NextSeg rule 1), without waiting for a partial ACK.
func TestSACKRecoveryHoles(t *testing.T) {
	f := established(t, Config{}, optsAll)
	mss := f.sendFive()
	u := f.u
	m := Seq(mss)
	f.send(f.dupAck(u, SACKBlock{u + m, u + 2*m}))
	f.send(f.dupAck(u, SACKBlock{u + 3*m, u + 4*m}, SACKBlock{u + m, u + 2*m}))
	f.expectNothing()
	f.send(f.dupAck(u, SACKBlock{u + 3*m, u + 5*m}, SACKBlock{u + m, u + 2*m}))
	f.expect(f.segN(0, mss))
	f.expect(f.segN(2, mss))
	f.expectNothing()
	// The partial ACK up to the second hole resends nothing more.
	f.send(f.dupAck(u+2*m, SACKBlock{u + 3*m, u + 5*m}))
	f.expectNothing()
	f.send(f.ackSeg(f.p, u+5*m))
	f.expectNothing()
	f.counter(Retransmits, 2)
}

// TestSACKIsLost: with SACK a single duplicate ACK reporting three
// segments above the hole is enough (RFC 6675 5 step 2(b), IsLost): that
// is not the count of duplicates but of data the peer holds.
func TestSACKIsLost(t *testing.T) {
	f := established(t, Config{}, optsAll)
	mss := f.sendFive()
	u, m := f.u, Seq(mss)
	f.send(f.dupAck(u, SACKBlock{u + m, u + 4*m}))
	f.expect(f.segN(0, mss))
	f.expectNothing()
}

// TestSACKBlocksFitTheMSS: while the stack holds out-of-order data, the
// SACK blocks on its data segments come out of the payload: options and
// data together stay within the MSS the peer announced (RFC 9293 3.7.1,
// RFC 6691). A full segment with one block used to be 12 bytes over, a
// 1526-byte frame on a 1500-byte link, which the link dropped: every
// retransmission with it too, until the hole closed.
func TestSACKBlocksFitTheMSS(t *testing.T) {
	for blocks := 1; blocks <= 4; blocks++ {
		t.Run(fmt.Sprint(blocks), func(t *testing.T) {
			f := newFixture(t, Config{})
			f.passiveOpen(optsAll)
			// The peer's segments arrive with holes between them.
			for i := 1; i <= blocks; i++ {
				f.send(f.dataSeg(f.p+Seq(200*i), f.u, payload(0, 100)))
			}
			f.flush()
			for len(f.out.unexpected()) > 0 {
				f.pop() // the duplicate ACKs
			}
			want := min(blocks, MaxSACKBlocks(true))
			total := 4 * f.c.mss
			f.c.SetNoDelay(true) // the short tail goes out too
			f.c.Write(payload(0, total))
			f.flush()
			sent := 0
			for len(f.out.unexpected()) > 0 {
				s := f.pop()
				opts := s.HeaderLen() - HeaderMinLen
				if opts+len(s.Payload) > int(optsAll.mss) {
					t.Errorf("segment at +%d: %d bytes of options and %d of data, over the peer's MSS %d", sent, opts, len(s.Payload), optsAll.mss)
				}
				if s.Opts.NSACK != want {
					t.Errorf("segment at +%d carries %d SACK blocks, want %d", sent, s.Opts.NSACK, want)
				}
				sent += len(s.Payload)
			}
			if sent != total {
				t.Errorf("%d bytes sent, want %d", sent, total)
			}
		})
	}
}
