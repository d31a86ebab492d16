package tcp

import (
	"encoding/binary"
	"errors"

	"github.com/pmdstack/pmd/ipv4"
)

// Header is a view of a TCP segment (RFC 9293 3.1), header and payload, the
// payload of an IPv4 packet:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           [Options]                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                             Data ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Data Offset counts 32-bit words of header, options included (5 to 15).
// The checksum covers a pseudo-header (ipv4.PseudoHeaderSum), the header and
// the data. A Header has no length field: the segment is the whole slice, so
// slice it to the IPv4 payload first.
//
// The contract is the one of package ipv4: run Check on received bytes; once
// it has passed, no accessor can panic, whatever the bytes hold. Do not check
// a buffer you are about to write into; Segment.EncodeHeader writes every
// header byte and needs only HeaderLen bytes of room.
type Header []byte

const (
	tcpSrcPort  = 0
	tcpDstPort  = 2
	tcpSeq      = 4
	tcpAck      = 8
	tcpOffset   = 12 // data offset in the high nibble, reserved bits below
	tcpFlags    = 13
	tcpWindow   = 14
	tcpChecksum = 16
	tcpUrgent   = 18

	// HeaderMinLen is the length of a header without options.
	HeaderMinLen = 20
	// HeaderMaxLen is the length of a header with the most options: a data
	// offset of 15 words.
	HeaderMaxLen = 60
	// MaxOptionsLen is the room for options in a header.
	MaxOptionsLen = HeaderMaxLen - HeaderMinLen
)

// The reasons a check or a parse rejects a segment. They are allocated once,
// so that checking never allocates, and can be compared with ==.
var (
	// ErrShort means the bytes end before the 20-byte header.
	ErrShort = errors.New("tcp: segment shorter than the header")
	// ErrDataOffset means the data offset is below 5 words or past the end
	// of the bytes.
	ErrDataOffset = errors.New("tcp: bad data offset")
	// ErrOptions means an option is malformed: a length below 2, an option
	// running past the end of the options, or a known option of the wrong
	// length.
	ErrOptions = errors.New("tcp: malformed option")
)

// Check returns ErrShort if h ends before 20 bytes, and ErrDataOffset if the
// data offset is below 5 words or the header it gives is longer than h.
// After it, no accessor can panic. It verifies neither the checksum (see
// ChecksumValid) nor the options (see ParseOptions).
func (h Header) Check() error {
	if len(h) < HeaderMinLen {
		return ErrShort
	}
	if hl := h.HeaderLen(); hl < HeaderMinLen || hl > len(h) {
		return ErrDataOffset
	}
	return nil
}

// SrcPort returns the source port.
func (h Header) SrcPort() uint16 { return binary.BigEndian.Uint16(h[tcpSrcPort:]) }

// DstPort returns the destination port.
func (h Header) DstPort() uint16 { return binary.BigEndian.Uint16(h[tcpDstPort:]) }

// Seq returns the sequence number.
func (h Header) Seq() Seq { return Seq(binary.BigEndian.Uint32(h[tcpSeq:])) }

// Ack returns the acknowledgment number, meaningful when FlagACK is set.
func (h Header) Ack() Seq { return Seq(binary.BigEndian.Uint32(h[tcpAck:])) }

// HeaderLen returns the header length in bytes, options included: the data
// offset times 4.
func (h Header) HeaderLen() int { return int(h[tcpOffset]>>4) * 4 }

// Flags returns the eight control bits.
func (h Header) Flags() Flags { return Flags(h[tcpFlags]) }

// Window returns the window field as sent: not scaled.
func (h Header) Window() uint16 { return binary.BigEndian.Uint16(h[tcpWindow:]) }

// Checksum returns the checksum field.
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h[tcpChecksum:]) }

// Urgent returns the urgent pointer, meaningful when FlagURG is set.
func (h Header) Urgent() uint16 { return binary.BigEndian.Uint16(h[tcpUrgent:]) }

// Options returns the options (and their padding): the header after its
// first 20 bytes.
func (h Header) Options() []byte { return h[HeaderMinLen:h.HeaderLen()] }

// Payload returns the data: the bytes after the header.
func (h Header) Payload() []byte { return h[h.HeaderLen():] }

// ChecksumValid reports whether the checksum is correct for a segment from
// src to dst. A slice longer than 65535 bytes cannot be one and is reported
// invalid.
func (h Header) ChecksumValid(src, dst ipv4.Addr) bool {
	if len(h) > 0xffff {
		return false
	}
	return ipv4.Checksum(h, pseudoSum(h, src, dst)) == 0
}

// SetSrcPort sets the source port.
func (h Header) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(h[tcpSrcPort:], p) }

// SetDstPort sets the destination port.
func (h Header) SetDstPort(p uint16) { binary.BigEndian.PutUint16(h[tcpDstPort:], p) }

// SetSeq sets the sequence number.
func (h Header) SetSeq(s Seq) { binary.BigEndian.PutUint32(h[tcpSeq:], uint32(s)) }

// SetAck sets the acknowledgment number.
func (h Header) SetAck(s Seq) { binary.BigEndian.PutUint32(h[tcpAck:], uint32(s)) }

