package tcp

import (
	"encoding/binary"
	"math/bits"
)

// sipKey is a 128-bit SipHash-2-4 key (Aumasson and Bernstein, "SipHash: a
// fast short-input PRF", 2012): k0 is the little-endian reading of key bytes
// 0..7, k1 of bytes 8..15.
//
// The sum methods are SipHash-2-4 specialised for messages of exactly two or
// three little-endian 64-bit words, so they take no slice, never allocate and
// keep the whole state in registers. Because the message length is part of
// the final block, sum and sum3 never collide by construction: one key can
// serve both without the two uses being related.
type sipKey struct{ k0, k1 uint64 }

// newSipKey reads a key from 16 bytes.
func newSipKey(seed [16]byte) sipKey {
	return sipKey{
		k0: binary.LittleEndian.Uint64(seed[0:8]),
		k1: binary.LittleEndian.Uint64(seed[8:16]),
	}
}

// init returns the initial SipHash state for k.
func (k sipKey) init() (v0, v1, v2, v3 uint64) {
	return k.k0 ^ 0x736f6d6570736575, k.k1 ^ 0x646f72616e646f6d,
		k.k0 ^ 0x6c7967656e657261, k.k1 ^ 0x7465646279746573
}

// sipRound is one SipRound.
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13) ^ v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16) ^ v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21) ^ v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17) ^ v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// sum is SipHash-2-4 under k of the 16-byte message whose bytes are a then
// b, each in little-endian order. The rounds are written out so that the
// compiler inlines all of them.
func (k sipKey) sum(a, b uint64) uint64 {
	v0, v1, v2, v3 := k.init()
	v3 ^= a
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= a
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	// Final block: no tail bytes, the message length in the top byte.
	const last = 16 << 56
	v3 ^= last
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= last
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

// sum3 is SipHash-2-4 under k of the 24-byte message whose bytes are a, b
// then c, each in little-endian order.
func (k sipKey) sum3(a, b, c uint64) uint64 {
	v0, v1, v2, v3 := k.init()
	v3 ^= a
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= a
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v3 ^= c
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= c
	const last = 24 << 56
	v3 ^= last
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= last
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}
