package socket

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/rss"
	"github.com/pmdstack/pmd/tcp"
)

var (
	addrA = mustAddr("198.18.0.1")
	addrB = mustAddr("198.18.0.2")
	addrX = mustAddr("198.18.0.3") // nobody: ARP goes unanswered
	macA  = ipv4.MAC{2, 0, 0, 0, 0, 0xa}
	macB  = ipv4.MAC{2, 0, 0, 0, 0, 0xb}
)

func mustAddr(s string) ipv4.Addr {
	a, err := ipv4.ParseAddr(s)
	if err != nil {
		panic(err)
	}
	return a
}

// host is a machine of lcores on in-memory queues, with a Net over them.
// Only the wire's driver goroutine touches its queues and lcores.
type host struct {
	addr  ipv4.Addr
	qs    []*dev.Mem
	ls    []*engine.Lcore
	ctl   *engine.Control
	net   *Net
	next  int // queue for the next received frame that is not TCP
	owner *rss.Owner
}

// hostSpec says how to build a host.
type hostSpec struct {
	lcores int
	tcp    tcp.Config // zero: 64 KiB buffers
	opts   []Option
}

func newHost(addr ipv4.Addr, mac ipv4.MAC, spec hostSpec) *host {
	n := max(spec.lcores, 1)
	tc := spec.tcp
	if tc.SndBuf == 0 {
		tc.SndBuf, tc.RcvBuf = 64<<10, 64<<10
	}
	if tc.Buffers == 0 {
		tc.Buffers = 4096
	}
	cfg := &engine.Config{
		Ifaces:     []engine.Iface{{Name: "p0", MAC: mac, Prefix: ipv4.Prefix{Addr: addr, Bits: 24}}},
		ARPRetry:   time.Second,
		ARPTries:   3,
		ARPPending: 256,
		ICMPRate:   100,
		Neigh:      ipv4.NewNeighbours(16, time.Hour),
		TCP:        tc,
	}
	if n > 1 {
		cfg.Owner = &rss.Owner{H: rss.NewHasher(rss.SymmetricKey), T: rss.NewTable(128, n)}
	}
	pool := dev.NewMemPool(8192*n, 2048)
	h := &host{addr: addr, owner: cfg.Owner}
	for i := 0; i < n; i++ {
		q := dev.NewMemOn(pool, ipv4.ChecksumCaps{})
		q.Burst = 256
		h.qs = append(h.qs, q)
		h.ls = append(h.ls, engine.NewLcore(i, cfg, []dev.Queue{q}))
	}
	engine.Join(h.ls)
	h.ctl = &engine.Control{Neigh: cfg.Neigh, Lcores: h.ls}
	h.net = New(h.ls, spec.opts...)
	return h
}

// deliver hands a frame to the queue of the lcore that owns its TCP flow,
// as a device with RSS would (spreading a flow's frames over the queues
// would reorder them: the lcores steer them to the owner, but over a
// ring); anything else goes to the queues in turn.
func (h *host) deliver(f []byte) {
	q := h.next
	h.next = (h.next + 1) % len(h.qs)
	if o := h.owner; o != nil {
		eth := ipv4.Ethernet(f)
		if eth.Valid() && eth.Type() == ipv4.EtherTypeIPv4 {
			ip := ipv4.IPv4(eth.Payload())
			if ip.Check() == nil && ip.Protocol() == ipv4.ProtoTCP && len(ip.Payload()) >= 4 {
				p := ip.Payload()
				q = o.Of(ip.Src(), ip.Dst(), binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:]))
			}
		}
	}
	h.qs[q].Inject(f, dev.RxMeta{})
}

// conns is the number of TCP connections the host's lcores hold, as last
// published (every 10 ms).
func (h *host) conns() int {
	total := 0
	for _, l := range h.ls {
		_, n := l.TCPCounters()
		total += n
	}
	return total
}

// wire joins two hosts and polls them from one driver goroutine on the
// real monotonic clock, as their lcores would.
type wire struct {
	a, b    *host
	spin    int // empty rounds before the driver sleeps; < 0: never
	t0      time.Time
	stop    chan struct{}
	done    chan struct{}
	rounds  atomic.Uint64
	started atomic.Bool
}

