package tcp

import (
	"testing"
)

// TestRangesLazy: a connection that sees neither out-of-order data nor a
// SACK block holds no range arrays; the first of each makes its array,
// with room for OOOSegments ranges; the arrays stay with the object when
// the stack reuses it for the next connection, so that one which meets
// reordering again allocates nothing.
func TestRangesLazy(t *testing.T) {
	f := established(t, Config{}, optsAll)
	noArrays := func(when string) {
		t.Helper()
		if f.c.ooo != nil || f.c.sacked != nil {
			t.Fatalf("%s: ooo cap %d, sacked cap %d, want no arrays", when, cap(f.c.ooo), cap(f.c.sacked))
		}
	}
	noArrays("established")
	f.send(f.dataSeg(f.p, f.u, payload(0, 100)))
	f.p += 100
	f.c.Write(payload(0, 100))
	f.flush()
	f.send(f.ackSeg(f.p, f.u+100))
	f.u += 100
	f.out.reset()
	noArrays("after in-order data both ways")

	// Data past a gap: the receive side's array.
	f.send(f.dataSeg(f.p+10, f.u, payload(10, 10)))
	if len(f.c.ooo) != 1 || cap(f.c.ooo) != f.s.cfg.OOOSegments || f.c.sacked != nil {
		t.Fatalf("after data out of order: ooo %v cap %d, sacked cap %d", f.c.ooo, cap(f.c.ooo), cap(f.c.sacked))
	}
	f.send(f.dataSeg(f.p, f.u, payload(0, 10)))
	f.p += 20
	if len(f.c.ooo) != 0 {
		t.Fatalf("after the gap filled: ooo %v", f.c.ooo)
	}
	f.out.reset()

	// A SACK block from the peer: the send side's array.
	mss := f.sendFive()
	m := Seq(mss)
	f.send(f.dupAck(f.u, SACKBlock{f.u + m, f.u + 2*m}))
	if len(f.c.sacked) != 1 || cap(f.c.sacked) != f.s.cfg.OOOSegments {
		t.Fatalf("after a SACK block: sacked %v cap %d", f.c.sacked, cap(f.c.sacked))
	}
	f.send(f.ackSeg(f.p, f.u+5*m))
	f.u += 5 * m
	f.out.reset()

	// The next connection gets the same object (the free list is a
	// stack), and the arrays with it, empty.
	old := f.c
	f.c.Abort()
	f.flush()
	f.out.reset()
	f.app.opened, f.app.conn = 0, nil
	f.passiveOpen(optsAll)
	if f.c != old {
		t.Fatal("the new connection did not reuse the object")
	}
	if len(f.c.ooo) != 0 || cap(f.c.ooo) != f.s.cfg.OOOSegments || len(f.c.sacked) != 0 || cap(f.c.sacked) != f.s.cfg.OOOSegments {
		t.Fatalf("reused object: ooo %d/%d, sacked %d/%d", len(f.c.ooo), cap(f.c.ooo), len(f.c.sacked), cap(f.c.sacked))
	}

	// Reordering on the reused object: nothing allocated.
	f.app.onRecv = func(c *Conn, d []byte) int { return len(d) }
	allocs := testing.AllocsPerRun(50, func() {
		f.send(f.dataSeg(f.p+10, f.u, payload(10, 10)))
		f.send(f.dataSeg(f.p, f.u, payload(0, 10)))
		f.p += 20
		f.out.reset()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per reordered exchange", allocs)
	}
}
