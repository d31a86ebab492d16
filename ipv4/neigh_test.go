package ipv4

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const ttl = int64(60 * time.Second)

// macOf gives every address its own MAC, so readers can tell a torn entry.
func macOf(a Addr) MAC {
	b := a.As4()
	return MAC{0x02, 0x00, b[0], b[1], b[2], b[3]}
}

func TestNeighboursLookup(t *testing.T) {
	n := NewNeighbours(8, time.Duration(ttl))
	n.Update(pmdIP, pmdMAC, 1000)
	n.Update(peerIP, peerMAC, 1000)
	tests := []struct {
		name string
		a    Addr
		now  int64
		want MAC
		ok   bool
	}{
		{"present", peerIP, 1000, peerMAC, true},
		{"other", pmdIP, 1000, pmdMAC, true},
		{"absent", peerIP + 1, 1000, MAC{}, false},
		{"below all", 0, 1000, MAC{}, false},
		{"above all", 0xffffffff, 1000, MAC{}, false},
		{"exactly ttl old", peerIP, 1000 + ttl, peerMAC, true},
		{"older than ttl", peerIP, 1000 + ttl + 1, MAC{}, false},
	}
	for _, tt := range tests {
		m, ok := n.Lookup(tt.a, tt.now)
		if m != tt.want || ok != tt.ok {
			t.Errorf("%s: Lookup(%v) = %v, %v", tt.name, tt.a, m, ok)
		}
	}
	if n.Len() != 2 {
		t.Errorf("Len = %d", n.Len())
	}
}

func TestNeighboursRefresh(t *testing.T) {
	n := NewNeighbours(8, time.Duration(ttl))
	n.Update(peerIP, peerMAC, 0)
	first := n.cur.Load()

	n.Update(peerIP, peerMAC, ttl/4) // young enough: no copy
	if n.cur.Load() != first || n.Snapshot()[0].Seen != 0 {
		t.Error("refresh within ttl/4 copied the table")
	}
	n.Update(peerIP, peerMAC, ttl/4+1)
	if n.cur.Load() == first || n.Snapshot()[0].Seen != ttl/4+1 {
		t.Error("refresh after ttl/4 was not recorded")
	}
	n.Update(peerIP, pmdMAC, ttl/4+2) // a new MAC is taken at once
	if m, _ := n.Lookup(peerIP, ttl/4+2); m != pmdMAC || n.Snapshot()[0].Seen != ttl/4+2 {
		t.Errorf("changed MAC: %v", m)
	}
	if n.Len() != 1 {
		t.Errorf("Len = %d", n.Len())
	}
}

func TestNeighboursEvictOldest(t *testing.T) {
	n := NewNeighbours(3, time.Duration(ttl))
	n.Update(30, macOf(30), 300)
	n.Update(10, macOf(10), 100) // oldest
	n.Update(20, macOf(20), 200)
	n.Update(25, macOf(25), 400)
	got := n.Snapshot()
	want := []Neighbour{{20, macOf(20), 200}, {25, macOf(25), 400}, {30, macOf(30), 300}}
	if !slices.Equal(got, want) {
		t.Errorf("after eviction %v, want %v", got, want)
	}
	n.Update(5, macOf(5), 500) // evicts 20, inserts in front
	if got := n.Snapshot(); len(got) != 3 || got[0].Addr != 5 || got[1].Addr != 25 {
		t.Errorf("after second eviction %v", got)
	}
	n.Update(30, macOf(30), 600) // present: refresh, no eviction
	if n.Len() != 3 {
		t.Errorf("Len = %d", n.Len())
	}
}

func TestNeighboursExpire(t *testing.T) {
	n := NewNeighbours(8, time.Duration(ttl))
	for i, seen := range []int64{0, 10, 20, 30} {
		n.Update(Addr(i+1), macOf(Addr(i+1)), seen)
	}
	before := n.cur.Load()
	if got := n.Expire(ttl); got != 0 || n.cur.Load() != before {
		t.Errorf("Expire at ttl removed %d or copied", got)
	}
	if got := n.Expire(ttl + 15); got != 2 {
		t.Errorf("Expire removed %d, want 2", got)
	}
	if s := n.Snapshot(); len(s) != 2 || s[0].Addr != 3 || s[1].Addr != 4 {
		t.Errorf("left %v", s)
	}
	if got := n.Expire(2 * ttl); got != 2 || n.Len() != 0 {
		t.Errorf("Expire removed %d, Len %d", got, n.Len())
	}
}

func TestNeighboursSnapshotIsACopy(t *testing.T) {
	n := NewNeighbours(8, time.Duration(ttl))
	if s := n.Snapshot(); len(s) != 0 {
		t.Errorf("empty table: %v", s)
	}
	for _, a := range []Addr{9, 3, 7, 1} {
		n.Update(a, macOf(a), 0)
	}
	s := n.Snapshot()
	if !slices.IsSortedFunc(s, func(x, y Neighbour) int { return cmp.Compare(x.Addr, y.Addr) }) {
		t.Errorf("not sorted: %v", s)
	}
	s[0].MAC = MAC{}
	if m, _ := n.Lookup(1, 0); m != macOf(1) {
		t.Error("writing the snapshot changed the table")
	}
}

func TestNeighboursLookupAllocs(t *testing.T) {
	n := NewNeighbours(64, time.Duration(ttl))
	for a := range Addr(64) {
		n.Update(a*3, macOf(a*3), 0)
	}
	var ok bool
	allocs := testing.AllocsPerRun(1000, func() {
		_, ok = n.Lookup(30, 1)
		_, _ = n.Lookup(31, 1)
	})
	if allocs != 0 || !ok {
		t.Errorf("Lookup allocates %v times (found %v)", allocs, ok)
	}
}

// TestNeighboursConcurrent runs readers against one writer; run with -race.
func TestNeighboursConcurrent(t *testing.T) {
	n := NewNeighbours(32, 8) // a ttl of 8ns: refreshes, evictions and expiry all happen
	var stop atomic.Bool
	var wg sync.WaitGroup
	var hits atomic.Int64
	for range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				a := Addr(i % 64)
				if m, ok := n.Lookup(a, 0); ok {
					hits.Add(1)
					if m != macOf(a) {
						t.Errorf("Lookup(%v) = %v", a, m)
						return
					}
				}
				_ = n.Len()
			}
		})
	}
	for i := range 20000 {
		a := Addr(i * 7 % 64)
		n.Update(a, macOf(a), int64(i))
		if i%100 == 0 {
			n.Expire(int64(i))
			_ = n.Snapshot()
		}
	}
	stop.Store(true)
	wg.Wait()
	if n.Len() > 32 {
		t.Errorf("Len = %d above max", n.Len())
	}
	t.Logf("%d hits", hits.Load())
}

func TestNewNeighboursPanics(t *testing.T) {
	for _, tt := range []struct {
		max int
		ttl time.Duration
	}{{0, time.Second}, {-1, time.Second}, {1, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewNeighbours(%d, %v) did not panic", tt.max, tt.ttl)
				}
			}()
			NewNeighbours(tt.max, tt.ttl)
		}()
	}
}
