package rss

import (
	"bufio"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pmdstack/pmd/ipv4"
)

// toeplitzBitwise is the Toeplitz hash as the specification states it, one
// input bit at a time: for every set bit, XOR in the 32 key bits that start
// at that bit's position. It is the reference the tables are checked with.
func toeplitzBitwise(k Key, b []byte) uint32 {
	keyBit := func(n int) uint32 { return uint32(k[n/8]>>(7-n%8)) & 1 }
	win := binary.BigEndian.Uint32(k[:4])
	var r uint32
	for i, x := range b {
		for j := range 8 {
			if x&(0x80>>j) != 0 {
				r ^= win
			}
			if n := 32 + 8*i + j; n < 8*KeyLen {
				win = win<<1 | keyBit(n)
			}
		}
	}
	return r
}

// tupleBytes lays out a tuple as NICs hash it.
func tupleBytes(src, dst ipv4.Addr, sport, dport uint16) [12]byte {
	var b [12]byte
	ipv4.PutAddr(b[0:], src)
	ipv4.PutAddr(b[4:], dst)
	binary.BigEndian.PutUint16(b[8:], sport)
	binary.BigEndian.PutUint16(b[10:], dport)
	return b
}

type vector struct {
	line         int
	src, dst     ipv4.Addr
	sport, dport uint16
	ipv4, tuple  uint32
}

// readVectors parses testdata/rss-vectors.tsv.
func readVectors(t *testing.T) []vector {
	t.Helper()
	f, err := os.Open("testdata/rss-vectors.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Split(line, "\t")
		if len(fs) != 6 {
			t.Fatalf("rss-vectors.tsv:%d: %d fields, want 6", n, len(fs))
		}
		v := vector{line: n}
		var errs [6]error
		v.src, errs[0] = ipv4.ParseAddr(fs[0])
		sport, e1 := strconv.ParseUint(fs[1], 10, 16)
		v.dst, errs[2] = ipv4.ParseAddr(fs[2])
		dport, e3 := strconv.ParseUint(fs[3], 10, 16)
		h4, e4 := strconv.ParseUint(fs[4], 0, 32)
		ht, e5 := strconv.ParseUint(fs[5], 0, 32)
		errs[1], errs[3], errs[4], errs[5] = e1, e3, e4, e5
		for _, err := range errs {
			if err != nil {
				t.Fatalf("rss-vectors.tsv:%d: %v", n, err)
			}
		}
		v.sport, v.dport, v.ipv4, v.tuple = uint16(sport), uint16(dport), uint32(h4), uint32(ht)
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("rss-vectors.tsv: no vectors")
	}
	return vs
}

func TestMicrosoftVectors(t *testing.T) {
	h := NewHasher(MicrosoftKey)
	for _, v := range readVectors(t) {
		b := tupleBytes(v.src, v.dst, v.sport, v.dport)
		got := []struct {
			name      string
			got, want uint32
		}{
			{"HashIPv4", h.HashIPv4(v.src, v.dst), v.ipv4},
			{"Hash(addrs)", h.Hash(b[:8]), v.ipv4},
			{"bitwise(addrs)", toeplitzBitwise(MicrosoftKey, b[:8]), v.ipv4},
			{"HashTuple", h.HashTuple(v.src, v.dst, v.sport, v.dport), v.tuple},
			{"Hash(tuple)", h.Hash(b[:]), v.tuple},
			{"bitwise(tuple)", toeplitzBitwise(MicrosoftKey, b[:]), v.tuple},
		}
		for _, g := range got {
			if g.got != g.want {
				t.Errorf("line %d %v:%d -> %v:%d: %s = %#08x, want %#08x",
					v.line, v.src, v.sport, v.dst, v.dport, g.name, g.got, g.want)
			}
		}
	}
}

// randomKey returns a key of random bytes.
func randomKey(r *rand.Rand) Key {
	var k Key
	for i := range k {
		k[i] = byte(r.Uint32())
	}
	return k
}

