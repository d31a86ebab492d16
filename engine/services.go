package engine

import (
	"github.com/pmdstack/pmd/httpsvc"
	"github.com/pmdstack/pmd/tcp"
)

// tcpEcho is the echo service over TCP (RFC 862): every byte goes back.
// When the send buffer is full it takes less, and the stack offers the
// rest again once the peer acknowledges.
type tcpEcho struct{}

func (tcpEcho) Open(*tcp.Conn)     {}
func (tcpEcho) Writable(*tcp.Conn) {}
func (tcpEcho) Recv(c *tcp.Conn, data []byte) int {
	n := c.Write(data)
	if c.Tag == tagPeerClosed && n == len(data) && n == c.Unread() {
		c.CloseWrite() // the last buffered bytes are echoed: now our FIN
	}
	return n
}

// tagPeerClosed marks an echo connection whose peer has sent FIN while
// bytes were still waiting to be echoed.
const tagPeerClosed = 1

func (tcpEcho) PeerClosed(c *tcp.Conn) {
	if c.Unread() == 0 {
		c.CloseWrite()
	} else {
		c.Tag = tagPeerClosed
	}
}
func (tcpEcho) Closed(*tcp.Conn, error) {}

// tcpDiscard is the discard service (RFC 863).
type tcpDiscard struct{}

func (tcpDiscard) Open(*tcp.Conn)                 {}
func (tcpDiscard) Writable(*tcp.Conn)             {}
func (tcpDiscard) Recv(_ *tcp.Conn, d []byte) int { return len(d) }
func (tcpDiscard) PeerClosed(c *tcp.Conn)         { c.Close() }
func (tcpDiscard) Closed(*tcp.Conn, error)        {}

// tcpChargen is the character generator (RFC 864) over TCP: the 72-column
// lines of the RFC's rotating pattern, sent as fast as the peer takes
// them, until it closes.
type tcpChargen struct{}

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

func (tcpChargen) Open(c *tcp.Conn)     { chargenPush(c) }
func (tcpChargen) Writable(c *tcp.Conn) { chargenPush(c) }

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
func (tcpChargen) Recv(_ *tcp.Conn, d []byte) int { return len(d) }
func (tcpChargen) PeerClosed(c *tcp.Conn)         { c.Close() }
func (tcpChargen) Closed(*tcp.Conn, error)        {}

// httpService answers HTTP/1.1 requests with the responder's prebuilt
// responses. Per-connection parsers are recycled, so a connection costs
// no allocation once the lcore has seen as many at once before.
type httpService struct {
	l       *Lcore
	resp    *httpsvc.Responder
	maxResp int
	free    []*httpConn
}

type httpConn struct {
	svc     *httpService
	c       *tcp.Conn
	p       httpsvc.Parser
	emit    func(httpsvc.Request) bool
	closing bool
}

func newHTTPService(l *Lcore, r *httpsvc.Responder) *httpService {
	return &httpService{l: l, resp: r, maxResp: max(len(r.OK(true)), len(r.OK(false)), len(r.BadRequest()))}
}

func (h *httpService) Open(c *tcp.Conn) {
	var hc *httpConn
	if n := len(h.free); n > 0 {
		hc = h.free[n-1]
		h.free = h.free[:n-1]
	} else {
		hc = &httpConn{svc: h}
		hc.emit = hc.respond
	}
	hc.c, hc.closing = c, false
	hc.p.Reset()
	c.Context = hc
}

// respond writes one response; it returns whether another fits.
func (hc *httpConn) respond(req httpsvc.Request) bool {
	h := hc.svc
	hc.c.Write(h.resp.Response(req))
	h.l.c[HTTPRequests]++
	if !req.KeepAlive {
		hc.c.CloseWrite()
		hc.closing = true
		return false
	}
	return hc.c.Writable() >= h.maxResp
}

func (h *httpService) Recv(c *tcp.Conn, data []byte) int {
	hc := c.Context.(*httpConn)
	if hc.closing {
		return len(data)
	}
	if c.Writable() < h.maxResp {
		return 0 // offered again when the peer acknowledges responses
	}
	n, err := hc.p.Feed(data, hc.emit)
	if err != nil {
		h.l.c[HTTPBadRequests]++
		c.Write(h.resp.BadRequest())
		c.Close()
		hc.closing = true
		return len(data)
	}
	return n
}

func (h *httpService) Writable(*tcp.Conn) {}

func (h *httpService) PeerClosed(c *tcp.Conn) { c.CloseWrite() }

func (h *httpService) Closed(c *tcp.Conn, _ error) {
	if hc, ok := c.Context.(*httpConn); ok {
		hc.c = nil
		h.free = append(h.free, hc)
	}
}
