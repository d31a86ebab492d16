package ipv4

import (
	"bytes"
	"testing"
)

// The fuzz targets run each view's check on arbitrary bytes and, when it
// passes, every accessor: none may panic, and what they return must stay
// within the bytes and agree with a round trip through the Repr.

func FuzzEthernet(f *testing.F) {
	f.Add(pingFrame)
	f.Add(arpFrame)
	f.Add(pingFrame[:13])
	f.Fuzz(func(t *testing.T, data []byte) {
		e := Ethernet(data)
		if !e.Valid() {
			if len(data) >= EthernetHeaderLen {
				t.Fatalf("%d bytes not valid", len(data))
			}
			return
		}
		r := EthernetRepr{e.Dst(), e.Src(), e.Type()}
		if len(e.Payload()) != len(data)-EthernetHeaderLen || r != ParseEthernet(e) {
			t.Fatal("payload or parse wrong")
		}
		b := make([]byte, r.Len())
		r.Encode(b)
		if !bytes.Equal(b, data[:EthernetHeaderLen]) {
			t.Fatalf("round trip %x", b)
		}
	})
}

func FuzzARP(f *testing.F) {
	f.Add(arpFrame[EthernetHeaderLen:])
	f.Add(arpReply)
	f.Add(arpReply[:27])
	f.Fuzz(func(t *testing.T, data []byte) {
		a := ARP(data)
		switch err := a.Check(); {
		case err == ErrTruncated && len(data) < ARPLen, err == ErrARPFormat && len(data) >= ARPLen:
			return
		case err != nil:
			t.Fatalf("%d bytes: %v", len(data), err)
		}
		r := ARPRepr{a.Op(), a.SenderMAC(), a.SenderAddr(), a.TargetMAC(), a.TargetAddr()}
		if r != ParseARP(a) {
			t.Fatal("ParseARP differs from the accessors")
		}
		b := make([]byte, r.Len())
		r.Encode(b)
		if !bytes.Equal(b, data[:ARPLen]) {
			t.Fatalf("round trip %x", b)
		}
		ARPReplyInPlace(ARP(b), pmdMAC)
		want := ARPRepr{ARPReply, pmdMAC, r.TargetAddr, r.SenderMAC, r.SenderAddr}
		if ARP(b).Check() != nil || ParseARP(ARP(b)) != want {
			t.Fatalf("reply %+v, want %+v", ParseARP(ARP(b)), want)
		}
	})
}

func FuzzIPv4(f *testing.F) {
	f.Add(pingFrame[ipAt:])
	f.Add(udpFrame[ipAt:])
	f.Add(fromHex("46 00 00 18 00 00 00 00 40 06 00 00 01 02 03 04 05 06 07 08 94 04 00 00"))
	f.Add(fromHex("4f 00 00 14 00 00 20 00 40 06 00 00 01 02 03 04 05 06 07 08"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ip := IPv4(data)
		switch err := ip.Check(); err {
		case nil:
		case ErrTruncated, ErrVersion, ErrHeaderLen, ErrTotalLength:
			return
		default:
			t.Fatalf("unexpected error %v", err)
		}
		hl, tl := ip.HeaderLen(), int(ip.TotalLength())
		if ip.Version() != 4 || hl < IPv4MinHeaderLen || hl > IPv4MaxHeaderLen || tl < hl || tl > len(data) {
			t.Fatalf("version %d header %d total %d of %d bytes", ip.Version(), hl, tl, len(data))
		}
		if len(ip.Options()) != hl-IPv4MinHeaderLen || len(ip.Payload()) != tl-hl {
			t.Fatalf("options %d payload %d", len(ip.Options()), len(ip.Payload()))
		}
		_, _, _ = ip.TOS(), ip.ID(), ip.Checksum()
		_, _, _ = ip.Flags(), ip.TTL(), ip.Protocol()
		_, _ = ip.Src(), ip.Dst()
		if ip.IsFragment() != (ip.MoreFragments() || ip.FragmentOffset() != 0) || ip.FragmentOffset()%8 != 0 {
			t.Fatal("fragment fields disagree")
		}
		valid := ip.ChecksumValid()
		c := IPv4(bytes.Clone(data))
		c.ComputeChecksum()
		// A valid header has the computed checksum, or 0xffff for 0.
		same := ip.Checksum() == c.Checksum() || ip.Checksum() == 0xffff && c.Checksum() == 0
		if !c.ChecksumValid() || valid != same {
			t.Fatalf("ComputeChecksum %#x, had %#x (valid %v)", c.Checksum(), ip.Checksum(), valid)
		}
		// A round trip through the Repr keeps what it represents.
		r := ParseIPv4(ip)
		b := make([]byte, r.Len()+r.PayloadLen)
		r.Encode(b, ChecksumCaps{})
		copy(b[r.Len():], ip.Payload())
		if IPv4(b).Check() != nil || !IPv4(b).ChecksumValid() || ParseIPv4(IPv4(b)) != r {
			t.Fatalf("round trip %+v", ParseIPv4(IPv4(b)))
		}
	})
}

