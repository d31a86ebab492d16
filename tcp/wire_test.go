package tcp

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/pmdstack/pmd/ipv4"
)

// wireOut keeps the last allocated buffer so Send can find it.
type wireOut struct {
	w    *wire
	last []byte
}

func (o *wireOut) Busy() bool { return false }

func (o *wireOut) Alloc(id *FourTuple, n int) (uintptr, []byte, bool) {
	if cap(o.last) < n || o.w.noReuse {
		o.last = make([]byte, n, max(n, 2048))
	}
	o.last = o.last[:n]
	return 0, o.last, true
}

func (o *wireOut) Send(_ uintptr, id *FourTuple, n int) {
	h := Header(o.last[:n])
	h.ComputeChecksum(id.Local, id.Remote)
	o.w.transmit(id.Local, id.Remote, o.last[:n])
}

// faults are the wire's seeded impairments, as probabilities per packet.
type faults struct {
	loss, reorder, dup, corrupt float64
	delay, jitter               time.Duration
}

type packet struct {
	src, dst ipv4.Addr
	data     []byte
	at       int64
	order    int
}

// wireStats counts what a wire did.
type wireStats struct {
	sent, dropped, corrupted, duplicated, reordered int
	timeouts, fast                                  int           // the stacks' retransmission timeouts and fast retransmits
	virtual                                         time.Duration // virtual time taken
}

func (s *wireStats) add(o *wireStats) {
	s.sent += o.sent
	s.dropped += o.dropped
	s.corrupted += o.corrupted
	s.duplicated += o.duplicated
	s.reordered += o.reordered
	s.timeouts += o.timeouts
	s.fast += o.fast
	s.virtual += o.virtual
}

// wire joins two stacks in one process with a virtual clock.
type wire struct {
	t       testing.TB
	rng     *rand.Rand
	f       faults
	now     int64
	stacks  map[ipv4.Addr]*Stack
	queue   []packet
	order   int
	noReuse bool
	wireStats
	trace bool
}

func newWire(t testing.TB, seed uint64, f faults) *wire {
	return &wire{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), f: f, now: int64(time.Hour), stacks: map[ipv4.Addr]*Stack{}}
}

// stack adds a host at addr.
func (w *wire) stack(addr ipv4.Addr, cfg Config) *Stack {
	s := NewStack(cfg, &wireOut{w: w})
	w.stacks[addr] = s
	return s
}

func (w *wire) transmit(src, dst ipv4.Addr, seg []byte) {
	w.sent++
	if w.trace {
		var s Segment
		ParseSegment(Header(seg), &s)
		w.t.Logf("%8.3fms %v -> %v %v seq=%d ack=%d len=%d win=%d sack=%v", float64(w.now%int64(time.Hour))/1e6, src, dst, s.Flags, s.Seq, s.Ack, len(s.Payload), s.Window, s.Opts.SACK[:s.Opts.NSACK])
	}
	if w.f.loss > 0 && w.rng.Float64() < w.f.loss {
		w.dropped++
		return
	}
	copies := 1
	if w.f.dup > 0 && w.rng.Float64() < w.f.dup {
		copies = 2
		w.duplicated++
	}
	for i := 0; i < copies; i++ {
		data := bytes.Clone(seg)
		if w.f.corrupt > 0 && w.rng.Float64() < w.f.corrupt {
			data[w.rng.IntN(len(data))] ^= byte(1 + w.rng.IntN(255))
			w.corrupted++
		}
		at := w.now + int64(w.f.delay)
		if w.f.jitter > 0 {
			at += w.rng.Int64N(int64(w.f.jitter))
		}
		if w.f.reorder > 0 && w.rng.Float64() < w.f.reorder {
			at += int64(w.f.delay) + w.rng.Int64N(int64(5*time.Millisecond)+1)
			w.reordered++
		}
		w.order++
		w.queue = append(w.queue, packet{src: src, dst: dst, data: data, at: at, order: w.order})
	}
}

// step delivers every packet due by now+d, advancing the clock packet by
// packet and running timers, and returns false when nothing at all is
// pending (no packets in flight, no timers).
func (w *wire) step(d time.Duration) {
	end := w.now + int64(d)
	for {
		sort.SliceStable(w.queue, func(i, j int) bool {
			if w.queue[i].at != w.queue[j].at {
				return w.queue[i].at < w.queue[j].at
			}
			return w.queue[i].order < w.queue[j].order
		})
		// the next event: a packet or a timer tick
		next := end
		if len(w.queue) > 0 && w.queue[0].at < next {
			next = w.queue[0].at
		}
		for _, s := range w.stacks {
			if t := s.NextDeadline(); t != 0 && t < next {
				next = t
			}
		}
		if next > w.now {
			w.now = next
		}
		for len(w.queue) > 0 && w.queue[0].at <= w.now {
			p := w.queue[0]
			w.queue = w.queue[1:]
			if s := w.stacks[p.dst]; s != nil {
				h := Header(p.data)
				if !h.ChecksumValid(p.src, p.dst) {
					continue // what the engine does with a bad checksum
				}
				s.Input(p.dst, p.src, h, w.now)
			}
		}
		for _, s := range w.stacks {
			s.Advance(w.now)
		}
		if w.now >= end {
			return
		}
	}
}

