package engine

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// The simulation of TestEightLcoreConnMemory: simConns connections to a
// server of simLcores lcores, on simPorts listening ports (one client
// address has 28,232 source ports for each), from a client of
// simClientLcores lcores that opens simPerStep connections on each of its
// lcores per step.
const (
	simLcores       = 8
	simConns        = 160_000
	simPorts        = 8
	simPort0        = 5001
	simClientLcores = 4
	simPerStep      = 50
)

// TestEightLcoreConnMemory checks README's arithmetic for ten million
// connections ("Ten million on paper") per lcore, on one CPU: a server of
// 8 lcores, each with tcp.max_conns the README's rule gives (its share of
// the connections and 25% more), takes 160,000 connections made by real
// handshakes through both hosts' engines. The server's device spreads
// frames over its queues by the RSS hash of their flow, as a NIC does;
// the client's (4 lcores) puts each frame on a random queue, so that the
// client's lcores steer most of them to their owners. The connections
// stay idle in ESTABLISHED.
//
// Per server lcore, it checks that RSS gave it its share (within 5% of
// 20,000: a fair hash deviates by about 0.7%, one standard deviation),
// and that the stack's own account of its connections' memory
// (ConnBytes: pmd stats's tcp_conn_bytes) is what ConnMemory (pmd check's
// figures) says for that many. For the 8 lcores together it measures the
// Go heap the connections take (see simServerHeap) and holds it, per
// connection, to ConnMemory's figure with the 8 tables counted, within
// 10%.
//
// The lcores of both hosts are polled in turn by the test's goroutine:
// one CPU, as far as the stack goes (the collector runs where it likes).
// It takes about 1.1 s here, most of it the handshakes (480,000 segments
// through both engines, 120,000 of them steered on the client), and
// 215 MB of memory at the most.
func TestEightLcoreConnMemory(t *testing.T) {
	maxConns := simConns / simLcores * 5 / 4
	mkServer := func(maxConns int) *multiHost {
		var svcs []TCPService
		for p := range simPorts {
			svcs = append(svcs, TCPService{Port: simPort0 + uint16(p), New: newDiscard})
		}
		cfg := hostConfig(macB, peerIP, svcs, 4<<10, 64)
		cfg.TCP.MaxConns = maxConns
		return newMultiHostSized(simLcores, macB, peerIP, svcs, 1, cfg, 4096)
	}

	// What a server host holds whatever its connections: the same host
	// with room for one connection per lcore (whose tables ConnMemory
	// adds back below).
	base := liveHeap()
	twin := mkServer(1)
	bare := int64(liveHeap() - base)
	runtime.KeepAlive(twin)

	base = liveHeap()
	srv := mkServer(maxConns)
	built := int64(liveHeap() - base)

	start := time.Now()
	cli := simEstablish(t, srv)
	took := time.Since(start)

	m := tcp.ConnMemory(srv.ls[0].TCP().Config())
	m1 := tcp.ConnMemory(tcp.Config{MaxConns: 1})
	// ConnBytes counts the control blocks made, those of the last slab
	// not used yet included; ConnMemory's Conn is a connection's share of
	// a 64 KiB slab, with the bytes left at the slab's end (400 with the
	// present Conn) and the rounding up to a whole byte. So ConnBytes may
	// be up to a slab above ConnMemory's figure, and up to
	// n × (Conn - Sizeof(Conn)) below it.
	sizeofConn := int(unsafe.Sizeof(tcp.Conn{}))
	fair := float64(simConns) / simLcores
	var shares []int
	for _, l := range srv.ls {
		s := l.TCP()
		n := s.States()[tcp.Established]
		shares = append(shares, n)
		if n < int(0.95*fair) || n > int(1.05*fair) {
			t.Errorf("lcore %d: %d connections, more than 5%% from %.0f", l.ID, n, fair)
		}
		want := n*m.Conn + m.Table
		if d := s.ConnBytes() - want; d > 64<<10 || d < -n*(m.Conn-sizeofConn) {
			t.Errorf("lcore %d: ConnBytes %d for %d connections; ConnMemory says %d (Conn %d, Table %d)", l.ID, s.ConnBytes(), n, want, m.Conn, m.Table)
		}
		t.Logf("lcore %d: %d connections (%+.2f%% of %.0f), ConnBytes %d, ConnMemory %d (%+d)",
			l.ID, n, 100*(float64(n)/fair-1), fair, s.ConnBytes(), want, s.ConnBytes()-want)
	}

	// The heap now holds the server alone: the client's stacks, as big
	// again (the same connections from the other end), were let go by
	// simEstablish. Subtracting their ConnBytes instead would hold the
	// heap to pmd's own accounting, which is part of what is checked.
	held := int64(liveHeap() - base)
	runtime.KeepAlive(srv)
	tables := built - bare + simLcores*int64(m1.Table)
	conns := held - bare + simLcores*int64(m1.Table)
	measured := float64(conns) / simConns
	paper := float64(simConns*m.Conn+simLcores*m.Table) / simConns
	lo, hi := slices.Min(shares), slices.Max(shares)
	t.Logf("%d connections on %d lcores (tcp.max_conns %d): %d to %d per lcore (%+.2f%% to %+.2f%% of %.0f); handshakes %v, %d packets steered on the client",
		simConns, simLcores, maxConns, lo, hi, 100*(float64(lo)/fair-1), 100*(float64(hi)/fair-1), fair, took.Round(time.Millisecond), cli.steered)
	t.Logf("server heap: %.1f bytes per connection, ConnMemory %.1f (Conn %d, and the %d tables of %d bytes: %.2f MiB, measured %.2f MiB)",
		measured, paper, m.Conn, simLcores, m.Table, float64(simLcores*m.Table)/(1<<20), float64(tables)/(1<<20))
	if measured < 0.9*paper || measured > 1.1*paper {
		t.Errorf("the server's connections take %.1f bytes of heap each; ConnMemory says %.1f", measured, paper)
	}
	if d := float64(tables) / float64(simLcores*m.Table); d < 0.9 || d > 1.1 {
		t.Errorf("the %d tables take %d bytes of heap; ConnMemory says %d", simLcores, tables, simLcores*m.Table)
	}
}

