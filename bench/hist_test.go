package bench

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestBucketsMonotonic(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<20; v += 1 + v/64 {
		b := bucket(v)
		if b < prev {
			t.Fatalf("bucket(%d) = %d < %d", v, b, prev)
		}
		if low(b) > v || low(b+1) <= v {
			t.Fatalf("value %d outside its bucket %d [%d, %d)", v, b, low(b), low(b+1))
		}
		prev = b
	}
}

func TestQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Hist
	var vals []float64
	for i := 0; i < 100000; i++ {
		v := time.Duration(rng.ExpFloat64() * 20000)
		h.Record(v)
		vals = append(vals, float64(v))
	}
	sort.Float64s(vals)
	for _, q := range []float64{0.5, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)-1))]
		got := float64(h.Quantile(q))
		if got < exact*0.93 || got > exact*1.07 {
			t.Errorf("q%.3f = %v, exact %v", q, got, exact)
		}
	}
	if a := testing.AllocsPerRun(1000, func() { h.Record(12345) }); a != 0 {
		t.Fatalf("%v allocations per Record", a)
	}
}
