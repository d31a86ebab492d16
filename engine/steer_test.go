package engine

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/rss"
	"github.com/pmdstack/pmd/tcp"
)

// multiHost is one host with several lcores, each polling its own queue
// of a device that spreads received frames over the queues at random
// (the worst case: no RSS at all).
type multiHost struct {
	qs  []*dev.Mem
	ls  []*Lcore
	ctl *Control
	rng *rand.Rand
}

func newMultiHost(n int, mac ipv4.MAC, addr ipv4.Addr, svcs []TCPService, seed uint64) *multiHost {
	return newMultiHostSized(n, mac, addr, svcs, seed, hostConfig(mac, addr, svcs, 32<<10, 512), 8192)
}

// newMultiHostSized is newMultiHost with the lcores' configuration and the
// device's buffer count given.
func newMultiHostSized(n int, mac ipv4.MAC, addr ipv4.Addr, svcs []TCPService, seed uint64, cfg *Config, bufs int) *multiHost {
	if n > 1 {
		cfg.Owner = &rss.Owner{H: rss.NewHasher(rss.SymmetricKey), T: rss.NewTable(128, n)}
	}
	pool := dev.NewMemPool(bufs, 2048)
	h := &multiHost{rng: rand.New(rand.NewPCG(seed, 9))}
	for i := 0; i < n; i++ {
		q := dev.NewMemOn(pool, ipv4.ChecksumCaps{})
		h.qs = append(h.qs, q)
		h.ls = append(h.ls, NewLcore(i, cfg, []dev.Queue{q}))
	}
	Join(h.ls)
	h.ctl = &Control{Neigh: cfg.Neigh, Lcores: h.ls}
	return h
}

// deliver puts a frame on a random queue.
func (h *multiHost) deliver(f []byte) { h.qs[h.rng.IntN(len(h.qs))].Inject(f, dev.RxMeta{}) }

// poll runs every lcore once and returns what they sent.
func (h *multiHost) poll(now int64) [][]byte {
	var out [][]byte
	for i, l := range h.ls {
		l.Poll(now)
		for _, f := range h.qs[i].Sent() {
			out = append(out, bytes.Clone(f))
		}
	}
	h.ctl.Tick(now)
	return out
}

// checkOwnership: every connection sits in the table of the lcore that
// owns its flow, and in no other.
func (h *multiHost) checkOwnership(t *testing.T) {
	t.Helper()
	seen := map[tcp.FourTuple]int{}
	for _, l := range h.ls {
		l.TCP().Each(func(c *tcp.Conn) {
			id := c.ID()
			if o, dup := seen[id]; dup {
				t.Fatalf("flow %v in the tables of lcores %d and %d", id, o, l.ID)
			}
			seen[id] = l.ID
			if l.cfg.Owner != nil {
				if own := l.cfg.Owner.Of(id.Remote, id.Local, id.RemotePort, id.LocalPort); own != l.ID {
					t.Fatalf("flow %v on lcore %d, owned by %d", id, l.ID, own)
				}
			}
		})
	}
}

// TestSteeringProperty: with N lcores on each side and a device that
// delivers every frame to a random queue, echo transfers over many flows
// in both directions (the multi-lcore side both accepting and connecting)
// arrive intact, every flow lives only on its owner, and packets were in
// fact steered.
func TestSteeringProperty(t *testing.T) {
	for _, n := range []int{2, 3, 4} {
		srv := newMultiHost(n, macB, peerIP, []TCPService{{Port: 7, New: newEcho}}, uint64(n))
		cli := newMultiHost(n, macA, ourIP, nil, uint64(n)+100)
		var clients []*MemClient
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		for i := 0; i < 40; i++ {
			l := cli.ls[i%n]
			data := make([]byte, 1+rng.IntN(100000))
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			cl := &MemClient{Out: data, Want: len(data)}
			if _, err := l.TCP().Connect(ourIP, peerIP, 7, cl, int64(time.Second)); err != nil {
				t.Fatal(err)
			}
			clients = append(clients, cl)
		}
		done := func() bool {
			for _, c := range clients {
				if !c.Done {
					return false
				}
			}
			return true
		}
		now := int64(time.Second)
		for step := 0; step < 100000 && !done(); step++ {
			now += int64(50 * time.Microsecond)
			for _, f := range cli.poll(now) {
				srv.deliver(f)
			}
			for _, f := range srv.poll(now) {
				cli.deliver(f)
			}
			if step%100 == 0 {
				srv.checkOwnership(t)
				cli.checkOwnership(t)
			}
		}
		for i, c := range clients {
			if !c.Done || c.Err != nil || !bytes.Equal(c.Got, c.Out) {
				t.Fatalf("%d lcores: flow %d: closed %v err %v, %d of %d bytes intact %v", n, i, c.Done, c.Err, len(c.Got), len(c.Out), bytes.Equal(c.Got, c.Out))
			}
		}
		var steered, spread [2]uint64
		perLcore := make([]uint64, n)
		for k, h := range []*multiHost{cli, srv} {
			for i, l := range h.ls {
				l.publish()
				steered[k] += l.c[SteeredIn]
				if l.c[SteeredIn] != 0 {
					spread[k]++
				}
				if h == srv {
					perLcore[i] = l.tcp.C[tcp.PassiveOpens]
				}
				if l.c[DropSteerFull] != 0 {
					t.Errorf("lcore %d dropped %d steered packets", i, l.c[DropSteerFull])
				}
			}
		}
		if steered[0] == 0 || steered[1] == 0 {
			t.Errorf("%d lcores: nothing steered (client %d, server %d): the test did not test", n, steered[0], steered[1])
		}
		t.Logf("%d lcores: steered client %d server %d; server connections per lcore %v", n, steered[0], steered[1], perLcore)
	}
}

