package ipv4

import (
	"bytes"
	"testing"
)

func TestIPv4Golden(t *testing.T) {
	tests := []struct {
		name     string
		pkt      []byte // from the IPv4 header to the end of the frame
		total    int
		checksum uint16
		want     IPv4Repr
	}{
		{"ping", pingFrame[ipAt:], pingIP, 0x923b, IPv4Repr{
			Src: peerIP, Dst: pmdIP, Protocol: ProtoICMP, TTL: 64, ID: 0x1c46, DontFragment: true, PayloadLen: 64,
		}},
		{"udp with ethernet padding", udpFrame[ipAt:], udpIP, 0x6468, IPv4Repr{
			Src: peerIP, Dst: pmdIP, Protocol: ProtoUDP, TTL: 64, ID: 0x4a3b, DontFragment: true, PayloadLen: 14,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip := IPv4(tt.pkt)
			if err := ip.Check(); err != nil {
				t.Fatal(err)
			}
			if !ip.ChecksumValid() {
				t.Error("checksum not valid")
			}
			w := tt.want
			if ip.Version() != 4 || ip.HeaderLen() != 20 || ip.TOS() != w.TOS ||
				int(ip.TotalLength()) != tt.total || ip.ID() != w.ID ||
				ip.Flags() != IPv4DontFragment || !ip.DontFragment() || ip.MoreFragments() ||
				ip.FragmentOffset() != 0 || ip.IsFragment() ||
				ip.TTL() != w.TTL || ip.Protocol() != w.Protocol || ip.Checksum() != tt.checksum ||
				ip.Src() != w.Src || ip.Dst() != w.Dst || len(ip.Options()) != 0 {
				t.Errorf("read fields wrong: %x", tt.pkt[:20])
			}
			if !bytes.Equal(ip.Payload(), tt.pkt[20:tt.total]) {
				t.Errorf("payload = %x", ip.Payload())
			}
			if r := ParseIPv4(ip); r != w {
				t.Errorf("ParseIPv4 = %+v, want %+v", r, w)
			}
			for _, r := range []IPv4Repr{w, ParseIPv4(ip)} {
				b := filled(r.Len())
				r.Encode(b, ChecksumCaps{})
				if !bytes.Equal(b, tt.pkt[:20]) {
					t.Errorf("Encode = %x, want %x", b, tt.pkt[:20])
				}
				// With offload the checksum is left zero for the device.
				b = filled(r.Len())
				r.Encode(b, ChecksumCaps{IPv4Tx: true})
				want := clone(tt.pkt[:20])
				want[10], want[11] = 0, 0
				if !bytes.Equal(b, want) {
					t.Errorf("Encode with IPv4Tx = %x, want %x", b, want)
				}
			}
			// The same header through the setters.
			b := IPv4(filled(20))
			b.SetVersion(4)
			b.SetHeaderLen(20)
			b.SetTOS(w.TOS)
			b.SetTotalLength(uint16(tt.total))
			b.SetID(w.ID)
			b.SetFlags(IPv4DontFragment)
			b.SetFragmentOffset(0)
			b.SetTTL(w.TTL)
			b.SetProtocol(w.Protocol)
			b.SetSrc(w.Src)
			b.SetDst(w.Dst)
			b.ComputeChecksum()
			if !bytes.Equal(b, tt.pkt[:20]) {
				t.Errorf("setters = %x, want %x", []byte(b), tt.pkt[:20])
			}
		})
	}
}

func TestIPv4Truncated(t *testing.T) {
	pkt := pingFrame[ipAt:]
	for n := range pingIP {
		if err := IPv4(pkt[:n]).Check(); err != ErrTruncated {
			t.Errorf("%d of %d bytes: %v, want ErrTruncated", n, pingIP, err)
		}
	}
}

