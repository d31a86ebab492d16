package frag

// pool hands out reassembly buffers in classes of doubling size, from
// 2 KiB up to the largest datagram, and keeps those given back for reuse:
// a datagram starts in a small buffer and moves to a larger one as its
// fragments reach further, so that a flood of small first fragments holds
// little memory each. Every buffer made counts against the limit until it
// is let go, so memory in use and kept stays within it; once the working
// set of buffers is made, nothing more is allocated.
type pool struct {
	limit int
	used  int // bytes of the buffers made and not let go
	sizes []int
	free  [][][]byte // by class
}

const minBuf = 2048

func (p *pool) init(limit, largest int) {
	p.limit = limit
	for n := minBuf; ; n *= 2 {
		if n >= largest {
			p.sizes = append(p.sizes, largest)
			break
		}
		p.sizes = append(p.sizes, n)
	}
	p.free = make([][][]byte, len(p.sizes))
	for c, n := range p.sizes {
		p.free[c] = make([][]byte, 0, limit/n)
	}
}

// class is the smallest class of at least n bytes.
func (p *pool) class(n int) int {
	c := 0
	for p.sizes[c] < n {
		c++
	}
	return c
}

// get returns a buffer of at least n bytes, its length its capacity.
// held is the capacity of the buffer the caller will give back once it has
// the new one (0 if none): it counts as freed when deciding whether a new
// buffer fits. False when the limit leaves no room even after letting go
// of the buffers kept for reuse.
func (p *pool) get(n, held int) ([]byte, bool) {
	c := p.class(n)
	if k := len(p.free[c]); k > 0 {
		b := p.free[c][k-1]
		p.free[c] = p.free[c][:k-1]
		return b, true
	}
	size := p.sizes[c]
	// Let go of kept buffers of other classes, largest first, until a new
	// one fits: the mix of sizes has changed.
	for d := len(p.sizes) - 1; d >= 0 && p.used+size-held > p.limit; d-- {
		for len(p.free[d]) > 0 && p.used+size-held > p.limit {
			k := len(p.free[d]) - 1
			p.free[d][k] = nil
			p.free[d] = p.free[d][:k]
			p.used -= p.sizes[d]
		}
	}
	// The held buffer is let go after the copy if keeping it would pass
	// the limit (release).
	if p.used+size-held > p.limit {
		return nil, false
	}
	p.used += size
	return make([]byte, size), true
}

// release gives back the buffer a datagram moved out of: kept for reuse
// while the limit allows, let go otherwise.
func (p *pool) release(b []byte) {
	if p.used > p.limit {
		p.used -= cap(b)
		return
	}
	p.put(b)
}

// put keeps b for reuse; nil is ignored.
func (p *pool) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	c := p.class(cap(b))
	p.free[c] = append(p.free[c], b[:cap(b)])
}
