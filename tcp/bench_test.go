package tcp

import (
	"testing"
)

// benchEcho is one established connection driven by hand-built segments:
// the peer's request in, the handler's echo out at Flush, the peer's ACK
// in. It measures the stack's per-segment path (input, Recv, Write,
// output) without a wire or a second stack.
type benchEcho struct {
	s    *Stack
	out  *recOut
	id   FourTuple
	u, p Seq // the stack's next sequence number, the peer's
	now  int64
	buf  []byte
}

type benchEchoApp struct{}

func (benchEchoApp) Open(c *Conn)               {}
func (benchEchoApp) Recv(c *Conn, d []byte) int { return c.Write(d) }
func (benchEchoApp) Writable(c *Conn)           {}
func (benchEchoApp) PeerClosed(c *Conn)         {}
func (benchEchoApp) Closed(c *Conn, err error)  {}
func (e *benchEcho) input(seg Segment)          { e.s.Input(e.id.Local, e.id.Remote, e.encode(&seg), e.now) }
func (e *benchEcho) encode(seg *Segment) Header {
	seg.SrcPort, seg.DstPort = e.id.RemotePort, e.id.LocalPort
	hl := seg.HeaderLen()
	b := e.buf[:hl+len(seg.Payload)]
	seg.EncodeHeader(b)
	copy(b[hl:], seg.Payload)
	h := Header(b)
	h.ComputeChecksum(e.id.Remote, e.id.Local)
	return h
}

func newBenchEcho(tb testing.TB) *benchEcho {
	e := &benchEcho{out: newRecOut(), now: fxStart, buf: make([]byte, 0, 2048),
		id: FourTuple{Local: fxLocal, Remote: fxRemote, LocalPort: fxPort, RemotePort: fxPeerPort}}
	e.s = NewStack(Config{Seed: fxSeed, NoDelayedAck: true}, e.out)
	if _, err := e.s.Listen(fxPort, benchEchoApp{}); err != nil {
		tb.Fatal(err)
	}
	e.p = fxPeerISS
	e.input(Segment{Flags: FlagSYN, Seq: e.p, Window: 65535, Opts: Options{MSS: 1460}})
	e.s.Flush(e.now)
	if len(e.out.sent) != 1 {
		tb.Fatalf("sent %d segments to the SYN", len(e.out.sent))
	}
	e.u = e.out.sent[0].seg.Seq + 1
	e.p++
	e.out.reset()
	e.input(Segment{Flags: FlagACK, Seq: e.p, Ack: e.u, Window: 65535})
	e.s.Flush(e.now)
	if e.s.Lookup(e.id).State() != Established {
		tb.Fatal("not established")
	}
	return e
}

// round is one echo transaction of req.
func (e *benchEcho) round(tb testing.TB, req []byte) {
	n := Seq(len(req))
	e.input(Segment{Flags: FlagACK | FlagPSH, Seq: e.p, Ack: e.u, Window: 65535, Payload: req})
	e.s.Flush(e.now)
	if len(e.out.sent) != 1 || len(e.out.sent[0].seg.Payload) != len(req) {
		tb.Fatalf("sent %d segments", len(e.out.sent))
	}
	e.out.reset()
	e.p += n
	e.u += n
	e.input(Segment{Flags: FlagACK, Seq: e.p, Ack: e.u, Window: 65535})
	e.s.Flush(e.now)
	e.out.reset()
}

// BenchmarkStackEcho: one 64-byte echo transaction through one stack:
// the request segment in, Recv writing the echo, Flush sending it with
// the ACK, the peer's ACK in.
func BenchmarkStackEcho(b *testing.B) {
	e := newBenchEcho(b)
	req := payload(0, 64)
	for range 100 {
		e.round(b, req)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		e.round(b, req)
	}
}
