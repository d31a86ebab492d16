package tcp

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pmdstack/pmd/ipv4"
)

// FuzzListen drives a listener with a script of SYNs, handshake ACKs
// (returning the SYN-ACK's sequence number, cookie or not), resets, raw
// segments and time steps, from a few source addresses and many ports,
// with a backlog of 2 so that cookies, the per-source budget and the
// refusing-source rule all come into play. Nothing may panic; the table,
// the backlog count and the TIME-WAIT count stay within their bounds.
//
// Each operation is 8 bytes: kind, source (address index), port (2),
// then 4 bytes of sequence number or raw header.
func FuzzListen(f *testing.F) {
	op := func(kind, src byte, port uint16, seq uint32) []byte {
		b := []byte{kind, src, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint16(b[2:], port)
		binary.BigEndian.PutUint32(b[4:], seq)
		return b
	}
	cat := func(ops ...[]byte) (b []byte) {
		for _, o := range ops {
			b = append(b, o...)
		}
		return b
	}
	f.Add(cat(op(0, 0, 1000, 1), op(1, 0, 1000, 0)))                                                          // a handshake
	f.Add(cat(op(0, 0, 1000, 1), op(0, 0, 1001, 1), op(0, 0, 1002, 1), op(1, 0, 1002, 0), op(1, 0, 1000, 0))) // one by cookie
	f.Add(cat(op(0, 1, 2000, 5), op(2, 1, 2000, 6), op(0, 1, 2001, 5), op(2, 1, 2001, 6), op(4, 0, 0, 1500))) // resets, time
	f.Add(cat(op(0, 2, 3000, 9), op(1, 2, 3000, 0), op(3, 2, 3000, 0x5010ffff), op(5, 2, 3000, 0)))           // raw, data
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > 8*256 {
			script = script[:8*256]
		}
		fx := newFixture(t, Config{MaxConns: 8, Backlog: 2, Buffers: 8, SndBuf: 8 << 10, RcvBuf: 8 << 10, CookieSourceRate: 3})
		fx.app.take = -1
		sources := [3]ipv4.Addr{fxRemote, fxRemote + 1, fxRemote + 0x100}
		// synAck remembers the last SYN-ACK sent to each (source, port).
		type key struct {
			src  ipv4.Addr
			port uint16
		}
		synAck := map[key]Segment{}
		for ; len(script) >= 8; script = script[8:] {
			kind, src := script[0]%6, sources[int(script[1])%len(sources)]
			port := binary.BigEndian.Uint16(script[2:])
			val := binary.BigEndian.Uint32(script[4:])
			fx.id = FourTuple{Local: fxLocal, Remote: src, LocalPort: fxPort, RemotePort: port}
			fx.tsOK = false
			switch kind {
			case 0: // SYN, with options by the low bits of val
				opts := Options{MSS: uint16(500 + val%1500)}
				if val&1 != 0 {
					opts.HasTS, opts.TSVal = true, val
				}
				if val&2 != 0 {
					opts.SACKPermitted = true
				}
				fx.input(fx.encode(&Segment{SrcPort: port, DstPort: fxPort, Flags: FlagSYN, Seq: Seq(val), Window: 65535, Opts: opts}))
			case 1: // the ACK that ends the handshake of the last SYN-ACK
				sa, ok := synAck[key{src, port}]
				if !ok {
					continue
				}
				fx.input(fx.encode(&Segment{SrcPort: port, DstPort: fxPort, Flags: FlagACK, Seq: sa.Ack, Ack: sa.Seq + 1, Window: 65535}))
			case 2: // RST at val
				fx.input(fx.encode(&Segment{SrcPort: port, DstPort: fxPort, Flags: FlagRST, Seq: Seq(val)}))
			case 3: // raw: flags and window from val
				fx.input(fx.encode(&Segment{SrcPort: port, DstPort: fxPort, Flags: Flags(val >> 24), Seq: Seq(val), Ack: Seq(val * 7), Window: uint16(val)}))
			case 4: // time passes: up to 8 s
				fx.now += int64(val%8192) * int64(time.Millisecond)
				fx.s.Advance(fx.now)
				fx.s.Flush(fx.now)
			case 5: // data on the handshake's connection
				sa, ok := synAck[key{src, port}]
				if !ok {
					continue
				}
				fx.input(fx.encode(&Segment{SrcPort: port, DstPort: fxPort, Flags: FlagACK | FlagPSH, Seq: sa.Ack, Ack: sa.Seq + 1, Window: 65535, Payload: []byte("ping")}))
			}
			for _, r := range fx.out.unexpected() {
				if r.err != nil {
					t.Fatalf("malformed segment sent: %v", r.err)
				}
				if r.seg.Flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK {
					synAck[key{r.id.Remote, r.id.RemotePort}] = r.seg
				}
			}
			fx.out.reset()
			s := fx.s
			if s.Conns() > 8 || s.timeWaits < 0 || s.timeWaits > s.Conns() || s.Active() < 0 {
				t.Fatalf("table: %d connections, %d in TIME-WAIT", s.Conns(), s.timeWaits)
			}
			if l := fx.l; l.synRcvd < 0 || l.synRcvd > 2 {
				t.Fatalf("backlog count %d", l.synRcvd)
			}
			checkInvariants(t, s)
		}
	})
}