func FuzzICMP(f *testing.F) {
	f.Add(pingFrame[l4At:])
	f.Add(fromHex("03 03 00 00 00 00 00 00 45"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := ICMP(data)
		if err := m.Check(); err != nil {
			if err != ErrTruncated || len(data) >= ICMPHeaderLen {
				t.Fatalf("%d bytes: %v", len(data), err)
			}
			return
		}
		_, _, _, _, _ = m.Type(), m.Code(), m.Checksum(), m.Ident(), m.Seq()
		if len(m.Payload()) != len(data)-ICMPHeaderLen {
			t.Fatalf("payload %d of %d bytes", len(m.Payload()), len(data))
		}
		c := ICMP(bytes.Clone(data))
		c.ComputeChecksum()
		if !c.ChecksumValid() {
			t.Fatal("ComputeChecksum gives an invalid checksum")
		}
		if m.Type() == ICMPEchoRequest && m.ChecksumValid() {
			r := ICMP(bytes.Clone(data))
			EchoReplyInPlace(r)
			if r.Type() != ICMPEchoReply || !r.ChecksumValid() || !bytes.Equal(r[1:2], data[1:2]) || !bytes.Equal(r[4:], data[4:]) {
				t.Fatalf("echo reply %x from %x", []byte(r), data)
			}
		}
	})
}

func FuzzUDP(f *testing.F) {
	f.Add(udpFrame[l4At:], uint32(peerIP), uint32(pmdIP))
	f.Add(udpFrame[l4At:l4At+14], uint32(0), uint32(0))
	f.Add(fromHex("00 35 00 35 00 08 00 00"), uint32(1), uint32(2))
	f.Fuzz(func(t *testing.T, data []byte, src, dst uint32) {
		u := UDP(data)
		switch err := u.Check(); err {
		case nil:
		case ErrTruncated, ErrUDPLength:
			return
		default:
			t.Fatalf("unexpected error %v", err)
		}
		n := int(u.Length())
		if n < UDPHeaderLen || n > len(data) || len(u.Payload()) != n-UDPHeaderLen {
			t.Fatalf("length %d payload %d of %d bytes", n, len(u.Payload()), len(data))
		}
		_, _ = u.SrcPort(), u.DstPort()
		s, d := Addr(src), Addr(dst)
		if u.Checksum() == 0 && !u.ChecksumValid(s, d) {
			t.Fatal("zero checksum not taken as absent")
		}
		c := UDP(bytes.Clone(data))
		c.ComputeChecksum(s, d)
		if c.Checksum() == 0 || !c.ChecksumValid(s, d) {
			t.Fatalf("ComputeChecksum wrote %#x", c.Checksum())
		}
		r := ParseUDP(u)
		b := bytes.Clone(data)
		r.Encode(b, s, d, ChecksumCaps{})
		if !bytes.Equal(b, c) || ParseUDP(UDP(b)) != r {
			t.Fatalf("Encode %x, ComputeChecksum %x", b[:8], []byte(c[:8]))
		}
	})
}
