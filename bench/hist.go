// Package bench holds what pmd's load generator (pmd bench) and the
// kernel baseline (kbench) share: the workload definitions, a latency
// histogram and the report format, so both are measured alike.
package bench

import (
	"math/bits"
	"time"
)

// Hist is a log-linear latency histogram: 16 sub-buckets per power of two
// of nanoseconds (at most 6.25% error), fixed size, no allocation to
// record. One goroutine or lcore records; Merge combines them afterwards.
type Hist struct {
	counts [64 * subBuckets]uint64
	n      uint64
	sum    uint64
	max    uint64
}

const (
	subBits    = 4
	subBuckets = 1 << subBits
)

func bucket(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v in [2^e, 2^(e+1))
	sub := int(v>>(uint(e)-subBits)) & (subBuckets - 1)
	return (e-subBits+1)*subBuckets + sub
}

// low is the smallest value of bucket i.
func low(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	e := i/subBuckets + subBits - 1
	sub := uint64(i % subBuckets)
	return (1 << uint(e)) | sub<<(uint(e)-subBits)
}

// Record adds one latency.
func (h *Hist) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucket(v)]++
	h.n++
	h.sum += v
	h.max = max(h.max, v)
}

// Merge adds o's counts to h.
func (h *Hist) Merge(o *Hist) {
	for i := range h.counts {
		h.counts[i] += o.counts[i]
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Reset empties h.
func (h *Hist) Reset() { *h = Hist{} }

// Count is the number of values recorded.
func (h *Hist) Count() uint64 { return h.n }

// Quantile is the latency at q (0..1): the middle of the bucket holding
// it.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := low(i), low(i+1)
			return time.Duration(min((lo+hi)/2, h.max))
		}
	}
	return time.Duration(h.max)
}

// Mean is the average latency.
func (h *Hist) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}
