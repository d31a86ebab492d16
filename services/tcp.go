// Package services holds pmd's built-in services: echo (RFC 862), discard
// (RFC 863), chargen (RFC 864) and an HTTP/1.1 keep-alive responder. Each
// is a per-lcore handler on the native API, registered by name in package
// stack the way a program registers its own.
package services

import (
	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/httpsvc"
	"github.com/pmdstack/pmd/tcp"
)

// Echo is the echo service over TCP (RFC 862): every byte goes back.
// When the send buffer is full it takes less, and the stack offers the
// rest again once the peer acknowledges.
type Echo struct{}

// Open implements tcp.Handler: the connection is established.
func (Echo) Open(*tcp.Conn) {}

// Writable implements tcp.Handler.
func (Echo) Writable(*tcp.Conn) {}

// Recv implements tcp.Handler: the data received.
func (Echo) Recv(c *tcp.Conn, data []byte) int {
	n := c.Write(data)
	if c.Tag == tagPeerClosed && n == len(data) && n == c.Unread() {
		c.CloseWrite() // the last buffered bytes are echoed: now our FIN
	}
	return n
}

// tagPeerClosed marks an echo connection whose peer has sent FIN while
// bytes were still waiting to be echoed.
const tagPeerClosed = 1

// PeerClosed implements tcp.Handler: the peer sent FIN.
func (Echo) PeerClosed(c *tcp.Conn) {
	if c.Unread() == 0 {
		c.CloseWrite()
	} else {
		c.Tag = tagPeerClosed
	}
}

// Closed implements tcp.Handler.
func (Echo) Closed(*tcp.Conn, error) {}

// Discard is the discard service over TCP (RFC 863).
type Discard struct{}

// Open implements tcp.Handler: the connection is established.
func (Discard) Open(*tcp.Conn) {}

// Writable implements tcp.Handler.
func (Discard) Writable(*tcp.Conn) {}

// Recv implements tcp.Handler: the data received.
func (Discard) Recv(_ *tcp.Conn, d []byte) int { return len(d) }

// PeerClosed implements tcp.Handler: the peer sent FIN.
func (Discard) PeerClosed(c *tcp.Conn) { c.Close() }

// Closed implements tcp.Handler.
func (Discard) Closed(*tcp.Conn, error) {}

// Chargen is the character generator (RFC 864) over TCP: the 72-column
// lines of the RFC's rotating pattern, sent as fast as the peer takes
// them, until it closes.
type Chargen struct{}

var chargenBlock = func() []byte {
	const chars = 95 // printable ASCII from ' '
	var b []byte
	for line := 0; len(b) < 64<<10; line++ {
		for i := 0; i < 72; i++ {
			b = append(b, byte(' '+(line+i)%chars))
		}
		b = append(b, '\r', '\n')
	}
	return b
}()

// Open implements tcp.Handler: the connection is established.
func (Chargen) Open(c *tcp.Conn) { chargenPush(c) }

// Writable implements tcp.Handler.
func (Chargen) Writable(c *tcp.Conn) { chargenPush(c) }

// chargenPush fills the send buffer; Tag keeps the place in the pattern.
func chargenPush(c *tcp.Conn) {
	for {
		off := int(c.Tag)
		n := c.Write(chargenBlock[off:])
		c.Tag = uint64((off + n) % len(chargenBlock))
		if n < len(chargenBlock)-off {
			return
		}
	}
}

// Recv implements tcp.Handler: the data received.
func (Chargen) Recv(_ *tcp.Conn, d []byte) int { return len(d) }

// PeerClosed implements tcp.Handler: the peer sent FIN.
func (Chargen) PeerClosed(c *tcp.Conn) { c.Close() }

// Closed implements tcp.Handler.
func (Chargen) Closed(*tcp.Conn, error) {}

// HTTP answers HTTP/1.1 requests with the responder's prebuilt responses,
// on one lcore. Per-connection parsers are recycled, so a connection costs
// no allocation once the lcore has seen as many at once before.
type HTTP struct {
	l       *engine.Lcore
	resp    *httpsvc.Responder
	maxResp int
	free    []*httpConn
}

type httpConn struct {
	svc     *HTTP
	c       *tcp.Conn
	p       httpsvc.Parser
	emit    func(httpsvc.Request) bool
	closing bool
	drain   bool // the stack drains: close after the current request
}

// NewHTTP is lcore l's HTTP service answering with r's responses.
func NewHTTP(l *engine.Lcore, r *httpsvc.Responder) *HTTP {
	return &HTTP{l: l, resp: r, maxResp: max(len(r.OK(true)), len(r.OK(false)), len(r.BadRequest()))}
}
func (h *HTTP) Open(c *tcp.Conn) {
	var hc *httpConn
	if n := len(h.free); n > 0 {
		hc = h.free[n-1]
		h.free = h.free[:n-1]
	} else {
		hc = &httpConn{svc: h}
		hc.emit = hc.respond
	}
	hc.c, hc.closing, hc.drain = c, false, false
	hc.p.Reset()
	c.Context = hc
}

// respond writes one response; it returns whether another fits.
func (hc *httpConn) respond(req httpsvc.Request) bool {
	h := hc.svc
	hc.c.Write(h.resp.Response(req))
	h.l.Add(engine.HTTPRequests, 1)
	if !req.KeepAlive || hc.drain {
		hc.c.CloseWrite()
		hc.closing = true
		return false
	}
	return hc.c.Writable() >= h.maxResp
}

// Recv implements tcp.Handler: the data received.
func (h *HTTP) Recv(c *tcp.Conn, data []byte) int {
	hc := c.Context.(*httpConn)
	if hc.closing {
		return len(data)
	}
	if c.Writable() < h.maxResp {
		return 0 // offered again when the peer acknowledges responses
	}
	n, err := hc.p.Feed(data, hc.emit)
	if err != nil {
		h.l.Add(engine.HTTPBadRequests, 1)
		c.Write(h.resp.BadRequest())
		c.Close()
		hc.closing = true
		return len(data)
	}
	return n
}

// Writable implements tcp.Handler.
func (h *HTTP) Writable(*tcp.Conn) {}

// Drain implements tcp.Drainer: an idle keep-alive connection is closed
// (FIN) at once, a busy one after the response to its current request.
// A client may send a request just as the FIN leaves; HTTP/1.1 lets it
// retry (RFC 9112 9.3.1, a server may close an idle connection at any
// time).
func (h *HTTP) Drain(c *tcp.Conn) {
	hc := c.Context.(*httpConn)
	if hc.closing {
		return
	}
	if c.Unread() == 0 && hc.p.Idle() {
		c.CloseWrite()
		hc.closing = true
		return
	}
	hc.drain = true
}

// PeerClosed implements tcp.Handler: the peer sent FIN.
func (h *HTTP) PeerClosed(c *tcp.Conn) { c.CloseWrite() }

// Closed implements tcp.Handler.
func (h *HTTP) Closed(c *tcp.Conn, _ error) {
	if hc, ok := c.Context.(*httpConn); ok {
		hc.c = nil
		h.free = append(h.free, hc)
	}
}
