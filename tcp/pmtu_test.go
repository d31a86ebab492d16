package tcp

import "testing"

// TestFragmentationNeeded: an ICMP "fragmentation needed" quoting a
// segment in flight shrinks the segments and sends what was in flight
// again at the new size; forged or stale ones (wrong sequence, unknown
// connection, an MTU no smaller) change nothing and are counted.
func TestFragmentationNeeded(t *testing.T) {
	f := newFixture(t, Config{})
	f.passiveOpen(optsNone)
	mss := f.sendFive() // 1460
	cwnd := f.c.cwnd

	fn := func(seq Seq, mtu, quoted int) bool {
		return f.s.FragmentationNeeded(f.id.Local, f.id.Remote, f.id.LocalPort, f.id.RemotePort, seq, mtu, quoted, f.now)
	}
	// Blind guesses: a sequence number outside SND.UNA..SND.NXT, another
	// connection's ports.
	if fn(f.u-1000, 1280, 1500) || fn(f.u+Seq(6*mss), 1280, 1500) {
		t.Error("a sequence number outside the flight was taken")
	}
	if f.s.FragmentationNeeded(f.id.Local, f.id.Remote, f.id.LocalPort, f.id.RemotePort+1, f.u, 1280, 1500, f.now) {
		t.Error("a message for no connection was taken")
	}
	if fn(f.u, 1500, 1500) {
		t.Error("an MTU that fits the segments was taken")
	}
	f.expectNothing()
	f.counter(PMTUIgnored, 4)

	// The real one, quoting the second segment: 1280 - 40 = 1240 bytes a
	// segment, the five segments' 7300 bytes sent again in six.
	if !fn(f.u+Seq(mss), 1280, 1500) {
		t.Fatal("a valid fragmentation needed was ignored")
	}
	f.counter(PMTULowered, 1)
	if f.c.mss != 1240 || f.c.cwnd != cwnd {
		t.Errorf("mss %d cwnd %d, want 1240 and the window unchanged (%d)", f.c.mss, f.c.cwnd, cwnd)
	}
	f.flush()
	total := 5 * mss
	for off := 0; off < total; off += 1240 {
		n := min(1240, total-off)
		flags := FlagACK
		if off+n == total {
			flags |= FlagPSH
		}
		f.expect(Segment{Flags: flags, Seq: f.u + Seq(off), Ack: f.p, Window: f.win, Payload: payload(off, n)})
	}
	f.expectNothing()

	// A router that does not say the MTU: the plateau below the
	// datagram's 1280 bytes is 1006; and never below 576.
	if !fn(f.u, 0, 1280) || f.c.mss != 1006-40 {
		t.Errorf("plateau: mss %d, want %d", f.c.mss, 1006-40)
	}
	f.out.reset()
	if !fn(f.u, 100, 1006) || f.c.mss != 576-40 {
		t.Errorf("tiny MTU: mss %d, want %d", f.c.mss, 576-40)
	}
	f.out.reset()
	f.send(f.ackSeg(f.p, f.u+Seq(total)))
	f.expectNothing()
}

// TestFragmentationNeededTimestamps: the timestamp option's 12 bytes come
// off the new size as they did off the negotiated one.
func TestFragmentationNeededTimestamps(t *testing.T) {
	f := newFixture(t, Config{})
	f.passiveOpen(optsAll)
	f.c.Write(payload(0, 3000))
	f.flush()
	f.out.reset()
	if !f.s.FragmentationNeeded(f.id.Local, f.id.Remote, f.id.LocalPort, f.id.RemotePort, f.u, 1280, 1500, f.now) {
		t.Fatal("ignored")
	}
	if f.c.mss != 1280-40-12 {
		t.Errorf("mss %d, want %d", f.c.mss, 1280-40-12)
	}
	f.out.reset()
}
