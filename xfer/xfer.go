// Package xfer is pmd client's transfer: connections that each send a
// reproducible stream and, against an echo server, check that the same
// bytes come back. It runs as an engine App on every lcore.
package xfer

import (
	"sync/atomic"

	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// Stream is a reproducible byte stream: byte i of stream s is a function
// of (s, i), so a receiver checks data without keeping a copy.
type Stream uint64

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Fill writes the stream's bytes from offset off into b.
func (s Stream) Fill(off uint64, b []byte) {
	for i := 0; i < len(b); {
		w := splitmix(uint64(s) ^ (off+uint64(i))/8*0x100000001b3)
		for k := (off + uint64(i)) % 8; k < 8 && i < len(b); k++ {
			b[i] = byte(w >> (8 * k))
			i++
		}
	}
}

// Job is what the transfer client does: Conns connections to
// Remote:Port, each sending Bytes of its own stream; with Echo, each
// checks that the same bytes come back.
type Job struct {
	Local  ipv4.Addr
	Remote ipv4.Addr
	Port   uint16
	Conns  int
	Bytes  uint64
	Echo   bool
	Seed   uint64
}

// Result is the client's outcome, shared by the lcores running it
// and safe to read from any goroutine.
type Result struct {
	Connected atomic.Int64
	Completed atomic.Int64 // connections that sent (and, with Echo, verified) everything and closed
	Failed    atomic.Int64 // reset, refused, timed out, or data that differed
	Mismatch  atomic.Int64 // connections whose echoed bytes differed
	BytesOut  atomic.Int64
	BytesIn   atomic.Int64
}

// Client is an App running a Job's share on one lcore.
type Client struct {
	Job    Job
	Share  int // connections this lcore opens
	First  int // index of its first connection
	Result *Result
	conns  []clientConn
	buf    []byte
}

type clientConn struct {
	cl       *Client
	c        *tcp.Conn
	stream   Stream
	sent     uint64
	got      uint64
	finished bool
	bad      bool
}

// Start opens the lcore's share of connections.
func (cl *Client) Start(l *engine.Lcore, now int64) {
	cl.buf = make([]byte, 64<<10)
	cl.conns = make([]clientConn, cl.Share)
	for i := range cl.conns {
		cc := &cl.conns[i]
		cc.cl = cl
		cc.stream = Stream(cl.Job.Seed + uint64(cl.First+i)*0x9e3779b9)
		if _, err := l.TCP().Connect(cl.Job.Local, cl.Job.Remote, cl.Job.Port, cc, now); err != nil {
			cc.finished = true
			cl.Result.Failed.Add(1)
			continue
		}
	}
}

// Poll does nothing: the connections run on their events.
func (cl *Client) Poll(*engine.Lcore, int64) {}

func (cc *clientConn) Open(c *tcp.Conn) {
	cc.c = c
	cc.cl.Result.Connected.Add(1)
	cc.push()
}

// push writes as much of the stream as the send buffer takes.
func (cc *clientConn) push() {
	job := &cc.cl.Job
	for cc.sent < job.Bytes {
		n := min(uint64(len(cc.cl.buf)), job.Bytes-cc.sent, uint64(cc.c.Writable()))
		if n == 0 {
			return
		}
		cc.stream.Fill(cc.sent, cc.cl.buf[:n])
		w := cc.c.Write(cc.cl.buf[:n])
		cc.sent += uint64(w)
		cc.cl.Result.BytesOut.Add(int64(w))
		if uint64(w) < n {
			return
		}
	}
	if !job.Echo {
		cc.c.Close()
	}
}

func (cc *clientConn) Writable(*tcp.Conn) { cc.push() }

func (cc *clientConn) Recv(c *tcp.Conn, data []byte) int {
	cl := cc.cl
	cl.Result.BytesIn.Add(int64(len(data)))
	if !cl.Job.Echo {
		return len(data)
	}
	for off := 0; off < len(data); {
		n := min(len(data)-off, len(cl.buf))
		want := cl.buf[:n]
		cc.stream.Fill(cc.got, want)
		for i := range want {
			if want[i] != data[off+i] {
				cc.bad = true
				break
			}
		}
		off += n
		cc.got += uint64(n)
	}
	if cc.got >= cl.Job.Bytes {
		c.Close()
	}
	return len(data)
}

func (cc *clientConn) PeerClosed(c *tcp.Conn) {
	if !cc.cl.Job.Echo {
		return
	}
	if cc.got < cc.cl.Job.Bytes {
		cc.bad = true // the server stopped early
	}
	c.Close()
}

func (cc *clientConn) Closed(_ *tcp.Conn, err error) {
	cl := cc.cl
	if cc.finished {
		return
	}
	cc.finished = true
	switch {
	case cc.bad:
		cl.Result.Mismatch.Add(1)
		cl.Result.Failed.Add(1)
	case err != nil || cc.sent < cl.Job.Bytes || cl.Job.Echo && cc.got != cl.Job.Bytes:
		cl.Result.Failed.Add(1)
	default:
		cl.Result.Completed.Add(1)
	}
}

// Finished is how many connections have ended, well or not.
func (r *Result) Finished() int64 { return r.Completed.Load() + r.Failed.Load() }
