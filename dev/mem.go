package dev

import "github.com/pmdstack/pmd/ipv4"

// Mem is an in-memory Queue for tests: frames are injected as if received,
// and what the stack sends is kept until read. Buffers come from a fixed
// pool, so leaks and exhaustion show as they would on a device.
type Mem struct {
	pool   *MemPool
	rx     []memRx // waiting for the next Poll
	burst  []memRx // the last Poll's packets
	tx     []memTx
	out    [][]byte // transmitted frames, reused storage
	tagged []byte   // spare storage for a frame being tagged
	nout   int
	caps   ipv4.ChecksumCaps
	stats  QueueStats
	Burst  int // packets per Poll
	// TxMax bounds the frames Send queues between two flushes, as a
	// device's TX ring does: Send drops beyond it (QueueStats.TxFull) and
	// CanSend says so. 0: no bound.
	TxMax int
	// Trusted is pmd's trusted link (port.trusted_link): Caps claims
	// every checksum and none is computed, here or by a device; the
	// receiver, told they are good (RxMeta), verifies none either.
	Trusted bool
}

// MemPool is the buffers of one or more Mem queues: queues that share a
// pool may free each other's buffers, as DPDK queues may free any mbuf.
type MemPool struct {
	bufs [][]byte
	free []int
}

// NewMemPool makes nbufs buffers of size bytes.
func NewMemPool(nbufs, size int) *MemPool {
	p := &MemPool{}
	for i := 0; i < nbufs; i++ {
		p.bufs = append(p.bufs, make([]byte, size))
		p.free = append(p.free, i)
	}
	return p
}

// InUse is the number of buffers given out and not yet returned.
func (p *MemPool) InUse() int { return len(p.bufs) - len(p.free) }

type memRx struct {
	b    Buf
	n    int
	meta RxMeta
}

type memTx struct {
	b Buf
	n int
	o Offload
}

var _ Queue = (*Mem)(nil)

// NewMem makes a queue with a pool of its own of nbufs buffers of size
// bytes each.
func NewMem(nbufs, size int, caps ipv4.ChecksumCaps) *Mem {
	return NewMemOn(NewMemPool(nbufs, size), caps)
}

// NewMemOn makes a queue on a pool it may share.
func NewMemOn(p *MemPool, caps ipv4.ChecksumCaps) *Mem {
	n := len(p.bufs)
	return &Mem{pool: p, caps: caps, Burst: 32, rx: make([]memRx, 0, n), burst: make([]memRx, 0, n)}
}

func (m *Mem) take() (Buf, bool) {
	p := m.pool
	if len(p.free) == 0 {
		return 0, false
	}
	i := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return Buf(i + 1), true
}

func (m *Mem) buf(b Buf) []byte { return m.pool.bufs[int(b)-1] }

// Inject queues a copy of frame for the next Poll, as if the device had
// received it; it returns false when no buffer is free. An 802.1Q tag is
// stripped, as a device with VLAN stripping would: the stack sees the
// frame untagged and the tag in meta.VLAN.
func (m *Mem) Inject(frame []byte, meta RxMeta) bool {
	b, ok := m.take()
	if !ok {
		return false
	}
	buf := m.buf(b)
	n := copy(buf, frame)
	// Untagged in place, the rest moved back over the tag: every frame
	// of Mem starts at its buffer's start (Send and Data know no offset).
	if tci, ok := vlanTCI(buf[:n]); ok {
		n = copy(buf[12:], buf[12+vlanTagLen:n]) + 12
		meta.VLAN = tci
	}
	m.rx = append(m.rx, memRx{b: b, n: n, meta: meta})
	return true
}

// Poll transmits, then hands over up to Burst injected frames.
func (m *Mem) Poll() int {
	m.nout = 0
	m.Flush()
	n := min(len(m.rx), m.Burst)
	m.burst = append(m.burst[:0], m.rx[:n]...)
	m.rx = append(m.rx[:0], m.rx[n:]...)
	return n
}

// Packet is packet i of the last Poll.
func (m *Mem) Packet(i int) (Buf, []byte, RxMeta) {
	r := m.burst[i]
	return r.b, m.buf(r.b)[:r.n], r.meta
}

