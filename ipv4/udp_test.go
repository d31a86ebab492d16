package ipv4

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestUDPGolden(t *testing.T) {
	pkt := udpFrame[l4At:] // 14 bytes of datagram, then Ethernet padding
	const length = udpIP - IPv4MinHeaderLen
	want := UDPRepr{SrcPort: 40000, DstPort: 7, PayloadLen: 6}

	u := UDP(pkt)
	if err := u.Check(); err != nil {
		t.Fatal(err)
	}
	if u.SrcPort() != 40000 || u.DstPort() != 7 || u.Length() != length || u.Checksum() != 0x9386 ||
		string(u.Payload()) != "hello\n" || !u.ChecksumValid(peerIP, pmdIP) {
		t.Errorf("read fields wrong: %x", pkt[:8])
	}
	if r := ParseUDP(u); r != want {
		t.Errorf("ParseUDP = %+v, want %+v", r, want)
	}
	for _, r := range []UDPRepr{want, ParseUDP(u)} {
		b := filled(length + 4)
		copy(b[8:], "hello\n")
		r.Encode(b, peerIP, pmdIP, ChecksumCaps{})
		if !bytes.Equal(b[:length], pkt[:length]) || !bytes.Equal(b[length:], filled(4)) {
			t.Errorf("Encode = %x, want %x", b, pkt[:length])
		}
		// With offload: the folded pseudo-header sum, and no payload read.
		b = filled(r.Len())
		r.Encode(b, peerIP, pmdIP, ChecksumCaps{UDPTx: true})
		if w := fromHex("9c 40 00 07 00 0e 8c 47"); !bytes.Equal(b, w) {
			t.Errorf("Encode with UDPTx = %x, want %x", b, w)
		}
	}
}

func TestUDPMalformed(t *testing.T) {
	pkt := udpFrame[l4At : l4At+14]
	for n := range len(pkt) {
		if err := UDP(pkt[:n]).Check(); err != ErrTruncated {
			t.Errorf("%d bytes: %v, want ErrTruncated", n, err)
		}
	}
	for n := range UDPHeaderLen {
		b := UDP(clone(pkt))
		b.SetLength(uint16(n))
		if err := b.Check(); err != ErrUDPLength {
			t.Errorf("length %d: %v, want ErrUDPLength", n, err)
		}
	}
	// A length below the bytes: the rest is not payload.
	b := UDP(clone(pkt))
	b.SetLength(10)
	if err := b.Check(); err != nil || string(b.Payload()) != "he" || b.ChecksumValid(peerIP, pmdIP) {
		t.Errorf("length 10: %v, payload %q", err, b.Payload())
	}
}

func TestUDPChecksum(t *testing.T) {
	pkt := udpFrame[l4At : l4At+14]
	tests := []struct {
		name     string
		checksum uint16
		src, dst Addr
		valid    bool
	}{
		{"golden", 0x9386, peerIP, pmdIP, true},
		{"zero means none", 0, peerIP, pmdIP, true},
		{"zero means none, any addresses", 0, 1, 2, true},
		{"wrong", 0x9387, peerIP, pmdIP, false},
		{"wrong destination", 0x9386, peerIP, pmdIP + 1, false},
		{"swapped addresses still sum alike", 0x9386, pmdIP, peerIP, true},
	}
	for _, tt := range tests {
		b := UDP(clone(pkt))
		b.SetChecksum(tt.checksum)
		if got := b.ChecksumValid(tt.src, tt.dst); got != tt.valid {
			t.Errorf("%s: valid %v", tt.name, got)
		}
	}
	// Choose two data bytes so that the sum comes to 0xffff: the checksum
	// computes to zero and must go out as 0xffff.
	b := UDP(clone(pkt))
	binary.BigEndian.PutUint16(b[8:], 0)
	b.ComputeChecksum(peerIP, pmdIP)
	binary.BigEndian.PutUint16(b[8:], b.Checksum())
	b.ComputeChecksum(peerIP, pmdIP)
	if b.Checksum() != 0xffff || !b.ChecksumValid(peerIP, pmdIP) {
		t.Errorf("computed zero sent as %#x", b.Checksum())
	}
	r := ParseUDP(b)
	e := filled(len(b))
	copy(e[8:], b[8:])
	r.Encode(e, peerIP, pmdIP, ChecksumCaps{})
	if !bytes.Equal(e, b) {
		t.Errorf("Encode of a zero sum = %x, want %x", e, []byte(b))
	}
}
