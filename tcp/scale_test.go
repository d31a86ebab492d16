package tcp

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

// TestConstantTime pins the O(1) claims of the connection table and the
// timing wheel: a lookup, and a timer armed and fired, cost the same with a
// million connections per lcore as with ten thousand (the ratio of the
// medians of repeated runs is under 2).
//
// Comparing one stack of 10,000 connections with one of 1,000,000 would
// measure the cache: the small stack's table (786 KiB) and control blocks
// (5.5 MB) fit in the last-level cache, the big one's (48 MiB and 556 MB)
// do not, so every random access of the big stack waits for memory and
// none of the small one's does. That is no algorithmic difference. So the
// small case is 64 stacks of 10,000 connections, and each operation goes
// to a random one of them: their tables add up to 48 MiB as the big
// stack's does, and both sides touch memory that is not in cache. What
// differs is only what the claim is about: how long a table's probe runs
// and how the wheel's work grows with the connections each stack holds.
// Beside the time, the test counts what a lookup reads, which no cache
// affects: the mean number of slots from a tuple's home to its entry.
//
// The timer events are those of a busy connection: a delayed-ACK deadline
// armed as receive arms it (1 to 200 ms ahead, well within one turn of the
// wheel), and fired by Advance as the lcore calls it every millisecond
// (nothing to acknowledge by then, so the timer fires and sends nothing).
// Deadlines beyond one turn of the inner wheel (about a second:
// keep-alive, TIME-WAIT) go to its outer level; TestWheelFarDeadlines
// counts how often the wheel looks at them (about 1.5 times each, against
// 51 with the single level the wheel had when this test was written, when
// a million keep-alive deadlines an hour ahead took a third of each
// millisecond). Nor would the comparison show a cost per tick that grows with the
// timers on one wheel: the 64 small wheels hold as many in all as the big
// one, and all of them tick. What it does show is work per event that
// grows with the timers beside it (an insertion that walked its slot
// failed it by a factor of a hundred).
//
// Connections are opened by handshakes, as in TestIdleConnMemory: 1.64
// million of them, most of the test's time (about 3.5 s of 5 here, and a
// gigabyte of heap). It is skipped under -short; CI (scripts/test) runs
// go test without it.
func TestConstantTime(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1.64 million connections")
	}
	start := time.Now()
	big := newScaleSet(t, 1, 1_000_000)
	small := newScaleSet(t, 64, 10_000)
	setup := time.Since(start)

	// Slots read per lookup: the distance from each entry's home, plus
	// the slot that holds it.
	bigProbe, smallProbe := big.meanProbe(), small.meanProbe()
	if r := bigProbe / smallProbe; r >= 2 {
		t.Errorf("slots read per lookup: %.2f with a million connections, %.2f with 10,000: ratio %.2f", bigProbe, smallProbe, r)
	}

	const reps = 7
	rng := rand.New(rand.NewPCG(16, 1))
	bigLook, smallLook := big.lookups(rng, 400_000), small.lookups(rng, 400_000)
	bigArms, smallArms := big.arms(rng), small.arms(rng)
	runtime.GC() // not during the runs: they allocate nothing
	var lb, ls, tb, ts []float64
	big.timers(bigArms) // the wheels fill to their steady state
	small.timers(smallArms)
	for range reps {
		lb = append(lb, timeLookups(bigLook))
		ls = append(ls, timeLookups(smallLook))
		tb = append(tb, big.timers(bigArms))
		ts = append(ts, small.timers(smallArms))
	}
	look, timer := median(lb)/median(ls), median(tb)/median(ts)
	t.Logf("lookup: %.1f ns with 1M connections, %.1f ns with 10k (64 stacks), ratio %.2f; slots read %.2f and %.2f",
		median(lb), median(ls), look, bigProbe, smallProbe)
	t.Logf("timer armed and fired: %.1f ns with 1M connections, %.1f ns with 10k (64 stacks), ratio %.2f; setup %v",
		median(tb), median(ts), timer, setup.Round(time.Millisecond))
	if look >= 2 {
		t.Errorf("a lookup costs %.2f times as much with a million connections", look)
	}
	if timer >= 2 {
		t.Errorf("a timer costs %.2f times as much with a million connections", timer)
	}
}

// scaleSet is stacks of idle established connections, the same number on
// each, and the time of their virtual lcores.
type scaleSet struct {
	stacks []*Stack
	outs   []*recOut // by stack
	conns  [][]*Conn // by stack
	ids    [][]FourTuple
	now    int64
}

