package tcp

import (
	"testing"
)

// TestEchoZeroAlloc: once a connection is established an echo
// transaction allocates nothing: the peer's data in, the handler writing
// the reply, Flush sending it (with the ACK), the peer's ACK in.
func TestEchoZeroAlloc(t *testing.T) {
	for _, o := range []peerOpts{optsNone, optsAll} {
		t.Run(o.String(), func(t *testing.T) {
			f := established(t, Config{}, o)
			f.app.onRecv = func(c *Conn, d []byte) int { return c.Write(d) }
			req := []byte("GET / HTTP/1.1\r\n\r\n")
			n := Seq(len(req))
			round := func() {
				f.send(f.dataSeg(f.p, f.u, req))
				f.send(f.ackSeg(f.p+n, f.u+n))
			}
			// One round checked segment by segment.
			f.send(f.dataSeg(f.p, f.u, req))
			f.expect(Segment{Flags: FlagACK | FlagPSH, Seq: f.u, Ack: f.p + n, Window: f.win, Payload: req})
			f.send(f.ackSeg(f.p+n, f.u+n))
			f.expectNothing()
			f.p, f.u = f.p+n, f.u+n
			// Then many, counted.
			rounds := 0
			allocs := testing.AllocsPerRun(100, func() {
				round()
				sent := f.out.unexpected()
				if len(sent) != 1 || sent[0].seg.Seq != f.u || sent[0].seg.Ack != f.p+n || len(sent[0].seg.Payload) != len(req) {
					t.Fatalf("round %d: sent %d segments", rounds, len(sent))
				}
				f.out.reset()
				f.p, f.u = f.p+n, f.u+n
				rounds++
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per echo transaction", allocs)
			}
			f.expectState(Established)
		})
	}
}
