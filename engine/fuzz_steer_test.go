package engine

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// FuzzSteer feeds frames to a host of two lcores whose device delivers
// each to a queue the input chooses, so that packets of one flow arrive
// on either lcore and are steered to their owner: TCP segments and UDP
// datagrams from a few peers and ports (valid headers and checksums, the
// rest of the bytes the fuzzer's), and raw frames. Nothing may panic,
// every connection lives only on the lcore that owns its flow, and once
// the lcores have polled and stopped, every buffer is back.
//
// Each frame is: a control byte (bit 0: queue; bits 1-2: raw, TCP or UDP;
// bits 3-5: the peer), a length byte, then that many bytes.
func FuzzSteer(f *testing.F) {
	syn := make([]byte, 20)
	binary.BigEndian.PutUint16(syn[0:], 40000)
	binary.BigEndian.PutUint16(syn[2:], 7)
	syn[12], syn[13] = 0x50, byte(tcp.FlagSYN)
	f.Add(append([]byte{0x02, 20}, syn...))
	f.Add(append(append([]byte{0x02, 20}, syn...), append([]byte{0x03, 20}, syn...)...))
	f.Add([]byte{0x04, 8, 0x9c, 0x40, 0, 7, 0, 8, 0, 0})
	f.Add([]byte{0x01, 14, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2, 8, 6})
	f.Fuzz(func(t *testing.T, in []byte) {
		svcs := []TCPService{{Port: 7, New: newEcho}}
		cfg := hostConfig(ourMAC, ourIP, svcs, 4<<10, 16)
		cfg.TCP.MaxConns = 64
		h := newMultiHostSized(2, ourMAC, ourIP, svcs, 1, cfg, 256)
		base := make([]int, len(h.qs))
		for i, q := range h.qs {
			base[i] = q.InUse()
		}
		now := int64(time.Second)
		for n := 0; len(in) >= 2 && n < 64; n++ {
			ctl, size := in[0], int(in[1])
			in = in[2:]
			if size > len(in) {
				size = len(in)
			}
			body := append([]byte(nil), in[:size]...)
			in = in[size:]
			peer := peerIP + ipv4.Addr(ctl>>3&7)
			var frame []byte
			switch ctl >> 1 & 3 {
			case 1: // TCP: a valid header and checksum around the bytes
				if len(body) < tcp.HeaderMinLen {
					body = append(body, make([]byte, tcp.HeaderMinLen-len(body))...)
				}
				th := tcp.Header(body)
				th.SetHeaderLen(tcp.HeaderMinLen + int(body[12]>>4&3)*4)
				if th.HeaderLen() > len(body) {
					th.SetHeaderLen(tcp.HeaderMinLen)
				}
				th.SetDstPort(7 + uint16(body[1]&1)) // the service, or a closed port
				th.ComputeChecksum(peer, ourIP)
				frame = ipFrame(peer, ourIP, ipv4.ProtoTCP, nil, body)
			case 2: // UDP: header and checksum right
				if len(body) < ipv4.UDPHeaderLen {
					body = append(body, make([]byte, ipv4.UDPHeaderLen-len(body))...)
				}
				binary.BigEndian.PutUint16(body[4:], uint16(len(body)))
				binary.BigEndian.PutUint16(body[6:], 0)
				frame = ipFrame(peer, ourIP, ipv4.ProtoUDP, nil, body)
			default:
				frame = body
			}
			h.qs[int(ctl&1)].Inject(frame, dev.RxMeta{})
			now += int64(time.Millisecond)
			h.poll(now)
			h.checkOwnership(t)
		}
		for i := 0; i < 4; i++ {
			now += int64(10 * time.Millisecond)
			h.poll(now)
		}
		for _, l := range h.ls {
			l.TCP().AbortAll(now)
			l.Close()
			l.Stopped()
		}
		for _, q := range h.qs {
			q.Sent()
		}
		for i, q := range h.qs {
			if q.InUse() != base[i] {
				t.Fatalf("queue %d: %d buffers in use, %d before", i, q.InUse(), base[i])
			}
		}
	})
}