func newScaleSet(tb testing.TB, stacks, perStack int) *scaleSet {
	set := &scaleSet{now: fxStart}
	for range stacks {
		out := newRecOut()
		s := NewStack(Config{MaxConns: perStack, Buffers: 1, Seed: fxSeed}, out)
		if _, err := s.Listen(fxPort, benchEchoApp{}); err != nil {
			tb.Fatal(err)
		}
		openIdle(tb, s, out, perStack)
		// The SYN-ACKs' retransmission deadlines stay on the wheel after
		// the handshakes (they are cleared, not removed): let them pass,
		// so that the runs start with idle connections and no timers.
		// (Polls: each fires at most wheelFireMax.)
		for i := 0; i < perStack/wheelFireMax+2 && s.wheel.count != 0; i++ {
			s.Advance(set.now + 2*int64(s.cfg.InitialRTO))
		}
		if s.wheel.count != 0 {
			tb.Fatalf("%d timers left on idle connections", s.wheel.count)
		}
		conns := make([]*Conn, perStack)
		ids := make([]FourTuple, perStack)
		for i := range perStack {
			ids[i] = idleTuple(i)
			if conns[i] = s.Lookup(ids[i]); conns[i] == nil || conns[i].State() != Established {
				tb.Fatalf("connection %d not established", i)
			}
		}
		set.stacks = append(set.stacks, s)
		set.outs = append(set.outs, out)
		set.conns = append(set.conns, conns)
		set.ids = append(set.ids, ids)
	}
	set.now += 2 * int64(set.stacks[0].cfg.InitialRTO)
	return set
}

// meanProbe is the mean number of slots a lookup of an entry reads.
func (set *scaleSet) meanProbe() float64 {
	var slots, n int
	for _, s := range set.stacks {
		t := &s.conns
		for i := range t.slots {
			if e := &t.slots[i]; e.c != nil {
				slots += int((uint64(i)-t.home(&e.id))&t.mask) + 1
				n++
			}
		}
	}
	return float64(slots) / float64(n)
}

// scaleLookup is one lookup and the connection it must find.
type scaleLookup struct {
	s  *Stack
	id FourTuple
	c  *Conn
}

// lookups is n lookups of random connections of random stacks.
func (set *scaleSet) lookups(rng *rand.Rand, n int) []scaleLookup {
	w := make([]scaleLookup, n)
	for i := range w {
		k := rng.IntN(len(set.stacks))
		j := rng.IntN(len(set.ids[k]))
		w[i] = scaleLookup{set.stacks[k], set.ids[k][j], set.conns[k][j]}
	}
	return w
}

// timeLookups runs w and returns the time per lookup, in nanoseconds.
func timeLookups(w []scaleLookup) float64 {
	start := time.Now()
	for i := range w {
		if w[i].s.Lookup(w[i].id) != w[i].c {
			panic("lookup found another connection")
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(len(w))
}

// Timer runs: scaleSteps poll iterations of a millisecond, in each of
// which scaleArms connections receive data and arm a delayed ACK.
const (
	scaleSteps = 100
	scaleArms  = 1000
)

// scaleArm is one connection arming its delayed ACK, d ahead.
type scaleArm struct {
	c *Conn
	d int64
}

// arms is a run's connections, chosen at random, and their deadlines.
func (set *scaleSet) arms(rng *rand.Rand) []scaleArm {
	w := make([]scaleArm, scaleSteps*scaleArms)
	for i := range w {
		conns := set.conns[rng.IntN(len(set.conns))]
		w[i] = scaleArm{conns[rng.IntN(len(conns))], int64(time.Millisecond) + rng.Int64N(int64(199*time.Millisecond))}
	}
	return w
}

// timers runs the poll iterations of w, every stack advancing in each,
// and returns the time per timer armed, in nanoseconds. In the steady
// state reached after one run as many fire as are armed.
func (set *scaleSet) timers(w []scaleArm) float64 {
	armed := 0
	start := time.Now()
	for step := range scaleSteps {
		set.now += int64(time.Millisecond)
		for _, a := range w[step*scaleArms : (step+1)*scaleArms] {
			if c := a.c; c.tDelack == 0 { // as receive arms it
				c.tDelack = set.now + a.d
				c.schedule()
				armed++
			}
		}
		for _, s := range set.stacks {
			s.Advance(set.now)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(armed)
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
