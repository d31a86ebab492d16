package ipv4

import "encoding/binary"

// IPv4 is a view of an IPv4 packet (RFC 791), header and payload:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// IHL counts 32-bit words (5 to 15), Total Length bytes of header and
// payload; Flags are reserved, Don't Fragment, More Fragments; Fragment
// Offset counts 8-byte units.
type IPv4 []byte

const (
	ipVerIHL   = 0
	ipTOS      = 1
	ipTotalLen = 2
	ipID       = 4
	ipFlagsOff = 6
	ipTTL      = 8
	ipProto    = 9
	ipChecksum = 10
	ipSrc      = 12
	ipDst      = 16

	// IPv4MinHeaderLen is the length of a header without options.
	IPv4MinHeaderLen = 20
	// IPv4MaxHeaderLen is the length of a header with the most options.
	IPv4MaxHeaderLen = 60
)

// Flags bits, as Flags returns them.
const (
	IPv4DontFragment  = 0x2
	IPv4MoreFragments = 0x1
)

// Protocol numbers.
const (
	ProtoICMP = 1
	ProtoTCP  = 6
	ProtoUDP  = 17
)

// Check returns ErrTruncated if b ends before 20 bytes, before the header
// length or before the total length; ErrVersion if the version is not 4;
// ErrHeaderLen if IHL is below 5; ErrTotalLength if the total length is
// below the header length. After it, no accessor can panic. It does not
// verify the checksum: see ChecksumValid.
func (b IPv4) Check() error {
	if len(b) < IPv4MinHeaderLen {
		return ErrTruncated
	}
	if b.Version() != 4 {
		return ErrVersion
	}
	hl := b.HeaderLen()
	if hl < IPv4MinHeaderLen {
		return ErrHeaderLen
	}
	if len(b) < hl {
		return ErrTruncated
	}
	tl := int(b.TotalLength())
	if tl < hl {
		return ErrTotalLength
	}
	if len(b) < tl {
		return ErrTruncated
	}
	return nil
}

// Version returns the IP version.
func (b IPv4) Version() uint8 { return b[ipVerIHL] >> 4 }

// HeaderLen returns the header length in bytes, options included.
func (b IPv4) HeaderLen() int { return int(b[ipVerIHL]&0xf) * 4 }

// TOS returns the type of service byte (DSCP and ECN).
func (b IPv4) TOS() uint8 { return b[ipTOS] }

// TotalLength returns the length of header and payload in bytes.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[ipTotalLen:]) }

// ID returns the identification.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipID:]) }

// Flags returns the three flag bits: reserved, IPv4DontFragment,
// IPv4MoreFragments.
func (b IPv4) Flags() uint8 { return b[ipFlagsOff] >> 5 }

// DontFragment reports whether the Don't Fragment flag is set.
func (b IPv4) DontFragment() bool { return b.Flags()&IPv4DontFragment != 0 }

// MoreFragments reports whether the More Fragments flag is set.
func (b IPv4) MoreFragments() bool { return b.Flags()&IPv4MoreFragments != 0 }

// FragmentOffset returns the fragment offset in bytes (a multiple of 8).
func (b IPv4) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(b[ipFlagsOff:]) << 3
}

// IsFragment reports whether b is a fragment of a larger packet: More
// Fragments is set or the offset is not zero.
func (b IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(b[ipFlagsOff:])&0x3fff != 0
}

// TTL returns the time to live.
func (b IPv4) TTL() uint8 { return b[ipTTL] }

// Protocol returns the protocol of the payload.
func (b IPv4) Protocol() uint8 { return b[ipProto] }

// Checksum returns the header checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[ipChecksum:]) }

// Src returns the source address.
func (b IPv4) Src() Addr { return ReadAddr(b[ipSrc:]) }

// Dst returns the destination address.
func (b IPv4) Dst() Addr { return ReadAddr(b[ipDst:]) }

// Options returns the options (and their padding): the header after its
// first 20 bytes.
func (b IPv4) Options() []byte { return b[IPv4MinHeaderLen:b.HeaderLen()] }

// Payload returns the bytes from the end of the header to the total length.
// Bytes past the total length (Ethernet padding) are not part of it.
func (b IPv4) Payload() []byte { return b[b.HeaderLen():b.TotalLength()] }

// ChecksumValid reports whether the header checksum is correct.
func (b IPv4) ChecksumValid() bool { return Checksum(b[:b.HeaderLen()], 0) == 0 }

