// Package clock is the lcores' clock: monotonic nanoseconds since an epoch,
// read from the CPU's time-stamp counter where the kernel itself keeps time
// with it (clocksource tsc), which costs a few nanoseconds where the
// system's monotonic clock costs tens (a vDSO call on the system stack).
// Each Clock belongs to one thread and is re-anchored to the system's
// monotonic clock every 10 ms, so it never drifts from it by more than the
// counter's rate error over 10 ms. Elsewhere a Clock is the system's
// monotonic clock.
package clock

import (
	"math/bits"
	"os"
	"strings"
	"sync"
	"time"
)

// anchorEvery is how long a Clock runs on the counter alone.
const anchorEvery = int64(10 * time.Millisecond)

// Clock is one thread's clock. It is not safe for concurrent use.
type Clock struct {
	epoch   time.Time
	tsc     bool
	mult    uint64 // nanoseconds per counter tick, 32.32 fixed point
	baseTSC uint64
	baseNs  int64
	next    int64 // re-anchor once the time reaches it
	last    int64
}

var (
	calOnce sync.Once
	calMult uint64 // 0: the counter is not used
)

// New returns a clock counting from epoch.
func New(epoch time.Time) *Clock {
	calOnce.Do(calibrate)
	c := &Clock{epoch: epoch, tsc: calMult != 0, mult: calMult}
	if c.tsc {
		c.anchor()
	}
	return c
}

// UsesTSC reports whether the clock reads the time-stamp counter.
func (c *Clock) UsesTSC() bool { return c.tsc }

// Now returns the nanoseconds since the epoch; it never goes backwards.
func (c *Clock) Now() int64 {
	if !c.tsc {
		return int64(time.Since(c.epoch))
	}
	t := rdtsc()
	var d uint64
	if t > c.baseTSC { // a counter behind the anchor's counts as no time
		d = t - c.baseTSC
	}
	hi, lo := bits.Mul64(d, c.mult)
	ns := c.baseNs + int64(hi<<32|lo>>32)
	if ns >= c.next {
		c.anchor()
		ns = c.baseNs
	}
	ns = max(ns, c.last)
	c.last = ns
	return ns
}

func (c *Clock) anchor() {
	c.baseTSC = rdtsc()
	c.baseNs = int64(time.Since(c.epoch))
	c.next = c.baseNs + anchorEvery
}

// calibrate measures the counter's rate against the monotonic clock over
// 20 ms, if the kernel keeps time with the counter (it has then found it
// constant and synchronised across CPUs).
func calibrate() {
	if !hasTSC {
		return
	}
	b, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	if err != nil || strings.TrimSpace(string(b)) != "tsc" {
		return
	}
	t0, c0 := time.Now(), rdtsc()
	time.Sleep(20 * time.Millisecond)
	t1, c1 := time.Now(), rdtsc()
	if c1 <= c0 {
		return
	}
	ns := uint64(t1.Sub(t0))
	calMult = (ns << 32) / (c1 - c0)
}
