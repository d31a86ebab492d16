package tcp

import (
	"encoding/binary"
	"math/bits"
	"testing"

	"github.com/pmdstack/pmd/ipv4"
)

func isnTestSeed(b byte) (s [16]byte) {
	for i := range s {
		s[i] = b + byte(i)*0x11
	}
	return s
}

type isnTuple struct {
	local, remote ipv4.Addr
	lport, rport  uint16
}

var isnBaseTuple = isnTuple{0xc6120001, 0xc6130002, 80, 49152}

func TestISNFormula(t *testing.T) {
	seed := isnTestSeed(7)
	g := NewISNGen(seed)
	// F is SipHash-2-4 of local, remote, lport, rport packed as two
	// little-endian words; pin that encoding against the reference.
	var msg [16]byte
	binary.LittleEndian.PutUint64(msg[0:], uint64(isnBaseTuple.local)<<32|uint64(isnBaseTuple.remote))
	binary.LittleEndian.PutUint64(msg[8:], uint64(isnBaseTuple.lport)<<16|uint64(isnBaseTuple.rport))
	f := uint32(sipHash(newSipKey(seed), msg[:]))
	for _, now := range []int64{0, 3999, 4000, 1e9, 123456789012345, 1 << 62} {
		want := Seq(uint32(now/4000) + f)
		if got := g.ISN(isnBaseTuple.local, isnBaseTuple.remote, isnBaseTuple.lport, isnBaseTuple.rport, now); got != want {
			t.Errorf("ISN at %d = %#x, want %#x", now, got, want)
		}
	}
}

func TestISNClock(t *testing.T) {
	g := NewISNGen(isnTestSeed(1))
	isn := func(now int64) Seq {
		return g.ISN(isnBaseTuple.local, isnBaseTuple.remote, isnBaseTuple.lport, isnBaseTuple.rport, now)
	}
	for _, now := range []int64{0, 4000, 1e9, 86400e9, 1<<40 + 12345, 1 << 62} {
		now -= now % 4000
		if d := isn(now + 1e9).Sub(isn(now)); d != 250000 {
			t.Errorf("at %d: one second advances the ISN by %d, want 250000", now, d)
		}
		if d := isn(now + 60e9).Sub(isn(now)); d != 60*250000 {
			t.Errorf("at %d: one minute advances the ISN by %d, want %d", now, d, 60*250000)
		}
		if isn(now+3999) != isn(now) || isn(now+4000) != isn(now)+1 {
			t.Errorf("at %d: the clock does not tick every 4 µs", now)
		}
		if !isn(now + 1e9).GreaterThan(isn(now)) {
			t.Errorf("at %d: ISN one second later is not later in sequence space", now)
		}
	}
	// The clock wraps the sequence space in 2^32 * 4 µs (about 4.77 h).
	if a, b := isn(1e9), isn(1e9+(1<<32)*4000); a != b {
		t.Errorf("ISN does not wrap after 2^32 ticks: %#x != %#x", a, b)
	}
}

func TestISNTuplesUnrelated(t *testing.T) {
	const now = 5e9
	g := NewISNGen(isnTestSeed(2))
	isn := func(u isnTuple) Seq { return g.ISN(u.local, u.remote, u.lport, u.rport, now) }
	base := isn(isnBaseTuple)

	// Every single-bit change of the tuple moves the ISN by an unrelated
	// amount: on average half the 32 bits flip.
	var variants []isnTuple
	for i := range 32 {
		u := isnBaseTuple
		u.local ^= 1 << i
		variants = append(variants, u)
		u = isnBaseTuple
		u.remote ^= 1 << i
		variants = append(variants, u)
	}
	for i := range 16 {
		u := isnBaseTuple
		u.lport ^= 1 << i
		variants = append(variants, u)
		u = isnBaseTuple
		u.rport ^= 1 << i
		variants = append(variants, u)
	}
	// Swapped ends and swapped ports are different connections too.
	variants = append(variants,
		isnTuple{isnBaseTuple.remote, isnBaseTuple.local, isnBaseTuple.rport, isnBaseTuple.lport},
		isnTuple{isnBaseTuple.local, isnBaseTuple.remote, isnBaseTuple.rport, isnBaseTuple.lport},
		isnTuple{isnBaseTuple.remote, isnBaseTuple.local, isnBaseTuple.lport, isnBaseTuple.rport},
	)
	total := 0
	seen := map[Seq]isnTuple{base: isnBaseTuple}
	for _, u := range variants {
		v := isn(u)
		if prev, dup := seen[v]; dup {
			t.Errorf("tuples %+v and %+v share ISN %#x", prev, u, v)
		}
		seen[v] = u
		total += bits.OnesCount32(uint32(v ^ base))
	}
	if mean := float64(total) / float64(len(variants)); mean < 14 || mean > 18 {
		t.Errorf("single-bit isnTuple changes flip %.2f ISN bits on average, want about 16", mean)
	}

	// Over consecutive client ports each output bit is set about half the time.
	const n = 1 << 14
	var ones [32]int
	for p := range n {
		v := g.ISN(isnBaseTuple.local, isnBaseTuple.remote, isnBaseTuple.lport, uint16(p), now)
		for b := range 32 {
			ones[b] += int(v>>b) & 1
		}
	}
	for b, c := range ones {
		if c < n*45/100 || c > n*55/100 {
			t.Errorf("bit %d set in %d of %d ISNs", b, c, n)
		}
	}

	// Another secret gives another sequence space.
	if isn2 := NewISNGen(isnTestSeed(3)).ISN(isnBaseTuple.local, isnBaseTuple.remote, isnBaseTuple.lport, isnBaseTuple.rport, now); isn2 == base {
		t.Errorf("two secrets give the same ISN %#x", base)
	}
}

func TestISNNoAlloc(t *testing.T) {
	g := NewISNGen(isnTestSeed(4))
	var s Seq
	if n := testing.AllocsPerRun(100, func() {
		s += g.ISN(isnBaseTuple.local, isnBaseTuple.remote, isnBaseTuple.lport, isnBaseTuple.rport, int64(s))
	}); n != 0 {
		t.Errorf("ISN: %v allocations per call", n)
	}
}

func BenchmarkISN(b *testing.B) {
	g := NewISNGen(isnTestSeed(5))
	var s Seq
	for i := 0; i < b.N; i++ {
		s += g.ISN(isnBaseTuple.local, isnBaseTuple.remote, isnBaseTuple.lport, uint16(i), int64(i))
	}
	isnSinkSeq = s
}

var isnSinkSeq Seq
