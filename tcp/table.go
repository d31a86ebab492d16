package tcp

import "math/bits"

// connTable is an lcore's connection table: open addressing with linear
// probing over a power-of-two array of at least twice MaxConns slots, so
// that it is never more than half full and a lookup usually reads one slot.
// The tuple sits in the slot beside the pointer: a hit or a miss costs one
// cache line and no pointer chasing. Deletion shifts the following entries
// of the run back (no tombstones), so lookups never slow down with churn.
//
// The hash is keyed with two 64-bit values drawn from the stack's secret, so
// that a peer that chooses its addresses and ports cannot aim them at one
// run of slots. The array is allocated once, when the stack is made; the
// table never grows or rehashes.
type connTable struct {
	slots  []connSlot
	mask   uint64
	n      int
	k0, k1 uint64
}

// minSlots is the smallest table, for the tiny MaxConns of tests.
const minSlots = 16

type connSlot struct {
	id FourTuple
	c  *Conn // nil: the slot is empty
}

func (t *connTable) init(maxConns int, key sipKey) {
	size := max(pow2(2*maxConns), minSlots)
	t.slots = make([]connSlot, size)
	t.mask = uint64(size - 1)
	// Inputs no ISN takes (its second word is below 2^32): the table's
	// keys are unrelated to the sequence-number secret's other uses.
	t.k0 = key.sum(^uint64(0), 0x6c6261746e6e6f63)
	t.k1 = key.sum(^uint64(1), 0x6c6261746e6e6f63)
}

// home is the slot where id's probe starts: the two halves of a 128-bit
// product of the keyed tuple, folded.
func (t *connTable) home(id *FourTuple) uint64 {
	a := (uint64(id.Local)<<32 | uint64(id.Remote)) ^ t.k0
	b := (uint64(id.LocalPort)<<16 | uint64(id.RemotePort)) ^ t.k1
	hi, lo := bits.Mul64(a, b)
	return (hi ^ lo) & t.mask
}

func (t *connTable) get(id FourTuple) *Conn {
	for i := t.home(&id); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.c == nil || s.id == id {
			return s.c
		}
	}
}

// put enters c under id, replacing what was there. The caller keeps the
// count within MaxConns, so a free slot always exists.
func (t *connTable) put(id FourTuple, c *Conn) {
	for i := t.home(&id); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.c == nil {
			*s = connSlot{id: id, c: c}
			t.n++
			return
		}
		if s.id == id {
			s.c = c
			return
		}
	}
}

// del removes id and closes the gap: each later entry of the run whose home
// is not between the gap and itself moves back into the gap.
func (t *connTable) del(id FourTuple) {
	i := t.home(&id)
	for {
		s := &t.slots[i]
		if s.c == nil {
			return
		}
		if s.id == id {
			break
		}
		i = (i + 1) & t.mask
	}
	t.n--
	gap := i
	for j := (i + 1) & t.mask; ; j = (j + 1) & t.mask {
		s := &t.slots[j]
		if s.c == nil {
			break
		}
		// The entry may fill the gap unless its home lies cyclically in
		// (gap, j]: then it would move before its home.
		h := t.home(&s.id)
		if (j-h)&t.mask >= (j-gap)&t.mask {
			t.slots[gap] = *s
			gap = j
		}
	}
	t.slots[gap] = connSlot{}
}

func (t *connTable) len() int { return t.n }

// each calls fn for every entry; fn must not change the table.
func (t *connTable) each(fn func(*Conn)) {
	for i := range t.slots {
		if c := t.slots[i].c; c != nil {
			fn(c)
		}
	}
}
