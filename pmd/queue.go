package pmd

/*
#include <stdlib.h>
#include "queue.h"
*/
import "C"

import (
	"unsafe"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/prefetch"
)

// BurstMax is the largest burst a queue receives at once.
const BurstMax = C.PMD_BURST_MAX

// Queue is one RX/TX queue pair of a port, polled by one lcore. It
// implements dev.Queue with one cgo crossing per Poll and none per packet.
type Queue struct {
	c       *C.struct_pmd_q
	h       C.uintptr_t // c as an integer, for the calls made per poll
	caps    ipv4.ChecksumCaps
	trusted bool // every frame's checksums count as good
	flushAt int  // Send flushes once this many packets are queued
	queued  int  // frames Send queued since the last Poll
}

var _ dev.Queue = (*Queue)(nil)

// prefetch.Write steps by the line DPDK was built for (compiles only when
// the two agree).
var _ = [1]struct{}{}[prefetch.LineSize-C.RTE_CACHE_LINE_SIZE]

func newQueue(port, queue uint16, burst int, pool unsafe.Pointer, caps ipv4.ChecksumCaps, trusted bool, vlan VLANMode) *Queue {
	c := (*C.struct_pmd_q)(C.calloc(1, C.sizeof_struct_pmd_q))
	c.port = C.uint16_t(port)
	c.queue = C.uint16_t(queue)
	c.burst = C.uint16_t(burst)
	c.pool = (*C.struct_rte_mempool)(pool)
	if vlan.HWInsert {
		c.vlan_hw_insert = 1
	}
	if vlan.On && !vlan.HWStrip {
		c.vlan_sw_strip = 1
	}
	q := &Queue{c: c, h: C.uintptr_t(uintptr(unsafe.Pointer(c))), caps: caps, trusted: trusted}
	q.rearm()
	return q
}

// release gives back every mbuf the queue holds and its C memory.
func (q *Queue) release() {
	if q.c == nil {
		return
	}
	c := q.c
	for i := 0; i < int(c.ntx); i++ {
		C.rte_pktmbuf_free(c.tx[i])
	}
	for i := 0; i < int(c.nstash); i++ {
		C.rte_pktmbuf_free(c.stash[i])
	}
	c.ntx, c.nprep, c.nstash = 0, 0, 0
	C.pmd_q_free(c)
	C.free(unsafe.Pointer(c))
	q.c = nil
}

func mbuf(b dev.Buf) *C.struct_rte_mbuf {
	// A Buf holds a C pointer; reinterpreting its bits keeps vet's
	// uintptr rule satisfied without a crossing into C.
	return *(**C.struct_rte_mbuf)(unsafe.Pointer(&b))
}

func handle(m *C.struct_rte_mbuf) dev.Buf { return dev.Buf(uintptr(unsafe.Pointer(m))) }

// Poll flushes, frees, refills the allocation stash and receives a burst.
// The burst's size sets how Send hands frames over until the next Poll.
func (q *Queue) Poll() int {
	n := int(C.pmd_q_poll_h(q.h))
	q.queued = 0
	q.rearm()
	return n
}

// Flush transmits what is queued.
func (q *Queue) Flush() {
	C.pmd_q_flush_h(q.h)
	q.rearm()
}

// handover is how many frames Send gathers before it hands them to the
// device, given whether the last poll received a partial burst (or none)
// and how many frames Send has queued since:
//
//   - two bursts at a time as a rule: while they are still in the cache,
//     not all at the next poll (a sender with a wide window queues
//     hundreds in one poll), yet with one crossing into C for many;
//   - a quarter burst at a time for the first burst's worth after a
//     partial burst: the lcore has caught up, and its peer may be idle,
//     waiting for the replies to what the burst brought. Handed over as
//     they come, the first replies keep the peer busy while this lcore
//     computes the rest; held for the next poll, connections in lockstep
//     (rr, crr and http with 16 connections) take turns on the two CPUs
//     of a pair, one working while the other waits (README, Performance).
func handover(partial bool, queued, burst int) int {
	if partial && queued < burst {
		return max(1, burst/4)
	}
	return 2 * burst
}

// rearm sets when Send next flushes: a handover's worth of frames after
// what a flush left queued (see Send).
func (q *Queue) rearm() {
	c := q.c
	q.flushAt = int(c.ntx) + handover(c.nrx < c.burst, q.queued, int(c.burst))
}

