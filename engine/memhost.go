package engine

import (
	"time"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// MemHost is one lcore on an in-memory queue, with the control of its
// neighbour table: a host for testing services and applications without
// DPDK, driven by a MemLink on a virtual clock.
type MemHost struct {
	Q   *dev.Mem
	L   *Lcore
	Ctl *Control
}

// NewMemHost builds a host on one interface, cfg.Ifaces[0]. A nil
// cfg.Neigh gets a table of its own; zero ARP settings get usable ones.
func NewMemHost(cfg *Config, caps ipv4.ChecksumCaps) *MemHost {
	if cfg.Neigh == nil {
		cfg.Neigh = ipv4.NewNeighbours(64, time.Minute)
	}
	if cfg.ARPRetry == 0 {
		cfg.ARPRetry, cfg.ARPTries = time.Second, 3
	}
	if cfg.ARPPending == 0 {
		cfg.ARPPending = 64
	}
	if cfg.ICMPRate == 0 {
		cfg.ICMPRate = 100
	}
	q := dev.NewMem(4096, 2048, caps)
	l := NewLcore(0, cfg, []dev.Queue{q})
	return &MemHost{Q: q, L: l, Ctl: &Control{Neigh: cfg.Neigh, Lcores: []*Lcore{l}}}
}

// MemLink joins two hosts frame by frame: what one sends is received by
// the other on the next Step. Only the goroutine calling Step may touch
// the hosts.
type MemLink struct {
	A, B *MemHost
	Now  int64         // the virtual clock, nanoseconds
	Tick time.Duration // virtual time per Step; 50us when 0
	Meta dev.RxMeta    // what the "device" says of each received frame
}

// Step advances the clock by Tick and polls both hosts, moving what each
// sent to the other. It reports how many frames moved.
func (k *MemLink) Step() int {
	tick := k.Tick
	if tick == 0 {
		tick = 50 * time.Microsecond
	}
	k.Now += int64(tick)
	moved := 0
	for _, pair := range [2][2]*MemHost{{k.A, k.B}, {k.B, k.A}} {
		from, to := pair[0], pair[1]
		from.L.Start(k.Now)
		from.L.Poll(k.Now)
		for _, f := range from.Q.Sent() {
			to.Q.Inject(f, k.Meta)
			moved++
		}
		from.Ctl.Tick(k.Now)
	}
	return moved
}

// Run steps until done or max steps, and reports done().
func (k *MemLink) Run(max int, done func() bool) bool {
	for i := 0; i < max && !done(); i++ {
		k.Step()
	}
	return done()
}

// MemClient is a test application for a MemHost: it writes Out, keeps
// what comes back in Got (or, with Discard, only counts it in N), and
// closes once N reaches Want (0: never).
type MemClient struct {
	Out     []byte
	Got     []byte
	N       int  // bytes received
	Want    int  // close after this many bytes; 0: never
	Discard bool // count received bytes without keeping them
	NoDelay bool // Nagle off: each write leaves at once
	Sent    int  // bytes of Out written
	Done    bool // Closed was called
	Err     error
	Conn    *tcp.Conn
}

// Open implements tcp.Handler: it starts writing Out.
func (a *MemClient) Open(c *tcp.Conn) {
	a.Conn = c
	c.SetNoDelay(a.NoDelay)
	a.push()
}

// Writable implements tcp.Handler: it writes more of Out.
func (a *MemClient) Writable(c *tcp.Conn) { a.push() }

func (a *MemClient) push() {
	for a.Sent < len(a.Out) {
		n := a.Conn.Write(a.Out[a.Sent:])
		if n == 0 {
			return
		}
		a.Sent += n
	}
}

// Recv implements tcp.Handler: it takes everything.
func (a *MemClient) Recv(c *tcp.Conn, d []byte) int {
	a.N += len(d)
	if !a.Discard {
		a.Got = append(a.Got, d...)
	}
	if a.Want > 0 && a.N >= a.Want {
		c.Close()
	}
	return len(d)
}

// PeerClosed implements tcp.Handler.
func (a *MemClient) PeerClosed(c *tcp.Conn) {}

// Closed implements tcp.Handler: Done and Err record it.
func (a *MemClient) Closed(c *tcp.Conn, err error) { a.Done, a.Err = true, err }
