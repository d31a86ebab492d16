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
// so Sum adds eight bytes at a time with an end-around carry.
func Sum(b []byte, initial uint32) uint32 {
	acc, carry := uint64(initial), uint64(0)
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	// The last 0 to 7 bytes make one word, each 16-bit word in a 16-bit
	// lane and an odd last byte the high half of its lane (RFC 1071).
	var tail uint64
	if len(b) >= 4 {
		tail = uint64(binary.BigEndian.Uint32(b)) << 32
		b = b[4:]
	}
	if len(b) >= 2 {
		tail |= uint64(binary.BigEndian.Uint16(b)) << 16
		b = b[2:]
	}
	if len(b) == 1 {
		tail |= uint64(b[0]) << 8
	}
	acc, carry = bits.Add64(acc, tail, carry)
	acc, carry = bits.Add64(acc, carry, 0)
	acc += carry // acc was all ones and is now zero: no further carry
	acc = acc>>32 + acc&0xffffffff
	acc = acc>>16 + acc&0xffff
	acc = acc>>16 + acc&0xffff
	acc = acc>>16 + acc&0xffff
	return uint32(acc)
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
