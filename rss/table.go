package rss

import "github.com/pmdstack/pmd/ipv4"

// Table is a redirection table (RETA): it maps a hash to a queue, which is
// also the index of the lcore that polls it. As in NICs, the index into
// Entries is the low bits of the hash, so len(Entries) must be a power of
// two; programming a NIC's RETA with the same entries and key makes the
// hardware and the software agree on every flow's owner.
type Table struct {
	Entries []uint16
}

// NewTable returns a table of size entries spread round-robin over lcores:
// entry i is i % lcores. Size is a power of two (64 to 512 is typical for
// NICs); when lcores does not divide size some lcores get one entry more.
// It panics if size is not a power of two or lcores is not in 1..size:
// both come from a configuration checked before.
func NewTable(size, lcores int) *Table {
	if size <= 0 || size&(size-1) != 0 {
		panic("rss: RETA size must be a power of two")
	}
	if lcores < 1 || lcores > size || lcores > 1<<16 {
		panic("rss: RETA lcore count out of range")
	}
	t := &Table{Entries: make([]uint16, size)}
	for i := range t.Entries {
		t.Entries[i] = uint16(i % lcores)
	}
	return t
}

// Lookup returns the lcore (queue) that hash is steered to.
func (t *Table) Lookup(hash uint32) int {
	return int(t.Entries[hash&uint32(len(t.Entries)-1)])
}

// Owner tells which lcore owns a flow: the same hash and table the NIC
// uses, so that software agrees with the queue a packet arrived on.
type Owner struct {
	H *Hasher
	T *Table
}

// Of returns the lcore that owns the flow of a packet as it is received:
// src and sport are the remote end, dst and dport the local one.
func (o *Owner) Of(src, dst ipv4.Addr, sport, dport uint16) int {
	return o.T.Lookup(o.H.HashTuple(src, dst, sport, dport))
}
