package tcp

// Seq is a TCP sequence number. Sequence space wraps at 2^32: compare with
// the methods, never with < on raw values (RFC 9293 3.4).
type Seq uint32

// LessThan reports whether s comes before t.
func (s Seq) LessThan(t Seq) bool { return int32(s-t) < 0 }

// LessThanEq reports whether s comes before t or is t.
func (s Seq) LessThanEq(t Seq) bool { return int32(s-t) <= 0 }

// GreaterThan reports whether s comes after t.
func (s Seq) GreaterThan(t Seq) bool { return int32(s-t) > 0 }

// GreaterThanEq reports whether s comes after t or is t.
func (s Seq) GreaterThanEq(t Seq) bool { return int32(s-t) >= 0 }

// InRange reports whether a <= s < b.
func (s Seq) InRange(a, b Seq) bool { return s-a < b-a }

// InWindow reports whether s lies in the window of size n starting at first.
func (s Seq) InWindow(first Seq, n uint32) bool { return uint32(s-first) < n }

// Add is s advanced by n.
func (s Seq) Add(n uint32) Seq { return s + Seq(n) }

// Sub is the distance from t to s (s - t), for s at or after t.
func (s Seq) Sub(t Seq) uint32 { return uint32(s - t) }

// MaxSeq is the later of a and b.
func MaxSeq(a, b Seq) Seq {
	if a.LessThan(b) {
		return b
	}
	return a
}

// MinSeq is the earlier of a and b.
func MinSeq(a, b Seq) Seq {
	if a.LessThan(b) {
		return a
	}
	return b
}
