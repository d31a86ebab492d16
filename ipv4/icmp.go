package ipv4

import "encoding/binary"

// ICMP is a view of an ICMP message (RFC 792), the payload of an IPv4
// packet:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Identifier          |        Sequence Number        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Data ...
//	+-+-+-+-+-
//
// The second word is Identifier and Sequence Number in echo messages; other
// types use it otherwise or leave it unused. ICMP has no length field: the
// message is the whole slice, which should be the IPv4 payload. The checksum
// covers the whole message.
type ICMP []byte

const (
	icmpType     = 0
	icmpCode     = 1
	icmpChecksum = 2
	icmpIdent    = 4
	icmpSeq      = 6

	// ICMPHeaderLen is the length of the ICMP header.
	ICMPHeaderLen = 8
)

// ICMP types.
const (
	ICMPEchoReply        = 0
	ICMPDestUnreachable  = 3
	ICMPRedirect         = 5
	ICMPEchoRequest      = 8
	ICMPTimeExceeded     = 11
	ICMPParameterProblem = 12
)

// ICMP codes of ICMPDestUnreachable.
const (
	ICMPNetUnreachable      = 0
	ICMPHostUnreachable     = 1
	ICMPProtocolUnreachable = 2
	ICMPPortUnreachable     = 3
	ICMPFragmentationNeeded = 4
)

// Check returns ErrTruncated if b is shorter than ICMPHeaderLen. After it,
// no accessor can panic. It does not verify the checksum: see ChecksumValid.
func (b ICMP) Check() error {
	if len(b) < ICMPHeaderLen {
		return ErrTruncated
	}
	return nil
}

// Type returns the message type.
func (b ICMP) Type() uint8 { return b[icmpType] }

// Code returns the message code.
func (b ICMP) Code() uint8 { return b[icmpCode] }

// Checksum returns the checksum field.
func (b ICMP) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpChecksum:]) }

// Ident returns the identifier of an echo message.
func (b ICMP) Ident() uint16 { return binary.BigEndian.Uint16(b[icmpIdent:]) }

// Seq returns the sequence number of an echo message.
func (b ICMP) Seq() uint16 { return binary.BigEndian.Uint16(b[icmpSeq:]) }

// Payload returns the data after the 8-byte header.
func (b ICMP) Payload() []byte { return b[ICMPHeaderLen:] }

// ChecksumValid reports whether the checksum over the message is correct.
func (b ICMP) ChecksumValid() bool { return Checksum(b, 0) == 0 }

// SetType sets the message type.
func (b ICMP) SetType(t uint8) { b[icmpType] = t }

// SetCode sets the message code.
func (b ICMP) SetCode(c uint8) { b[icmpCode] = c }

// SetChecksum sets the checksum field.
func (b ICMP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[icmpChecksum:], c) }

// SetIdent sets the identifier of an echo message.
func (b ICMP) SetIdent(id uint16) { binary.BigEndian.PutUint16(b[icmpIdent:], id) }

// SetSeq sets the sequence number of an echo message.
func (b ICMP) SetSeq(seq uint16) { binary.BigEndian.PutUint16(b[icmpSeq:], seq) }

// ComputeChecksum computes the checksum over the whole message and writes
// it.
func (b ICMP) ComputeChecksum() {
	b.SetChecksum(0)
	b.SetChecksum(Checksum(b, 0))
}

// EchoReplyInPlace turns a checked echo request into its reply: the type
// becomes ICMPEchoReply and the checksum is updated for that one change
// (RFC 1624), without reading the data again. Identifier, sequence number
// and data stay as they are, as RFC 792 asks.
//
// A reply of all zeros (identifier, sequence number and data zero) needs
// the checksum 0xffff, where equation 3 gives 0; 0xffff is also right for
// every other reply it gives 0 for, so 0 is always written as 0xffff.
func EchoReplyInPlace(b ICMP) {
	old := binary.BigEndian.Uint16(b[icmpType:])
	b.SetType(ICMPEchoReply)
	c := UpdateChecksum(b.Checksum(), old, binary.BigEndian.Uint16(b[icmpType:]))
	if c == 0 {
		c = 0xffff
	}
	b.SetChecksum(c)
}
