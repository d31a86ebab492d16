package socket

import "sync/atomic"

// byteRing is a bounded byte queue between one producer and one consumer
// (an lcore and a goroutine): the producer owns the bytes from tail to
// head+len, the consumer those from head to tail, and each publishes its
// side with one atomic store after copying, so the other's load of that
// counter also makes the copied bytes visible.
type byteRing struct {
	head atomic.Uint64 // bytes consumed; written by the consumer
	_    [56]byte
	tail atomic.Uint64 // bytes produced; written by the producer
	_    [56]byte
	buf  []byte // a power of two long
	mask uint64
}

func (r *byteRing) init(buf []byte) {
	r.buf, r.mask = buf, uint64(len(buf)-1)
}

// len is how many bytes are queued (exact for the consumer, a lower
// bound for the producer).
func (r *byteRing) len() int { return int(r.tail.Load() - r.head.Load()) }

// free is how much room is left (exact for the producer).
func (r *byteRing) free() int { return len(r.buf) - r.len() }

// write copies as much of p as fits and returns how much. Producer only.
func (r *byteRing) write(p []byte) int {
	t := r.tail.Load()
	n := min(len(p), len(r.buf)-int(t-r.head.Load()))
	if n == 0 {
		return 0
	}
	k := copy(r.buf[t&r.mask:], p[:n])
	copy(r.buf, p[k:n])
	r.tail.Store(t + uint64(n))
	return n
}

// read copies up to len(p) queued bytes into p and returns how many.
// Consumer only.
func (r *byteRing) read(p []byte) int {
	h := r.head.Load()
	n := min(len(p), int(r.tail.Load()-h))
	if n == 0 {
		return 0
	}
	k := copy(p[:n], r.buf[h&r.mask:])
	copy(p[k:n], r.buf)
	r.head.Store(h + uint64(n))
	return n
}

// peek is the queued bytes in place, in at most two pieces (the second
// when they wrap). Consumer only; discard releases them.
func (r *byteRing) peek() (a, b []byte) {
	h := r.head.Load()
	n := int(r.tail.Load() - h)
	if n == 0 {
		return nil, nil
	}
	i := int(h & r.mask)
	if i+n <= len(r.buf) {
		return r.buf[i : i+n], nil
	}
	return r.buf[i:], r.buf[:i+n-len(r.buf)]
}

// discard releases the first n queued bytes. Consumer only.
func (r *byteRing) discard(n int) { r.head.Add(uint64(n)) }

// drop releases everything queued. Consumer only.
func (r *byteRing) drop() { r.head.Store(r.tail.Load()) }
