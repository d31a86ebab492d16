package tcp

import (
	"testing"
	"time"
)

// TestTimeWaitAtScale: a million established connections closed at once
// by this side all reach TIME-WAIT and wait there without new memory (the
// control block stays; no buffer) and without the timing wheel looking at
// each of them more than a few times over the minute (its outer level
// holds the deadlines), then all leave the table when the minute is over;
// a million connections opened again afterwards take the same control
// blocks, so the memory the stack accounts for does not grow.
func TestTimeWaitAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("opens two million connections")
	}
	const n = 1_000_000
	set := newScaleSet(t, 1, n)
	s, out, now := set.stacks[0], set.outs[0], set.now
	out.reset()
	mem := s.ConnBytes()

	// The peer answers each FIN at once with its own FIN (and the ACK of
	// ours): this side goes FIN-WAIT-1, then TIME-WAIT.
	buf := make([]byte, 0, 64)
	start := time.Now()
	for i, c := range set.conns[0] {
		c.Close()
		if i%1024 == 1023 || i == n-1 {
			s.Flush(now)
			out.reset()
		}
	}
	for _, c := range set.conns[0] {
		if c.State() != FinWait1 {
			t.Fatalf("after Close: %v, want FIN-WAIT-1", c.State())
		}
		feed(s, buf, c.ID(), Segment{Flags: FlagACK | FlagFIN, Seq: c.rcvNxt, Ack: c.sndNxt, Window: 65535}, now)
		out.reset()
	}
	closing := time.Since(start)
	if st := s.States(); st[TimeWait] != n || s.Conns() != n {
		t.Fatalf("%d in TIME-WAIT, %d in the table; want %d both", st[TimeWait], s.Conns(), n)
	}
	if got := s.ConnBytes(); got != mem {
		t.Errorf("TIME-WAIT took memory: %d bytes accounted, %d before", got, mem)
	}
	if snd, rcv := s.Buffers(); snd+rcv != 0 {
		t.Errorf("connections in TIME-WAIT hold %d send and %d receive buffers", snd, rcv)
	}

	// A minute and a bit of lcore polls, one a millisecond.
	seen0 := s.wheel.seen
	start = time.Now()
	end := now + int64(s.cfg.TimeWait) + int64(2*time.Second)
	var slowest time.Duration
	mostLooks := 0 // by one advance: what bounds a poll, whatever the machine
	for now < end {
		now += int64(time.Millisecond)
		t0 := time.Now()
		seen := s.wheel.seen
		s.Advance(now)
		slowest = max(slowest, time.Since(t0))
		mostLooks = max(mostLooks, s.wheel.seen-seen)
	}
	waiting := time.Since(start)
	looks := float64(s.wheel.seen-seen0) / n
	t.Logf("%d connections: closed into TIME-WAIT in %v; %d polls of a millisecond over the minute took %v (slowest %v, when the deadlines came down or fired; at most %d entries looked at in one); the wheel looked at each entry %.2f times",
		n, closing.Round(time.Millisecond), (end-set.now)/int64(time.Millisecond), waiting.Round(time.Millisecond), slowest.Round(time.Microsecond), mostLooks, looks)
	if s.Conns() != 0 || s.States()[TimeWait] != 0 {
		t.Fatalf("after the minute: %d connections left, %d in TIME-WAIT", s.Conns(), s.States()[TimeWait])
	}
	// Once where the FIN's retransmission deadline was (the ACK cleared
	// it, but an entry stays at its earlier slot until then), once to come
	// down from the outer level, once to fire: 3. With a single level it
	// was once a second, over sixty.
	if looks > 4 {
		t.Errorf("the wheel looked at each TIME-WAIT entry %.2f times, want at most 4", looks)
	}
	// No poll walks the million: they come down at most wheelDescentMax
	// an advance and fire at most wheelFireMax (before the bound on the
	// descent, one poll brought all of them down: about 40 ms).
	if mostLooks > wheelDescentMax+2*wheelFireMax {
		t.Errorf("one advance looked at %d entries, want at most %d", mostLooks, wheelDescentMax+2*wheelFireMax)
	}

	// The same number again, on the control blocks the first ones left.
	set.now = now
	openIdle(t, s, out, n)
	if st := s.States(); st[Established] != n {
		t.Fatalf("reopened: %d established, want %d", st[Established], n)
	}
	if got := s.ConnBytes(); got != mem {
		t.Errorf("reopening took memory: %d bytes accounted, %d before", got, mem)
	}
}
