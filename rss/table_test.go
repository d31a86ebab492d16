package rss

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"pmd/ipv4"
)

func TestNewTable(t *testing.T) {
	cases := []struct {
		size, lcores int
		head         []uint16 // the first entries
		perLcore     []int    // entries each lcore gets
	}{
		{64, 1, []uint16{0, 0, 0}, []int{64}},
		{128, 2, []uint16{0, 1, 0, 1}, []int{64, 64}},
		{128, 3, []uint16{0, 1, 2, 0, 1, 2}, []int{43, 43, 42}},
		{128, 8, []uint16{0, 1, 2, 3, 4, 5, 6, 7, 0}, []int{16, 16, 16, 16, 16, 16, 16, 16}},
		{512, 6, []uint16{0, 1, 2, 3, 4, 5, 0}, []int{86, 86, 85, 85, 85, 85}},
		{4, 4, []uint16{0, 1, 2, 3}, []int{1, 1, 1, 1}},
	}
	for _, c := range cases {
		tb := NewTable(c.size, c.lcores)
		if len(tb.Entries) != c.size {
			t.Errorf("NewTable(%d, %d): %d entries", c.size, c.lcores, len(tb.Entries))
			continue
		}
		if !slices.Equal(tb.Entries[:len(c.head)], c.head) {
			t.Errorf("NewTable(%d, %d) starts %v, want %v", c.size, c.lcores, tb.Entries[:len(c.head)], c.head)
		}
		count := make([]int, c.lcores)
		for _, e := range tb.Entries {
			count[e]++
		}
		if !slices.Equal(count, c.perLcore) {
			t.Errorf("NewTable(%d, %d) entries per lcore %v, want %v", c.size, c.lcores, count, c.perLcore)
		}
	}
}

func TestNewTableBad(t *testing.T) {
	cases := []struct{ size, lcores int }{
		{0, 1}, {-128, 2}, {100, 2}, {129, 2}, {128, 0}, {128, -1}, {4, 5},
	}
	for _, c := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewTable(%d, %d) did not panic", c.size, c.lcores)
				}
			}()
			NewTable(c.size, c.lcores)
		}()
	}
}

func TestLookup(t *testing.T) {
	tb := &Table{Entries: []uint16{10, 11, 12, 13, 14, 15, 16, 17}}
	cases := []struct {
		hash uint32
		want int
	}{
		{0, 10}, {1, 11}, {7, 17}, {8, 10}, {0xfffffff9, 11}, {0x80000003, 13},
	}
	for _, c := range cases {
		if got := tb.Lookup(c.hash); got != c.want {
			t.Errorf("Lookup(%#x) = %d, want %d", c.hash, got, c.want)
		}
	}
}

func TestDistribution(t *testing.T) {
	const n = 400_000
	inputs := []struct {
		name  string
		tuple func(r *rand.Rand, i int) (src, dst ipv4.Addr, sport, dport uint16)
	}{
		{"random", func(r *rand.Rand, i int) (ipv4.Addr, ipv4.Addr, uint16, uint16) {
			return ipv4.Addr(r.Uint32()), ipv4.Addr(r.Uint32()), uint16(r.Uint32()), uint16(r.Uint32())
		}},
		// Clients of one server: few client addresses, ephemeral ports.
		{"clients", func(r *rand.Rand, i int) (ipv4.Addr, ipv4.Addr, uint16, uint16) {
			return 0xc6120100 + ipv4.Addr(r.IntN(16)), 0xc6120001, 32768 + uint16(r.IntN(28232)), 80
		}},
	}
	keys := []struct {
		name string
		key  Key
	}{{"microsoft", MicrosoftKey}, {"symmetric", SymmetricKey}}
	for _, in := range inputs {
		for _, k := range keys {
			for _, lcores := range []int{2, 3, 4, 8} {
				r := rand.New(rand.NewPCG(uint64(lcores), 7))
				o := Owner{H: NewHasher(k.key), T: NewTable(128, lcores)}
				count := make([]int, lcores)
				for i := range n {
					count[o.Of(in.tuple(r, i))]++
				}
				uniform := float64(n) / float64(lcores)
				for l, c := range count {
					if dev := math.Abs(float64(c)/uniform - 1); dev > 0.05 {
						t.Errorf("%s/%s/%d lcores: lcore %d owns %d of %d flows, %.1f%% off uniform",
							in.name, k.name, lcores, l, c, n, 100*dev)
					}
				}
			}
		}
	}
}

