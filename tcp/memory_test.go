package tcp

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/pmdstack/pmd/ipv4"
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

// idleConns is how many connections TestIdleConnMemory opens: enough that
// the stack's fixed memory (wheel, listener, the test's recorder) is a
// rounding error per connection, few enough to take a second.
const idleConns = 100_000

// TestIdleConnMemory opens idleConns passive connections on one stack
// with MaxConns idleConns, leaves them idle in ESTABLISHED, and measures
// the live Go heap (HeapAlloc after a collection) three times: before the
// stack is made, once it is made and listening (the table and the free
// list: NewStack allocates them whole for MaxConns), and with every
// connection open (the control blocks). What is counted is everything the
// stack allocated and still holds; the test's recorder of sent segments
// is made before the first measure and holds its size, and the handler
// is an empty struct. Idle connections hold no buffers (checked), and
// the configuration allows one buffer of each kind, so that their free
// lists do not count.
//
// It asserts that a connection costs at most 1 KiB with the table full,
// and that ConnMemory, the arithmetic pmd check prints, says the same
// within 10% for the table and for the control blocks.
func TestIdleConnMemory(t *testing.T) {
	cfg := Config{MaxConns: idleConns, Buffers: 1, Seed: fxSeed}
	out := newRecOut()
	base := liveHeap()
	s := NewStack(cfg, out)
	if _, err := s.Listen(fxPort, benchEchoApp{}); err != nil {
		t.Fatal(err)
	}
	empty := liveHeap()
	openIdle(t, s, out, idleConns)
	full := liveHeap()
	runtime.KeepAlive(s)

	if st := s.States(); st[Established] != idleConns {
		t.Fatalf("%d connections established, want %d", st[Established], idleConns)
	}
	if snd, rcv := s.Buffers(); snd != 0 || rcv != 0 {
		t.Fatalf("idle connections hold %d send and %d receive buffers", snd, rcv)
	}
	table := float64(empty-base) / idleConns
	conn := float64(full-empty) / idleConns
	per := table + conn
	m := ConnMemory(s.Config())
	t.Logf("idle connection: %.0f bytes (Conn %.0f, table and free list %.0f); ConnMemory says %d (Conn %d, table and free list %d); Sizeof(Conn) %d",
		per, conn, table, m.PerConn(), m.Conn, m.PerConn()-m.Conn, unsafe.Sizeof(Conn{}))
	if per > 1024 {
		t.Errorf("an idle connection costs %.0f bytes, more than 1 KiB", per)
	}
	near := func(what string, got float64, want int) {
		if got < 0.9*float64(want) || got > 1.1*float64(want) {
			t.Errorf("%s: measured %.0f bytes per connection, ConnMemory says %d", what, got, want)
		}
	}
	near("control block", conn, m.Conn)
	near("table and free list", table, m.PerConn()-m.Conn)
	// The stack's own account (pmd stats's tcp_conn_bytes) is what the
	// heap shows.
	near("ConnBytes", float64(s.ConnBytes())/idleConns, int(full-base)/idleConns)
}

// liveHeap is the bytes of live objects on the heap, after a collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// openIdle opens n passive connections on s, listening on fxPort, by
// feeding it each one's SYN and the ACK of its SYN-ACK, from n distinct
// remote addresses and ports. out is s's Output.
func openIdle(tb testing.TB, s *Stack, out *recOut, n int) {
	buf := make([]byte, 0, 128)
	var seg Segment
	input := func(id FourTuple) { feed(s, buf, id, seg, fxStart) }
	for i := range n {
		id := idleTuple(i)
		seg = Segment{Flags: FlagSYN, Seq: fxPeerISS, Window: 65535, Opts: Options{MSS: 1460}}
		input(id)
		if len(out.sent) != 1 || out.sent[0].seg.Flags != FlagSYN|FlagACK {
			tb.Fatalf("connection %d: %d segments sent to the SYN", i, len(out.sent))
		}
		seg = Segment{Flags: FlagACK, Seq: fxPeerISS + 1, Ack: out.sent[0].seg.Seq + 1, Window: 65535}
		out.reset()
		input(id)
		if len(out.sent) != 0 {
			tb.Fatalf("connection %d: %d segments sent to the ACK", i, len(out.sent))
		}
	}
}

// feed gives s the segment seg of the connection id (its ports are
// filled in), encoded in buf, at now, and flushes what it answers.
func feed(s *Stack, buf []byte, id FourTuple, seg Segment, now int64) {
	seg.SrcPort, seg.DstPort = id.RemotePort, id.LocalPort
	b := buf[:seg.HeaderLen()]
	seg.EncodeHeader(b)
	h := Header(b)
	h.ComputeChecksum(id.Remote, id.Local)
	s.Input(id.Local, id.Remote, h, now)
	s.Flush(now)
}

// idleTuple is the i-th connection's tuple in openIdle: 50,000 ports
// of each remote address.
func idleTuple(i int) FourTuple {
	return FourTuple{Local: fxLocal, Remote: fxRemote + ipv4.Addr(i/50000), LocalPort: fxPort, RemotePort: uint16(10000 + i%50000)}
}

// TestConnBeforeRecycle: with every control block of MaxConns made, a
// connection that ends frees a place in the table at once but its object
// only at the end of the poll iteration; a connection opened in between
// gets a new object, not a slab of none.
func TestConnBeforeRecycle(t *testing.T) {
	f := established(t, Config{MaxConns: 1}, optsNone)
	old := f.c
	f.c.Abort()
	c, err := f.s.Connect(fxLocal, fxRemote, fxSrvPort, f.app, f.now)
	if err != nil {
		t.Fatal(err)
	}
	if c == old {
		t.Fatal("the ended connection's object was reused within its poll iteration")
	}
	f.flush()
	f.out.reset()
	if f.s.Conns() != 1 || c.State() != SynSent {
		t.Fatalf("%d connections, the new one %v", f.s.Conns(), c.State())
	}
}