// Alloc takes a free buffer.
func (m *Mem) Alloc() (Buf, []byte, bool) {
	b, ok := m.take()
	if !ok {
		m.stats.AllocFail++
		return 0, nil, false
	}
	return b, m.buf(b)[:0], true
}

// Data is b's whole buffer.
func (m *Mem) Data(b Buf) []byte { return m.buf(b) }

// Send queues b, or drops it when TxMax frames are queued.
func (m *Mem) Send(b Buf, n int, o Offload) {
	if !m.CanSend() {
		m.stats.TxFull++
		m.Free(b)
		return
	}
	m.tx = append(m.tx, memTx{b, n, o})
}

// CanSend reports whether Send would queue a frame now. The in-memory
// queue transmits only at Poll and Flush, as a ring full until the
// device takes its frames.
func (m *Mem) CanSend() bool { return m.TxMax == 0 || len(m.tx) < m.TxMax }

// Free gives b back.
func (m *Mem) Free(b Buf) {
	if b == 0 || int(b) > len(m.pool.bufs) {
		panic("dev.Mem: Free of a handle its pool never gave")
	}
	m.pool.free = append(m.pool.free, int(b)-1)
}

// Flush moves what was sent to the transmitted list and frees the buffers.
// Offloaded checksums are filled in here, as a device would.
func (m *Mem) Flush() {
	for _, t := range m.tx {
		if m.nout == len(m.out) {
			m.out = append(m.out, nil)
		}
		f := append(m.out[m.nout][:0], m.buf(t.b)[:t.n]...)
		if !m.Trusted {
			fillOffloads(f, t.o)
		}
		if tci := t.o.TCI(); tci != 0 {
			// Tagged in software, after the checksums, as a device does.
			tagged := appendTagged(m.tagged[:0], f, tci)
			m.tagged, f = f, tagged
		}
		m.out[m.nout] = f
		m.nout++
		m.Free(t.b)
	}
	m.tx = m.tx[:0]
}

// Sent is what was transmitted by the last Poll or Flush; the slices are
// reused by the next Poll.
func (m *Mem) Sent() [][]byte { return m.out[:m.nout] }

// InUse is the number of buffers of the queue's pool given out and not
// yet returned, queued injections included.
func (m *Mem) InUse() int { return m.pool.InUse() }

// Caps are the checksum capabilities the queue pretends to have.
func (m *Mem) Caps() ipv4.ChecksumCaps { return m.caps }

// Stats are the queue's counters.
func (m *Mem) Stats() QueueStats { return m.stats }

// tcpChecksumAt is the offset of the checksum in a TCP header (RFC 9293
// 3.1).
const tcpChecksumAt = 16

// fillOffloads computes the checksums a device would fill in on transmit.
func fillOffloads(f []byte, o Offload) {
	if o&0xff == 0 || len(f) < ipv4.EthernetHeaderLen+o.L3Len() {
		return
	}
	ip := ipv4.IPv4(f[ipv4.EthernetHeaderLen:])
	if ip.Check() != nil {
		return
	}
	if o&OffIPv4Cksum != 0 {
		ip.ComputeChecksum()
	}
	switch {
	case o&OffUDPCksum != 0 && ip.Protocol() == ipv4.ProtoUDP:
		ipv4.UDP(ip.Payload()).ComputeChecksum(ip.Src(), ip.Dst())
	case o&OffTCPCksum != 0 && ip.Protocol() == ipv4.ProtoTCP && len(ip.Payload()) >= tcpChecksumAt+2:
		// The sender left the pseudo-header's sum in the field, as a
		// device expects: complete it over the segment.
		seg := ip.Payload()
		seg[tcpChecksumAt], seg[tcpChecksumAt+1] = 0, 0
		sum := ipv4.Checksum(seg, ipv4.PseudoHeaderSum(ip.Src(), ip.Dst(), ipv4.ProtoTCP, uint16(len(seg))))
		seg[tcpChecksumAt], seg[tcpChecksumAt+1] = byte(sum>>8), byte(sum)
	}
}
