package engine

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/httpsvc"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// host is one engine on an in-memory queue with its own neighbour table.
type host struct {
	q   *dev.Mem
	l   *Lcore
	ctl *Control
}

// hostConfig is one host's engine configuration for the TCP tests.
func hostConfig(mac ipv4.MAC, addr ipv4.Addr, svcs []TCPService, buf, buffers int) *Config {
	return &Config{
		Ifaces:      []Iface{{Name: "p0", MAC: mac, Prefix: ipv4.Prefix{Addr: addr, Bits: 24}}},
		UDP:         new([65536]Service),
		ARPRetry:    time.Second,
		ARPTries:    3,
		ARPPending:  64,
		ICMPRate:    100,
		Neigh:       ipv4.NewNeighbours(16, time.Minute),
		TCP:         tcp.Config{SndBuf: buf, RcvBuf: buf, Buffers: buffers},
		TCPServices: svcs,
	}
}

func newHost(mac ipv4.MAC, addr ipv4.Addr, svcs []TCPService) *host {
	cfg := hostConfig(mac, addr, svcs, 64<<10, 64)
	q := dev.NewMem(1024, 2048, ipv4.ChecksumCaps{})
	l := NewLcore(0, cfg, []dev.Queue{q})
	return &host{q: q, l: l, ctl: &Control{Neigh: cfg.Neigh, Lcores: []*Lcore{l}}}
}

// link joins two hosts frame by frame: a frame sent by one is injected
// into the other on the next step.
type link struct {
	a, b *host
	now  int64
}

func (k *link) step() {
	k.now += int64(50 * time.Microsecond)
	for _, pair := range [][2]*host{{k.a, k.b}, {k.b, k.a}} {
		from, to := pair[0], pair[1]
		from.l.Poll(k.now)
		for _, f := range from.q.Sent() {
			to.q.Inject(f, dev.RxMeta{})
		}
		from.ctl.Tick(k.now)
	}
}

func (k *link) run(max int, done func() bool) bool {
	for i := 0; i < max && !done(); i++ {
		k.step()
	}
	return done()
}

// client is a test application: it writes its data, collects what comes
// back, and closes once it has everything.
type client struct {
	out, got []byte
	sent     int
	want     int
	closed   bool
	err      error
	c        *tcp.Conn
}

func (a *client) Open(c *tcp.Conn)     { a.c = c; a.push() }
func (a *client) Writable(c *tcp.Conn) { a.push() }
func (a *client) push() {
	for a.sent < len(a.out) {
		n := a.c.Write(a.out[a.sent:])
		if n == 0 {
			return
		}
		a.sent += n
	}
}
func (a *client) Recv(c *tcp.Conn, d []byte) int {
	a.got = append(a.got, d...)
	if len(a.got) >= a.want {
		c.Close()
	}
	return len(d)
}
func (a *client) PeerClosed(c *tcp.Conn)      {}
func (a *client) Closed(c *tcp.Conn, e error) { a.closed, a.err = true, e }

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
	b := newHost(macB, peerIP, []TCPService{{Port: 7, Kind: Echo}})
	k := &link{a: a, b: b, now: int64(time.Second)}
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	cl := &client{out: data, want: len(data)}
	if _, err := a.l.TCP().Connect(ourIP, peerIP, 7, cl, k.now); err != nil {
		t.Fatal(err)
	}
	if !k.run(200000, func() bool { return cl.closed }) {
		t.Fatalf("echo did not finish: got %d of %d bytes", len(cl.got), len(data))
	}
	if cl.err != nil || !bytes.Equal(cl.got, data) {
		t.Fatalf("echo: err %v, %d bytes back, equal %v", cl.err, len(cl.got), bytes.Equal(cl.got, data))
	}
	k.run(1000, func() bool { return b.l.TCP().Conns() == 0 })
	if n := b.l.TCP().Conns(); n != 0 {
		t.Errorf("server still holds %d connections", n)
	}
}

// TestHTTPOverEngine: pipelined requests, a bad request answered with 400
// and the connection closed.
func TestHTTPOverEngine(t *testing.T) {
	a := newHost(macA, ourIP, nil)
	b := newHost(macB, peerIP, []TCPService{{Port: 80, Kind: HTTP, BodySize: 100}})
	k := &link{a: a, b: b, now: int64(time.Second)}
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	const n = 50
	cl := &client{out: []byte(strings.Repeat(req, n) + "BAD\r\n\r\n"), want: 1 << 30}
	if _, err := a.l.TCP().Connect(ourIP, peerIP, 80, cl, k.now); err != nil {
		t.Fatal(err)
	}
	k.run(100000, func() bool { return cl.closed || strings.Count(string(cl.got), "HTTP/1.1 400") == 1 })
	got := string(cl.got)
	if c := strings.Count(got, "HTTP/1.1 200 OK"); c != n {
		t.Fatalf("%d 200 responses, want %d:\n%.300s", c, n, got)
	}
	if !strings.HasSuffix(got, string(httpsvc.NewResponder(100).BadRequest())) {
		t.Fatalf("no 400 at the end:\n%.300s", got[len(got)-200:])
	}
	pc := b.l.c
	if pc[HTTPRequests] != n || pc[HTTPBadRequests] != 1 {
		t.Fatalf("http counters %d requests %d bad", pc[HTTPRequests], pc[HTTPBadRequests])
	}
}

