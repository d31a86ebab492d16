package tcp

import (
	"testing"
)

const cookieTestPeriod = int64(64e9)

func testMakeCookie(c *Cookies, u isnTuple, peerISN Seq, mss uint16, now int64) Seq {
	return c.Make(u.local, u.remote, u.lport, u.rport, peerISN, mss, now)
}

func testCheckCookie(c *Cookies, u isnTuple, peerISN, cookie Seq, now int64) (uint16, bool) {
	return c.Check(u.local, u.remote, u.lport, u.rport, peerISN, cookie, now)
}

func TestCookieMSSTable(t *testing.T) {
	for i := 1; i < len(cookieMSS); i++ {
		if cookieMSS[i-1] >= cookieMSS[i] {
			t.Fatalf("cookieMSS not ascending at %d", i)
		}
	}
	for _, tc := range []struct{ in, want uint16 }{
		{0, 536}, {1, 536}, {535, 536}, {536, 536}, {999, 536},
		{1000, 1000}, {1219, 1000}, {1220, 1220}, {1379, 1220}, {1380, 1380},
		{1439, 1380}, {1440, 1440}, {1447, 1440}, {1448, 1448}, {1459, 1448},
		{1460, 1460}, {8959, 1460}, {8960, 8960}, {9000, 8960}, {65535, 8960},
	} {
		if got := cookieMSS[cookieMSSIndex(tc.in)]; got != tc.want {
			t.Errorf("MSS %d encodes as %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestCookieRoundTrip(t *testing.T) {
	c := NewCookies(isnTestSeed(10))
	peer := Seq(0x89abcdef)
	for _, now := range []int64{0, 1, cookieTestPeriod - 1, 5 * cookieTestPeriod, 31*cookieTestPeriod + 17, 32 * cookieTestPeriod, 1 << 62} {
		for i, m := range cookieMSS {
			for _, in := range []uint16{m, m + 1} {
				if i < len(cookieMSS)-1 && in >= cookieMSS[i+1] {
					continue
				}
				k := testMakeCookie(c, isnBaseTuple, peer, in, now)
				if got := uint64(k >> 27); got != uint64(now/cookieTestPeriod)%32 {
					t.Errorf("now %d: time field %d", now, got)
				}
				if got := int(k>>24) & 7; got != i {
					t.Errorf("now %d, MSS %d: MSS field %d, want %d", now, in, got, i)
				}
				mss, ok := testCheckCookie(c, isnBaseTuple, peer, k, now)
				if !ok || mss != m {
					t.Errorf("now %d, MSS %d: Check = %d, %v; want %d, true", now, in, mss, ok, m)
				}
			}
		}
	}
	// A peer MSS below the table, or none at all, gets 536.
	k := testMakeCookie(c, isnBaseTuple, peer, 100, 0)
	if mss, ok := testCheckCookie(c, isnBaseTuple, peer, k, 0); !ok || mss != 536 {
		t.Errorf("MSS 100: Check = %d, %v; want 536, true", mss, ok)
	}
}

func TestCookieRejects(t *testing.T) {
	c := NewCookies(isnTestSeed(11))
	const now = 1000*cookieTestPeriod + 12345
	peer := Seq(0x01020304)
	k := testMakeCookie(c, isnBaseTuple, peer, 1460, now)
	if _, ok := testCheckCookie(c, isnBaseTuple, peer, k, now); !ok {
		t.Fatal("fresh cookie rejected")
	}
	reject := func(what string, u isnTuple, peer, k Seq, now int64) {
		t.Helper()
		if mss, ok := testCheckCookie(c, u, peer, k, now); ok {
			t.Errorf("%s: accepted with MSS %d", what, mss)
		}
	}

	others := []isnTuple{
		{isnBaseTuple.local + 1, isnBaseTuple.remote, isnBaseTuple.lport, isnBaseTuple.rport},
		{isnBaseTuple.local, isnBaseTuple.remote ^ 0x80000000, isnBaseTuple.lport, isnBaseTuple.rport},
		{isnBaseTuple.local, isnBaseTuple.remote, isnBaseTuple.lport + 1, isnBaseTuple.rport},
		{isnBaseTuple.local, isnBaseTuple.remote, isnBaseTuple.lport, isnBaseTuple.rport - 1},
		{isnBaseTuple.remote, isnBaseTuple.local, isnBaseTuple.rport, isnBaseTuple.lport},
	}
	for _, u := range others {
		reject("other isnTuple", u, peer, k, now)
	}
	for _, p := range []Seq{peer + 1, peer - 1, peer ^ 0x80000000, 0} {
		reject("other peer ISN", isnBaseTuple, p, k, now)
	}
	for b := range 32 {
		reject("flipped bit", isnBaseTuple, peer, k^1<<b, now)
	}
	reject("other key", isnBaseTuple, peer, testMakeCookie(NewCookies(isnTestSeed(12)), isnBaseTuple, peer, 1460, now), now)
	reject("two periods old", isnBaseTuple, peer, k, now+2*cookieTestPeriod)
	reject("31 periods old", isnBaseTuple, peer, k, now+31*cookieTestPeriod)
	reject("made in the next cookieTestPeriod", isnBaseTuple, peer, testMakeCookie(c, isnBaseTuple, peer, 1460, now+cookieTestPeriod), now)
	// After 32 periods the 5-bit time field repeats; the tag covers the
	// whole counter, so the old cookie still fails.
	reject("32 periods old", isnBaseTuple, peer, k, now+32*cookieTestPeriod)
	reject("33 periods old", isnBaseTuple, peer, k, now+33*cookieTestPeriod)
	// At counter 0 there is no previous cookieTestPeriod.
	old := Seq(31<<27) | k&(1<<27-1)
	reject("time field 31 at counter 0", isnBaseTuple, peer, old, 0)

	// Blind guessing: random cookies for the right tuple almost never pass.
	var rng uint64 = 0x9e3779b97f4a7c15
	accepted := 0
	for range 1 << 16 {
		rng = rng*6364136223846793005 + 1442695040888963407
		if _, ok := testCheckCookie(c, isnBaseTuple, peer, Seq(rng>>32), now); ok {
			accepted++
		}
	}
	if accepted > 1 {
		t.Errorf("%d of 65536 random cookies accepted", accepted)
	}
}

func TestCookieLifetime(t *testing.T) {
	c := NewCookies(isnTestSeed(13))
	peer := Seq(42)
	for _, start := range []int64{0, 7 * cookieTestPeriod, 31 * cookieTestPeriod, 63 * cookieTestPeriod} {
		for _, made := range []int64{start, start + cookieTestPeriod/2, start + cookieTestPeriod - 1} {
			k := testMakeCookie(c, isnBaseTuple, peer, 1380, made)
			for _, tc := range []struct {
				at int64
				ok bool
			}{
				{made, true},
				{start + cookieTestPeriod - 1, true},
				{start + cookieTestPeriod, true}, // across the boundary
				{start + 2*cookieTestPeriod - 1, true},
				{start + 2*cookieTestPeriod, false},
				{start + 3*cookieTestPeriod, false},
			} {
				mss, ok := testCheckCookie(c, isnBaseTuple, peer, k, tc.at)
				if ok != tc.ok || ok && mss != 1380 {
					t.Errorf("made at %d, checked at %d: %d, %v; want ok=%v", made, tc.at, mss, ok, tc.ok)
				}
			}
		}
	}
}

func TestCookieNoAlloc(t *testing.T) {
	c := NewCookies(isnTestSeed(14))
	var k Seq
	var ok bool
	if n := testing.AllocsPerRun(100, func() {
		k = testMakeCookie(c, isnBaseTuple, k, 1460, 1e12)
		_, ok = testCheckCookie(c, isnBaseTuple, k, k, 1e12)
	}); n != 0 {
		t.Errorf("Make+Check: %v allocations per call", n)
	}
	_ = ok
}

func BenchmarkCookieMake(b *testing.B) {
	c := NewCookies(isnTestSeed(15))
	var k Seq
	for i := 0; i < b.N; i++ {
		k = c.Make(isnBaseTuple.local, isnBaseTuple.remote, isnBaseTuple.lport, uint16(i), k, 1460, int64(i)<<20)
	}
	isnSinkSeq = k
}

func BenchmarkCookieCheck(b *testing.B) {
	c := NewCookies(isnTestSeed(16))
	const now = 1e12
	k := c.Make(isnBaseTuple.local, isnBaseTuple.remote, isnBaseTuple.lport, isnBaseTuple.rport, 7, 1460, now)
	var n int
	for i := 0; i < b.N; i++ {
		if _, ok := c.Check(isnBaseTuple.local, isnBaseTuple.remote, isnBaseTuple.lport, isnBaseTuple.rport, 7, k, now); ok {
			n++
		}
	}
	if n != b.N {
		b.Fatal("cookie rejected")
	}
}
