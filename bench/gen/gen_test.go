package gen

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pmdstack/pmd/bench"
	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/services"
	"github.com/pmdstack/pmd/tcp"
)

var (
	macA, macB = ipv4.MAC{2, 0, 0, 0, 0, 0xa}, ipv4.MAC{2, 0, 0, 0, 0, 0xb}
	ipA, ipB   = ipv4.AddrFrom4([4]byte{198, 18, 0, 1}), ipv4.AddrFrom4([4]byte{198, 18, 0, 2})
)

// memHost is an in-memory host for the generator or for pmd's services:
// pmd's TCP defaults but cfg's, TIME-WAIT reuse as pmd bench's
// configurations set it, and room for the SYNs of a first poll that wait
// for the peer's address. trusted makes the link a trusted one
// (port.trusted_link): no checksum computed or verified anywhere.
func memHost(mac ipv4.MAC, addr ipv4.Addr, svcs []engine.TCPService, cfg tcp.Config, trusted bool) *engine.MemHost {
	cfg.TWReuse = true
	caps := ipv4.ChecksumCaps{}
	if trusted {
		caps = ipv4.ChecksumCaps{IPv4Rx: true, UDPRx: true, TCPRx: true, IPv4Tx: true, UDPTx: true, TCPTx: true}
	}
	h := engine.NewMemHost(&engine.Config{
		Ifaces:      []engine.Iface{{Name: "p0", MAC: mac, Prefix: ipv4.Prefix{Addr: addr, Bits: 24}}},
		TCP:         cfg,
		TCPServices: svcs,
		ARPPending:  512,
	}, caps)
	h.Q.Trusted = trusted
	return h
}

// TestReopenWithResponsesInFlight: -reopen closes every connection at
// once, each with a request outstanding (no think time, every connection
// active), so responses are still on their way when the FINs leave. They
// are read, not answered with resets: every connection ends in TIME-WAIT
// here without an error, and all open again on the same tuples.
func TestReopenWithResponsesInFlight(t *testing.T) {
	const n = 100
	small := tcp.Config{SndBuf: 4 << 10, RcvBuf: 4 << 10, Buffers: 256}
	a := memHost(macA, ipA, nil, small, false)
	b := memHost(macB, ipB, []engine.TCPService{{Port: 7, New: func(*engine.Lcore) tcp.Handler { return services.Echo{} }}}, small, false)
	k := &engine.MemLink{A: a, B: b, Now: int64(time.Second)}
	var measuring, stopping, up, closing, reopening atomic.Bool
	up.Store(true)
	spec := bench.Spec{Workload: bench.RR, Conns: n, Size: 64, Depth: 1, Active: 100, Server: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, 2}), 7)}
	g := &Gen{Spec: spec, Locals: []ipv4.Addr{ipA}, Remote: ipB, Share: n, Meter: &bench.Meter{},
		Measuring: &measuring, Stopping: &stopping, Go: &up, Closing: &closing, Reopening: &reopening}
	a.L.AddApp(g)
	if !k.Run(2000, func() bool { return g.Meter.Open.Load() == n && g.Meter.Txns.Load() > 10*n }) {
		t.Fatalf("%d of %d open, %d transactions", g.Meter.Open.Load(), n, g.Meter.Txns.Load())
	}
	outstanding := 0
	for i := range g.conns {
		if gc := &g.conns[i]; gc.head > gc.tail {
			outstanding++
		}
	}
	if outstanding == 0 {
		t.Fatal("no request outstanding at the close: the test does not test it")
	}
	txns, before := g.Meter.Txns.Load(), a.L.TCP().C
	closing.Store(true)
	if !k.Run(2000, func() bool { return g.Meter.Open.Load() == 0 && b.L.TCP().Conns() == 0 }) {
		t.Fatalf("after the close: %d open on the client, %d on the server", g.Meter.Open.Load(), b.L.TCP().Conns())
	}
	c := a.L.TCP().C
	if e := g.Meter.Errors.Load(); e != 0 {
		t.Errorf("%d errors closing %d connections (%d with a request outstanding)", e, n, outstanding)
	}
	if d := c[tcp.ResetsSent] - before[tcp.ResetsSent]; d != 0 {
		t.Errorf("%d resets sent closing", d)
	}
	if tw := a.L.TCP().States()[tcp.TimeWait]; tw != n {
		t.Errorf("%d of %d in TIME-WAIT on the client", tw, n)
	}
	t.Logf("%d closed with %d requests outstanding; %d responses read from the close on", n, outstanding, g.Meter.Txns.Load()-txns)
	for range 100 { // 5 ms: TIME-WAIT tuples are taken over from 2 ms on
		k.Step()
	}
	reopening.Store(true)
	if !k.Run(2000, func() bool { return g.Meter.Open.Load() == n }) {
		t.Fatalf("%d of %d open again", g.Meter.Open.Load(), n)
	}
	if e := g.Meter.Errors.Load(); e != 0 {
		t.Errorf("%d errors reopening", e)
	}
	if r := a.L.TCP().C[tcp.TimeWaitReused] - before[tcp.TimeWaitReused]; r != n {
		t.Errorf("%d of %d reopened on their TIME-WAIT tuples", r, n)
	}
}
