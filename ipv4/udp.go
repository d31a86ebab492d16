package ipv4

import "encoding/binary"

// UDP is a view of a UDP datagram (RFC 768), the payload of an IPv4 packet:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|            Length             |           Checksum            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Data ...
//	+-+-+-+-+-
//
// Length counts header and data. The checksum covers a pseudo-header
// (PseudoHeaderSum), the header and the data; zero means the sender computed
// none, so a computed zero is sent as 0xffff.
type UDP []byte

const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6

	// UDPHeaderLen is the length of the UDP header.
	UDPHeaderLen = 8
)

// Check returns ErrTruncated if b is shorter than the header or than the
// length field, and ErrUDPLength if the length field is below the header
// length. After it, no accessor can panic. It does not verify the checksum:
// see ChecksumValid.
func (b UDP) Check() error {
	if len(b) < UDPHeaderLen {
		return ErrTruncated
	}
	n := int(b.Length())
	if n < UDPHeaderLen {
		return ErrUDPLength
	}
	if n > len(b) {
		return ErrTruncated
	}
	return nil
}

// SrcPort returns the source port.
func (b UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[udpSrcPort:]) }

// DstPort returns the destination port.
func (b UDP) DstPort() uint16 { return binary.BigEndian.Uint16(b[udpDstPort:]) }

// Length returns the length field: header and data in bytes.
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[udpLength:]) }

// Checksum returns the checksum field.
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[udpChecksum:]) }

// Payload returns the data, up to the length field.
func (b UDP) Payload() []byte { return b[UDPHeaderLen:b.Length()] }

// ChecksumValid reports whether the checksum is correct for a datagram from
// src to dst, or absent (zero).
func (b UDP) ChecksumValid(src, dst Addr) bool {
	if b.Checksum() == 0 {
		return true
	}
	n := b.Length()
	return Checksum(b[:n], PseudoHeaderSum(src, dst, ProtoUDP, n)) == 0
}

// SetSrcPort sets the source port.
func (b UDP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(b[udpSrcPort:], p) }

// SetDstPort sets the destination port.
func (b UDP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(b[udpDstPort:], p) }

// SetLength sets the length field.
func (b UDP) SetLength(n uint16) { binary.BigEndian.PutUint16(b[udpLength:], n) }

// SetChecksum sets the checksum field.
func (b UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[udpChecksum:], c) }

// ComputeChecksum computes the checksum of a datagram from src to dst over
// the header and the data up to the length field, and writes it.
func (b UDP) ComputeChecksum(src, dst Addr) {
	n := b.Length()
	b.SetChecksum(0)
	c := Checksum(b[:n], PseudoHeaderSum(src, dst, ProtoUDP, n))
	if c == 0 {
		c = 0xffff
	}
	b.SetChecksum(c)
}

// UDPRepr is a decoded UDP header.
type UDPRepr struct {
	SrcPort, DstPort uint16
	PayloadLen       int // at most 65535 - UDPHeaderLen
}

// ParseUDP decodes the header of a checked datagram.
func ParseUDP(b UDP) UDPRepr {
	return UDPRepr{
		SrcPort:    b.SrcPort(),
		DstPort:    b.DstPort(),
		PayloadLen: int(b.Length()) - UDPHeaderLen,
	}
}

// Len returns UDPHeaderLen, the number of bytes Encode writes.
func (r UDPRepr) Len() int { return UDPHeaderLen }

// Encode writes the header of a datagram from src to dst into b. Without
// caps.UDPTx it computes the checksum over the header and the PayloadLen
// bytes that must already follow it in b. With caps.UDPTx it writes the
// folded, uncomplemented pseudo-header sum instead, as a device offloading
// the checksum expects, and reads no payload.
func (r UDPRepr) Encode(b []byte, src, dst Addr, caps ChecksumCaps) {
	n := uint16(UDPHeaderLen + r.PayloadLen)
	u := UDP(b[:UDPHeaderLen])
	u.SetSrcPort(r.SrcPort)
	u.SetDstPort(r.DstPort)
	u.SetLength(n)
	if caps.UDPTx {
		u.SetChecksum(Fold(PseudoHeaderSum(src, dst, ProtoUDP, n)))
		return
	}
	UDP(b[:n]).ComputeChecksum(src, dst)
}
