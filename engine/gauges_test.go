package engine

import (
	"testing"
	"time"

	"github.com/pmdstack/pmd/tcp"
)

// TestGaugesPublished: the levels other goroutines read (Gauges) follow
// a connection through its states within a publish interval, and an
// idle connection holds no buffers.
func TestGaugesPublished(t *testing.T) {
	k, txn := echoPair(t, 64)
	txn()
	// 100 ms: past the peer's delayed ACK (which frees the send buffer)
	// and several publish intervals.
	publish := func() { k.Run(int(100*time.Millisecond/(50*time.Microsecond)), func() bool { return false }) }
	publish()
	for _, h := range []*MemHost{k.A, k.B} {
		g := h.L.Gauges()
		var want Gauges
		want.States[tcp.Established] = 1
		// The transaction made a send buffer on each side (what
		// arrived went to Recv straight from the segment, with no
		// receive buffer); the idle connection holds none, the pool
		// keeps it.
		want.BufferBytes = h.L.TCP().Config().SndBuf
		want.ConnBytes = h.L.TCP().ConnBytes() // tcp's TestIdleConnMemory holds it to the heap
		if g != want {
			t.Errorf("lcore of %v, idle connection: gauges %+v, want %+v", h.L.cfg.Ifaces[0].MAC, g, want)
		}
	}
	var cl *tcp.Conn
	k.A.L.TCP().Each(func(c *tcp.Conn) { cl = c })
	cl.Close()
	publish()
	if g := k.A.L.Gauges(); g.States[tcp.TimeWait] != 1 || g.States[tcp.Established] != 0 {
		t.Errorf("client after its close: states %v, want one TIME-WAIT", g.States)
	}
	if g := k.B.L.Gauges(); g.States != [tcp.NumStates]int{} {
		t.Errorf("server after the close: states %v, want none", g.States)
	}
}
