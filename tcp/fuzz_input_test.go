package tcp

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pmdstack/pmd/ipv4"
)

// checkInvariants asserts what must hold for every connection whatever
// arrived.
func checkInvariants(t *testing.T, s *Stack) {
	s.Each(func(c *Conn) {
		if c.sndUna.GreaterThan(c.sndNxt) || c.sndNxt.GreaterThan(c.sndMax) {
			t.Fatalf("send sequence out of order: una %d nxt %d max %d", c.sndUna, c.sndNxt, c.sndMax)
		}
		if c.unread < 0 || c.unread > c.s.rcvPool.size || c.snd.n < 0 || c.snd.n > c.s.sndPool.size {
			t.Fatalf("buffer accounting: unread %d, send %d", c.unread, c.snd.n)
		}
		if len(c.ooo) > cap(c.ooo) || len(c.sacked) > cap(c.sacked) {
			t.Fatal("out-of-order or SACK list over its bound")
		}
		for i := 1; i < len(c.ooo); i++ {
			if !c.ooo[i-1].Right.LessThan(c.ooo[i].Left) {
				t.Fatalf("out-of-order ranges overlap or unsorted: %v", c.ooo)
			}
		}
	})
}

// FuzzInput drives the stack with arbitrary segments: at a listener, at an
// established connection (the fuzzer's bytes are patched to its ports and
// near its sequence numbers half of the time) and at nothing. Nothing may
// panic, and the invariants hold after each.
func FuzzInput(f *testing.F) {
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0, 0, 0}, uint8(0))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x60, 0x10, 0x10, 0, 0, 0, 0, 0, 2, 4, 5, 0xb4, 'h', 'i'}, uint8(1))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x04, 0, 0, 0, 0, 0, 0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 5, 10, 0, 0, 0, 1, 0, 0, 0, 9}, uint8(2))
	f.Fuzz(func(t *testing.T, seg []byte, mode uint8) {
		w := newWire(t, 1, faults{delay: time.Millisecond})
		small := Config{MaxConns: 16, Buffers: 16, SndBuf: 16 << 10, RcvBuf: 16 << 10}
		sa := w.stack(addrA, small)
		sb := w.stack(addrB, small)
		srv := &acceptor{mk: func() *app { return &app{toSend: []byte("hello")} }}
		sb.Listen(7, srv)
		cli := &app{toSend: []byte("world")}
		c, err := sa.Connect(addrA, addrB, 7, cli, w.now)
		if err != nil {
			t.Fatal(err)
		}
		w.step(10 * time.Millisecond)
		if len(seg) < HeaderMinLen {
			seg = append(seg, make([]byte, HeaderMinLen-len(seg))...)
		}
		seg = append([]byte(nil), seg...)
		h := Header(seg)
		switch mode % 4 {
		case 1: // at the client's connection, near its sequence space
			h.SetSrcPort(7)
			h.SetDstPort(c.id.LocalPort)
			h.SetSeq(c.rcvNxt + Seq(binary.BigEndian.Uint16(seg[4:])) - 0x8000)
			h.SetAck(c.sndUna + Seq(binary.BigEndian.Uint16(seg[8:])) - 0x8000)
		case 2: // at the listener
			h.SetDstPort(7)
		}
		target, from := sb, addrA
		if mode%4 == 1 {
			target, from = sa, addrB
		}
		target.Input(localOf(target, sa), from, h, w.now)
		target.Flush(w.now)
		checkInvariants(t, sa)
		checkInvariants(t, sb)
		w.step(3 * time.Second)
		checkInvariants(t, sa)
		checkInvariants(t, sb)
	})
}

func localOf(target, sa *Stack) ipv4.Addr {
	if target == sa {
		return addrA
	}
	return addrB
}
