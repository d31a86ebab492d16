package ipv4

import (
	"encoding/binary"
	"math/bits"
)

// The Internet checksum (RFC 1071) is the ones' complement of the ones'
// complement sum of the data taken as 16-bit big-endian words, an odd last
// byte padded with a zero byte on the right.
//
// A partial sum here is a uint32 holding a ones' complement sum folded to 16
// bits. Sum takes one as its initial value and returns one, so a sum can be
// carried over several slices (every slice but the last of even length) and
// started from PseudoHeaderSum. Checksum finishes: fold and complement.

// Sum returns the ones' complement sum of b added to the partial sum initial
// (any uint32 is accepted), folded to 16 bits.
//
// Because 2^16-1 divides 2^64-1, a ones' complement sum of 64-bit words
// folded down to 16 bits equals the sum of the 16-bit words (RFC 1071 2(C)),
// so Sum adds eight bytes at a time with an end-around carry. It loads the
// words little-endian, which spares a byte swap per load, and swaps the
// folded result once: the sum is independent of byte order (RFC 1071 2(B)).
// Two accumulators with carry chains of their own let the CPU run the
// additions side by side.
func Sum(b []byte, initial uint32) uint32 {
	a0 := uint64(bits.ReverseBytes16(Fold(initial)))
	var a1, c0, c1 uint64
	for len(b) >= 64 {
		a0, c0 = bits.Add64(a0, binary.LittleEndian.Uint64(b), c0)
		a1, c1 = bits.Add64(a1, binary.LittleEndian.Uint64(b[8:]), c1)
		a0, c0 = bits.Add64(a0, binary.LittleEndian.Uint64(b[16:]), c0)
		a1, c1 = bits.Add64(a1, binary.LittleEndian.Uint64(b[24:]), c1)
		a0, c0 = bits.Add64(a0, binary.LittleEndian.Uint64(b[32:]), c0)
		a1, c1 = bits.Add64(a1, binary.LittleEndian.Uint64(b[40:]), c1)
		a0, c0 = bits.Add64(a0, binary.LittleEndian.Uint64(b[48:]), c0)
		a1, c1 = bits.Add64(a1, binary.LittleEndian.Uint64(b[56:]), c1)
		b = b[64:]
	}
	for len(b) >= 16 {
		a0, c0 = bits.Add64(a0, binary.LittleEndian.Uint64(b), c0)
		a1, c1 = bits.Add64(a1, binary.LittleEndian.Uint64(b[8:]), c1)
		b = b[16:]
	}
	if len(b) >= 8 {
		a0, c0 = bits.Add64(a0, binary.LittleEndian.Uint64(b), c0)
		b = b[8:]
	}
	// The last 0 to 7 bytes make one word, zero-padded: in little-endian
	// lanes an odd last byte is the low half of its lane, which is the
	// high half once swapped back (RFC 1071).
	var tail uint64
	shift := 0
	if len(b) >= 4 {
		tail, shift = uint64(binary.LittleEndian.Uint32(b)), 32
		b = b[4:]
	}
	if len(b) >= 2 {
		tail |= uint64(binary.LittleEndian.Uint16(b)) << shift
		b, shift = b[2:], shift+16
	}
	if len(b) == 1 {
		tail |= uint64(b[0]) << shift
	}
	a0, c0 = bits.Add64(a0, tail, c0)
	// Join the accumulators and the carries left in them.
	acc, c := bits.Add64(a0, a1, c0)
	acc, c = bits.Add64(acc, c1, c)
	acc += c // acc was all ones at most and is now at most one: no carry
	acc = acc>>32 + acc&0xffffffff
	acc = acc>>16 + acc&0xffff
	acc = acc>>16 + acc&0xffff
	acc = acc>>16 + acc&0xffff
	return uint32(bits.ReverseBytes16(uint16(acc)))
}

// Fold folds a partial sum to 16 bits with end-around carries.
func Fold(sum uint32) uint16 {
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return uint16(sum)
}

// Checksum returns the Internet checksum of b, starting from the partial sum
// initial: the value to store in a checksum field that was zero in b. Over
// bytes that include a correct checksum field it returns 0.
func Checksum(b []byte, initial uint32) uint16 { return ^Fold(Sum(b, initial)) }

// PseudoHeaderSum returns the partial sum of the IPv4 pseudo-header that
// TCP and UDP checksums cover (RFC 793, RFC 768): source, destination, zero
// and protocol, and the length of the TCP or UDP header plus payload.
func PseudoHeaderSum(src, dst Addr, proto uint8, length uint16) uint32 {
	s := uint32(src>>16) + uint32(src&0xffff) + uint32(dst>>16) + uint32(dst&0xffff) +
		uint32(proto) + uint32(length)
	return uint32(Fold(s))
}

// UpdateChecksum returns the checksum old after one 16-bit word of the
// covered data changed from oldField to newField, by RFC 1624 equation 3:
// HC' = ~(~HC + ~m + m'). Unlike equation 2 it never turns a checksum into
// 0xffff where a full computation gives 0. It assumes, as RFC 1624 does,
// that the covered data is not all zeros once changed (never so in an IPv4
// or TCP header): for such data it returns 0 where 0xffff is right. A UDP
// sender must send a result of 0 as 0xffff in any case.
func UpdateChecksum(old, oldField, newField uint16) uint16 {
	return ^Fold(uint32(^old) + uint32(^oldField) + uint32(newField))
}

// UpdateChecksum32 is UpdateChecksum for a 32-bit field aligned on a 16-bit
// word, such as an address (pass an Addr as uint32(a)).
func UpdateChecksum32(old uint16, oldField, newField uint32) uint16 {
	notOld := ^oldField
	return ^Fold(uint32(^old) + notOld>>16 + notOld&0xffff + newField>>16 + newField&0xffff)
}