func TestHashMatchesBitwise(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := []struct {
		name string
		key  Key
	}{
		{"microsoft", MicrosoftKey},
		{"symmetric", SymmetricKey},
		{"random", randomKey(r)},
		{"ones", func() (k Key) {
			for i := range k {
				k[i] = 0xff
			}
			return k
		}()},
		{"zero", Key{}},
	}
	for _, kc := range keys {
		t.Run(kc.name, func(t *testing.T) {
			h := NewHasher(kc.key)
			var buf [KeyLen - 4]byte
			for range 20_000 {
				b := buf[:r.IntN(len(buf)+1)]
				for i := range b {
					b[i] = byte(r.Uint32())
				}
				if got, want := h.Hash(b), toeplitzBitwise(kc.key, b); got != want {
					t.Fatalf("Hash(%x) = %#08x, bitwise %#08x", b, got, want)
				}
			}
		})
	}
}

func TestHashTupleMatchesBitwise(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 50_000
	}
	r := rand.New(rand.NewPCG(3, 4))
	keys := []Key{MicrosoftKey, SymmetricKey, randomKey(r)}
	hs := []*Hasher{NewHasher(keys[0]), NewHasher(keys[1]), NewHasher(keys[2])}
	for i := range n {
		k := i % len(keys)
		src, dst := ipv4.Addr(r.Uint32()), ipv4.Addr(r.Uint32())
		sport, dport := uint16(r.Uint32()), uint16(r.Uint32())
		b := tupleBytes(src, dst, sport, dport)
		if got, want := hs[k].HashTuple(src, dst, sport, dport), toeplitzBitwise(keys[k], b[:]); got != want {
			t.Fatalf("key %d: HashTuple(%v, %v, %d, %d) = %#08x, bitwise %#08x", k, src, dst, sport, dport, got, want)
		}
		if got, want := hs[k].HashIPv4(src, dst), toeplitzBitwise(keys[k], b[:8]); got != want {
			t.Fatalf("key %d: HashIPv4(%v, %v) = %#08x, bitwise %#08x", k, src, dst, got, want)
		}
	}
}

func TestSymmetry(t *testing.T) {
	const n = 1_000_000
	r := rand.New(rand.NewPCG(5, 6))
	sym, ms := NewHasher(SymmetricKey), NewHasher(MicrosoftKey)
	msSymmetric := 0
	for range n {
		a, b := ipv4.Addr(r.Uint32()), ipv4.Addr(r.Uint32())
		pa, pb := uint16(r.Uint32()), uint16(r.Uint32())
		if x, y := sym.HashTuple(a, b, pa, pb), sym.HashTuple(b, a, pb, pa); x != y {
			t.Fatalf("symmetric key: %v:%d -> %v:%d hashes %#08x, reverse %#08x", a, pa, b, pb, x, y)
		}
		if ms.HashTuple(a, b, pa, pb) == ms.HashTuple(b, a, pb, pa) {
			msSymmetric++
		}
	}
	// With the Microsoft key the two directions agree only by chance.
	if msSymmetric > n/100 {
		t.Errorf("Microsoft key: %d of %d tuples hash alike both ways, want few", msSymmetric, n)
	}
}

func TestHashTooLong(t *testing.T) {
	h := NewHasher(MicrosoftKey)
	defer func() {
		if recover() == nil {
			t.Error("Hash of KeyLen-3 bytes did not panic")
		}
	}()
	h.Hash(make([]byte, KeyLen-3))
}

func TestHasherKey(t *testing.T) {
	if got := NewHasher(SymmetricKey).Key(); got != SymmetricKey {
		t.Errorf("Key() = %x, want %x", got, SymmetricKey)
	}
}

var sink uint32

func BenchmarkHashTuple(b *testing.B) {
	h := NewHasher(SymmetricKey)
	src, dst := ipv4.Addr(0xc6120001), ipv4.Addr(0xc6120002)
	var p uint16
	for b.Loop() {
		p++
		sink ^= h.HashTuple(src, dst, p, 80)
	}
}

func BenchmarkHashTupleBitwise(b *testing.B) {
	src, dst := ipv4.Addr(0xc6120001), ipv4.Addr(0xc6120002)
	var p uint16
	for b.Loop() {
		p++
		buf := tupleBytes(src, dst, p, 80)
		sink ^= toeplitzBitwise(SymmetricKey, buf[:])
	}
}
