package tcp

import (
	"math/rand/v2"
	"testing"

	"github.com/pmdstack/pmd/ipv4"
)

// TestConnTableAgainstMap runs random puts and deletes against a map, with
// tables small enough that runs wrap around the end of the array and
// backward shifts cross it.
func TestConnTableAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, max := range []int{1, 3, 8, 64, 1000} {
		var tab connTable
		tab.init(max, newSipKey([16]byte{byte(max)}))
		model := map[FourTuple]*Conn{}
		// Few distinct tuples, so that puts hit present keys and deletes
		// hit absent ones often.
		pool := make([]FourTuple, 3*max)
		for i := range pool {
			pool[i] = FourTuple{Local: ipv4.Addr(0xc6120001), Remote: ipv4.Addr(0xc6120002 + r.Uint32N(4)), LocalPort: uint16(r.Uint32()), RemotePort: 80}
		}
		conns := make([]Conn, len(pool))
		for step := 0; step < 20000; step++ {
			k := r.IntN(len(pool))
			id := pool[k]
			switch {
			case r.IntN(2) == 0 && (len(model) < max || model[id] != nil):
				tab.put(id, &conns[k])
				model[id] = &conns[k]
			default:
				tab.del(id)
				delete(model, id)
			}
			if tab.len() != len(model) {
				t.Fatalf("max %d step %d: len %d, want %d", max, step, tab.len(), len(model))
			}
			for _, id := range pool {
				if got, want := tab.get(id), model[id]; got != want {
					t.Fatalf("max %d step %d: get(%v) = %p, want %p", max, step, id, got, want)
				}
			}
		}
		seen := 0
		tab.each(func(c *Conn) { seen++ })
		if seen != len(model) {
			t.Fatalf("max %d: each saw %d, want %d", max, seen, len(model))
		}
	}
}

// TestConnTableKeyed checks that two stacks with different secrets place the
// same tuples differently: a peer cannot precompute colliding tuples.
func TestConnTableKeyed(t *testing.T) {
	var a, b connTable
	a.init(1024, newSipKey([16]byte{1}))
	b.init(1024, newSipKey([16]byte{2}))
	same := 0
	for p := range 1000 {
		id := FourTuple{Local: 1, Remote: 2, LocalPort: 80, RemotePort: uint16(p)}
		if a.home(&id) == b.home(&id) {
			same++
		}
	}
	if same > 10 {
		t.Fatalf("%d of 1000 tuples share a home under two keys", same)
	}
}

// TestConnTableSpread fills a table to MaxConns with tuples that differ only
// in the remote port, the case of one client, and checks that the longest
// probe stays short.
func TestConnTableSpread(t *testing.T) {
	const full = 65536
	var tab connTable
	tab.init(full, newSipKey([16]byte{9}))
	c := new(Conn)
	for p := range full {
		tab.put(FourTuple{Local: 1, Remote: 2, LocalPort: 80, RemotePort: uint16(p)}, c)
	}
	longest, run := 0, 0
	for i := range 2 * len(tab.slots) { // twice round: runs that wrap
		if tab.slots[i&int(tab.mask)].c != nil {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	if longest > 64 {
		t.Fatalf("longest run %d slots at half load", longest)
	}
}

func BenchmarkConnTableGet(b *testing.B) {
	const n = 4096
	var tab connTable
	tab.init(65536, newSipKey([16]byte{5}))
	m := make(map[FourTuple]*Conn, 65536)
	ids := make([]FourTuple, n)
	c := new(Conn)
	for i := range ids {
		ids[i] = FourTuple{Local: 0xc6120001, Remote: 0xc6120002, LocalPort: 80, RemotePort: uint16(10000 + i)}
		tab.put(ids[i], c)
		m[ids[i]] = c
	}
	b.Run("table", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if tab.get(ids[i&(n-1)]) == nil {
				b.Fatal("missing")
			}
			i += 7
		}
	})
	b.Run("map", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if m[ids[i&(n-1)]] == nil {
				b.Fatal("missing")
			}
			i += 7
		}
	})
}
