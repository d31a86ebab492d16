// Package mpsc is a bounded lock-free ring that many goroutines push into
// and one (an lcore) pops from: Dmitry Vyukov's bounded MPMC array queue,
// in which each slot carries a sequence number that says whose turn it is.
package mpsc

import "sync/atomic"

// slot is one cell of the ring. seq is i when slot i is free for the push
// of position i, i+1 when it holds that push's value, and i+len when it is
// free again for the push one lap later.
type slot[T any] struct {
	seq atomic.Uint64
	val T
}

// Ring holds up to a power-of-two number of values. Push may be called from
// any number of goroutines at once, and so may Pop (pmd pops from one);
// neither blocks, allocates or takes a lock. A push that is under way holds
// back the pops behind it until it completes, which takes a few
// instructions.
type Ring[T any] struct {
	_     [64]byte
	tail  atomic.Uint64 // next position to push; claimed by CAS
	_     [56]byte
	head  atomic.Uint64 // next position to pop; claimed by CAS
	_     [56]byte
	mask  uint64
	slots []slot[T]
}

// New makes a ring with room for at least n values (at least 2).
func New[T any](n int) *Ring[T] {
	size := 2
	for size < n {
		size <<= 1
	}
	r := &Ring[T]{mask: uint64(size - 1), slots: make([]slot[T], size)}
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
	}
	return r
}

// Cap is how many values the ring holds.
func (r *Ring[T]) Cap() int { return len(r.slots) }

// Push adds v, or returns false when the ring is full.
func (r *Ring[T]) Push(v T) bool {
	pos := r.tail.Load()
	for {
		s := &r.slots[pos&r.mask]
		seq := s.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if r.tail.CompareAndSwap(pos, pos+1) {
				s.val = v
				s.seq.Store(pos + 1) // publishes val to the popper
				return true
			}
			pos = r.tail.Load()
		case d < 0:
			// The slot still holds the value pushed one lap ago.
			return false
		default:
			// Another producer claimed pos first.
			pos = r.tail.Load()
		}
	}
}

// Pop removes the oldest value, or returns false when the ring is empty
// (or its oldest push has claimed a slot and not yet filled it).
func (r *Ring[T]) Pop() (T, bool) {
	var zero T
	pos := r.head.Load()
	for {
		s := &r.slots[pos&r.mask]
		seq := s.seq.Load()
		switch d := int64(seq - (pos + 1)); {
		case d == 0:
			if r.head.CompareAndSwap(pos, pos+1) {
				v := s.val
				s.val = zero // no reference kept for the collector
				s.seq.Store(pos + r.mask + 1)
				return v, true
			}
			pos = r.head.Load()
		case d < 0:
			return zero, false
		default:
			pos = r.head.Load()
		}
	}
}

// Len is how many values are queued or being pushed (approximate while
// other goroutines run).
func (r *Ring[T]) Len() int {
	n := int64(r.tail.Load() - r.head.Load())
	if n < 0 {
		return 0 // head was read after a pop overtook the tail read
	}
	return int(n)
}
