package engine

import (
	"bytes"
	"testing"
	"time"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// hostConfig is one host's engine configuration for the TCP tests.
func hostConfig(mac ipv4.MAC, addr ipv4.Addr, svcs []TCPService, buf, buffers int) *Config {
	return &Config{
		Ifaces:      []Iface{{Name: "p0", MAC: mac, Prefix: ipv4.Prefix{Addr: addr, Bits: 24}}},
		ARPRetry:    time.Second,
		ARPTries:    3,
		ARPPending:  64,
		ICMPRate:    100,
		Neigh:       ipv4.NewNeighbours(16, time.Minute),
		TCP:         tcp.Config{SndBuf: buf, RcvBuf: buf, Buffers: buffers},
		TCPServices: svcs,
	}
}

func newHost(mac ipv4.MAC, addr ipv4.Addr, svcs []TCPService) *MemHost {
	return newHostWith(hostConfig(mac, addr, svcs, 64<<10, 64))
}

// newHostWith is newHost with the lcore's configuration given.
func newHostWith(cfg *Config) *MemHost {
	q := dev.NewMem(1024, 2048, ipv4.ChecksumCaps{})
	l := NewLcore(0, cfg, []dev.Queue{q})
	return &MemHost{Q: q, L: l, Ctl: &Control{Neigh: cfg.Neigh, Lcores: []*Lcore{l}}}
}

var (
	macA = ipv4.MAC{2, 0, 0, 0, 0, 0xa}
	macB = ipv4.MAC{2, 0, 0, 0, 0, 0xb}
)

// TestTCPEchoOverEngine: a client on one engine sends 1 MiB to the echo
// service of another, through ARP, IPv4, checksums and the in-memory
// device, and gets every byte back; both tables empty afterwards (but for
// the client's TIME-WAIT).
func TestTCPEchoOverEngine(t *testing.T) {
	a := newHost(macA, ourIP, nil)
	b := newHost(macB, peerIP, []TCPService{{Port: 7, New: newEcho}})
	k := &MemLink{A: a, B: b, Now: int64(time.Second)}
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	cl := &MemClient{Out: data, Want: len(data)}
	if _, err := a.L.TCP().Connect(ourIP, peerIP, 7, cl, k.Now); err != nil {
		t.Fatal(err)
	}
	if !k.Run(200000, func() bool { return cl.Done }) {
		t.Fatalf("echo did not finish: got %d of %d bytes", len(cl.Got), len(data))
	}
	if cl.Err != nil || !bytes.Equal(cl.Got, data) {
		t.Fatalf("echo: err %v, %d bytes back, equal %v", cl.Err, len(cl.Got), bytes.Equal(cl.Got, data))
	}
	k.Run(1000, func() bool { return b.L.TCP().Conns() == 0 })
	if n := b.L.TCP().Conns(); n != 0 {
		t.Errorf("server still holds %d connections", n)
	}
}

// echoPair sets up an established connection to an echo service and
// returns a function that runs one transaction of size bytes.
func echoPair(t testing.TB, size int) (*MemLink, func()) {
	a := newHost(macA, ourIP, nil)
	b := newHost(macB, peerIP, []TCPService{{Port: 7, New: newEcho}})
	k := &MemLink{A: a, B: b, Now: int64(time.Second)}
	msg := bytes.Repeat([]byte{'x'}, size)
	cl := &MemClient{Discard: true, NoDelay: true}
	if _, err := a.L.TCP().Connect(ourIP, peerIP, 7, cl, k.Now); err != nil {
		t.Fatal(err)
	}
	k.Run(100, func() bool { return cl.Conn != nil })
	if cl.Conn == nil {
		t.Fatal("not connected")
	}
	txn := func() {
		cl.N = 0
		cl.Conn.Write(msg)
		for i := 0; i < 20 && cl.N < len(msg); i++ {
			k.Step()
		}
		if cl.N != len(msg) {
			t.Fatalf("transaction: %d of %d bytes back", cl.N, len(msg))
		}
	}
	return k, txn
}

// TestEchoTransactionNoAllocations: once established, a request/response
// transaction through both engines and stacks allocates nothing.
func TestEchoTransactionNoAllocations(t *testing.T) {
	_, txn := echoPair(t, 64)
	for i := 0; i < 100; i++ {
		txn() // warm the pools
	}
	if a := testing.AllocsPerRun(1000, txn); a != 0 {
		t.Fatalf("%v allocations per echo transaction", a)
	}
}

// BenchmarkEchoTransaction: one 64-byte echo transaction across the
// in-memory wire (both stacks, both engines, ARP/IPv4/TCP, checksums in
// software).
func BenchmarkEchoTransaction(b *testing.B) {
	_, txn := echoPair(b, 64)
	for i := 0; i < 100; i++ {
		txn()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		txn()
	}
}

// BenchmarkEchoBurst: 32 connections each with one 64-byte echo
// transaction outstanding, so that each poll handles a burst as under rr
// load; the time per transaction covers both stacks and both engines.
// "software" computes and verifies checksums, "trusted" leaves them to the
// device as a trusted link does.
func BenchmarkEchoBurst(b *testing.B) {
	for _, trusted := range []bool{false, true} {
		name := map[bool]string{false: "software", true: "trusted"}[trusted]
		b.Run(name, func(b *testing.B) {
			const conns = 32
			caps := ipv4.ChecksumCaps{}
			meta := dev.RxMeta{}
			if trusted {
				caps = ipv4.ChecksumCaps{IPv4Rx: true, UDPRx: true, TCPRx: true, IPv4Tx: true, UDPTx: true, TCPTx: true}
				meta = dev.RxMeta{IPCksum: ipv4.RxCksumGood, L4Cksum: ipv4.RxCksumGood}
			}
			mk := func(mac ipv4.MAC, addr ipv4.Addr, svcs []TCPService) *MemHost {
				cfg := hostConfig(mac, addr, svcs, 64<<10, 64)
				q := dev.NewMem(4096, 2048, caps)
				l := NewLcore(0, cfg, []dev.Queue{q})
				return &MemHost{Q: q, L: l, Ctl: &Control{Neigh: cfg.Neigh, Lcores: []*Lcore{l}}}
			}
			a := mk(macA, ourIP, nil)
			h := mk(macB, peerIP, []TCPService{{Port: 7, New: newEcho}})
			now := int64(time.Second)
			step := func() {
				now += int64(5 * time.Microsecond)
				for _, pair := range [][2]*MemHost{{a, h}, {h, a}} {
					from, to := pair[0], pair[1]
					from.L.Poll(now)
					for _, f := range from.Q.Sent() {
						to.Q.Inject(f, meta)
					}
				}
			}
			cls := make([]*MemClient, conns)
			for i := range cls {
				cls[i] = &MemClient{Discard: true, NoDelay: true}
				if _, err := a.L.TCP().Connect(ourIP, peerIP, 7, cls[i], now); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < 100; i++ {
				step()
				a.Ctl.Tick(now)
				h.Ctl.Tick(now)
			}
			msg := bytes.Repeat([]byte{'x'}, 64)
			round := func() {
				for _, cl := range cls {
					cl.N = 0
					cl.Conn.Write(msg)
				}
				for i := 0; i < 20; i++ {
					step()
					done := true
					for _, cl := range cls {
						done = done && cl.N == len(msg)
					}
					if done {
						return
					}
				}
				b.Fatal("transactions did not complete")
			}
			for i := 0; i < 100; i++ {
				round()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += conns {
				round()
			}
		})
	}
}

// TCP remembers the link header of its last destination; a neighbour
// whose MAC address changes, or whose entry expires, must not be sent to
// from that memory.
func TestTCPPathFollowsNeighbour(t *testing.T) {
	a := newHost(macA, ourIP, nil)
	b := newHost(macB, peerIP, []TCPService{{Port: 7, New: newDiscard}})
	k := &MemLink{A: a, B: b, Now: int64(time.Second)}
	cl := &MemClient{}
	if _, err := a.L.TCP().Connect(ourIP, peerIP, 7, cl, k.Now); err != nil {
		t.Fatal(err)
	}
	if !k.Run(1000, func() bool { return cl.Conn != nil }) {
		t.Fatal("no connection")
	}
	k.Run(10, func() bool { return false })
	cl.Conn.SetNoDelay(true) // each write leaves at once
	// frames writes n bytes and returns what a transmits in one poll
	// (flushed at once: the device would send it at the next poll).
	frames := func(n int) [][]byte {
		cl.Conn.Write(make([]byte, n))
		a.L.Poll(k.Now)
		a.Q.Flush()
		return a.Q.Sent()
	}
	for _, f := range frames(100) {
		if d := ipv4.Ethernet(f).Dst(); d != macB {
			t.Fatalf("before the change: frame to %v, want %v", d, macB)
		}
	}
	macC := ipv4.MAC{2, 0, 0, 0, 0, 0xc}
	a.Ctl.Neigh.Update(peerIP, macC, k.Now)
	sent := frames(100)
	if len(sent) == 0 {
		t.Fatal("nothing sent after the change")
	}
	for _, f := range sent {
		if d := ipv4.Ethernet(f).Dst(); d != macC {
			t.Fatalf("after the change: frame to %v, want %v", d, macC)
		}
	}
	// Past the entry's lifetime (a minute here) the next hop is asked
	// for again, and nothing goes to the old address.
	k.Now += int64(2 * time.Minute)
	sent = frames(100)
	arp := false
	for _, f := range sent {
		eth := ipv4.Ethernet(f)
		switch eth.Type() {
		case ipv4.EtherTypeARP:
			arp = true
		case ipv4.EtherTypeIPv4:
			t.Fatalf("after expiry: IPv4 frame to %v", eth.Dst())
		}
	}
	if !arp {
		t.Fatalf("after expiry: no ARP request among %d frames", len(sent))
	}
}

// TestMbufPoolDry: with every buffer of the server's pool taken, nothing
// can be received or sent there: the lcore counts what it could not send
// (drop_no_mbuf), never blocks or panics, and once the buffers are back
// the transfer resumes and completes intact.
func TestMbufPoolDry(t *testing.T) {
	a := newHost(macA, ourIP, nil)
	b := newHost(macB, peerIP, []TCPService{{Port: 7, New: newEcho}})
	k := &MemLink{A: a, B: b, Now: int64(time.Second)}
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	cl := &MemClient{Out: data, Want: len(data)}
	if _, err := a.L.TCP().Connect(ourIP, peerIP, 7, cl, k.Now); err != nil {
		t.Fatal(err)
	}
	k.Run(40, func() bool { return false })
	if cl.N == 0 || cl.Done {
		t.Fatalf("the transfer did not start, or ended already: %d bytes back", cl.N)
	}
	var held []dev.Buf
	for {
		buf, _, ok := b.Q.Alloc()
		if !ok {
			break
		}
		held = append(held, buf)
	}
	got := cl.N
	k.Run(20000, func() bool { return false }) // 1 s of virtual time, dry (counters published every 10 ms)
	if b.L.Counters()[DropNoMbuf] == 0 {
		t.Fatalf("nothing counted while the pool was dry")
	}
	t.Logf("dry for 1 s: %d bytes back before, %d after; drop_no_mbuf %d", got, cl.N, b.L.Counters()[DropNoMbuf])
	for _, buf := range held {
		b.Q.Free(buf)
	}
	if !k.Run(400000, func() bool { return cl.Done }) || cl.Err != nil || !bytes.Equal(cl.Got, data) {
		t.Fatalf("after the pool refilled: done %v, err %v, %d of %d bytes, intact %v", cl.Done, cl.Err, cl.N, len(data), bytes.Equal(cl.Got, data))
	}
}

// TestBuffersExhausted: with buffers for two connections on the server,
// eight echo transfers at once: those without buffers have their data
// dropped and counted (tcp_drop_no_buffer) and retransmitted by their
// peers, nothing blocks, and as transfers end and free their buffers the
// others go through; every byte comes back.
func TestBuffersExhausted(t *testing.T) {
	a := newHost(macA, ourIP, nil)
	cfg := hostConfig(macB, peerIP, []TCPService{{Port: 7, New: newEcho}}, 16<<10, 2)
	b := newHostWith(cfg)
	k := &MemLink{A: a, B: b, Now: int64(time.Second)}
	var cls []*MemClient
	for i := 0; i < 8; i++ {
		data := bytes.Repeat([]byte{byte('a' + i)}, 100000)
		cl := &MemClient{Out: data, Want: len(data)}
		if _, err := a.L.TCP().Connect(ourIP, peerIP, 7, cl, k.Now); err != nil {
			t.Fatal(err)
		}
		cls = append(cls, cl)
	}
	done := func() bool {
		for _, c := range cls {
			if !c.Done {
				return false
			}
		}
		return true
	}
	if !k.Run(4000000, done) {
		t.Fatal("the transfers did not all finish")
	}
	for i, c := range cls {
		if c.Err != nil || !bytes.Equal(c.Got, c.Out) {
			t.Fatalf("transfer %d: err %v, %d of %d bytes, intact %v", i, c.Err, c.N, len(c.Out), bytes.Equal(c.Got, c.Out))
		}
	}
	b.L.Close()
	tc, _ := b.L.TCPCounters()
	if tc[tcp.DropNoBuffer] == 0 {
		t.Fatalf("no buffer shortage counted")
	}
	t.Logf("tcp_drop_no_buffer %d, retransmissions by the clients %d", tc[tcp.DropNoBuffer], func() uint64 { c, _ := a.L.TCPCounters(); return c[tcp.Retransmits] }())
}

// TestTableFullRecovers: with room for four connections on the server,
// four idle ones fill the table; a fifth is answered with a SYN cookie
// whose ACK finds no room: counted and dropped, as Linux drops it when its
// accept queue overflows, so that the client's retransmission can get in
// later. Once the four close, the fifth goes through, and so does a new
// transaction.
func TestTableFullRecovers(t *testing.T) {
	a := newHost(macA, ourIP, nil)
	cfg := hostConfig(macB, peerIP, []TCPService{{Port: 7, New: newEcho}}, 16<<10, 64)
	cfg.TCP.MaxConns = 4
	cfg.TCP.TimeWait = 100 * time.Millisecond
	b := newHostWith(cfg)
	k := &MemLink{A: a, B: b, Now: int64(time.Second)}
	var idle []*MemClient
	for i := 0; i < 4; i++ {
		cl := &MemClient{}
		if _, err := a.L.TCP().Connect(ourIP, peerIP, 7, cl, k.Now); err != nil {
			t.Fatal(err)
		}
		idle = append(idle, cl)
	}
	k.Run(2000, func() bool { return false })
	if n := b.L.TCP().Conns(); n != 4 {
		t.Fatalf("%d connections on the server, want 4", n)
	}
	fifth := &MemClient{Out: []byte("hello"), Want: 5}
	if _, err := a.L.TCP().Connect(ourIP, peerIP, 7, fifth, k.Now); err != nil {
		t.Fatal(err)
	}
	k.Run(40000, func() bool { return fifth.Done }) // 2 s
	tc, _ := b.L.TCPCounters()
	if fifth.N != 0 || tc[tcp.TableFull] == 0 || tc[tcp.DropBacklog] == 0 {
		t.Fatalf("with the table full: %d bytes echoed, table full %d, dropped %d", fifth.N, tc[tcp.TableFull], tc[tcp.DropBacklog])
	}
	for _, c := range idle {
		c.Conn.Close()
	}
	if !k.Run(400000, func() bool { return fifth.Done }) || string(fifth.Got) != "hello" {
		t.Fatalf("the fifth after the table emptied: got %q, err %v", fifth.Got, fifth.Err)
	}
	again := &MemClient{Out: []byte("hello again"), Want: 11}
	if _, err := a.L.TCP().Connect(ourIP, peerIP, 7, again, k.Now); err != nil {
		t.Fatal(err)
	}
	if !k.Run(200000, func() bool { return again.Done }) || string(again.Got) != "hello again" {
		t.Fatalf("a new transaction: got %q, err %v", again.Got, again.Err)
	}
}

// TestNeighbourRefreshedInUse: a next hop in use is asked again before its
// entry expires, so that traffic to it never waits for ARP (nor overflows
// the pending queue at a high rate): over three lifetimes of steady
// transactions the entry is always there on both sides, renewed by
// arp_refreshes that the other side answered. An idle entry is not asked
// for and expires.
func TestNeighbourRefreshedInUse(t *testing.T) {
	k, txn := echoPair(t, 64)
	k.Tick = 10 * time.Millisecond
	ttl := time.Duration(k.A.Ctl.Neigh.TTL())
	end := k.Now + int64(3*ttl)
	for k.Now < end {
		txn()
		for _, h := range []struct {
			host *MemHost
			peer ipv4.Addr
		}{{k.A, peerIP}, {k.B, ourIP}} {
			if _, ok := h.host.Ctl.Neigh.Lookup(h.peer, k.Now); !ok {
				t.Fatalf("at %v: the entry for %v, in use, has expired", time.Duration(k.Now), h.peer)
			}
		}
	}
	// About one request per lifetime in all: its answer renews the
	// asker's entry, and the request renews the answerer's.
	ca, cb := k.A.L.Counters(), k.B.L.Counters()
	if n := ca[ARPRefreshes] + cb[ARPRefreshes]; n < 2 || n > 6 || ca[DropARPPendingFull]+cb[DropARPPendingFull] != 0 {
		t.Errorf("arp_refreshes %d+%d (want 2..6 over 3 lifetimes), drop_arp_pending_full %d+%d",
			ca[ARPRefreshes], cb[ARPRefreshes], ca[DropARPPendingFull], cb[DropARPPendingFull])
	}
	before := k.A.L.Counters()[ARPRefreshes]
	k.Run(int(2*ttl/k.Tick), func() bool { return false })
	if n := k.A.L.Counters()[ARPRefreshes] - before; n > 1 {
		t.Errorf("idle: %d refreshes, want at most the one already due", n)
	}
	if _, ok := k.A.Ctl.Neigh.Lookup(peerIP, k.Now); ok {
		t.Errorf("idle for two lifetimes: the entry is still there")
	}
}

// openMany opens n connections from a client host to a server host's
// echo service over queues that take 32 frames a poll (TxMax) and
// receive 32 (Burst), with a 2 ms minimum retransmission timeout.
func openMany(t *testing.T, n int) (a, b *MemHost, k *MemLink, cls []*MemClient) {
	t.Helper()
	ca := hostConfig(macA, ourIP, nil, 4<<10, n)
	cb := hostConfig(macB, peerIP, []TCPService{{Port: 7, New: newEcho}}, 4<<10, n)
	// Retransmission timeouts shorter than the closing takes (2 ms
	// against about 6 ms), as 200 ms is against a million closed at
	// once: the answers to what arrives must not wait behind the
	// backlog of FINs, or the peers time them out.
	ca.TCP.MinRTO, cb.TCP.MinRTO = 2*time.Millisecond, 2*time.Millisecond
	a, b = newHostWith(ca), newHostWith(cb)
	for _, h := range []*MemHost{a, b} {
		h.Q.TxMax = h.Q.Burst
	}
	k = &MemLink{A: a, B: b, Now: int64(time.Second)}
	cls = make([]*MemClient, n)
	for i := range cls {
		cls[i] = &MemClient{Discard: true}
	}
	// The first one resolves the server's address (the frames held for
	// that are sent without asking for room); the rest are opened a few
	// a poll.
	if _, err := a.L.TCP().Connect(ourIP, peerIP, 7, cls[0], k.Now); err != nil {
		t.Fatal(err)
	}
	k.Run(100, func() bool { return cls[0].Conn != nil })
	for i := 1; i < n; i += 16 {
		for j := i; j < min(i+16, n); j++ {
			if _, err := a.L.TCP().Connect(ourIP, peerIP, 7, cls[j], k.Now); err != nil {
				t.Fatal(err)
			}
		}
		k.Step()
	}
	open := func() bool {
		for _, c := range cls {
			if c.Conn == nil {
				return false
			}
		}
		return b.L.TCP().Conns() == n
	}
	if !k.Run(2000, open) {
		t.Fatalf("not all open: server holds %d of %d\nclient %v %v\nserver %v %v", b.L.TCP().Conns(), n, a.L.Counters(), a.L.TCP().C, b.L.Counters(), b.L.TCP().C)
	}
	k.Run(100, func() bool { return false }) // the last ACKs settle
	return a, b, k, cls
}

// TestCloseManyAtOnce: 2,000 connections closed by the client in one
// poll, over devices that take 32 frames a poll (TxMax, as a full TX
// ring refuses the rest) and receive 32 (Burst): TCP holds back what
// the queue has no room for and sends it at the next polls
// (tcp_output_waits) instead of losing it, so every FIN and every answer
// goes out within a few hundred polls, nothing is dropped for a full
// queue, and no retransmission timer fires. Dropping them instead left
// each lost FIN to a retransmission timeout (at least 200 ms, then
// backing off): 1,000,000 closed at once over net_memif took over 60 s.
func TestCloseManyAtOnce(t *testing.T) {
	const n = 2000
	a, b, k, cls := openMany(t, n)
	before := [2]tcp.Counters{a.L.TCP().C, b.L.TCP().C}
	for _, c := range cls {
		c.Conn.Close()
	}
	steps := 0
	closed := func() bool {
		for _, c := range cls {
			if !c.Done {
				return false
			}
		}
		return b.L.TCP().Conns() == 0
	}
	for ; steps < 2000 && !closed(); steps++ {
		k.Step()
	}
	if !closed() {
		done := 0
		for _, c := range cls {
			if c.Done {
				done++
			}
		}
		t.Fatalf("after %d polls: %d of %d closed on the client, the server holds %d", steps, done, n, b.L.TCP().Conns())
	}
	for i, h := range []*MemHost{a, b} {
		c := h.L.TCP().C
		if full := h.Q.Stats().TxFull; full != 0 {
			t.Errorf("host %d: %d frames dropped on a full TX queue", i, full)
		}
		if d := c[tcp.Timeouts] - before[i][tcp.Timeouts]; d != 0 {
			t.Errorf("host %d: %d retransmission timeouts", i, d)
		}
		if d := c[tcp.Retransmits] - before[i][tcp.Retransmits]; d != 0 {
			t.Errorf("host %d: %d retransmissions", i, d)
		}
	}
	waits := a.L.TCP().C[tcp.OutputWaits] - before[0][tcp.OutputWaits]
	if waits == 0 {
		t.Errorf("the client never waited for the queue: the test did not fill it")
	}
	if tw := a.L.TCP().States()[tcp.TimeWait]; tw != n {
		t.Errorf("%d of %d in TIME-WAIT on the client", tw, n)
	}
	t.Logf("%d closed at once over a 32-frame queue: all done in %d polls (%.1f ms of virtual time), %d output waits on the client, %d on the server",
		n, steps, float64(steps)*0.05, waits, b.L.TCP().C[tcp.OutputWaits]-before[1][tcp.OutputWaits])
}

// TestStopResetsAll: an lcore that stops with 6,000 connections open
// resets every one, though its queue takes 32 frames at a time: the
// resets wait in TCP (more than the 4,096 that may wait otherwise) and
// Close hands them to the device as it takes them, so every peer learns
// the connection is gone.
func TestStopResetsAll(t *testing.T) {
	const n = 6000
	a, b, k, _ := openMany(t, n)
	a.L.Close()
	sent := a.Q.Sent()
	if len(sent) != n {
		t.Fatalf("the stopping lcore sent %d frames, want %d resets", len(sent), n)
	}
	for len(sent) > 0 {
		m := min(len(sent), 256)
		for _, f := range sent[:m] {
			b.Q.Inject(f, k.Meta)
		}
		sent = sent[m:]
		for range 8 {
			b.L.Poll(k.Now)
		}
	}
	if got := b.L.TCP().C[tcp.ResetsRcvd]; got != n || b.L.TCP().Conns() != 0 {
		t.Fatalf("the server got %d resets and holds %d connections, want %d and 0", got, b.L.TCP().Conns(), n)
	}
	if d := a.L.TCP().C[tcp.DropNoBuffer]; d != 0 {
		t.Errorf("%d resets dropped", d)
	}
}
