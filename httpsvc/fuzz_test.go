package httpsvc

import (
	"slices"
	"testing"
)

// FuzzFeed checks that no input panics and that the result does not depend
// on how the stream is cut: whole, cut at a fuzzed point, byte at a time,
// and with an emit that refuses every response.
func FuzzFeed(f *testing.F) {
	for _, tc := range streamCases {
		f.Add(tc.input(), uint16(len(tc.ok)/2))
	}
	in, _ := pipeline(8)
	f.Add(in, uint16(100))
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		whole := feedChunks([][]byte{in})
		if whole.n > len(in) || whole.short {
			t.Fatalf("whole: %v for %d bytes", whole, len(in))
		}
		if (whole.err == nil) != (whole.final.why == "") || whole.err == nil && whole.n != len(in) {
			t.Fatalf("whole: inconsistent %v for %d bytes", whole, len(in))
		}
		at := int(cut) % (len(in) + 1)
		if got := feedChunks(splitAt(in, at)); !equalResults(got, whole) {
			t.Fatalf("cut at %d:\n got %v\nwant %v", at, got, whole)
		}
		if got := feedChunks(bytewise(in)); !equalResults(got, whole) {
			t.Fatalf("byte at a time:\n got %v\nwant %v", got, whole)
		}

		// Refusing every emit must see the same requests, one per Feed.
		var p Parser
		var reqs []Request
		emit := func(r Request) bool { reqs = append(reqs, r); return false }
		rest, total := in, 0
		var err error
		for {
			before := len(reqs)
			var n int
			n, err = p.Feed(rest, emit)
			total += n
			rest = rest[n:]
			if len(reqs) > before+1 {
				t.Fatalf("%d emits in one Feed after refusals", len(reqs)-before)
			}
			if err != nil || len(rest) == 0 {
				break
			}
			if len(reqs) == before {
				t.Fatalf("Feed stopped at %d without an emit or error", total)
			}
		}
		if err != whole.err || total != whole.n || !slices.Equal(reqs, whole.reqs) {
			t.Fatalf("refusing emit: reqs=%v n=%d err=%v\nwant %v", reqs, total, err, whole)
		}
	})
}
