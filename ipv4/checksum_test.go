package ipv4

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// refSum is RFC 1071 written out plainly: 16-bit words, one at a time.
func refSum(b []byte, initial uint32) uint16 {
	s := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func TestSumAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 9000+3)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	lengths := []int{1500, 1501, 4096, 9000}
	for n := 0; n <= 200; n++ {
		lengths = append(lengths, n)
	}
	initials := []uint32{0, 1, 0xffff, 0x10000, 0xffffffff}
	for _, n := range lengths {
		for off := range 3 { // unaligned starts too
			b := buf[off : off+n]
			for _, init := range append(initials, r.Uint32()) {
				got := Sum(b, init)
				if want := refSum(b, init); got > 0xffff || Fold(got) != want {
					t.Fatalf("len %d off %d initial %#x: Sum = %#x, want %#x", n, off, init, got, want)
				}
				if c := Checksum(b, init); c != ^refSum(b, init) {
					t.Fatalf("len %d: Checksum = %#x", n, c)
				}
			}
		}
	}
}

func TestSumExtremes(t *testing.T) {
	// All ones: every 64-bit add carries.
	for _, n := range []int{8, 64, 1500, 65535} {
		b := make([]byte, n)
		for i := range b {
			b[i] = 0xff
		}
		if got, want := Fold(Sum(b, 0xffffffff)), refSum(b, 0xffffffff); got != want {
			t.Errorf("%d bytes of 0xff: %#x, want %#x", n, got, want)
		}
	}
	if got := Checksum(nil, 0); got != 0xffff {
		t.Errorf("Checksum(nil) = %#x, want 0xffff", got)
	}
}

func TestSumChained(t *testing.T) {
	b := make([]byte, 301)
	for i := range b {
		b[i] = byte(i * 7)
	}
	whole := Sum(b, 0)
	for cut := 0; cut <= len(b); cut += 2 {
		if got := Sum(b[cut:], Sum(b[:cut], 0)); got != whole {
			t.Errorf("cut at %d: %#x, want %#x", cut, got, whole)
		}
	}
}

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to 0xddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Fold(Sum(b, 0)); got != 0xddf2 {
		t.Errorf("sum = %#x, want 0xddf2", got)
	}
	if got := Checksum(b, 0); got != 0x220d {
		t.Errorf("checksum = %#x, want 0x220d", got)
	}
}

func TestPseudoHeaderSum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		src, dst := Addr(r.Uint32()), Addr(r.Uint32())
		proto, length := uint8(r.Uint32()), uint16(r.Uint32())
		var ph [12]byte
		PutAddr(ph[0:], src)
		PutAddr(ph[4:], dst)
		ph[9] = proto
		binary.BigEndian.PutUint16(ph[10:], length)
		got := PseudoHeaderSum(src, dst, proto, length)
		if want := refSum(ph[:], 0); got > 0xffff || uint16(got) != want {
			t.Fatalf("PseudoHeaderSum(%v, %v, %d, %d) = %#x, want %#x", src, dst, proto, length, got, want)
		}
	}
	// The golden UDP datagram: its pseudo-header sums to 0x8c47.
	if got := PseudoHeaderSum(peerIP, pmdIP, ProtoUDP, 14); got != 0x8c47 {
		t.Errorf("golden pseudo-header sum = %#x, want 0x8c47", got)
	}
}

func TestUpdateChecksumRFC1624(t *testing.T) {
	tests := []struct {
		old, m, m2, want uint16
	}{
		// RFC 1624 section 4: equation 3 gives 0x0000 where equation 2
		// gave the wrong 0xffff.
		{0xdd2f, 0x5555, 0x3285, 0x0000},
		// No change leaves the checksum alone.
		{0x1234, 0xabcd, 0xabcd, 0x1234},
		// Echo request to reply, as in the golden ping.
		{0x706a, 0x0800, 0x0000, 0x786a},
	}
	for _, tt := range tests {
		if got := UpdateChecksum(tt.old, tt.m, tt.m2); got != tt.want {
			t.Errorf("UpdateChecksum(%#x, %#x, %#x) = %#x, want %#x", tt.old, tt.m, tt.m2, got, tt.want)
		}
	}
}

// TestUpdateChecksumRandom changes one word (or two, for the 32-bit
// variant) of random headers and compares with recomputing.
func TestUpdateChecksumRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 10000 {
		b := make([]byte, 2*(4+r.IntN(30)))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		b[0] |= 1 // never all zero: there 0 and 0xffff are the same sum
		binary.BigEndian.PutUint16(b[2:], 0)
		binary.BigEndian.PutUint16(b[2:], Checksum(b, 0))
		old := binary.BigEndian.Uint16(b[2:])

		words := (len(b) - 4) / 2 // after the first word and the checksum
		if r.IntN(2) == 0 {
			at := 4 + 2*r.IntN(words)
			from, to := binary.BigEndian.Uint16(b[at:]), uint16(r.Uint32())
			binary.BigEndian.PutUint16(b[at:], to)
			binary.BigEndian.PutUint16(b[2:], 0)
			want := Checksum(b, 0)
			if got := UpdateChecksum(old, from, to); got != want {
				t.Fatalf("UpdateChecksum(%#x, %#x, %#x) = %#x, want %#x", old, from, to, got, want)
			}
		} else {
			at := 4 + 2*r.IntN(words-1)
			from, to := binary.BigEndian.Uint32(b[at:]), r.Uint32()
			binary.BigEndian.PutUint32(b[at:], to)
			binary.BigEndian.PutUint16(b[2:], 0)
			want := Checksum(b, 0)
			if got := UpdateChecksum32(old, from, to); got != want {
				t.Fatalf("UpdateChecksum32(%#x, %#x, %#x) = %#x, want %#x", old, from, to, got, want)
			}
		}
	}
}

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{20, 64, 1500} { // IPv4 header, small frame, full frame
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			var sink uint16
			for b.Loop() {
				sink += Checksum(buf, 0)
			}
			_ = sink
		})
	}
}
