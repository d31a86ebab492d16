// Package gen is pmd bench's load generator: the bench workloads run as an
// engine App on each lcore, on pmd's own TCP. It is apart from package
// bench so that the kernel-socket twin (kbench) does not link the stack.
package gen

import (
	"bytes"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pmdstack/pmd/bench"
	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// Gen is pmd bench's load generator on one lcore: an engine App whose
// connections are tcp Handlers on that lcore's stack. It allocates its
// connections and buffers once; transactions allocate nothing.
type Gen struct {
	Spec      bench.Spec
	Locals    []ipv4.Addr // source addresses, used one after the other as their ports run out
	Remote    ipv4.Addr
	Share     int          // connections this lcore runs
	Meter     *bench.Meter // this lcore's totals
	Hist      bench.Hist   // this lcore's latencies, read after the lcore stops
	Measuring *atomic.Bool
	Stopping  *atomic.Bool // set: no new requests or connections
	Go        *atomic.Bool // set once the links are up: connections open from then on
	Closing   *atomic.Bool // -reopen: set, every connection is closed at once (nil: never)
	Reopening *atomic.Bool // -reopen: set, the connections are opened again
	Switches  uint64       // source addresses given up for the next as their ports ran out (each counted in tcp_no_ports); read after the lcore stops

	l        *engine.Lcore
	conns    []genConn
	req      []byte
	txns     uint64 // Meter's totals, kept here and published once a poll:
	bytes    uint64 // an atomic add per transaction costs more than the rest of the bookkeeping
	open     uint64 // connections established
	local    int    // index in Locals of the address new connections come from
	begin    int64  // when Start ran
	opened   int    // connections begun (OpenRate paces them)
	active   int    // connections active at a time (Spec.Active)
	win      int    // first of the active window
	moveAt   int64  // when the window next moves
	movedAt  int64  // when it last moved
	starting int    // of the window's connections, those started since (Think spreads them)
	allAt    bool   // Meter.AllAt is set
	closed   bool   // Closing was acted on
	reopen   bool   // Reopening was acted on
	// Think: connections waiting to send their next request, in the
	// order they became due (one pause for all: a FIFO).
	thinking          []thinker
	thinkHead, thinkN int
}

type thinker struct {
	at  int64
	idx int32
}

// genConn is one connection's state. It stays small: a scale run holds
// millions of them, most idle.
type genConn struct {
	g      *Gen
	c      *tcp.Conn
	sent   []int64       // send times of outstanding requests, a ring of Depth
	head   int           // next slot to fill
	tail   int           // oldest outstanding
	got    int           // bytes of the current response
	start  int64         // crr: when the connection began
	hdr    []byte        // http: the response head so far (its capacity bounds it)
	body   int           // http: body bytes still to come, -1 while in the header
	active bool          // sends requests (rr, http): in the active window
	idx    int32         // in Gen.conns
	id     tcp.FourTuple // the last connection's tuple: -reopen opens on it again
}

// httpHead bounds a response's head.
const httpHead = 1024

// Start opens the lcore's connections.
func (g *Gen) Start(l *engine.Lcore, now int64) {
	g.l = l
	switch g.Spec.Workload {
	case bench.HTTP:
		g.req = []byte(bench.HTTPRequest)
	case bench.StreamUp:
		g.req = bytes.Repeat([]byte("pmd-stream "), (64<<10)/11)
	default:
		g.req = bytes.Repeat([]byte{'r'}, g.Spec.Size)
	}
	g.conns = make([]genConn, g.Share)
	sent := make([]int64, g.Share*g.Spec.Depth)
	g.active = g.Spec.ActivePer(g.Share)
	g.starting = g.active // the first window starts as its connections open
	for i := range g.conns {
		gc := &g.conns[i]
		*gc = genConn{g: g, body: -1, sent: sent[i*g.Spec.Depth : (i+1)*g.Spec.Depth : (i+1)*g.Spec.Depth], active: i < g.active, idx: int32(i)}
		if g.Spec.Workload == bench.HTTP {
			gc.hdr = make([]byte, 0, httpHead)
		}
	}
	if g.Spec.Think > 0 {
		g.thinking = make([]thinker, g.Share*g.Spec.Depth)
	}
}

// openDue begins the connections due by now: all of them at once, or
// OpenRate a second over the lcores.
func (g *Gen) openDue(now int64) {
	due := len(g.conns)
	if g.Spec.OpenRate > 0 {
		perLcore := float64(g.Spec.OpenRate) * float64(g.Share) / float64(g.Spec.Conns)
		due = min(due, 1+int(float64(now-g.begin)/1e9*perLcore))
	}
	for ; g.opened < due; g.opened++ {
		g.connect(&g.conns[g.opened], now)
	}
}

// connect begins gc's connection from the current source address, moving
// on to the next one when its ports are all taken.
func (g *Gen) connect(gc *genConn, now int64) {
	gc.start = now
	gc.got, gc.head, gc.tail, gc.hdr, gc.body = 0, 0, 0, gc.hdr[:0], -1
	t := g.l.TCP()
	if g.reopen && gc.id != (tcp.FourTuple{}) {
		// The same tuple again, taken over from TIME-WAIT: the table
		// holds no more connections than before the close.
		if _, err := t.ConnectFrom(gc.id, gc, now); err == nil {
			return
		}
	}
	for tries := 0; tries < len(g.Locals); tries++ {
		_, err := t.Connect(g.Locals[g.local], g.Remote, g.Spec.Server.Port(), gc, now)
		if err == nil {
			return
		}
		if err != tcp.ErrNoPorts || len(g.Locals) == 1 {
			break
		}
		g.local = (g.local + 1) % len(g.Locals)
		g.Switches++
	}
	g.Meter.Errors.Add(1)
}

// Poll opens what is due, moves the active window and publishes the
// totals; the connections run on their events.
func (g *Gen) Poll(_ *engine.Lcore, now int64) {
	if g.Closing != nil && g.Closing.Load() {
		g.closeReopen(now)
	}
	if g.opened < len(g.conns) {
		if g.begin == 0 {
			// Nothing opens until the links are up: SYNs sent into a
			// link that is not would wait out their retransmission
			// timeouts, seconds behind the schedule.
			if !g.Go.Load() {
				return
			}
			g.begin = now
		}
		g.openDue(now)
	}
	for g.thinkN > 0 && g.thinking[g.thinkHead].at <= now {
		t := g.thinking[g.thinkHead]
		g.thinkHead = (g.thinkHead + 1) % len(g.thinking)
		g.thinkN--
		if gc := &g.conns[t.idx]; gc.c != nil && gc.head-gc.tail < g.Spec.Depth {
			gc.request()
		}
	}
	if g.open == uint64(len(g.conns)) && !g.allAt {
		g.allAt = true
		g.Meter.AllAt.Store(time.Now().UnixNano())
	}
	if g.active < len(g.conns) && now >= g.moveAt && g.open == uint64(len(g.conns)) {
		g.move(now)
		g.moveAt = now + 1e9
	}
	if g.starting < g.active {
		g.start(now)
	}
	g.Meter.Txns.Store(g.txns)
	g.Meter.Bytes.Store(g.bytes)
	g.Meter.Open.Store(g.open)
}

// closeReopen is -reopen on this lcore: once Closing is set, every
// connection stops its requests and sends its FIN, all in this poll; the
// read side stays open for the responses still on their way (a full
// close would answer them with a reset, as a closed socket does), and the
// peer's FIN closes it (PeerClosed), into TIME-WAIT here. Once Reopening
// is set, they open again as at the start, paced by OpenRate, and stay
// idle.
func (g *Gen) closeReopen(now int64) {
	if !g.closed {
		g.closed = true
		for i := range g.conns {
			gc := &g.conns[i]
			gc.active = false
			if gc.c != nil {
				gc.c.CloseWrite()
			}
		}
		// No window moves or starts again.
		g.active = len(g.conns)
		g.starting = g.active
		return
	}
	if !g.reopen && g.Reopening.Load() {
		g.reopen = true
		g.opened, g.begin = 0, now
	}
}

// move shifts the active window by its width: the connections leaving it
// finish what they have outstanding and send no more; those entering it
// start, at once or (Think) spread evenly over one pause, so that they do
// not all ask in the same poll of every pause from then on.
func (g *Gen) move(now int64) {
	n := len(g.conns)
	for i := 0; i < g.active; i++ {
		g.conns[(g.win+i)%n].active = false
	}
	g.win = (g.win + g.active) % n
	g.movedAt, g.starting = now, 0
	g.start(now)
}

// start starts the connections of the window that are due.
func (g *Gen) start(now int64) {
	n := len(g.conns)
	for ; g.starting < g.active; g.starting++ {
		if g.Spec.Think > 0 && g.movedAt+int64(g.Spec.Think)*int64(g.starting)/int64(g.active) > now {
			return
		}
		gc := &g.conns[(g.win+g.starting)%n]
		gc.active = true
		if gc.c != nil {
			gc.requests()
		}
	}
}

func (gc *genConn) Open(c *tcp.Conn) {
	gc.c = c
	gc.id = c.ID()
	c.SetNoDelay(true)
	g := gc.g
	g.open++
	switch g.Spec.Workload {
	case bench.RR, bench.HTTP:
		if gc.active {
			gc.requests()
		}
	case bench.CRR:
		gc.request()
	case bench.StreamUp:
		gc.pushStream()
	}
}

// requests fills the connection's depth of outstanding requests.
func (gc *genConn) requests() {
	for gc.head-gc.tail < gc.g.Spec.Depth {
		if !gc.request() {
			return
		}
	}
}

// request sends one request and remembers when.
func (gc *genConn) request() bool {
	if gc.g.Stopping.Load() || !gc.active {
		return false
	}
	if gc.c.Write(gc.g.req) != len(gc.g.req) {
		gc.g.Meter.Errors.Add(1) // the send buffer is sized far above Depth requests
		return false
	}
	gc.sent[gc.head%len(gc.sent)] = gc.g.l.Now()
	gc.head++
	return true
}

// complete records a transaction whose response has fully arrived.
func (gc *genConn) complete() {
	g := gc.g
	now := g.l.Now()
	if gc.tail < gc.head {
		if g.Measuring.Load() {
			g.Hist.Record(time.Duration(now - gc.sent[gc.tail%len(gc.sent)]))
		}
		gc.tail++
	}
	g.txns++
	if g.Spec.Think > 0 {
		if g.thinkN < len(g.thinking) {
			g.thinking[(g.thinkHead+g.thinkN)%len(g.thinking)] = thinker{at: now + int64(g.Spec.Think), idx: gc.idx}
			g.thinkN++
		}
		return
	}
	gc.requests()
}

func (gc *genConn) pushStream() {
	g := gc.g
	for !g.Stopping.Load() {
		n := gc.c.Write(g.req)
		g.bytes += uint64(n)
		if n < len(g.req) {
			return
		}
	}
}

func (gc *genConn) Writable(c *tcp.Conn) {
	if gc.g.Spec.Workload == bench.StreamUp {
		gc.pushStream()
	}
}

func (gc *genConn) Recv(c *tcp.Conn, data []byte) int {
	g := gc.g
	switch g.Spec.Workload {
	case bench.RR:
		gc.got += len(data)
		for gc.got >= g.Spec.Size {
			gc.got -= g.Spec.Size
			gc.complete()
		}
	case bench.CRR:
		gc.got += len(data)
		if gc.got >= g.Spec.Size {
			if g.Measuring.Load() {
				g.Hist.Record(time.Duration(g.l.Now() - gc.start))
			}
			g.txns++
			c.Close()
		}
	case bench.StreamDown:
		g.bytes += uint64(len(data))
	case bench.HTTP:
		gc.http(data)
	}
	return len(data)
}

// http consumes response bytes: the head into a small buffer, then the
// body by its Content-Length.
func (gc *genConn) http(data []byte) {
	for len(data) > 0 {
		if gc.body < 0 {
			had := len(gc.hdr)
			n := min(len(data), cap(gc.hdr)-had)
			gc.hdr = append(gc.hdr, data[:n]...)
			end := bytes.Index(gc.hdr, []byte("\r\n\r\n"))
			if end < 0 {
				data = data[n:]
				if len(gc.hdr) == cap(gc.hdr) {
					gc.fail()
					return
				}
				continue
			}
			used := end + 4 - had // bytes of data that belonged to the head
			head := gc.hdr[:end]
			gc.hdr = gc.hdr[:0]
			data = data[used:]
			if !bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")) {
				gc.fail()
				return
			}
			cl := contentLength(head)
			if cl < 0 {
				gc.fail()
				return
			}
			gc.body = cl
		}
		n := min(gc.body, len(data))
		gc.body -= n
		data = data[n:]
		if gc.body == 0 {
			gc.body = -1
			gc.complete()
		}
	}
}

func contentLength(head []byte) int {
	const key = "\r\nContent-Length: "
	i := bytes.Index(head, []byte(key))
	if i < 0 {
		return -1
	}
	v := head[i+len(key):]
	if j := bytes.IndexByte(v, '\r'); j >= 0 {
		v = v[:j]
	}
	n, err := strconv.Atoi(string(v)) // a short string: the conversion does not escape
	if err != nil {
		return -1
	}
	return n
}

func (gc *genConn) fail() {
	gc.g.Meter.Errors.Add(1)
	gc.c.Abort()
}

func (gc *genConn) PeerClosed(c *tcp.Conn) { c.Close() }

func (gc *genConn) Closed(c *tcp.Conn, err error) {
	g := gc.g
	if gc.c != nil {
		g.open--
	}
	gc.c = nil
	if err != nil && !g.Stopping.Load() {
		g.Meter.Errors.Add(1)
	}
	if g.Spec.Workload == bench.CRR && !g.Stopping.Load() {
		g.connect(gc, g.l.Now())
	}
}