// SetHeaderLen sets the data offset from a length in bytes (a multiple of 4
// from 20 to 60), keeping the reserved bits.
func (h Header) SetHeaderLen(n int) {
	h[tcpOffset] = uint8(n/4)<<4 | h[tcpOffset]&0x0f
}

// SetFlags sets the eight control bits.
func (h Header) SetFlags(f Flags) { h[tcpFlags] = uint8(f) }

// SetWindow sets the window field (already scaled down).
func (h Header) SetWindow(w uint16) { binary.BigEndian.PutUint16(h[tcpWindow:], w) }

// SetChecksum sets the checksum field.
func (h Header) SetChecksum(c uint16) { binary.BigEndian.PutUint16(h[tcpChecksum:], c) }

// SetUrgent sets the urgent pointer.
func (h Header) SetUrgent(u uint16) { binary.BigEndian.PutUint16(h[tcpUrgent:], u) }

// ComputeChecksum computes the checksum of a segment from src to dst over
// the whole slice, header and payload, and writes it. len(h) must be at most
// 65535.
func (h Header) ComputeChecksum(src, dst ipv4.Addr) {
	h.SetChecksum(0)
	h.SetChecksum(ipv4.Checksum(h, pseudoSum(h, src, dst)))
}

// SetPseudoChecksum writes the folded, uncomplemented sum of the
// pseudo-header of a segment of len(h) bytes from src to dst into the
// checksum field, as a device offloading the TCP checksum expects. It reads
// no payload. Completing the sum over the segment (ipv4.Checksum(h, 0))
// gives what ComputeChecksum writes.
func (h Header) SetPseudoChecksum(src, dst ipv4.Addr) {
	h.SetChecksum(ipv4.Fold(pseudoSum(h, src, dst)))
}

func pseudoSum(h Header, src, dst ipv4.Addr) uint32 {
	return ipv4.PseudoHeaderSum(src, dst, ipv4.ProtoTCP, uint16(len(h)))
}

// Flags are the TCP control bits (RFC 9293 3.1, RFC 3168 for ECE and CWR).
type Flags uint8

// The control bits, as Flags returns them.
const (
	FlagFIN Flags = 0x01
	FlagSYN Flags = 0x02
	FlagRST Flags = 0x04
	FlagPSH Flags = 0x08
	FlagACK Flags = 0x10
	FlagURG Flags = 0x20
	FlagECE Flags = 0x40
	FlagCWR Flags = 0x80
)

var flagNames = [8]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// Has reports whether every bit of g is set in f.
func (f Flags) Has(g Flags) bool { return f&g == g }

// String returns the names of the set bits from the lowest, joined by "|",
// as "SYN|ACK"; "none" for no bits. It allocates: use it in logs and tests.
func (f Flags) String() string {
	if f == 0 {
		return "none"
	}
	var s string
	for i, name := range flagNames {
		if f&(1<<i) == 0 {
			continue
		}
		if s != "" {
			s += "|"
		}
		s += name
	}
	return s
}

// Segment is a decoded TCP header and the payload it carries, for building
// segments and reading received ones. The urgent pointer is not kept: pmd
// sends it zero and does not act on it.
type Segment struct {
	SrcPort, DstPort uint16
	Seq, Ack         Seq
	Flags            Flags
	Window           uint16 // raw field (already scaled down by the sender)
	Opts             Options
	Payload          []byte
}

// ParseSegment decodes a checked segment into s, overwriting every field.
// s.Payload aliases the payload of h. It returns ErrOptions, with s partly
// filled, if the options are malformed (see ParseOptions).
func ParseSegment(h Header, s *Segment) error {
	s.SrcPort = h.SrcPort()
	s.DstPort = h.DstPort()
	s.Seq = h.Seq()
	s.Ack = h.Ack()
	s.Flags = h.Flags()
	s.Window = h.Window()
	s.Payload = h.Payload()
	return ParseOptions(h.Options(), &s.Opts)
}

// Len returns the sequence space the segment takes: its payload, plus one
// for SYN and one for FIN (RFC 9293 3.4).
func (s *Segment) Len() int {
	n := len(s.Payload)
	if s.Flags&FlagSYN != 0 {
		n++
	}
	if s.Flags&FlagFIN != 0 {
		n++
	}
	return n
}

// HeaderLen returns the number of bytes EncodeHeader writes: 20 and the
// options, at most HeaderMaxLen.
func (s *Segment) HeaderLen() int { return HeaderMinLen + s.Opts.Len() }

// EncodeHeader writes every byte of the header into b and returns its
// length, HeaderLen: the data offset, reserved bits zero, the urgent pointer
// zero and the checksum zero, for the caller to fill (ComputeChecksum or
// SetPseudoChecksum) once the payload follows. It does not copy the payload.
func (s *Segment) EncodeHeader(b []byte) int {
	hl := s.HeaderLen()
	h := Header(b[:hl])
	h.SetSrcPort(s.SrcPort)
	h.SetDstPort(s.DstPort)
	h.SetSeq(s.Seq)
	h.SetAck(s.Ack)
	h[tcpOffset] = uint8(hl/4) << 4
	h.SetFlags(s.Flags)
	h.SetWindow(s.Window)
	h.SetChecksum(0)
	h.SetUrgent(0)
	s.Opts.Encode(h[HeaderMinLen:])
	return hl
}
