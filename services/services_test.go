package services

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/httpsvc"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

var (
	macA, macB = ipv4.MAC{2, 0, 0, 0, 0, 0xa}, ipv4.MAC{2, 0, 0, 0, 0, 0xb}
	ipA, ipB   = ipv4.AddrFrom4([4]byte{198, 18, 0, 1}), ipv4.AddrFrom4([4]byte{198, 18, 0, 2})
)

func host(mac ipv4.MAC, addr ipv4.Addr, svcs []engine.TCPService) *engine.MemHost {
	return engine.NewMemHost(&engine.Config{
		Ifaces:      []engine.Iface{{Name: "p0", MAC: mac, Prefix: ipv4.Prefix{Addr: addr, Bits: 24}}},
		TCP:         tcp.Config{SndBuf: 64 << 10, RcvBuf: 64 << 10, Buffers: 64},
		TCPServices: svcs,
	}, ipv4.ChecksumCaps{})
}

// run connects a client to port on a server running svc and steps until
// done.
func run(t *testing.T, port uint16, svc func(*engine.Lcore) tcp.Handler, cl *engine.MemClient, done func() bool) *engine.MemHost {
	t.Helper()
	a := host(macA, ipA, nil)
	b := host(macB, ipB, []engine.TCPService{{Port: port, New: svc}})
	k := &engine.MemLink{A: a, B: b, Now: int64(time.Second)}
	if _, err := a.L.TCP().Connect(ipA, ipB, port, cl, k.Now); err != nil {
		t.Fatal(err)
	}
	if !k.Run(200000, done) {
		t.Fatalf("did not finish: sent %d, got %d bytes, closed %v", cl.Sent, len(cl.Got), cl.Done)
	}
	b.L.Close() // publishes the counters
	return b
}

func TestEcho(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	cl := &engine.MemClient{Out: data, Want: len(data)}
	run(t, 7, func(*engine.Lcore) tcp.Handler { return Echo{} }, cl, func() bool { return cl.Done })
	if cl.Err != nil || !bytes.Equal(cl.Got, data) {
		t.Fatalf("err %v, %d of %d bytes back, equal %v", cl.Err, len(cl.Got), len(data), bytes.Equal(cl.Got, data))
	}
}

func TestChargen(t *testing.T) {
	cl := &engine.MemClient{Want: 200000}
	run(t, 19, func(*engine.Lcore) tcp.Handler { return Chargen{} }, cl, func() bool { return cl.Done })
	for i := 0; i+74 <= len(cl.Got) && i < 100*74; i += 74 {
		if line := cl.Got[i : i+74]; line[0] != byte(' '+i/74%95) || string(line[72:]) != "\r\n" {
			t.Fatalf("line %d: %q", i/74, line)
		}
	}
}

// TestHTTP: pipelined requests, a bad request answered with 400 and the
// connection closed.
func TestHTTP(t *testing.T) {
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	const n = 50
	cl := &engine.MemClient{Out: []byte(strings.Repeat(req, n) + "BAD\r\n\r\n")}
	b := run(t, 80, func(l *engine.Lcore) tcp.Handler { return NewHTTP(l, httpsvc.NewResponder(100)) }, cl,
		func() bool { return cl.Done || strings.Count(string(cl.Got), "HTTP/1.1 400") == 1 })
	got := string(cl.Got)
	if c := strings.Count(got, "HTTP/1.1 200 OK"); c != n {
		t.Fatalf("%d 200 responses, want %d:\n%.300s", c, n, got)
	}
	if !strings.HasSuffix(got, string(httpsvc.NewResponder(100).BadRequest())) {
		t.Fatalf("no 400 at the end:\n%.300s", got[len(got)-200:])
	}
	pc := b.L.Counters()
	if pc[engine.HTTPRequests] != n || pc[engine.HTTPBadRequests] != 1 {
		t.Fatalf("http counters %d requests %d bad", pc[engine.HTTPRequests], pc[engine.HTTPBadRequests])
	}
}

// closingClient closes its side when the peer closes, as a kernel client
// reading EOF does.
type closingClient struct{ *engine.MemClient }

func (c closingClient) PeerClosed(conn *tcp.Conn) { conn.Close() }

// TestHTTPDrain: when the lcore drains, an idle keep-alive connection is
// closed with a FIN after the responses it had, nothing is reset, no
// connection is left but in TIME-WAIT, and a new one is refused.
func TestHTTPDrain(t *testing.T) {
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	cl := &engine.MemClient{Out: []byte(strings.Repeat(req, 3))}
	a := host(macA, ipA, nil)
	b := host(macB, ipB, []engine.TCPService{{Port: 80, New: func(l *engine.Lcore) tcp.Handler { return NewHTTP(l, httpsvc.NewResponder(100)) }}})
	k := &engine.MemLink{A: a, B: b, Now: int64(time.Second)}
	if _, err := a.L.TCP().Connect(ipA, ipB, 80, closingClient{cl}, k.Now); err != nil {
		t.Fatal(err)
	}
	if !k.Run(100000, func() bool { return strings.Count(string(cl.Got), "200 OK") == 3 }) {
		t.Fatalf("responses: %q", cl.Got)
	}
	k.Run(2000, func() bool { return false }) // idle: 100 ms
	if cl.Done || b.L.Active() != 1 {
		t.Fatalf("before the drain: client done %v, server active %d", cl.Done, b.L.Active())
	}
	b.L.Drain()
	if !k.Run(100000, func() bool { return cl.Done && b.L.Draining() && b.L.Active() == 0 }) {
		t.Fatalf("drain: client done %v (err %v), draining %v, active %d", cl.Done, cl.Err, b.L.Draining(), b.L.Active())
	}
	if cl.Err != nil {
		t.Fatalf("the client's connection ended with %v, want a FIN", cl.Err)
	}
	refused := &engine.MemClient{}
	if _, err := a.L.TCP().Connect(ipA, ipB, 80, refused, k.Now); err != nil {
		t.Fatal(err)
	}
	if !k.Run(100000, func() bool { return refused.Done }) || refused.Err == nil {
		t.Fatalf("a connection after the drain: done %v, err %v; want refused", refused.Done, refused.Err)
	}
	b.L.Close()
	if tc, _ := b.L.TCPCounters(); tc[tcp.ResetsSent] != 1 {
		t.Fatalf("%d resets sent, want 1 (the refused SYN)", tc[tcp.ResetsSent])
	}
}