// echoPair sets up an established connection to an echo service and
// returns a function that runs one transaction of size bytes.
func echoPair(t testing.TB, size int) (*link, func()) {
	a := newHost(macA, ourIP, nil)
	b := newHost(macB, peerIP, []TCPService{{Port: 7, Kind: Echo}})
	k := &link{a: a, b: b, now: int64(time.Second)}
	cl := &txnClient{msg: bytes.Repeat([]byte{'x'}, size)}
	if _, err := a.l.TCP().Connect(ourIP, peerIP, 7, cl, k.now); err != nil {
		t.Fatal(err)
	}
	k.run(100, func() bool { return cl.c != nil })
	if cl.c == nil {
		t.Fatal("not connected")
	}
	txn := func() {
		cl.got = 0
		cl.c.Write(cl.msg)
		for i := 0; i < 20 && cl.got < len(cl.msg); i++ {
			k.step()
		}
		if cl.got != len(cl.msg) {
			t.Fatalf("transaction: %d of %d bytes back", cl.got, len(cl.msg))
		}
	}
	return k, txn
}

// txnClient counts echoed bytes without keeping them.
type txnClient struct {
	msg []byte
	got int
	c   *tcp.Conn
}

func (a *txnClient) Open(c *tcp.Conn)               { a.c = c; c.SetNoDelay(true) }
func (a *txnClient) Writable(*tcp.Conn)             {}
func (a *txnClient) Recv(_ *tcp.Conn, d []byte) int { a.got += len(d); return len(d) }
func (a *txnClient) PeerClosed(*tcp.Conn)           {}
func (a *txnClient) Closed(*tcp.Conn, error)        {}

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
			mk := func(mac ipv4.MAC, addr ipv4.Addr, svcs []TCPService) *host {
				cfg := hostConfig(mac, addr, svcs, 64<<10, 64)
				q := dev.NewMem(4096, 2048, caps)
				l := NewLcore(0, cfg, []dev.Queue{q})
				return &host{q: q, l: l, ctl: &Control{Neigh: cfg.Neigh, Lcores: []*Lcore{l}}}
			}
			a := mk(macA, ourIP, nil)
			h := mk(macB, peerIP, []TCPService{{Port: 7, Kind: Echo}})
			now := int64(time.Second)
			step := func() {
				now += int64(5 * time.Microsecond)
				for _, pair := range [][2]*host{{a, h}, {h, a}} {
					from, to := pair[0], pair[1]
					from.l.Poll(now)
					for _, f := range from.q.Sent() {
						to.q.Inject(f, meta)
					}
				}
			}
			cls := make([]*txnClient, conns)
			for i := range cls {
				cls[i] = &txnClient{msg: bytes.Repeat([]byte{'x'}, 64)}
				if _, err := a.l.TCP().Connect(ourIP, peerIP, 7, cls[i], now); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < 100; i++ {
				step()
				a.ctl.Tick(now)
				h.ctl.Tick(now)
			}
			round := func() {
				for _, cl := range cls {
					cl.got = 0
					cl.c.Write(cl.msg)
				}
				for i := 0; i < 20; i++ {
					step()
					done := true
					for _, cl := range cls {
						done = done && cl.got == len(cl.msg)
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
	b := newHost(macB, peerIP, []TCPService{{Port: 7, Kind: Discard}})
	k := &link{a: a, b: b, now: int64(time.Second)}
	cl := &client{want: 1 << 30}
	if _, err := a.l.TCP().Connect(ourIP, peerIP, 7, cl, k.now); err != nil {
		t.Fatal(err)
	}
	if !k.run(1000, func() bool { return cl.c != nil }) {
		t.Fatal("no connection")
	}
	k.run(10, func() bool { return false })
	cl.c.SetNoDelay(true) // each write leaves at once
	// frames writes n bytes and returns what a transmits in one poll
	// (flushed at once: the device would send it at the next poll).
	frames := func(n int) [][]byte {
		cl.c.Write(make([]byte, n))
		a.l.Poll(k.now)
		a.q.Flush()
		return a.q.Sent()
	}
	for _, f := range frames(100) {
		if d := ipv4.Ethernet(f).Dst(); d != macB {
			t.Fatalf("before the change: frame to %v, want %v", d, macB)
		}
	}
	macC := ipv4.MAC{2, 0, 0, 0, 0, 0xc}
	a.ctl.Neigh.Update(peerIP, macC, k.now)
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
	k.now += int64(2 * time.Minute)
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
