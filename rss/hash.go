// Package rss computes which lcore owns a flow: the Toeplitz hash that NICs
// use for receive-side scaling, its keys, the redirection table (RETA) that
// maps a hash to an lcore, and the choice of source ports that land home.
package rss

import (
	"math/bits"

	"github.com/pmdstack/pmd/ipv4"
)

// KeyLen is the length in bytes of a Toeplitz key, as NICs take it.
const KeyLen = 40

// maxInput is the longest input a key can hash: each input bit needs the
// 32 key bits starting at its own position.
const maxInput = KeyLen - 4

// Key is a Toeplitz hash key.
type Key [KeyLen]byte

// MicrosoftKey is the key of Microsoft's RSS verification vectors and the
// default of many NICs. It spreads flows well but is not symmetric: the two
// directions of one connection usually hash differently.
var MicrosoftKey = Key{
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
	0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
	0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
	0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
	0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
}

// SymmetricKey is 0x6d, 0x5a repeated: a key with a period of 16 bits, so
// swapping the two addresses (32 bits apart) and the two ports (16 bits
// apart) leaves the hash unchanged and both directions of a connection
// land on the same lcore. The price is that the hash depends only on the
// XOR of the tuple's 16-bit words, which is still ample for a RETA index.
var SymmetricKey = Key{
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
}

// Hasher is a precomputed, table-driven Toeplitz hasher for one key. The
// Toeplitz hash XORs, for every set input bit, the 32 key bits starting at
// that bit's position; Hasher does that a byte at a time: for each input
// byte position it keeps a 256-entry table holding, for each byte value,
// the XOR of the key windows of its set bits. Hashing 12 bytes is 12 table
// lookups and XORs. A Hasher is read-only after NewHasher and may be shared
// by all lcores.
type Hasher struct {
	key Key
	t   [maxInput][256]uint32
}

// NewHasher returns a Hasher for k.
func NewHasher(k Key) *Hasher {
	h := &Hasher{key: k}
	for p := range h.t {
		// The key bits from p*8 on, left-aligned in 40 bits: the window of
		// input bit j of this byte (j = 0 is the most significant) is the
		// 32 bits that start j bits in.
		var w40 uint64
		for _, b := range k[p : p+5] {
			w40 = w40<<8 | uint64(b)
		}
		var win [8]uint32
		for j := range win {
			win[j] = uint32(w40 >> (8 - j))
		}
		row := &h.t[p]
		for v := 1; v < 256; v++ {
			// Build on the value with its lowest set bit cleared; bit
			// number n from the least significant end is input bit 7-n.
			low := bits.TrailingZeros8(uint8(v))
			row[v] = row[v&(v-1)] ^ win[7-low]
		}
	}
	return h
}

// Key returns the key h hashes with, to program into a NIC.
func (h *Hasher) Key() Key { return h.key }

// Hash returns the Toeplitz hash of b. It panics if b is longer than
// KeyLen-4 bytes, the most a 40-byte key can hash.
func (h *Hasher) Hash(b []byte) uint32 {
	if len(b) > maxInput {
		panic("rss: Hash input longer than KeyLen-4 bytes")
	}
	var r uint32
	for i, x := range b {
		r ^= h.t[i][x]
	}
	return r
}

// HashIPv4 returns the hash NICs compute for an IPv4 packet without ports:
// the input is the source then the destination address, in wire order.
func (h *Hasher) HashIPv4(src, dst ipv4.Addr) uint32 {
	t := &h.t
	return t[0][byte(src>>24)] ^ t[1][byte(src>>16)] ^
		t[2][byte(src>>8)] ^ t[3][byte(src)] ^
		t[4][byte(dst>>24)] ^ t[5][byte(dst>>16)] ^
		t[6][byte(dst>>8)] ^ t[7][byte(dst)]
}

// HashTuple returns the hash NICs compute for a TCP or UDP over IPv4
// packet: the input is the source address, the destination address, the
// source port and the destination port, all in wire order.
func (h *Hasher) HashTuple(src, dst ipv4.Addr, sport, dport uint16) uint32 {
	return h.HashIPv4(src, dst) ^ h.portsHash(sport, dport)
}

// portsHash is the part of the tuple hash that comes from the ports.
func (h *Hasher) portsHash(sport, dport uint16) uint32 {
	t := &h.t
	return t[8][byte(sport>>8)] ^ t[9][byte(sport)] ^
		t[10][byte(dport>>8)] ^ t[11][byte(dport)]
}
