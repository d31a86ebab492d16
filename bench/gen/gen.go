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
	Local     ipv4.Addr
	Remote    ipv4.Addr
	Share     int          // connections this lcore runs
	Meter     *bench.Meter // this lcore's totals
	Hist      bench.Hist   // this lcore's latencies, read after the lcore stops
	Measuring *atomic.Bool
	Stopping  *atomic.Bool // set: no new requests or connections

	l     *engine.Lcore
	conns []genConn
	req   []byte
	txns  uint64 // Meter's totals, kept here and published once a poll:
	bytes uint64 // an atomic add per transaction costs more than the rest of the bookkeeping
}

type genConn struct {
	g     *Gen
	c     *tcp.Conn
	sent  [64]int64 // send times of outstanding requests, a ring
	head  int       // next slot to fill
	tail  int       // oldest outstanding
	got   int       // bytes of the current response
	start int64     // crr: when the connection began
	hdr   [1024]byte
	nhdr  int
	body  int // http: body bytes still to come, -1 while in the header
}

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
	for i := range g.conns {
		g.conns[i] = genConn{g: g, body: -1}
		g.connect(&g.conns[i], now)
	}
}

func (g *Gen) connect(gc *genConn, now int64) {
	gc.start = now
	gc.got, gc.head, gc.tail, gc.nhdr, gc.body = 0, 0, 0, 0, -1
	if _, err := g.l.TCP().Connect(g.Local, g.Remote, g.Spec.Server.Port(), gc, now); err != nil {
		g.Meter.Errors.Add(1)
	}
}

// Poll publishes the totals; the connections run on their events.
func (g *Gen) Poll(*engine.Lcore, int64) {
	g.Meter.Txns.Store(g.txns)
	g.Meter.Bytes.Store(g.bytes)
}

func (gc *genConn) Open(c *tcp.Conn) {
	gc.c = c
	c.SetNoDelay(true)
	g := gc.g
	switch g.Spec.Workload {
	case bench.RR, bench.HTTP:
		for i := 0; i < g.Spec.Depth; i++ {
			gc.request()
		}
	case bench.CRR:
		gc.request()
	case bench.StreamUp:
		gc.pushStream()
	}
}

// request sends one request and remembers when.
func (gc *genConn) request() {
	if gc.g.Stopping.Load() {
		return
	}
	if gc.c.Write(gc.g.req) != len(gc.g.req) {
		gc.g.Meter.Errors.Add(1) // the send buffer is sized far above Depth requests
		return
	}
	gc.sent[gc.head%len(gc.sent)] = gc.g.l.Now()
	gc.head++
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
	gc.request()
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
			n := copy(gc.hdr[gc.nhdr:], data)
			end := bytes.Index(gc.hdr[:gc.nhdr+n], []byte("\r\n\r\n"))
			if end < 0 {
				gc.nhdr += n
				data = data[n:]
				if gc.nhdr == len(gc.hdr) {
					gc.fail()
					return
				}
				continue
			}
			used := end + 4 - gc.nhdr // bytes of data that belonged to the head
			head := gc.hdr[:end]
			gc.nhdr = 0
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
	gc.c = nil
	if err != nil && !g.Stopping.Load() {
		g.Meter.Errors.Add(1)
	}
	if g.Spec.Workload == bench.CRR && !g.Stopping.Load() {
		g.connect(gc, g.l.Now())
	}
}
