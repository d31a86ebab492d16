package tcp

// ring is a byte ring of fixed capacity: the send buffer (from SND.UNA on)
// or the receive buffer (from the first byte the application has not
// taken). Offsets are relative to the oldest byte.
type ring struct {
	buf  []byte
	head int // index of the oldest byte
	n    int // bytes from head that hold data
}

func (r *ring) cap() int { return len(r.buf) }

// wrap maps an index up to twice the capacity into the buffer. Buffers are
// powers of two (bufPool sizes them so): a mask, not a division, on every
// read and write.
func (r *ring) wrap(i int) int { return i & (len(r.buf) - 1) }
func (r *ring) free() int      { return len(r.buf) - r.n }

// append copies as much of b as fits behind the data and returns how much.
func (r *ring) append(b []byte) int {
	k := min(len(b), r.free())
	r.writeAt(r.n, b[:k])
	r.n += k
	return k
}

// writeAt copies b to offset off from head without changing n; the range
// must lie within the capacity.
func (r *ring) writeAt(off int, b []byte) {
	i := r.wrap(r.head + off)
	c := copy(r.buf[i:], b)
	copy(r.buf, b[c:])
}

// peek returns the bytes at [off, off+n) as one or two slices.
func (r *ring) peek(off, n int) (a, b []byte) {
	i := r.wrap(r.head + off)
	if i+n <= len(r.buf) {
		return r.buf[i : i+n], nil
	}
	return r.buf[i:], r.buf[:n-(len(r.buf)-i)]
}

// readAt copies [off, off+len(dst)) into dst.
func (r *ring) readAt(off int, dst []byte) {
	a, b := r.peek(off, len(dst))
	copy(dst[copy(dst, a):], b)
}

// discard drops the n oldest bytes.
func (r *ring) discard(n int) {
	r.head = r.wrap(r.head + n)
	r.n -= n // head keeps its place: out-of-order data may lie beyond n
}

// bufPool hands out fixed-size byte buffers, allocating a new one only
// when its free list is empty and the bound allows: in steady state
// connections take and return buffers without touching the heap.
type bufPool struct {
	size  int
	limit int // buffers in existence at most
	made  int
	free  [][]byte
}

func (p *bufPool) get() ([]byte, bool) {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b, true
	}
	if p.made >= p.limit {
		return nil, false
	}
	p.made++
	return make([]byte, p.size), true
}

func (p *bufPool) put(b []byte) { p.free = append(p.free, b) }