func TestIPv4Malformed(t *testing.T) {
	tests := []struct {
		name   string
		change func(IPv4)
		want   error
		keep   int // bytes of the packet to keep, 0 for all
	}{
		{"version 6", func(b IPv4) { b.SetVersion(6) }, ErrVersion, 0},
		{"version 0", func(b IPv4) { b.SetVersion(0) }, ErrVersion, 0},
		{"IHL 0", func(b IPv4) { b.SetHeaderLen(0) }, ErrHeaderLen, 0},
		{"IHL 4", func(b IPv4) { b.SetHeaderLen(16) }, ErrHeaderLen, 0},
		{"IHL 15 beyond the bytes", func(b IPv4) { b.SetHeaderLen(60); b.SetTotalLength(60) }, ErrTruncated, 56},
		{"total length 0", func(b IPv4) { b.SetTotalLength(0) }, ErrTotalLength, 0},
		{"total length 19", func(b IPv4) { b.SetTotalLength(19) }, ErrTotalLength, 0},
		{"total length below IHL 6", func(b IPv4) { b.SetHeaderLen(24); b.SetTotalLength(23) }, ErrTotalLength, 0},
		{"total length beyond the bytes", func(b IPv4) { b.SetTotalLength(pingIP + 1) }, ErrTruncated, 0},
		{"total length 65535", func(b IPv4) { b.SetTotalLength(65535) }, ErrTruncated, 0},
	}
	for _, tt := range tests {
		b := IPv4(clone(pingFrame[ipAt:]))
		if tt.keep > 0 {
			b = b[:tt.keep]
		}
		tt.change(b)
		if err := b.Check(); err != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestIPv4BadChecksum(t *testing.T) {
	for i := range IPv4MinHeaderLen {
		b := IPv4(clone(pingFrame[ipAt:]))
		b[i] ^= 0x10
		if b.Check() == nil && b.ChecksumValid() {
			t.Errorf("byte %d flipped: checksum still valid", i)
		}
	}
	b := IPv4(clone(pingFrame[ipAt:]))
	b.Payload()[0] ^= 0xff // the header checksum does not cover the payload
	if !b.ChecksumValid() {
		t.Error("payload change broke the header checksum")
	}
}

// TestIPv4Options puts 4 and 40 bytes of options (IHL 6 and 15) into the
// ping and checks that header, options and payload move with IHL.
func TestIPv4Options(t *testing.T) {
	icmp := pingFrame[l4At:]
	tests := []struct {
		name string
		opts []byte
	}{
		{"IHL 6: router alert", []byte{0x94, 0x04, 0x00, 0x00}},
		{"IHL 15: 39 NOPs and end", append(bytes.Repeat([]byte{0x01}, 39), 0x00)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hl := IPv4MinHeaderLen + len(tt.opts)
			pkt := append(append(clone(pingFrame[ipAt:l4At]), tt.opts...), icmp...)
			b := IPv4(pkt)
			b.SetHeaderLen(hl)
			b.SetTotalLength(uint16(len(pkt)))
			b.ComputeChecksum()
			if err := b.Check(); err != nil {
				t.Fatal(err)
			}
			if b.HeaderLen() != hl || !bytes.Equal(b.Options(), tt.opts) ||
				!bytes.Equal(b.Payload(), icmp) || !b.ChecksumValid() {
				t.Errorf("HeaderLen %d options %x payload %d bytes, checksum valid %v",
					b.HeaderLen(), b.Options(), len(b.Payload()), b.ChecksumValid())
			}
			if r := ParseIPv4(b); r.PayloadLen != len(icmp) {
				t.Errorf("ParseIPv4 PayloadLen = %d", r.PayloadLen)
			}
			for n := range len(pkt) {
				if err := IPv4(pkt[:n]).Check(); err != ErrTruncated {
					t.Fatalf("%d bytes: %v", n, err)
				}
			}
		})
	}
}

func TestIPv4Fragments(t *testing.T) {
	tests := []struct {
		name     string
		flags    uint8
		offset   uint16
		fragment bool
	}{
		{"DF", IPv4DontFragment, 0, false},
		{"none", 0, 0, false},
		{"first", IPv4MoreFragments, 0, true},
		{"middle", IPv4MoreFragments, 1480, true},
		{"last", 0, 2960, true},
		{"largest offset", 0, 0x1fff * 8, true},
		{"reserved bit", 0x4, 0, false},
	}
	for _, tt := range tests {
		b := IPv4(clone(pingFrame[ipAt:]))
		b.SetFragmentOffset(tt.offset)
		b.SetFlags(tt.flags)
		if b.Flags() != tt.flags || b.FragmentOffset() != tt.offset || b.IsFragment() != tt.fragment ||
			b.MoreFragments() != (tt.flags&IPv4MoreFragments != 0) || b.DontFragment() != (tt.flags&IPv4DontFragment != 0) {
			t.Errorf("%s: flags %d offset %d fragment %v", tt.name, b.Flags(), b.FragmentOffset(), b.IsFragment())
		}
		if b.ID() != 0x1c46 || b.TTL() != 64 {
			t.Errorf("%s: neighbouring fields changed", tt.name)
		}
	}
}
