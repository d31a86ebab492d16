package dev

import (
	"sync/atomic"

	"github.com/pmdstack/pmd/ipv4"
)

// FaultConfig says how often a Faults queue damages frames: each rate is
// a probability per frame, from 0 to 1.
type FaultConfig struct {
	Drop      float64 // the frame is lost
	Duplicate float64 // the frame arrives twice
	Reorder   float64 // the frame is held back behind the next one
	Corrupt   float64 // one bit of a received frame's IPv4 packet flips
	RX, TX    bool    // the directions damaged
	Seed      uint64  // the same seed gives the same faults for the same traffic
}

// Faults is a queue that damages traffic on its way in and out of the
// queue it wraps, for testing the stack and its peers against loss,
// duplication, reordering and corruption (the kernel's netem does this
// for kernel stacks). Frames damaged are counted in QueueStats.
//
// Corruption is applied to received frames only, after the device's
// checksum verdict, which it then withdraws: the stack verifies the
// frame in software and must drop it. (On transmit a frame's checksums
// may still be the device's to fill, which would make a corrupted frame
// look whole to the peer.)
type Faults struct {
	Queue
	// thresholds for rand() (rate * 2^64) and the directions damaged:
	// atomic, since Set may change them from another goroutine while
	// the lcore polls
	drop, dup, reorder, corrupt atomic.Uint64
	rx, tx                      atomic.Bool
	rng                         uint64

	burst []faultRx // what Poll hands over
	held  []faultRx // received frames held back for the next Poll
	spare []faultRx // the other backing array of held
	txq   []faultTx // sent frames held back behind the next one
	stats QueueStats
}

type faultRx struct {
	b    Buf
	data []byte
	meta RxMeta
}

type faultTx struct {
	b Buf
	n int
	o Offload
}

// NewFaults wraps q.
func NewFaults(q Queue, c FaultConfig) *Faults {
	f := &Faults{Queue: q, rng: c.Seed*0x9e3779b97f4a7c15 | 1}
	f.Set(c)
	return f
}

// Set changes the rates and directions (not the seed); safe from any
// goroutine while the queue is polled. Frames already held back are
// released as before.
func (f *Faults) Set(c FaultConfig) {
	f.drop.Store(threshold(c.Drop))
	f.dup.Store(threshold(c.Duplicate))
	f.reorder.Store(threshold(c.Reorder))
	f.corrupt.Store(threshold(c.Corrupt))
	f.rx.Store(c.RX)
	f.tx.Store(c.TX)
}

// Rates are the rates and directions in force (the seed is not kept).
func (f *Faults) Rates() FaultConfig {
	return FaultConfig{Drop: rate(f.drop.Load()), Duplicate: rate(f.dup.Load()), Reorder: rate(f.reorder.Load()),
		Corrupt: rate(f.corrupt.Load()), RX: f.rx.Load(), TX: f.tx.Load()}
}

// rate is threshold's inverse.
func rate(t uint64) float64 {
	if t == ^uint64(0) {
		return 1
	}
	return float64(t) / (1 << 64)
}

// threshold is p scaled to 2^64 (exactly: the factor is a power of two).
func threshold(p float64) uint64 {
	switch {
	case p <= 0:
		return 0
	case p >= 1:
		return ^uint64(0)
	}
	return uint64(p * (1 << 64))
}

// rand is xorshift64*: cheap, and repeatable from the seed.
func (f *Faults) rand() uint64 {
	f.rng ^= f.rng >> 12
	f.rng ^= f.rng << 25
	f.rng ^= f.rng >> 27
	return f.rng * 0x2545f4914f6cdd1d
}

func (f *Faults) hit(t *atomic.Uint64) bool {
	v := t.Load()
	return v != 0 && f.rand() < v
}

// Poll polls the wrapped queue and damages what arrived. Frames held back
// by the last Poll come after this one's.
func (f *Faults) Poll() int {
	f.releaseTx()
	n := f.Queue.Poll()
	prev := f.held
	f.held = f.spare[:0]
	f.burst = f.burst[:0]
	for i := 0; i < n; i++ {
		b, data, meta := f.Queue.Packet(i)
		if f.rx.Load() {
			f.damage(b, data, meta)
		} else {
			f.burst = append(f.burst, faultRx{b, data, meta})
		}
	}
	f.burst = append(f.burst, prev...)
	f.spare = prev[:0]
	return len(f.burst)
}

// damage applies the faults to one received frame: it ends in the burst,
// in the held list, or freed.
func (f *Faults) damage(b Buf, data []byte, meta RxMeta) {
	if f.hit(&f.drop) {
		f.Queue.Free(b)
		f.stats.FaultDropped++
		return
	}
	if len(data) > ipv4.EthernetHeaderLen && f.hit(&f.corrupt) {
		bit := f.rand() % uint64(8*(len(data)-ipv4.EthernetHeaderLen))
		data[ipv4.EthernetHeaderLen+int(bit/8)] ^= 1 << (bit % 8)
		meta.IPCksum, meta.L4Cksum = ipv4.RxCksumUnknown, ipv4.RxCksumUnknown
		f.stats.FaultCorrupted++
	}
	if f.hit(&f.dup) {
		if c, cdata, ok := f.Queue.Alloc(); ok {
			f.burst = append(f.burst, faultRx{c, append(cdata, data...), meta})
			f.stats.FaultDuplicated++
		}
	}
	if f.hit(&f.reorder) {
		f.held = append(f.held, faultRx{b, data, meta})
		f.stats.FaultReordered++
		return
	}
	f.burst = append(f.burst, faultRx{b, data, meta})
}

// Packet is frame i of the last Poll, as damaged.
func (f *Faults) Packet(i int) (Buf, []byte, RxMeta) {
	r := f.burst[i]
	return r.b, r.data, r.meta
}

// Send damages the frame on its way out, if so configured, and queues
// it. A frame held back goes out after the next one sent, or at the
// next Poll or Flush.
func (f *Faults) Send(b Buf, n int, o Offload) {
	if !f.tx.Load() {
		f.Queue.Send(b, n, o)
		return
	}
	if f.hit(&f.drop) {
		f.Queue.Free(b)
		f.stats.FaultDropped++
		return
	}
	if f.hit(&f.dup) {
		if c, cdata, ok := f.Queue.Alloc(); ok {
			copy(cdata[:n], f.Queue.Data(b)[:n])
			f.Queue.Send(c, n, o)
			f.stats.FaultDuplicated++
		}
	}
	if f.hit(&f.reorder) {
		f.txq = append(f.txq, faultTx{b, n, o})
		f.stats.FaultReordered++
		return
	}
	f.Queue.Send(b, n, o)
	f.releaseTx()
}

func (f *Faults) releaseTx() {
	for _, t := range f.txq {
		f.Queue.Send(t.b, t.n, t.o)
	}
	f.txq = f.txq[:0]
}

// Flush sends what is held back, then flushes the wrapped queue.
func (f *Faults) Flush() {
	f.releaseTx()
	f.Queue.Flush()
}

// Close frees the frames still held back, in both directions.
func (f *Faults) Close() {
	for _, r := range f.held {
		f.Queue.Free(r.b)
	}
	for _, t := range f.txq {
		f.Queue.Free(t.b)
	}
	f.held, f.txq = f.held[:0], f.txq[:0]
}

// Stats adds the faults' counts to the wrapped queue's.
func (f *Faults) Stats() QueueStats {
	s := f.Queue.Stats()
	s.Add(f.stats)
	return s
}
