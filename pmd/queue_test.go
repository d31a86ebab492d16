package pmd

import "testing"

// TestHandover: two bursts at a time, but a quarter burst at a time (at
// least one frame) for the first burst's worth of frames after a poll
// that received a partial burst.
func TestHandover(t *testing.T) {
	for _, c := range []struct {
		partial       bool
		queued, burst int
		want          int
	}{
		{false, 0, 32, 64},
		{false, 8, 32, 64},
		{true, 0, 32, 8},
		{true, 8, 32, 8},
		{true, 31, 32, 8},
		{true, 32, 32, 64},
		{true, 100, 32, 64},
		{true, 0, 256, 64},
		{true, 0, 3, 1},
		{true, 2, 3, 1},
		{true, 3, 3, 6},
		{false, 0, 1, 2},
	} {
		if got := handover(c.partial, c.queued, c.burst); got != c.want {
			t.Errorf("handover(%v, %d, %d) = %d, want %d", c.partial, c.queued, c.burst, got, c.want)
		}
	}
}