// TestActiveOpensComeHome: with a symmetric key, the source port an
// lcore picks makes the answer hash back to it.
func TestActiveOpensComeHome(t *testing.T) {
	cli := newMultiHost(4, macA, ourIP, nil, 1)
	for _, l := range cli.ls {
		for i := 0; i < 50; i++ {
			c, err := l.TCP().Connect(ourIP, peerIP, 80, &MemClient{}, int64(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			id := c.ID()
			// The answer arrives from the server: remote -> local.
			if own := l.cfg.Owner.Of(peerIP, ourIP, 80, id.LocalPort); own != l.ID {
				t.Fatalf("lcore %d chose port %d, whose answers go to lcore %d", l.ID, id.LocalPort, own)
			}
		}
	}
}

// A packet steered to an lcore that has already made its last poll is
// neither lost nor leaked: Stopped frees it and counts it.
func TestSteeredAfterStop(t *testing.T) {
	srv := newMultiHost(2, macB, peerIP, []TCPService{{Port: 9, New: newDiscard}}, 7)
	cli := newMultiHost(1, macA, ourIP, nil, 8)
	var clients []*MemClient
	for i := 0; i < 8; i++ {
		cl := &MemClient{}
		if _, err := cli.ls[0].TCP().Connect(ourIP, peerIP, 9, cl, int64(time.Second)); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
	}
	now := int64(time.Second)
	for step := 0; step < 2000; step++ {
		now += int64(50 * time.Microsecond)
		for _, f := range cli.poll(now) {
			srv.deliver(f)
		}
		for _, f := range srv.poll(now) {
			cli.deliver(f)
		}
	}
	for _, cl := range clients {
		if cl.Conn == nil {
			t.Fatal("a connection did not open")
		}
		cl.Conn.Write([]byte("late"))
	}
	inUse := srv.qs[0].InUse()
	var before [2]Counters
	for i, l := range srv.ls {
		l.publish()
		before[i] = l.Counters()
	}
	// The segments of flows lcore 1 owns arrive on lcore 0, and only lcore
	// 0 polls: it hands them over to an owner that never polls again.
	late := 0
	cli.poll(now + 1000) // queues the segments; the next poll sends them
	for _, f := range cli.poll(now + 1000) {
		ip := ipv4.IPv4(ipv4.Ethernet(f).Payload())
		if ip.Protocol() != ipv4.ProtoTCP || srv.ls[0].owner(ip) != 1 {
			continue
		}
		srv.qs[0].Inject(f, dev.RxMeta{})
		late++
	}
	if late == 0 {
		t.Fatal("no segment for lcore 1's flows")
	}
	srv.ls[0].Poll(now + 2000)
	for _, l := range srv.ls {
		l.Stopped()
	}
	d := func(i int, c Counter) uint64 { return srv.ls[i].Counters()[c] - before[i][c] }
	if out, in, dropped := d(0, SteeredOut), d(1, SteeredIn), d(1, DropSteerStopped); out != uint64(late) || in != 0 || dropped != out {
		t.Errorf("%d segments: steered out %d, in %d, dropped after the stop %d; want %d, 0, %d", late, out, in, dropped, late, late)
	}
	if got := srv.qs[0].InUse(); got > inUse {
		t.Errorf("%d buffers in use after Stopped, %d before the late segments", got, inUse)
	}
}
