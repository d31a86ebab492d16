package clock

import (
	"testing"
	"time"
)

// TestFollowsMonotonic reads a Clock in a tight loop for 300 ms: it never
// goes backwards and stays within 200 µs of the monotonic clock.
func TestFollowsMonotonic(t *testing.T) {
	epoch := time.Now()
	c := New(epoch)
	t.Logf("time-stamp counter: %v", c.UsesTSC())
	var last int64
	worst := time.Duration(0)
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		before := int64(time.Since(epoch))
		now := c.Now()
		after := int64(time.Since(epoch))
		if now < last {
			t.Fatalf("went back from %d to %d", last, now)
		}
		last = now
		var off time.Duration
		switch {
		case now < before:
			off = time.Duration(before - now)
		case now > after:
			off = time.Duration(now - after)
		}
		worst = max(worst, off)
	}
	t.Logf("worst distance from the monotonic clock: %v", worst)
	if worst > 200*time.Microsecond {
		t.Fatalf("the clock strayed %v from the monotonic clock", worst)
	}
}

// TestFallback is the clock without the counter: the monotonic clock.
func TestFallback(t *testing.T) {
	epoch := time.Now().Add(-time.Second)
	c := &Clock{epoch: epoch}
	if n := c.Now(); n < int64(time.Second) || n > int64(2*time.Second) {
		t.Fatalf("Now = %d, want about 1 s", n)
	}
}

func BenchmarkNow(b *testing.B) {
	c := New(time.Now())
	var sink int64
	for b.Loop() {
		sink += c.Now()
	}
	_ = sink
}

func BenchmarkMonotonic(b *testing.B) {
	epoch := time.Now()
	var sink int64
	for b.Loop() {
		sink += int64(time.Since(epoch))
	}
	_ = sink
}
