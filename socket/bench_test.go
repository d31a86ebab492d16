package socket

import (
	"io"
	"net"
	"testing"

	"github.com/pmdstack/pmd/tcp"
)

// nativeEcho is an echo service on the native API: what it receives it
// writes back, in the lcore's callback.
type nativeEcho struct{}

func (nativeEcho) Open(c *tcp.Conn)               { c.SetNoDelay(true) }
func (nativeEcho) Recv(c *tcp.Conn, d []byte) int { return c.Write(d) }
func (nativeEcho) Writable(*tcp.Conn)             {}
func (nativeEcho) PeerClosed(c *tcp.Conn)         { c.Close() }
func (nativeEcho) Closed(*tcp.Conn, error)        {}

// nativeClient counts echoed bytes.
type nativeClient struct {
	c   *tcp.Conn
	got int
}

func (a *nativeClient) Open(c *tcp.Conn)               { a.c = c; c.SetNoDelay(true) }
func (a *nativeClient) Recv(_ *tcp.Conn, d []byte) int { a.got += len(d); return len(d) }
func (a *nativeClient) Writable(*tcp.Conn)             {}
func (a *nativeClient) PeerClosed(*tcp.Conn)           {}
func (a *nativeClient) Closed(*tcp.Conn, error)        {}

const rtSize = 64

// BenchmarkRoundTrip: one 64-byte request echoed back over one
// established connection between two in-memory hosts, on the real clock.
//
//   - native: the client and the echo server are tcp.Handlers on the
//     lcores; the benchmark goroutine polls both hosts itself.
//   - adapter-client: the client is a goroutine with a net.Conn (Write,
//     then io.ReadFull), the server the native echo; a driver goroutine
//     polls the hosts without ever sleeping.
//   - adapter: both ends are goroutines with net.Conns (the server reads
//     and writes back).
//
// The difference between them is the cost of the hand-off between the
// lcores and the goroutines (rings, wake-ups, the scheduler), once per
// adapted end and direction.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("native", func(b *testing.B) {
		w := newIdleWire(b, hostSpec{}, hostSpec{})
		w.a.ls[0].TCP().Listen(7, nativeEcho{})
		cl := &nativeClient{}
		if _, err := w.b.ls[0].TCP().Connect(addrB, addrA, 7, cl, int64(1e9)); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < 1e6 && cl.c == nil; i++ {
			w.step()
		}
		if cl.c == nil {
			b.Fatal("not connected")
		}
		msg := make([]byte, rtSize)
		rt := func() {
			cl.got = 0
			cl.c.Write(msg)
			for cl.got < rtSize {
				w.step()
			}
		}
		for i := 0; i < 100; i++ {
			rt()
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rt()
		}
	})
	b.Run("adapter-client", func(b *testing.B) {
		w := newIdleWire(b, hostSpec{}, hostSpec{})
		w.spin = -1
		w.a.ls[0].TCP().Listen(7, nativeEcho{})
		w.start()
		c, err := w.b.net.Dial("tcp", "198.18.0.1:7")
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		benchConn(b, c)
	})
	b.Run("adapter", func(b *testing.B) {
		w := newIdleWire(b, hostSpec{}, hostSpec{})
		w.spin = -1
		w.start()
		ln, err := w.a.net.Listen(7)
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s, err := ln.Accept()
			if err != nil {
				b.Error(err)
				return
			}
			defer s.Close()
			buf := make([]byte, rtSize)
			for {
				if _, err := io.ReadFull(s, buf); err != nil {
					return
				}
				if _, err := s.Write(buf); err != nil {
					return
				}
			}
		}()
		c, err := w.b.net.Dial("tcp", "198.18.0.1:7")
		if err != nil {
			b.Fatal(err)
		}
		benchConn(b, c)
		c.Close()
		<-done
	})
}

// benchConn times round trips over c.
func benchConn(b *testing.B, c net.Conn) {
	msg, buf := make([]byte, rtSize), make([]byte, rtSize)
	rt := func() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		rt()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rt()
	}
}
