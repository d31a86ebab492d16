// Package spsc is a bounded lock-free ring with one producer and one
// consumer goroutine: the only way pmd's lcores hand things to one another
// or to the control goroutine.
package spsc

import "sync/atomic"

// Ring holds up to a power-of-two number of values. Push is called by one
// goroutine only and Pop by one other only; neither blocks or allocates.
type Ring[T any] struct {
	_    [64]byte
	head atomic.Uint64 // next slot to read; written by the consumer
	_    [56]byte
	tail atomic.Uint64 // next slot to write; written by the producer
	_    [56]byte
	mask uint64
	buf  []T
}

// New makes a ring with room for at least n values.
func New[T any](n int) *Ring[T] {
	size := 1
	for size < n {
		size <<= 1
	}
	return &Ring[T]{mask: uint64(size - 1), buf: make([]T, size)}
}

// Cap is how many values the ring holds.
func (r *Ring[T]) Cap() int { return len(r.buf) }

// Push adds v, or returns false when the ring is full. Producer only.
func (r *Ring[T]) Push(v T) bool {
	t := r.tail.Load()
	if t-r.head.Load() == uint64(len(r.buf)) {
		return false
	}
	r.buf[t&r.mask] = v
	r.tail.Store(t + 1)
	return true
}

// Pop removes the oldest value, or returns false when the ring is empty.
// Consumer only.
func (r *Ring[T]) Pop() (T, bool) {
	var zero T
	h := r.head.Load()
	if h == r.tail.Load() {
		return zero, false
	}
	v := r.buf[h&r.mask]
	r.buf[h&r.mask] = zero
	r.head.Store(h + 1)
	return v, true
}

// Len is how many values are queued (approximate while the other side runs).
func (r *Ring[T]) Len() int { return int(r.tail.Load() - r.head.Load()) }
