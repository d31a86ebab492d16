package tcp

import (
	"encoding/binary"
	"testing"
)

// sipHash is SipHash-2-4 of an arbitrary message, written straight from the
// paper's description, as a reference for the specialised sum methods.
func sipHash(k sipKey, msg []byte) uint64 {
	v0, v1, v2, v3 := k.init()
	n := len(msg)
	for len(msg) >= 8 {
		v0, v1, v2, v3 = sipCompress(v0, v1, v2, v3, binary.LittleEndian.Uint64(msg))
		msg = msg[8:]
	}
	last := uint64(n) << 56
	for i, c := range msg {
		last |= uint64(c) << (8 * i)
	}
	v0, v1, v2, v3 = sipCompress(v0, v1, v2, v3, last)
	return sipFinalize(v0, v1, v2, v3)
}

// sipCompress absorbs one 64-bit message word with two SipRounds.
func sipCompress(v0, v1, v2, v3, m uint64) (uint64, uint64, uint64, uint64) {
	v3 ^= m
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m
	return v0, v1, v2, v3
}

// sipFinalize runs the four finalization rounds and returns the digest.
func sipFinalize(v0, v1, v2, v3 uint64) uint64 {
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

// sipPaperKey is the key 00 01 .. 0f of the SipHash paper's test vectors.
func sipPaperKey() sipKey {
	var seed [16]byte
	for i := range seed {
		seed[i] = byte(i)
	}
	return newSipKey(seed)
}

// sipSeqBytes returns the message 00 01 .. n-1.
func sipSeqBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestSipHashVectors(t *testing.T) {
	k := sipPaperKey()
	if k.k0 != 0x0706050403020100 || k.k1 != 0x0f0e0d0c0b0a0908 {
		t.Fatalf("key words %#x %#x", k.k0, k.k1)
	}
	// Appendix A of the paper: message 00..0e.
	if got, want := sipHash(k, sipSeqBytes(15)), uint64(0xa129ca6149be45e5); got != want {
		t.Errorf("sipHash(00..0e) = %#x, want %#x", got, want)
	}
	// Entries of the reference implementation's vectors.h (key 00..0f,
	// message 00..n-1; the bytes listed there are the little-endian digest),
	// chosen around the 8-byte block boundaries.
	for _, tc := range []struct {
		n    int
		want uint64
	}{
		{0, 0x726fdb47dd0e0e31},
		{7, 0xab0200f58b01d137},
		{8, 0x93f5f5799a932462},
		{15, 0xa129ca6149be45e5},
		{16, 0x3f2acc7f57c29bdb},
		{23, 0xa80c038ccd5ccec8},
		{24, 0xb8ad50c6f649af94},
		{63, 0x958a324ceb064572},
	} {
		if got := sipHash(k, sipSeqBytes(tc.n)); got != tc.want {
			t.Errorf("sipHash(%d bytes) = %#x, want %#x", tc.n, got, tc.want)
		}
	}
}

func TestSipSumMatchesReference(t *testing.T) {
	keys := []sipKey{sipPaperKey(), {}, {k0: 0xdeadbeefcafef00d, k1: 0x0123456789abcdef}}
	words := []uint64{0, 1, 0x0706050403020100, 0x0f0e0d0c0b0a0908, 0x1716151413121110, ^uint64(0), 0x8000000000000000}
	var buf [24]byte
	for _, k := range keys {
		for _, a := range words {
			for _, b := range words {
				binary.LittleEndian.PutUint64(buf[0:], a)
				binary.LittleEndian.PutUint64(buf[8:], b)
				if got, want := k.sum(a, b), sipHash(k, buf[:16]); got != want {
					t.Errorf("key %x: sum(%#x, %#x) = %#x, want %#x", k, a, b, got, want)
				}
				for _, c := range words {
					binary.LittleEndian.PutUint64(buf[16:], c)
					if got, want := k.sum3(a, b, c), sipHash(k, buf[:]); got != want {
						t.Errorf("key %x: sum3(%#x, %#x, %#x) = %#x, want %#x", k, a, b, c, got, want)
					}
				}
			}
		}
	}
	// On the paper's key and message 00..0f / 00..17 the specialised forms
	// must give the published vectors.
	k := sipPaperKey()
	if got := k.sum(0x0706050403020100, 0x0f0e0d0c0b0a0908); got != 0x3f2acc7f57c29bdb {
		t.Errorf("sum(00..0f) = %#x", got)
	}
	if got := k.sum3(0x0706050403020100, 0x0f0e0d0c0b0a0908, 0x1716151413121110); got != 0xb8ad50c6f649af94 {
		t.Errorf("sum3(00..17) = %#x", got)
	}
}

func TestSipSumNoAlloc(t *testing.T) {
	k := sipPaperKey()
	var sink uint64
	if n := testing.AllocsPerRun(100, func() { sink += k.sum(sink, 1) + k.sum3(sink, 2, 3) }); n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}

func BenchmarkSipSum(b *testing.B) {
	k := sipPaperKey()
	var x uint64
	for i := 0; i < b.N; i++ {
		x = k.sum(x, uint64(i))
	}
	sipSinkU64 = x
}

func BenchmarkSipSum3(b *testing.B) {
	k := sipPaperKey()
	var x uint64
	for i := 0; i < b.N; i++ {
		x = k.sum3(x, uint64(i), 7)
	}
	sipSinkU64 = x
}

var sipSinkU64 uint64
