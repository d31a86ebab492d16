package ipv4

import (
	"encoding/hex"
	"strings"
	"testing"
)

// Golden frames, composed by hand from the RFCs (checksums worked out
// independently of this package) between the pmd port 02:00:c6:12:00:01 at
// 198.18.0.1 and a kernel peer 02:00:c6:12:00:02 at 198.18.0.2.
var (
	pmdMAC  = MAC{0x02, 0x00, 0xc6, 0x12, 0x00, 0x01}
	peerMAC = MAC{0x02, 0x00, 0xc6, 0x12, 0x00, 0x02}
	pmdIP   = Addr(0xc6120001)
	peerIP  = Addr(0xc6120002)

	// A Linux ping: echo request, id 0x0c1d, seq 1, 56 bytes of data (a
	// 16-byte timeval, then 0x10..0x37); IPv4 id 0x1c46, DF, TTL 64.
	pingFrame = fromHex(`
		02 00 c6 12 00 01 02 00 c6 12 00 02 08 00
		45 00 00 54 1c 46 40 00 40 01 92 3b c6 12 00 02 c6 12 00 01
		08 00 70 6a 0c 1d 00 01
		a1 b2 c3 65 00 00 00 00 4d 8c 0a 00 00 00 00 00
		10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f
		20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d 2e 2f
		30 31 32 33 34 35 36 37`)

	// "who-has 198.18.0.1 tell 198.18.0.2", padded to the 60-byte minimum.
	arpFrame = fromHex(`
		ff ff ff ff ff ff 02 00 c6 12 00 02 08 06
		00 01 08 00 06 04 00 01 02 00 c6 12 00 02 c6 12 00 02
		00 00 00 00 00 00 c6 12 00 01
		00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00`)

	// The reply pmd sends to it (ARP part only).
	arpReply = fromHex(`
		00 01 08 00 06 04 00 02 02 00 c6 12 00 01 c6 12 00 01
		02 00 c6 12 00 02 c6 12 00 02`)

	// UDP 198.18.0.2:40000 -> 198.18.0.1:7 "hello\n"; IPv4 id 0x4a3b, DF,
	// TTL 64; 12 bytes of Ethernet padding after the IPv4 total length.
	udpFrame = fromHex(`
		02 00 c6 12 00 01 02 00 c6 12 00 02 08 00
		45 00 00 22 4a 3b 40 00 40 11 64 68 c6 12 00 02 c6 12 00 01
		9c 40 00 07 00 0e 93 86 68 65 6c 6c 6f 0a
		00 00 00 00 00 00 00 00 00 00 00 00`)
)

// Offsets of the layers in the golden frames.
const (
	ipAt   = EthernetHeaderLen
	l4At   = ipAt + IPv4MinHeaderLen
	pingIP = 84 // IPv4 total length of the ping
	udpIP  = 34 // IPv4 total length of the UDP datagram
)

func fromHex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// filled returns n bytes of 0xa5, so that a byte an encoder forgets shows.
func filled(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 0xa5
	}
	return b
}

// clone returns a copy of b, so tests never write into the golden bytes.
func clone(b []byte) []byte { return append([]byte(nil), b...) }

// TestViewsDoNotAllocate runs the receive and reply paths over the golden
// frames, rejected packets included: none of it may allocate.
func TestViewsDoNotAllocate(t *testing.T) {
	ping, arp, udp := clone(pingFrame), clone(arpFrame), clone(udpFrame)
	out := make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() {
		copy(ping, pingFrame)
		e := Ethernet(ping)
		ip := IPv4(e.Payload())
		if !e.Valid() || ip.Check() != nil || !ip.ChecksumValid() {
			t.Fatal("ping rejected")
		}
		m := ICMP(ip.Payload())
		if m.Check() != nil || !m.ChecksumValid() {
			t.Fatal("icmp rejected")
		}
		EchoReplyInPlace(m)
		r := ParseIPv4(ip)
		r.Src, r.Dst = r.Dst, r.Src
		r.Encode(ip, ChecksumCaps{})
		EthernetRepr{Dst: e.Src(), Src: e.Dst(), Type: e.Type()}.Encode(e)

		copy(arp, arpFrame)
		a := ARP(Ethernet(arp).Payload())
		if a.Check() != nil {
			t.Fatal("arp rejected")
		}
		ARPReplyInPlace(a, pmdMAC)

		u := UDP(IPv4(Ethernet(udp).Payload()).Payload())
		if u.Check() != nil || !u.ChecksumValid(peerIP, pmdIP) {
			t.Fatal("udp rejected")
		}
		copy(out[8:], u.Payload())
		UDPRepr{SrcPort: u.DstPort(), DstPort: u.SrcPort(), PayloadLen: len(u.Payload())}.Encode(out, pmdIP, peerIP, ChecksumCaps{})

		if IPv4(ping[ipAt:ipAt+30]).Check() != ErrTruncated || ARP(arp[ipAt:ipAt+20]).Check() != ErrTruncated {
			t.Fatal("truncated accepted")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run", allocs)
	}
}
