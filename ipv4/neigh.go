package ipv4

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// Neighbour is one entry of a Neighbours table.
type Neighbour struct {
	Addr Addr
	MAC  MAC
	Seen int64 // when the mapping was last confirmed, on the caller's clock
}

// Neighbours maps IPv4 addresses to MAC addresses learned from ARP, for
// many readers and one writer without locks.
//
// The entries form an immutable slice sorted by address, published through
// an atomic pointer: Lookup loads it and searches it, and never allocates
// or waits. Update and Expire copy the slice, change the copy and publish
// it. They must be called from one goroutine at a time (the one that handles
// ARP); any goroutine may call Lookup, Len and Snapshot.
//
// Times are nanoseconds of one monotonic clock, passed in by the caller. An
// entry not confirmed for longer than the ttl is no longer returned, and
// Expire removes it. Make one with NewNeighbours.
type Neighbours struct {
	cur   atomic.Pointer[[]Neighbour]
	limit int
	ttl   int64
}

// NewNeighbours returns an empty table of at most limit entries that live
// for ttl. It panics if limit or ttl is not positive.
func NewNeighbours(limit int, ttl time.Duration) *Neighbours {
	if limit < 1 || ttl <= 0 {
		panic(fmt.Sprintf("ipv4: NewNeighbours(%d, %v): both must be positive", limit, ttl))
	}
	n := &Neighbours{limit: limit, ttl: int64(ttl)}
	n.cur.Store(new([]Neighbour))
	return n
}

// TTL is how long an entry lives unless confirmed again.
func (n *Neighbours) TTL() int64 { return n.ttl }

// search returns the index of a in e, or where it would be inserted.
func search(e []Neighbour, a Addr) (int, bool) {
	lo, hi := 0, len(e)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if e[m].Addr < a {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(e) && e[lo].Addr == a
}

// Lookup returns the MAC address of a if the table has one confirmed no
// longer than the ttl before now. It does not allocate.
func (n *Neighbours) Lookup(a Addr, now int64) (MAC, bool) {
	m, _, _, ok := n.LookupVersion(a, now)
	return m, ok
}

// NeighVersion identifies one state of a Neighbours table: every Update or
// Expire that changes the table makes a new one. Comparable with ==.
type NeighVersion struct{ p *[]Neighbour }

// Version is the table's current state, for callers that keep an answer of
// Lookup and must know when it may have changed.
func (n *Neighbours) Version() NeighVersion { return NeighVersion{n.cur.Load()} }

// LookupVersion is Lookup that also returns the time until which the answer
// holds (when the entry expires unless refreshed) and the state of the
// table it came from: while Version still returns v and now is before
// until, Lookup would give the same answer.
func (n *Neighbours) LookupVersion(a Addr, now int64) (m MAC, until int64, v NeighVersion, ok bool) {
	p := n.cur.Load()
	e := *p
	i, found := search(e, a)
	if !found || now-e[i].Seen > n.ttl {
		return MAC{}, 0, NeighVersion{p}, false
	}
	return e[i].MAC, e[i].Seen + n.ttl, NeighVersion{p}, true
}

// Update records that a is at m at time now: it inserts the entry, or
// changes or refreshes it. A full table first evicts its oldest entry. To
// spare a copy per ARP packet, an entry that keeps its MAC address is only
// refreshed once it is more than ttl/4 old, so an entry may expire up to
// ttl/4 early. Writer only.
func (n *Neighbours) Update(a Addr, m MAC, now int64) {
	e := *n.cur.Load()
	i, ok := search(e, a)
	if ok {
		if e[i].MAC == m && now-e[i].Seen <= n.ttl/4 {
			return
		}
		next := slices.Clone(e)
		next[i] = Neighbour{Addr: a, MAC: m, Seen: now}
		n.cur.Store(&next)
		return
	}
	next := make([]Neighbour, 0, len(e)+1)
	if len(e) >= n.limit {
		old := 0
		for j := range e {
			if e[j].Seen < e[old].Seen {
				old = j
			}
		}
		next = append(append(next, e[:old]...), e[old+1:]...)
		i, _ = search(next, a)
	} else {
		next = append(next, e...)
	}
	next = slices.Insert(next, i, Neighbour{Addr: a, MAC: m, Seen: now})
	n.cur.Store(&next)
}

// Expire removes the entries older than the ttl at now and returns how
// many it removed. Writer only.
func (n *Neighbours) Expire(now int64) int {
	e := *n.cur.Load()
	stale := func(x Neighbour) bool { return now-x.Seen > n.ttl }
	if !slices.ContainsFunc(e, stale) {
		return 0
	}
	next := slices.DeleteFunc(slices.Clone(e), stale)
	n.cur.Store(&next)
	return len(e) - len(next)
}

// Len returns the number of entries, expired ones not yet removed included.
func (n *Neighbours) Len() int { return len(*n.cur.Load()) }

// Snapshot returns a copy of the entries, sorted by address.
func (n *Neighbours) Snapshot() []Neighbour { return slices.Clone(*n.cur.Load()) }
