package ipv4

import (
	"bytes"
	"testing"
)

var arpRequestRepr = ARPRepr{
	Op:         ARPRequest,
	SenderMAC:  peerMAC,
	SenderAddr: peerIP,
	TargetAddr: pmdIP,
}

func TestARPGolden(t *testing.T) {
	tests := []struct {
		name string
		pkt  []byte // may carry Ethernet padding after ARPLen bytes
		want ARPRepr
	}{
		{"request", arpFrame[EthernetHeaderLen:], arpRequestRepr},
		{"reply", arpReply, ARPRepr{Op: ARPReply, SenderMAC: pmdMAC, SenderAddr: pmdIP, TargetMAC: peerMAC, TargetAddr: peerIP}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ARP(tt.pkt)
			if err := a.Check(); err != nil {
				t.Fatal(err)
			}
			got := ARPRepr{a.Op(), a.SenderMAC(), a.SenderAddr(), a.TargetMAC(), a.TargetAddr()}
			if got != tt.want {
				t.Errorf("read %+v, want %+v", got, tt.want)
			}
			if r := ParseARP(a); r != tt.want {
				t.Errorf("ParseARP = %+v", r)
			}
			for _, r := range []ARPRepr{tt.want, ParseARP(a)} {
				b := filled(r.Len())
				r.Encode(b)
				if !bytes.Equal(b, tt.pkt[:ARPLen]) {
					t.Errorf("Encode = %x, want %x", b, tt.pkt[:ARPLen])
				}
			}
		})
	}
}

func TestARPReplyInPlace(t *testing.T) {
	frame := clone(arpFrame)
	a := ARP(frame[EthernetHeaderLen:])
	ARPReplyInPlace(a, pmdMAC)
	if !bytes.Equal(a[:ARPLen], arpReply) {
		t.Errorf("reply = %x, want %x", a[:ARPLen], arpReply)
	}
	if !bytes.Equal(frame[:EthernetHeaderLen], arpFrame[:EthernetHeaderLen]) ||
		!bytes.Equal(frame[EthernetHeaderLen+ARPLen:], arpFrame[EthernetHeaderLen+ARPLen:]) {
		t.Error("bytes outside the ARP packet changed")
	}
}

func TestARPMalformed(t *testing.T) {
	pkt := arpFrame[EthernetHeaderLen : EthernetHeaderLen+ARPLen]
	for n := range ARPLen {
		if err := ARP(pkt[:n]).Check(); err != ErrTruncated {
			t.Errorf("%d bytes: %v, want ErrTruncated", n, err)
		}
	}
	tests := []struct {
		name string
		at   int
		val  byte
	}{
		{"hardware type 6 (IEEE 802)", 1, 6},
		{"hardware type 0x0101", 0, 1},
		{"protocol type IPv6", 2, 0x86},
		{"hardware length 8", 4, 8},
		{"protocol length 16", 5, 16},
	}
	for _, tt := range tests {
		b := clone(pkt)
		b[tt.at] = tt.val
		if err := ARP(b).Check(); err != ErrARPFormat {
			t.Errorf("%s: %v, want ErrARPFormat", tt.name, err)
		}
	}
	// Unknown operations pass Check: the caller ignores them.
	b := clone(pkt)
	ARP(b).SetOp(9)
	if err := ARP(b).Check(); err != nil || ARP(b).Op() != 9 {
		t.Errorf("op 9: %v", err)
	}
}
