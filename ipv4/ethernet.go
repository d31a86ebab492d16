package ipv4

import "encoding/binary"

// Ethernet is a view of an Ethernet II frame, without the FCS (IEEE 802.3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination MAC address                    |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                      Source MAC address                       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           EtherType           |  Payload ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A payload shorter than 46 bytes is padded to that size by the sender, so
// the payload may be longer than the packet it carries.
type Ethernet []byte

const (
	ethDst  = 0
	ethSrc  = 6
	ethType = 12

	// EthernetHeaderLen is the length of an Ethernet II header.
	EthernetHeaderLen = 14
)

// EtherType values.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100
	EtherTypeIPv6 = 0x86dd
)

// Valid reports whether b holds a whole Ethernet header; after it, no
// accessor can panic.
func (b Ethernet) Valid() bool { return len(b) >= EthernetHeaderLen }

// Dst returns the destination MAC address.
func (b Ethernet) Dst() MAC { return MAC(b[ethDst:]) }

// Src returns the source MAC address.
func (b Ethernet) Src() MAC { return MAC(b[ethSrc:]) }

// Type returns the EtherType.
func (b Ethernet) Type() uint16 { return binary.BigEndian.Uint16(b[ethType:]) }

// Payload returns the bytes after the header, padding included.
func (b Ethernet) Payload() []byte { return b[EthernetHeaderLen:] }

// SetDst sets the destination MAC address.
func (b Ethernet) SetDst(m MAC) { copy(b[ethDst:ethDst+6], m[:]) }

// SetSrc sets the source MAC address.
func (b Ethernet) SetSrc(m MAC) { copy(b[ethSrc:ethSrc+6], m[:]) }

// SetType sets the EtherType.
func (b Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(b[ethType:], t) }

// EthernetRepr is the decoded Ethernet header.
type EthernetRepr struct {
	Dst, Src MAC
	Type     uint16
}

// ParseEthernet decodes the header of a valid frame.
func ParseEthernet(b Ethernet) EthernetRepr {
	return EthernetRepr{Dst: b.Dst(), Src: b.Src(), Type: b.Type()}
}

// Len returns EthernetHeaderLen, the number of bytes Encode writes.
func (r EthernetRepr) Len() int { return EthernetHeaderLen }

// Encode writes the header into the first EthernetHeaderLen bytes of b.
func (r EthernetRepr) Encode(b []byte) {
	e := Ethernet(b[:EthernetHeaderLen])
	e.SetDst(r.Dst)
	e.SetSrc(r.Src)
	e.SetType(r.Type)
}