// run steps until done() or the virtual time limit.
func (w *wire) run(limit time.Duration, done func() bool) bool {
	stop := w.now + int64(limit)
	for w.now < stop {
		if done() {
			return true
		}
		w.step(time.Millisecond)
	}
	return done()
}

// app is a test handler: it sends what it is given, keeps what it
// receives, and closes its side when it has sent everything.
type app struct {
	name        string
	toSend      []byte
	sent        int
	got         []byte
	open        bool
	peerFin     bool
	closed      bool
	err         error
	closeOnDone bool
	c           *Conn
}

func (a *app) Open(c *Conn)     { a.open = true; a.c = c; a.push(c) }
func (a *app) Writable(c *Conn) { a.push(c) }
func (a *app) Recv(c *Conn, d []byte) int {
	a.got = append(a.got, d...)
	return len(d)
}
func (a *app) PeerClosed(c *Conn) { a.peerFin = true }
func (a *app) Closed(c *Conn, err error) {
	a.closed, a.err = true, err
	a.c = nil
}

func (a *app) push(c *Conn) {
	for a.sent < len(a.toSend) {
		n := c.Write(a.toSend[a.sent:])
		if n == 0 {
			return
		}
		a.sent += n
	}
	if a.closeOnDone {
		a.closeOnDone = false
		c.CloseWrite()
	}
}

// acceptor makes an app per accepted connection.
type acceptor struct {
	mk   func() *app
	apps []*app
}

func (l *acceptor) Open(c *Conn) {
	a := l.mk()
	l.apps = append(l.apps, a)
	c.Context = a
	a.Open(c)
}
func (l *acceptor) Recv(c *Conn, d []byte) int { return c.Context.(*app).Recv(c, d) }
func (l *acceptor) Writable(c *Conn)           { c.Context.(*app).Writable(c) }
func (l *acceptor) PeerClosed(c *Conn)         { c.Context.(*app).PeerClosed(c) }
func (l *acceptor) Closed(c *Conn, err error) {
	if a, ok := c.Context.(*app); ok {
		a.Closed(c, err)
	}
}

var traceWire = false