// Packet is received packet i of the last Poll.
func (q *Queue) Packet(i int) (dev.Buf, []byte, dev.RxMeta) {
	c := q.c
	data := unsafe.Slice((*byte)(c.rxdata[i]), int(c.rxroom[i]))[:c.rxlen[i]]
	ol := uint64(c.rxol[i])
	meta := dev.RxMeta{
		IPCksum: rxVerdict(ol, C.RTE_MBUF_F_RX_IP_CKSUM_MASK, C.RTE_MBUF_F_RX_IP_CKSUM_GOOD, C.RTE_MBUF_F_RX_IP_CKSUM_BAD),
		L4Cksum: rxVerdict(ol, C.RTE_MBUF_F_RX_L4_CKSUM_MASK, C.RTE_MBUF_F_RX_L4_CKSUM_GOOD, C.RTE_MBUF_F_RX_L4_CKSUM_BAD),
		HasHash: ol&C.RTE_MBUF_F_RX_RSS_HASH != 0,
		Hash:    uint32(c.rxhash[i]),
		VLAN:    uint16(c.rxvlan[i]),
	}
	if q.trusted {
		meta.IPCksum, meta.L4Cksum = ipv4.RxCksumGood, ipv4.RxCksumGood
	}
	return handle(c.rx[i]), data, meta
}

func rxVerdict(ol, mask, good, bad uint64) ipv4.RxChecksum {
	switch ol & mask {
	case good:
		return ipv4.RxCksumGood
	case bad:
		return ipv4.RxCksumBad
	}
	return ipv4.RxCksumUnknown
}

// Alloc takes a fresh mbuf from the stash that Poll refills in bulk.
func (q *Queue) Alloc() (dev.Buf, []byte, bool) {
	c := q.c
	if c.nstash == 0 {
		C.pmd_q_refill_h(q.h)
		if c.nstash == 0 {
			c.alloc_fail++
			return 0, nil, false
		}
	}
	c.nstash--
	i := c.nstash
	return handle(c.stash[i]), unsafe.Slice((*byte)(c.stashdata[i]), int(c.stashroom[i]))[:0], true
}

// Send queues b for the next flush. When the TX array is full it flushes
// now; when the device still refuses, b is freed and counted.
func (q *Queue) Send(b dev.Buf, n int, o dev.Offload) {
	c := q.c
	if c.ntx == C.PMD_TX_MAX {
		q.Flush()
		if c.ntx == C.PMD_TX_MAX {
			c.tx_full++
			q.Free(b)
			return
		}
	}
	c.tx[c.ntx] = mbuf(b)
	c.txlen[c.ntx] = C.uint16_t(n)
	c.txoff[c.ntx] = C.uint32_t(o)
	c.ntx++
	q.queued++
	// The next Alloc most likely writes a frame as long as this one (a
	// stream's segments are all full). The refill asked for its headers'
	// lines; ask for the rest now, so that lines another CPU read last
	// (a zero-copy peer's copy of the frame before) change hands while
	// this frame goes on its way, not at the payload copy's stores.
	if i := c.nstash; i > 0 && n > C.PMD_STASH_PREFETCHED {
		next := c.stashdata[i-1]
		prefetch.Write(unsafe.Add(next, C.PMD_STASH_PREFETCHED), min(n, int(c.stashroom[i-1]))-C.PMD_STASH_PREFETCHED)
	}
	// Hand the device what is queued as it gathers, not all at the next
	// poll (handover says how much at a time). What the device refuses
	// stays queued; the next attempt waits for another handover's worth,
	// not for the next packet.
	if int(c.ntx) >= q.flushAt {
		q.Flush()
	}
}

// CanSend reports whether Send would queue a frame now: the queue has
// room, or has it after handing the device what it holds.
func (q *Queue) CanSend() bool {
	if q.c.ntx < C.PMD_TX_MAX {
		return true
	}
	q.Flush()
	return q.c.ntx < C.PMD_TX_MAX
}

// Free releases b on the next flush (in bulk).
func (q *Queue) Free(b dev.Buf) {
	c := q.c
	if c.nfree == C.PMD_FREE_MAX {
		C.pmd_q_free_h(q.h)
	}
	c.free[c.nfree] = mbuf(b)
	c.nfree++
}

// Data is b's bytes from the frame's start (data_off) to the end of the
// buffer, read from the mbuf in place.
func (q *Queue) Data(b dev.Buf) []byte {
	m := mbuf(b)
	return unsafe.Slice((*byte)(unsafe.Add(m.buf_addr, int(m.data_off))), int(m.buf_len)-int(m.data_off))
}

// Caps says which checksums the device handles for this queue's port.
func (q *Queue) Caps() ipv4.ChecksumCaps { return q.caps }

// Stats are the queue's own counters.
func (q *Queue) Stats() dev.QueueStats {
	c := q.c
	return dev.QueueStats{TxFull: uint64(c.tx_full), AllocFail: uint64(c.alloc_fail), MultiSeg: uint64(c.multiseg), VLANInsertFail: uint64(c.vlan_insert_fail)}
}
