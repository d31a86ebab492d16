package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/pmdstack/pmd/tcp"
)

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
	// Port 13 echoes, but panics on "boom".
	{Port: 13, New: func(*Lcore) UDPHandler {
		return UDPHandlerFunc(func(d *Datagram) {
			if string(d.Payload) == "boom" {
				panic("boom")
			}
			d.Echo()
		})
	}},
}

// panicky is a TCP handler whose Recv panics.
type panicky struct{ echoHandler }

func (panicky) Recv(*tcp.Conn, []byte) int { panic("handler bug") }

// TestTCPHandlerPanic: a TCP handler's panic resets its connection (the
// client hears a reset), is counted, kept once with its stack for the
// log, and the lcore goes on serving.
func TestTCPHandlerPanic(t *testing.T) {
	a := newHost(macA, ourIP, nil)
	b := newHost(macB, peerIP, []TCPService{{Port: 5, New: func(*Lcore) tcp.Handler { return panicky{} }}, {Port: 7, New: newEcho}})
	k := &MemLink{A: a, B: b, Now: int64(time.Second)}
	bad := &MemClient{Out: []byte("hello")}
	if _, err := a.L.TCP().Connect(ourIP, peerIP, 5, bad, k.Now); err != nil {
		t.Fatal(err)
	}
	if !k.Run(100000, func() bool { return bad.Done }) || !errors.Is(bad.Err, tcp.ErrReset) {
		t.Fatalf("the client of the panicking handler: done %v, err %v; want a reset", bad.Done, bad.Err)
	}
	p := b.L.TakePanic()
	if p == nil || p.Proto != "tcp" || p.Value != "handler bug" || len(p.Stack) == 0 {
		t.Fatalf("kept panic: %+v", p)
	}
	good := &MemClient{Out: []byte("still here"), Want: 10}
	if _, err := a.L.TCP().Connect(ourIP, peerIP, 7, good, k.Now); err != nil {
		t.Fatal(err)
	}
	if !k.Run(100000, func() bool { return good.Done }) || string(good.Got) != "still here" {
		t.Fatalf("after the panic: got %q, err %v", good.Got, good.Err)
	}
	b.L.Close()
	if tc, _ := b.L.TCPCounters(); tc[tcp.HandlerPanics] != 1 {
		t.Fatalf("tcp_handler_panics %d, want 1", tc[tcp.HandlerPanics])
	}
}