// homePortRef is HomePort by brute force: the first port from start
// onwards, wrapping at hi, that hashes home and is free.
func homePortRef(o *Owner, local, remote ipv4.Addr, rport uint16, want int, lo, hi, start uint16, inUse func(uint16) bool) (uint16, bool) {
	if lo > hi {
		return 0, false
	}
	if start < lo || start > hi {
		start = lo
	}
	var order []int
	for p := int(start); p <= int(hi); p++ {
		order = append(order, p)
	}
	for p := int(lo); p < int(start); p++ {
		order = append(order, p)
	}
	for _, p := range order {
		if o.Of(remote, local, rport, uint16(p)) == want && (inUse == nil || !inUse(uint16(p))) {
			return uint16(p), true
		}
	}
	return 0, false
}

func TestHomePortTypicalRange(t *testing.T) {
	const lo, hi = 32768, 60999
	r := rand.New(rand.NewPCG(8, 9))
	for _, key := range []Key{SymmetricKey, MicrosoftKey} {
		h := NewHasher(key)
		for lcores := 1; lcores <= 8; lcores++ {
			o := &Owner{H: h, T: NewTable(128, lcores)}
			for range 20 {
				local, remote := ipv4.Addr(r.Uint32()), ipv4.Addr(r.Uint32())
				rport := uint16(r.Uint32())
				start := lo + uint16(r.IntN(hi-lo+1))
				for want := range lcores {
					port, ok := o.HomePort(local, remote, rport, want, lo, hi, start, nil)
					if !ok {
						t.Fatalf("%d lcores: lcore %d found no home port for %v -> %v:%d", lcores, want, local, remote, rport)
					}
					if port < lo || port > hi {
						t.Fatalf("%d lcores: port %d outside [%d, %d]", lcores, port, lo, hi)
					}
					if got := o.Of(remote, local, rport, port); got != want {
						t.Fatalf("%d lcores: port %d for lcore %d: replies owned by %d", lcores, port, want, got)
					}
					// With the symmetric key the outgoing direction lands
					// home too.
					if key == SymmetricKey {
						if got := o.Of(local, remote, port, rport); got != want {
							t.Fatalf("%d lcores: port %d for lcore %d: own segments owned by %d", lcores, port, want, got)
						}
					}
				}
			}
		}
	}
}

func TestHomePort(t *testing.T) {
	local, remote := ipv4.Addr(0xc6120001), ipv4.Addr(0xc6130002)
	const rport = 80
	o := &Owner{H: NewHasher(SymmetricKey), T: NewTable(128, 4)}
	home := func(want int) func(uint16) bool {
		return func(p uint16) bool { return o.Of(remote, local, rport, p) == want }
	}
	r := rand.New(rand.NewPCG(10, 11))
	half := make([]bool, 1<<16)
	for i := range half {
		half[i] = r.IntN(2) == 0
	}
	cases := []struct {
		name          string
		lo, hi, start uint16
		want          int
		inUse         func(uint16) bool
		wantOK        int // 1 must find, 0 must not, -1 either (checked against the reference)
	}{
		{"free", 40000, 40031, 40000, 1, nil, 1},
		{"start mid", 40000, 40031, 40017, 2, nil, 1},
		{"start below", 40000, 40031, 100, 3, nil, 1},
		{"start above", 40000, 40031, 50000, 0, nil, 1},
		{"half in use", 32768, 60999, 45000, 1, func(p uint16) bool { return half[p] }, 1},
		{"all in use", 40000, 40031, 40010, 1, func(uint16) bool { return true }, 0},
		{"every home port in use", 40000, 40031, 40010, 2, home(2), 0},
		{"every home port in use, wide", 1024, 65535, 30000, 3, home(3), 0},
		{"all but the last in use", 40000, 40031, 40010, 0, func(p uint16) bool { return p != 40031 && p != 40032 }, -1},
		{"top of range", 65400, 65535, 65535, 1, nil, 1},
		{"whole range", 0, 65535, 65535, 3, func(p uint16) bool { return half[p] }, 1},
		{"one port", 40000, 40000, 40000, 0, nil, -1},
		{"lo above hi", 40031, 40000, 40010, 0, nil, 0},
	}
	for _, c := range cases {
		port, ok := o.HomePort(local, remote, rport, c.want, c.lo, c.hi, c.start, c.inUse)
		refPort, refOK := homePortRef(o, local, remote, rport, c.want, c.lo, c.hi, c.start, c.inUse)
		if port != refPort || ok != refOK {
			t.Errorf("%s: HomePort = %d, %v; reference %d, %v", c.name, port, ok, refPort, refOK)
		}
		if c.wantOK >= 0 && ok != (c.wantOK == 1) {
			t.Errorf("%s: HomePort ok = %v, want %v", c.name, ok, c.wantOK == 1)
		}
		if !ok {
			continue
		}
		if port < c.lo || port > c.hi {
			t.Errorf("%s: port %d outside [%d, %d]", c.name, port, c.lo, c.hi)
		}
		if c.inUse != nil && c.inUse(port) {
			t.Errorf("%s: port %d is in use", c.name, port)
		}
		if got := o.Of(remote, local, rport, port); got != c.want {
			t.Errorf("%s: port %d owned by lcore %d, want %d", c.name, port, got, c.want)
		}
	}
	// The "every home port in use" cases mean something only if the
	// ranges hold home ports.
	for _, c := range []struct {
		lo, hi uint16
		want   int
	}{{40000, 40031, 2}, {1024, 65535, 3}} {
		if _, ok := o.HomePort(local, remote, rport, c.want, c.lo, c.hi, c.lo, nil); !ok {
			t.Errorf("[%d, %d] holds no home port for lcore %d", c.lo, c.hi, c.want)
		}
	}
}