var (
	addrA = ipv4.Addr(0xc6120001) // 198.18.0.1
	addrB = ipv4.Addr(0xc6120002) // 198.18.0.2
)

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// transfer runs one connection from A (client) to B (server, port 7)
// carrying up and down bytes, both sides closing when done, and checks
// everything arrived intact and both ends closed cleanly.
func transfer(t testing.TB, seed uint64, f faults, up, down int, cfg Config, stats *wireStats) error {
	w := newWire(t, seed, f)
	start := w.now
	w.trace = traceWire
	sa := w.stack(addrA, cfg)
	sb := w.stack(addrB, cfg)
	if stats != nil {
		defer func() {
			stats.add(&w.wireStats)
			stats.timeouts += int(sa.C[Timeouts] + sb.C[Timeouts])
			stats.fast += int(sa.C[FastRetransmits] + sb.C[FastRetransmits])
			stats.virtual += time.Duration(w.now - start)
		}()
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	upData, downData := randBytes(rng, up), randBytes(rng, down)
	srv := &acceptor{mk: func() *app { return &app{name: "server", toSend: downData, closeOnDone: true} }}
	if _, err := sb.Listen(7, srv); err != nil {
		return err
	}
	cli := &app{name: "client", toSend: upData, closeOnDone: true}
	if _, err := sa.Connect(addrA, addrB, 7, cli, w.now); err != nil {
		return err
	}
	done := func() bool {
		return cli.closed && len(srv.apps) == 1 && srv.apps[0].closed
	}
	limit := 10*time.Minute + time.Duration(up+down)*time.Microsecond*20
	if !w.run(limit, done) {
		s := "server not accepted"
		if len(srv.apps) > 0 {
			a := srv.apps[0]
			s = fmt.Sprintf("server got %d/%d sent %d/%d closed=%v err=%v", len(a.got), up, a.sent, down, a.closed, a.err)
		}
		st := "-"
		if cli.c != nil {
			st = cli.c.dump()
		}
		if len(srv.apps) > 0 && srv.apps[0].c != nil {
			st += " || server " + srv.apps[0].c.dump()
		}
		return fmt.Errorf("seed %d: not finished after %v virtual: client got %d/%d sent %d/%d closed=%v err=%v state=%s; %s; wire sent=%d dropped=%d",
			seed, limit, len(cli.got), down, cli.sent, up, cli.closed, cli.err, st, s, w.sent, w.dropped)
	}
	a := srv.apps[0]
	if cli.err != nil || a.err != nil {
		return fmt.Errorf("seed %d: close errors: client %v, server %v", seed, cli.err, a.err)
	}
	if !bytes.Equal(a.got, upData) {
		return fmt.Errorf("seed %d: server received %d bytes, differing from the %d sent at offset %d", seed, len(a.got), up, firstDiff(a.got, upData))
	}
	if !bytes.Equal(cli.got, downData) {
		return fmt.Errorf("seed %d: client received %d bytes, differing from the %d sent at offset %d", seed, len(cli.got), down, firstDiff(cli.got, downData))
	}
	return nil
}

func TestTransferClean(t *testing.T) {
	for _, size := range []int{0, 1, 1000, 100000, 3 << 20} {
		if err := transfer(t, uint64(size), faults{delay: time.Millisecond}, size, size/2, Config{}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// impaired is the fault mix of the transfer test.
var impaired = faults{loss: 0.05, reorder: 0.05, dup: 0.01, corrupt: 0.005, delay: 2 * time.Millisecond, jitter: 3 * time.Millisecond}

// logUniform picks a size from 1 byte to max, uniform in log scale.
func logUniform(rng *rand.Rand, max int) int {
	return int(math.Exp(rng.Float64() * math.Log(float64(max))))
}

func runTransfers(t *testing.T, n int, first uint64) {
	var total wireStats
	defer func() {
		t.Logf("%d transfers: %d packets, %d lost, %d reordered, %d duplicated, %d corrupted; %d timeouts, %d fast retransmits, %v virtual time",
			n, total.sent, total.dropped, total.reordered, total.duplicated, total.corrupted, total.timeouts, total.fast, total.virtual)
		if n >= 100 && (total.dropped == 0 || total.reordered == 0 || total.duplicated == 0 || total.corrupted == 0) {
			t.Errorf("the wire did not apply every fault: %+v", total)
		}
	}()
	for i := 0; i < n; i++ {
		seed := first + uint64(i)
		rng := rand.New(rand.NewPCG(seed, 7))
		up, down := logUniform(rng, 4<<20), logUniform(rng, 4<<20)
		if err := transfer(t, seed, impaired, up, down, Config{}, &total); err != nil {
			t.Fatalf("%v (replay: go test ./tcp -run TestReplay -v -args -seed=%d)", err, seed)
		}
	}
}

// transfers is how many seeded transfers TestTransferImpaired runs; the
// long run is -transfers=20000.
var transfers = flag.Int("transfers", 2000, "seeded transfers in TestTransferImpaired")

// seedFlag replays one seed (TestReplay).
var seedFlag = flag.Uint64("seed", 0, "seed for TestReplay")

// TestTransferImpaired: seeded transfers of 1 byte to 4 MiB each way over
// a wire that loses, reorders, duplicates, corrupts and delays packets
// arrive intact, and both sides close cleanly.
func TestTransferImpaired(t *testing.T) {
	runTransfers(t, *transfers, 1)
}

// TestReplay reruns one seed of TestTransferImpaired with a packet trace:
// go test ./tcp -run TestReplay -v -args -seed=N. Without -seed it replays
// seed 1, so that the replay path itself runs in every test run.
func TestReplay(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = 1
	}
	traceWire = testing.Verbose() && *seedFlag != 0
	defer func() { traceWire = false }()
	runTransfers(t, 1, seed)
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// dump is a connection's state for failure messages.
func (c *Conn) dump() string {
	return fmt.Sprintf("%v una=%d nxt=%d max=%d base=%d sndn=%d wnd=%d shift=%d/%d cwnd=%d ssthresh=%d mss=%d rcvNxt=%d rcvAdv=%d unread=%d finQ=%v finSent=%v rec=%v tRtx=%d persist=%d",
		c.state, c.sndUna, c.sndNxt, c.sndMax, c.sndBase, c.snd.n, c.sndWnd, c.sndShift, c.rcvShift, c.cwnd, c.ssthresh, c.mss, c.rcvNxt, c.rcvAdv, c.unread, c.finQueued, c.finSent, c.inRecovery, c.tRtx, c.tPersist)
}
