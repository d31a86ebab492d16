package ipv4

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
)

// Addr is an IPv4 address as a number in host order: the first byte on the
// wire is the most significant (198.18.0.1 is 0xc6120001). Comparing,
// masking and hashing addresses is plain integer arithmetic.
type Addr uint32

// AddrFrom4 returns the address whose wire bytes are b.
func AddrFrom4(b [4]byte) Addr { return Addr(binary.BigEndian.Uint32(b[:])) }

// As4 returns the wire bytes of a.
func (a Addr) As4() (b [4]byte) {
	binary.BigEndian.PutUint32(b[:], uint32(a))
	return b
}

// ReadAddr returns the address in the first four bytes of b (network order).
func ReadAddr(b []byte) Addr { return Addr(binary.BigEndian.Uint32(b)) }

// PutAddr writes a into the first four bytes of b (network order).
func PutAddr(b []byte, a Addr) { binary.BigEndian.PutUint32(b, uint32(a)) }

// ParseAddr parses a dotted-decimal IPv4 address such as "198.18.0.1".
func ParseAddr(s string) (Addr, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return 0, err
	}
	if !ip.Is4() {
		return 0, fmt.Errorf("ipv4: %q is not an IPv4 address", s)
	}
	return AddrFrom4(ip.As4()), nil
}

// AddrFromNetip converts an IPv4 (or IPv4-mapped IPv6) address; it reports
// false for any other address.
func AddrFromNetip(ip netip.Addr) (Addr, bool) {
	ip = ip.Unmap()
	if !ip.Is4() {
		return 0, false
	}
	return AddrFrom4(ip.As4()), true
}

// Netip returns a as a netip.Addr.
func (a Addr) Netip() netip.Addr { return netip.AddrFrom4(a.As4()) }

// String returns a in dotted-decimal form.
func (a Addr) String() string { return a.Netip().String() }

// IsUnspecified reports whether a is 0.0.0.0.
func (a Addr) IsUnspecified() bool { return a == 0 }

// IsBroadcast reports whether a is the limited broadcast 255.255.255.255.
func (a Addr) IsBroadcast() bool { return a == 0xffffffff }

// IsMulticast reports whether a is in 224.0.0.0/4.
func (a Addr) IsMulticast() bool { return a>>28 == 0xe }

// Prefix is an address with a prefix length, as written "198.18.0.1/15".
// Addr may have host bits set: an interface's address and its subnet are one
// Prefix.
type Prefix struct {
	Addr Addr
	Bits int
}

// ParsePrefix parses "a.b.c.d/n" with n from 0 to 32, keeping the host bits.
func ParsePrefix(s string) (Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return Prefix{}, err
	}
	if !p.Addr().Is4() {
		return Prefix{}, fmt.Errorf("ipv4: %q is not an IPv4 prefix", s)
	}
	return Prefix{Addr: AddrFrom4(p.Addr().As4()), Bits: p.Bits()}, nil
}

// Mask returns the network mask: Bits leading one bits. Bits outside 0..32
// are taken as the nearest bound.
func (p Prefix) Mask() Addr {
	switch {
	case p.Bits <= 0:
		return 0
	case p.Bits >= 32:
		return 0xffffffff
	}
	return Addr(0xffffffff) << (32 - p.Bits)
}

// Masked returns p with its host bits cleared: the network itself.
func (p Prefix) Masked() Prefix { return Prefix{p.Addr & p.Mask(), p.Bits} }

// Contains reports whether a is in the network of p.
func (p Prefix) Contains(a Addr) bool { return (a^p.Addr)&p.Mask() == 0 }

// Broadcast returns the directed broadcast address of p's network.
func (p Prefix) Broadcast() Addr { return p.Addr | ^p.Mask() }

// String returns p as "a.b.c.d/n".
func (p Prefix) String() string { return p.Addr.String() + "/" + strconv.Itoa(p.Bits) }

// MAC is an Ethernet (EUI-48) address in wire order.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == BroadcastMAC }

// IsMulticast reports whether m is a group address (the I/G bit, the least
// significant bit of the first byte, is set); broadcast is one of them.
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

const hexDigits = "0123456789abcdef"

// String returns m as six lower-case hex pairs separated by colons.
func (m MAC) String() string {
	var b [17]byte
	for i, x := range m {
		b[3*i] = hexDigits[x>>4]
		b[3*i+1] = hexDigits[x&0xf]
		if i < 5 {
			b[3*i+2] = ':'
		}
	}
	return string(b[:])
}

// ParseMAC parses six hex pairs separated by colons, as "02:00:c6:12:00:01"
// (either case).
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, fmt.Errorf("ipv4: bad MAC address %q", s)
	}
	for i := range m {
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 || (i < 5 && s[3*i+2] != ':') {
			return MAC{}, fmt.Errorf("ipv4: bad MAC address %q", s)
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