// TestHomePortRandom checks HomePort against the reference on random
// flows, ranges and in-use sets.
func TestHomePortRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 13))
	inUse := make([]bool, 1<<16)
	used := func(p uint16) bool { return inUse[p] }
	for i := range 300 {
		key := MicrosoftKey
		if i%2 == 0 {
			key = SymmetricKey
		}
		lcores := 1 + r.IntN(8)
		o := &Owner{H: NewHasher(key), T: NewTable(64<<r.IntN(4), lcores)}
		local, remote := ipv4.Addr(r.Uint32()), ipv4.Addr(r.Uint32())
		rport := uint16(r.Uint32())
		lo := uint16(r.IntN(1 << 16))
		hi := lo + uint16(r.IntN(min(1<<16-int(lo), 512)))
		start := uint16(r.IntN(1 << 16))
		if r.IntN(2) == 0 {
			start = lo + uint16(r.IntN(int(hi-lo)+1))
		}
		density := r.Float64()
		for p := int(lo); p <= int(hi); p++ {
			inUse[p] = r.Float64() < density
		}
		want := r.IntN(lcores)
		port, ok := o.HomePort(local, remote, rport, want, lo, hi, start, used)
		refPort, refOK := homePortRef(o, local, remote, rport, want, lo, hi, start, used)
		if port != refPort || ok != refOK {
			t.Fatalf("case %d [%d, %d] from %d: HomePort = %d, %v; reference %d, %v", i, lo, hi, start, port, ok, refPort, refOK)
		}
		clear(inUse)
	}
}

func TestNoAllocs(t *testing.T) {
	o := &Owner{H: NewHasher(SymmetricKey), T: NewTable(128, 4)}
	local, remote := ipv4.Addr(0xc6120001), ipv4.Addr(0xc6130002)
	inUse := make([]bool, 1<<16)
	for p := range inUse {
		inUse[p] = p%3 != 0
	}
	used := func(p uint16) bool { return inUse[p] }
	var p uint16
	cases := []struct {
		name string
		f    func()
	}{
		{"HashTuple", func() { p++; sink ^= o.H.HashTuple(local, remote, p, 80) }},
		{"HashIPv4", func() { p++; sink ^= o.H.HashIPv4(local, remote+ipv4.Addr(p)) }},
		{"Of", func() { p++; sink ^= uint32(o.Of(remote, local, 80, p)) }},
		{"HomePort", func() {
			p++
			port, _ := o.HomePort(local, remote, 80, int(p%4), 32768, 60999, 32768+p%1000, used)
			sink ^= uint32(port)
		}},
		{"HomePort closure", func() {
			p++
			n := 0
			port, _ := o.HomePort(local, remote, 80, int(p%4), 32768, 60999, 32768+p%1000, func(q uint16) bool { n++; return inUse[q] })
			sink ^= uint32(port) + uint32(n)
		}},
	}
	for _, c := range cases {
		if a := testing.AllocsPerRun(1000, c.f); a != 0 {
			t.Errorf("%s: %v allocations per run, want 0", c.name, a)
		}
	}
}

func BenchmarkOf(b *testing.B) {
	o := &Owner{H: NewHasher(SymmetricKey), T: NewTable(128, 4)}
	var p uint16
	for b.Loop() {
		p++
		sink ^= uint32(o.Of(0xc6130002, 0xc6120001, p, 80))
	}
}

func BenchmarkHomePort(b *testing.B) {
	o := &Owner{H: NewHasher(SymmetricKey), T: NewTable(128, 8)}
	var p uint16
	for b.Loop() {
		p++
		port, _ := o.HomePort(0xc6120001, 0xc6130002, 80, int(p%8), 32768, 60999, 32768+p%28000, nil)
		sink ^= uint32(port)
	}
}