// simClient is what simEstablish reports of the client it made and let go.
type simClient struct {
	steered uint64 // packets its lcores handed to the owners of their flows
}

// simEstablish opens simConns idle connections to srv through both
// engines, from a client host made here and let go on return, so that
// what the client held is garbage by then and the heap holds only the
// server. It fails t unless every connection is established on both
// sides with nothing dropped or retransmitted, the server's device and
// its lcores agree on every flow's owner (nothing steered on the server,
// no hash mismatch), and the client steered.
func simEstablish(t *testing.T, srv *multiHost) simClient {
	t.Helper()
	ccfg := hostConfig(macA, ourIP, nil, 4<<10, 64)
	ccfg.TCP.MaxConns = simConns / simClientLcores * 5 / 4
	cli := newMultiHostSized(simClientLcores, macA, ourIP, nil, 2, ccfg, 4096)
	// The in-memory device hands over up to 32 frames a poll unless told
	// otherwise; a step's round of handshakes is more on the client.
	for _, q := range append(cli.qs, srv.qs...) {
		q.Burst = 256
	}
	now := int64(time.Second)
	// ARP is not what this measures: both neighbour tables start filled.
	srv.ctl.Neigh.Update(ourIP, macA, now)
	cli.ctl.Neigh.Update(peerIP, macB, now)

	rng := rand.New(rand.NewPCG(3, 4))
	toServer := func(f []byte) {
		q, meta := srvRSS(srv, f)
		if !srv.qs[q].Inject(f, meta) {
			t.Fatal("the server's device ran out of buffers")
		}
	}
	toClient := func(f []byte) {
		if !cli.qs[rng.IntN(len(cli.qs))].Inject(f, dev.RxMeta{}) {
			t.Fatal("the client's device ran out of buffers")
		}
	}
	established := func(h *multiHost) int {
		n := 0
		for _, l := range h.ls {
			n += l.TCP().States()[tcp.Established]
		}
		return n
	}
	opened := 0
	for step := 0; step < 2*simConns/(simClientLcores*simPerStep)+100; step++ {
		for _, l := range cli.ls {
			for j := 0; j < simPerStep && opened < simConns; j++ {
				port := simPort0 + uint16(opened%simPorts)
				if _, err := l.TCP().Connect(ourIP, peerIP, port, discardHandler{}, now); err != nil {
					t.Fatalf("connection %d, from lcore %d to port %d: %v", opened, l.ID, port, err)
				}
				opened++
			}
		}
		now += int64(100 * time.Microsecond)
		for i, l := range cli.ls {
			l.Poll(now)
			for _, f := range cli.qs[i].Sent() {
				toServer(f)
			}
		}
		for i, l := range srv.ls {
			l.Poll(now)
			for _, f := range srv.qs[i].Sent() {
				toClient(f)
			}
		}
		cli.ctl.Tick(now)
		srv.ctl.Tick(now)
		if opened == simConns && established(srv) == simConns && established(cli) == simConns {
			break
		}
	}
	if s, c := established(srv), established(cli); s != simConns || c != simConns {
		t.Fatalf("%d connections established on the server, %d on the client, of %d", s, c, simConns)
	}

	var steered [2]uint64
	names := [2]string{"client", "server"}
	for k, h := range []*multiHost{cli, srv} {
		for _, l := range h.ls {
			if d := l.c.Drops(); d != 0 {
				t.Errorf("%s lcore %d dropped %d packets", names[k], l.ID, d)
			}
			tc := l.TCP().C
			for c := range tcp.NumCounters {
				if tc[c] != 0 && (c.IsDrop() || c == tcp.Retransmits || c == tcp.TableFull || c == tcp.SynCookiesSent) {
					t.Errorf("%s lcore %d: %s %d", names[k], l.ID, c, tc[c])
				}
			}
			steered[k] += l.c[SteeredIn]
		}
	}
	for _, l := range srv.ls {
		if l.c[RSSHashMismatch] != 0 || l.c[RSSHashMatch] == 0 {
			t.Errorf("server lcore %d: device hash matched %d times, mismatched %d", l.ID, l.c[RSSHashMatch], l.c[RSSHashMismatch])
		}
	}
	if steered[1] != 0 {
		t.Errorf("the server's lcores steered %d packets: its device and its lcores disagree on owners", steered[1])
	}
	if steered[0] == 0 {
		t.Error("the client steered nothing: steering was not tested")
	}
	return simClient{steered: steered[0]}
}

// srvRSS is the queue of srv's device that receives f, and what the
// device says of it: a TCP segment goes to the queue of its flow's RSS
// hash (with the server's key and table, as its NIC would be
// programmed), anything else to queue 0.
func srvRSS(srv *multiHost, f []byte) (int, dev.RxMeta) {
	eth := ipv4.Ethernet(f)
	if !eth.Valid() || eth.Type() != ipv4.EtherTypeIPv4 {
		return 0, dev.RxMeta{}
	}
	ip := ipv4.IPv4(eth.Payload())
	if ip.Check() != nil || ip.Protocol() != ipv4.ProtoTCP || len(ip.Payload()) < 4 {
		return 0, dev.RxMeta{}
	}
	p := ip.Payload()
	o := srv.ls[0].cfg.Owner
	h := o.H.HashTuple(ip.Src(), ip.Dst(), binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:]))
	return o.T.Lookup(h), dev.RxMeta{Hash: h, HasHash: true}
}

// liveHeap is the bytes of live objects on the heap, after a collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
