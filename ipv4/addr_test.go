package ipv4

import (
	"net/netip"
	"testing"
)

func TestAddr(t *testing.T) {
	tests := []struct {
		s    string
		want Addr
		b    [4]byte
	}{
		{"198.18.0.1", 0xc6120001, [4]byte{198, 18, 0, 1}},
		{"0.0.0.0", 0, [4]byte{}},
		{"255.255.255.255", 0xffffffff, [4]byte{255, 255, 255, 255}},
		{"10.1.2.3", 0x0a010203, [4]byte{10, 1, 2, 3}},
	}
	for _, tt := range tests {
		a, err := ParseAddr(tt.s)
		if err != nil || a != tt.want {
			t.Errorf("ParseAddr(%q) = %#x, %v; want %#x", tt.s, uint32(a), err, uint32(tt.want))
		}
		if got := a.String(); got != tt.s {
			t.Errorf("%#x.String() = %q", uint32(a), got)
		}
		if a.As4() != tt.b || AddrFrom4(tt.b) != a {
			t.Errorf("%s: As4 = %v, AddrFrom4 = %v", tt.s, a.As4(), AddrFrom4(tt.b))
		}
		var buf [4]byte
		PutAddr(buf[:], a)
		if buf != tt.b || ReadAddr(buf[:]) != a {
			t.Errorf("%s: PutAddr = %v, ReadAddr = %v", tt.s, buf, ReadAddr(buf[:]))
		}
		if n := a.Netip(); n != netip.MustParseAddr(tt.s) {
			t.Errorf("%s: Netip = %v", tt.s, n)
		}
	}
}

func TestParseAddrErrors(t *testing.T) {
	for _, s := range []string{"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "::1", "::ffff:1.2.3.4", "1.2.3.4/8", " 1.2.3.4"} {
		if a, err := ParseAddr(s); err == nil {
			t.Errorf("ParseAddr(%q) = %v, want an error", s, a)
		}
	}
}

func TestAddrFromNetip(t *testing.T) {
	tests := []struct {
		in   string
		want Addr
		ok   bool
	}{
		{"198.18.0.1", 0xc6120001, true},
		{"::ffff:198.18.0.1", 0xc6120001, true},
		{"2001:db8::1", 0, false},
	}
	for _, tt := range tests {
		a, ok := AddrFromNetip(netip.MustParseAddr(tt.in))
		if a != tt.want || ok != tt.ok {
			t.Errorf("AddrFromNetip(%s) = %v, %v", tt.in, a, ok)
		}
	}
	if a, ok := AddrFromNetip(netip.Addr{}); ok {
		t.Errorf("AddrFromNetip(zero) = %v, true", a)
	}
}

func TestAddrClass(t *testing.T) {
	tests := []struct {
		a                 Addr
		unspec, bc, mcast bool
	}{
		{0, true, false, false},
		{0xffffffff, false, true, false},
		{0xe0000001, false, false, true},
		{0xefffffff, false, false, true},
		{0xc6120001, false, false, false},
	}
	for _, tt := range tests {
		if tt.a.IsUnspecified() != tt.unspec || tt.a.IsBroadcast() != tt.bc || tt.a.IsMulticast() != tt.mcast {
			t.Errorf("%v: unspecified %v broadcast %v multicast %v", tt.a, tt.a.IsUnspecified(), tt.a.IsBroadcast(), tt.a.IsMulticast())
		}
	}
}

func TestPrefix(t *testing.T) {
	tests := []struct {
		s         string
		mask, bc  Addr
		in, notIn Addr
	}{
		{"198.18.0.1/15", 0xfffe0000, 0xc613ffff, 0xc613fffe, 0xc6140000},
		{"10.0.0.1/8", 0xff000000, 0x0affffff, 0x0a123456, 0x0b000000},
		{"192.0.2.7/32", 0xffffffff, 0xc0000207, 0xc0000207, 0xc0000206},
		{"0.0.0.0/0", 0, 0xffffffff, 0x01020304, 0x01020304}, // notIn unused
	}
	for _, tt := range tests {
		p, err := ParsePrefix(tt.s)
		if err != nil {
			t.Fatalf("ParsePrefix(%q): %v", tt.s, err)
		}
		if p.String() != tt.s {
			t.Errorf("%s: String = %q", tt.s, p.String())
		}
		if p.Mask() != tt.mask || p.Broadcast() != tt.bc {
			t.Errorf("%s: Mask %v Broadcast %v, want %v %v", tt.s, p.Mask(), p.Broadcast(), tt.mask, tt.bc)
		}
		if !p.Contains(tt.in) || !p.Contains(p.Addr) || !p.Contains(p.Masked().Addr) {
			t.Errorf("%s: does not contain %v", tt.s, tt.in)
		}
		if p.Bits > 0 && p.Contains(tt.notIn) {
			t.Errorf("%s: contains %v", tt.s, tt.notIn)
		}
		if m := p.Masked(); m.Addr != p.Addr&tt.mask || m.Bits != p.Bits {
			t.Errorf("%s: Masked = %v", tt.s, m)
		}
	}
	for _, bits := range []int{-1, 33, 64} {
		want := Addr(0)
		if bits > 0 {
			want = 0xffffffff
		}
		if m := (Prefix{Bits: bits}).Mask(); m != want {
			t.Errorf("Mask with Bits %d = %v, want %v", bits, m, want)
		}
	}
	for _, s := range []string{"", "1.2.3.4", "1.2.3.4/33", "1.2.3.4/-1", "2001:db8::/32", "1.2.3/8"} {
		if p, err := ParsePrefix(s); err == nil {
			t.Errorf("ParsePrefix(%q) = %v, want an error", s, p)
		}
	}
}

func TestMAC(t *testing.T) {
	tests := []struct {
		s           string
		m           MAC
		bc, mcast   bool
		canonicalAs string
	}{
		{"02:00:c6:12:00:01", pmdMAC, false, false, ""},
		{"ff:ff:ff:ff:ff:ff", BroadcastMAC, true, true, ""},
		{"01:00:5E:00:00:FB", MAC{1, 0, 0x5e, 0, 0, 0xfb}, false, true, "01:00:5e:00:00:fb"},
		{"00:00:00:00:00:00", MAC{}, false, false, ""},
	}
	for _, tt := range tests {
		m, err := ParseMAC(tt.s)
		if err != nil || m != tt.m {
			t.Errorf("ParseMAC(%q) = %v, %v", tt.s, m, err)
		}
		want := tt.s
		if tt.canonicalAs != "" {
			want = tt.canonicalAs
		}
		if m.String() != want {
			t.Errorf("String = %q, want %q", m.String(), want)
		}
		if m.IsBroadcast() != tt.bc || m.IsMulticast() != tt.mcast || m.IsZero() != (m == MAC{}) {
			t.Errorf("%v: broadcast %v multicast %v", m, m.IsBroadcast(), m.IsMulticast())
		}
	}
	for _, s := range []string{"", "02:00:c6:12:00", "02:00:c6:12:00:01:02", "02-00-c6-12-00-01", "0g:00:c6:12:00:01", "02:00:c6:12:00:0"} {
		if m, err := ParseMAC(s); err == nil {
			t.Errorf("ParseMAC(%q) = %v, want an error", s, m)
		}
	}
}
