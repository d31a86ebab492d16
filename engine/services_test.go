package engine

import "github.com/pmdstack/pmd/tcp"

// The engine's tests run small services of their own (the built-in ones
// live in package services, which imports this one).

// echoHandler returns every byte; once the peer closed and everything is
// returned, it closes too.
type echoHandler struct{}

func newEcho(*Lcore) tcp.Handler       { return echoHandler{} }
func (echoHandler) Open(*tcp.Conn)     {}
func (echoHandler) Writable(*tcp.Conn) {}
func (echoHandler) Recv(c *tcp.Conn, data []byte) int {
	n := c.Write(data)
	if c.Tag == 1 && n == len(data) && n == c.Unread() {
		c.CloseWrite()
	}
	return n
}
func (echoHandler) PeerClosed(c *tcp.Conn) {
	if c.Unread() == 0 {
		c.CloseWrite()
	} else {
		c.Tag = 1
	}
}
func (echoHandler) Closed(*tcp.Conn, error) {}

// discardHandler takes everything.
type discardHandler struct{}

func newDiscard(*Lcore) tcp.Handler                   { return discardHandler{} }
func (discardHandler) Open(*tcp.Conn)                 {}
func (discardHandler) Writable(*tcp.Conn)             {}
func (discardHandler) Recv(_ *tcp.Conn, d []byte) int { return len(d) }
func (discardHandler) PeerClosed(c *tcp.Conn)         { c.Close() }
func (discardHandler) Closed(*tcp.Conn, error)        {}

// udpServices are echo on port 7, discard on port 9, and on port 11 a
// service that answers with the payload reversed and "!" added, longer
// than the request (in place, up to Room).
var udpServices = []UDPService{
	{Port: 11, New: func(*Lcore) UDPHandler {
		return UDPHandlerFunc(func(d *Datagram) {
			b := d.ReplyBuf()
			n := len(d.Payload)
			for i := 0; i < n/2; i++ {
				b[i], b[n-1-i] = b[n-1-i], b[i]
			}
			if n < len(b) {
				b[n] = '!'
				n++
			}
			d.Reply(n)
		})
	}},
	{Port: 7, New: func(*Lcore) UDPHandler { return UDPHandlerFunc(func(d *Datagram) { d.Echo() }) }},
	{Port: 9, New: func(*Lcore) UDPHandler { return UDPHandlerFunc(func(*Datagram) {}) }},
}