// SetVersion sets the version, keeping IHL.
func (b IPv4) SetVersion(v uint8) { b[ipVerIHL] = v<<4 | b[ipVerIHL]&0xf }

// SetHeaderLen sets IHL from a length in bytes (a multiple of 4 from 20 to
// 60), keeping the version.
func (b IPv4) SetHeaderLen(n int) { b[ipVerIHL] = b[ipVerIHL]&0xf0 | uint8(n/4)&0xf }

// SetTOS sets the type of service byte.
func (b IPv4) SetTOS(v uint8) { b[ipTOS] = v }

// SetTotalLength sets the total length.
func (b IPv4) SetTotalLength(n uint16) { binary.BigEndian.PutUint16(b[ipTotalLen:], n) }

// SetID sets the identification.
func (b IPv4) SetID(id uint16) { binary.BigEndian.PutUint16(b[ipID:], id) }

// SetFlags sets the three flag bits, keeping the fragment offset.
func (b IPv4) SetFlags(f uint8) { b[ipFlagsOff] = f<<5 | b[ipFlagsOff]&0x1f }

// SetFragmentOffset sets the fragment offset from bytes (a multiple of 8),
// keeping the flags.
func (b IPv4) SetFragmentOffset(off uint16) {
	v := binary.BigEndian.Uint16(b[ipFlagsOff:])&0xe000 | off>>3
	binary.BigEndian.PutUint16(b[ipFlagsOff:], v)
}

// SetTTL sets the time to live.
func (b IPv4) SetTTL(v uint8) { b[ipTTL] = v }

// SetProtocol sets the protocol of the payload.
func (b IPv4) SetProtocol(p uint8) { b[ipProto] = p }

// SetChecksum sets the header checksum field.
func (b IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[ipChecksum:], c) }

// SetSrc sets the source address.
func (b IPv4) SetSrc(a Addr) { PutAddr(b[ipSrc:], a) }

// SetDst sets the destination address.
func (b IPv4) SetDst(a Addr) { PutAddr(b[ipDst:], a) }

// ComputeChecksum computes the header checksum and writes it.
func (b IPv4) ComputeChecksum() {
	b.SetChecksum(0)
	b.SetChecksum(Checksum(b[:b.HeaderLen()], 0))
}

// IPv4Repr is a decoded IPv4 header without options, as the stack sends it:
// never fragmented, so only Don't Fragment is kept of the flags.
type IPv4Repr struct {
	Src, Dst           Addr
	Protocol, TTL, TOS uint8
	ID                 uint16
	DontFragment       bool
	PayloadLen         int // at most 65535 - IPv4MinHeaderLen
}

// ParseIPv4 decodes the header of a checked packet. Options, the More
// Fragments flag and the fragment offset are not kept.
func ParseIPv4(b IPv4) IPv4Repr {
	return IPv4Repr{
		Src:          b.Src(),
		Dst:          b.Dst(),
		Protocol:     b.Protocol(),
		TTL:          b.TTL(),
		TOS:          b.TOS(),
		ID:           b.ID(),
		DontFragment: b.DontFragment(),
		PayloadLen:   int(b.TotalLength()) - b.HeaderLen(),
	}
}

// Len returns IPv4MinHeaderLen, the number of bytes Encode writes.
func (r IPv4Repr) Len() int { return IPv4MinHeaderLen }

// Encode writes a 20-byte header into b. With caps.IPv4Tx the checksum is
// left zero for the device to fill in.
func (r IPv4Repr) Encode(b []byte, caps ChecksumCaps) {
	h := IPv4(b[:IPv4MinHeaderLen])
	h[ipVerIHL] = 4<<4 | IPv4MinHeaderLen/4
	h.SetTOS(r.TOS)
	h.SetTotalLength(uint16(IPv4MinHeaderLen + r.PayloadLen))
	h.SetID(r.ID)
	var flags uint16
	if r.DontFragment {
		flags = IPv4DontFragment << 13
	}
	binary.BigEndian.PutUint16(h[ipFlagsOff:], flags)
	h.SetTTL(r.TTL)
	h.SetProtocol(r.Protocol)
	h.SetSrc(r.Src)
	h.SetDst(r.Dst)
	h.SetChecksum(0)
	if !caps.IPv4Tx {
		h.SetChecksum(Checksum(h, 0))
	}
}