// newWire builds the hosts and starts the driver; the test's cleanup
// closes both Nets, stops the driver and checks that no goroutine is left
// behind.
func newWire(t testing.TB, a, b hostSpec) *wire {
	w := newIdleWire(t, a, b)
	w.start()
	return w
}

// start starts the driver: the lcores run from now on.
func (w *wire) start() {
	w.started.Store(true)
	go w.drive()
}

// newIdleWire is newWire without starting the driver.
func newIdleWire(t testing.TB, a, b hostSpec) *wire {
	checkGoroutines(t)
	w := &wire{
		a:    newHost(addrA, macA, a),
		b:    newHost(addrB, macB, b),
		spin: 64,
		t0:   time.Now(),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	t.Cleanup(func() {
		w.a.net.Close()
		w.b.net.Close()
		time.Sleep(5 * time.Millisecond) // let the lcores take the shutdown
		w.halt()
		if t.Failed() {
			for _, h := range []*host{w.a, w.b} {
				t.Logf("%v: %s", h.addr, h.counters())
			}
		}
	})
	return w
}

// counters lists the host's nonzero engine and TCP counters, summed over
// its lcores, as last published.
func (h *host) counters() string {
	var ec engine.Counters
	var tc tcp.Counters
	for _, l := range h.ls {
		c := l.Counters()
		ec.Add(&c)
		t, _ := l.TCPCounters()
		for i := range tc {
			tc[i] += t[i]
		}
	}
	var b strings.Builder
	for i, v := range ec {
		if v != 0 {
			fmt.Fprintf(&b, " %v=%d", engine.Counter(i), v)
		}
	}
	for i, v := range tc {
		if v != 0 {
			fmt.Fprintf(&b, " %v=%d", tcp.Counter(i), v)
		}
	}
	return b.String()
}

// halt stops the driver (if it was started): from then on nobody polls.
func (w *wire) halt() {
	select {
	case <-w.stop:
		return
	default:
		close(w.stop)
	}
	if w.started.Load() {
		<-w.done
	}
}

func (w *wire) drive() {
	defer close(w.done)
	idle := 0
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		switch {
		case w.step() > 0:
			idle = 0
		case idle < w.spin || w.spin < 0:
			idle++
			runtime.Gosched()
		default:
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// step polls every lcore of both hosts once at the current time, moving
// what each sent to the other, and returns how much work there was.
func (w *wire) step() int {
	now := int64(time.Since(w.t0)) + int64(time.Second)
	work := 0
	for _, pair := range [2][2]*host{{w.a, w.b}, {w.b, w.a}} {
		from, to := pair[0], pair[1]
		for i, l := range from.ls {
			work += l.Poll(now)
			from.qs[i].Flush()
			for _, f := range from.qs[i].Sent() {
				to.deliver(f)
				work++
			}
		}
		from.ctl.Tick(now)
	}
	w.rounds.Add(1)
	return work
}

// waitFor polls cond until it holds or d passes, and reports whether it
// held.
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// checkGoroutines fails the test if, once its other cleanups ran, more
// goroutines are left than when it began.
func checkGoroutines(t testing.TB) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		if waitFor(5*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
			return
		}
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("%d goroutines at the end, %d at the start:\n%s", runtime.NumGoroutine(), before, buf)
	})
}

// fill writes the bytes of stream seed from offset off into b: every byte
// is a function of (seed, offset), so a receiver checks without a copy.
func fill(seed, off uint64, b []byte) {
	for i := range b {
		x := (off + uint64(i)) ^ seed*0x9e3779b97f4a7c15
		x ^= x >> 29
		x *= 0xbf58476d1ce4e5b9
		b[i] = byte(x >> 32)
	}
}

// check reports the index of the first byte of b that differs from stream
// seed at offset off, or -1.
func check(seed, off uint64, b []byte) int {
	want := make([]byte, len(b))
	fill(seed, off, want)
	for i := range b {
		if b[i] != want[i] {
			return i
		}
	}
	return -1
}
