package rss

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pmdstack/pmd/ipv4"
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

func TestNoAllocs(t *testing.T) {
	o := &Owner{H: NewHasher(SymmetricKey), T: NewTable(128, 4)}
	local, remote := ipv4.Addr(0xc6120001), ipv4.Addr(0xc6130002)
	var p uint16
	cases := []struct {
		name string
		f    func()
	}{
		{"HashTuple", func() { p++; sink ^= o.H.HashTuple(local, remote, p, 80) }},
		{"HashIPv4", func() { p++; sink ^= o.H.HashIPv4(local, remote+ipv4.Addr(p)) }},
		{"Of", func() { p++; sink ^= uint32(o.Of(remote, local, 80, p)) }},
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
