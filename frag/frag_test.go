package frag

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pmdstack/pmd/ipv4"
)

var (
	srcIP = ipv4.Addr(0xc6120002) // 198.18.0.2
	dstIP = ipv4.Addr(0xc6120001) // 198.18.0.1
	mac   = ipv4.MAC{2, 0, 0, 0, 0, 2}
)

const headroom = 34

func testConfig() Config {
	return Config{Timeout: 30 * time.Second, Datagrams: 8, Fragments: 64, Memory: 4 << 20, Headroom: headroom, Seed: 1}
}

// fragment builds one fragment of datagram id: data at offset off, More
// Fragments as more says.
func fragment(id uint16, proto uint8, off int, more bool, data []byte) ipv4.IPv4 {
	b := make([]byte, ipv4.IPv4MinHeaderLen+len(data))
	ipv4.IPv4Repr{Src: srcIP, Dst: dstIP, Protocol: proto, TTL: 64, ID: id, PayloadLen: len(data)}.Encode(b, ipv4.ChecksumCaps{})
	ip := ipv4.IPv4(b)
	if more {
		ip.SetFlags(ipv4.IPv4MoreFragments)
	}
	ip.SetFragmentOffset(uint16(off))
	ip.ComputeChecksum()
	copy(b[ipv4.IPv4MinHeaderLen:], data)
	return ip
}

// split cuts payload into fragments of size bytes (a multiple of 8).
func split(id uint16, payload []byte, size int) []ipv4.IPv4 {
	var out []ipv4.IPv4
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		out = append(out, fragment(id, ipv4.ProtoUDP, off, end < len(payload), payload[off:end]))
	}
	return out
}

// pattern is payload bytes that differ by position and datagram.
func pattern(id uint16, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + int(id) + i>>8)
	}
	return b
}

// feed adds the fragments in order and returns the datagram completed by
// the last, if any (released before returning, its payload copied).
func feed(t *testing.T, r *Reassembler, now int64, frags ...ipv4.IPv4) []byte {
	t.Helper()
	var got []byte
	for k, f := range frags {
		d, ok := r.Add(f, 0, mac, now)
		if ok {
			if k != len(frags)-1 {
				t.Fatalf("completed at fragment %d of %d", k, len(frags))
			}
			if len(d.Buf) != headroom+d.Len {
				t.Fatalf("buffer %d bytes, want headroom + %d", len(d.Buf), d.Len)
			}
			got = bytes.Clone(d.Payload())
			r.Release(d)
		}
	}
	return got
}

func TestOrders(t *testing.T) {
	payload := pattern(7, 5000)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name  string
		order func([]ipv4.IPv4) []ipv4.IPv4
	}{
		{"in order", func(f []ipv4.IPv4) []ipv4.IPv4 { return f }},
		{"reverse", func(f []ipv4.IPv4) []ipv4.IPv4 {
			out := make([]ipv4.IPv4, len(f))
			for i := range f {
				out[len(f)-1-i] = f[i]
			}
			return out
		}},
		{"random", func(f []ipv4.IPv4) []ipv4.IPv4 {
			out := append([]ipv4.IPv4(nil), f...)
			rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
			return out
		}},
		{"duplicates", func(f []ipv4.IPv4) []ipv4.IPv4 {
			// Every fragment but the one that completes comes twice.
			var out []ipv4.IPv4
			for _, x := range f[:len(f)-1] {
				out = append(out, x, x)
			}
			return append(out, f[len(f)-1])
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(testConfig())
			frags := tc.order(split(7, payload, 1480))
			if got := feed(t, r, 1, frags...); !bytes.Equal(got, payload) {
				t.Fatalf("reassembled %d bytes, not the %d sent", len(got), len(payload))
			}
			if r.S.Reassembled != 1 || r.InProgress() != 0 {
				t.Errorf("reassembled %d, in progress %d", r.S.Reassembled, r.InProgress())
			}
			if tc.name == "duplicates" && r.S.Duplicates != uint64(len(frags)-4) {
				t.Errorf("duplicates %d, want %d", r.S.Duplicates, len(frags)-4)
			}
		})
	}
}

func TestHeaderFromFirst(t *testing.T) {
	r := New(testConfig())
	f := split(1, pattern(1, 100), 48)
	f[0].SetTOS(0x10)
	f[0].SetTTL(9)
	d, ok := r.Add(f[2], 3, mac, 1)
	d, ok = r.Add(f[1], 3, mac, 1)
	d, ok = r.Add(f[0], 3, ipv4.MAC{2, 0, 0, 0, 0, 9}, 1)
	if !ok {
		t.Fatal("not complete")
	}
	if d.TOS != 0x10 || d.TTL != 9 || d.Port != 3 || d.MAC != (ipv4.MAC{2, 0, 0, 0, 0, 9}) || d.Key != (Key{srcIP, dstIP, 1, ipv4.ProtoUDP}) {
		t.Errorf("datagram %+v", *d)
	}
	r.Release(d)
}

func TestOverlap(t *testing.T) {
	payload := pattern(3, 3000)
	for _, tc := range []struct {
		name  string
		frags []ipv4.IPv4
		want  *uint64
	}{
		{"inside", []ipv4.IPv4{fragment(3, 17, 0, true, payload[:1000]), fragment(3, 17, 504, true, payload[504:800])}, nil},
		{"straddling", []ipv4.IPv4{fragment(3, 17, 1000, true, payload[1000:2000]), fragment(3, 17, 800, true, payload[800:1200])}, nil},
		{"covering", []ipv4.IPv4{fragment(3, 17, 1000, true, payload[1000:1200]), fragment(3, 17, 800, true, payload[800:2000])}, nil},
		{"same start, longer", []ipv4.IPv4{fragment(3, 17, 1000, true, payload[1000:1200]), fragment(3, 17, 1000, true, payload[1000:1400])}, nil},
		// Teardrop: a last fragment inside the first.
		{"teardrop", []ipv4.IPv4{fragment(3, 17, 0, true, payload[:48]), fragment(3, 17, 24, false, payload[24:28])}, nil},
		{"second end", []ipv4.IPv4{fragment(3, 17, 1000, false, payload[1000:1200]), fragment(3, 17, 2000, false, payload[2000:2100])}, nil},
		{"past the end", []ipv4.IPv4{fragment(3, 17, 1000, false, payload[1000:1200]), fragment(3, 17, 1200, true, payload[1200:1208])}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(testConfig())
			feed(t, r, 1, tc.frags...)
			if r.S.Overlaps != 1 || r.InProgress() != 0 {
				t.Fatalf("overlaps %d, in progress %d: want the datagram dropped", r.S.Overlaps, r.InProgress())
			}
			// The rest of the datagram starts a new one, which never
			// completes with the bytes already thrown away.
			if got := feed(t, r, 2, split(3, payload, 1000)[2]); got != nil {
				t.Fatal("completed from a part")
			}
		})
	}
}

func TestBad(t *testing.T) {
	r := New(testConfig())
	feed(t, r, 1, fragment(1, 17, 0, true, make([]byte, 100)), fragment(1, 17, 8, true, nil))
	if r.S.Bad != 2 || r.InProgress() != 0 {
		t.Errorf("bad %d in progress %d", r.S.Bad, r.InProgress())
	}
}

func TestTimeout(t *testing.T) {
	c := testConfig()
	r := New(c)
	f := split(5, pattern(5, 3000), 1000)
	feed(t, r, 100, f[0], f[2]) // fragment 1 never comes
	feed(t, r, 200, f[2])       // no fragment 0: no quote
	feed(t, r, 300, split(6, pattern(6, 3000), 1000)[1])
	if _, ok := r.Expire(100 + int64(c.Timeout) - 1); ok {
		t.Fatal("expired early")
	}
	e, ok := r.Expire(100 + int64(c.Timeout))
	if !ok || e.ID != 5 || len(e.Quote) != 28 || !bytes.Equal(e.Quote, f[0][:28]) {
		t.Fatalf("expired %v %+v", ok, e)
	}
	if _, ok := r.Expire(100 + int64(c.Timeout)); ok {
		t.Fatal("the second expired with the first")
	}
	e, ok = r.Expire(300 + int64(c.Timeout))
	if !ok || e.ID != 6 || len(e.Quote) != 0 {
		t.Fatalf("expired %v %+v", ok, e)
	}
	if r.S.Timeouts != 2 || r.InProgress() != 0 {
		t.Errorf("timeouts %d in progress %d", r.S.Timeouts, r.InProgress())
	}
	// Fragment 5/1 arriving late starts a new datagram rather than
	// completing the old one.
	if got := feed(t, r, 400, f[1]); got != nil {
		t.Error("completed after the timeout")
	}
}

func TestBoundDatagrams(t *testing.T) {
	r := New(testConfig()) // 8 datagrams
	for id := range uint16(8) {
		feed(t, r, int64(id), split(id, pattern(id, 2000), 1000)[0])
	}
	if r.InProgress() != 8 || r.S.Full != 0 {
		t.Fatalf("in progress %d full %d", r.InProgress(), r.S.Full)
	}
	feed(t, r, 10, split(8, pattern(8, 2000), 1000)[0])
	if r.InProgress() != 8 || r.S.Full != 1 {
		t.Fatalf("in progress %d full %d", r.InProgress(), r.S.Full)
	}
	// The oldest, 0, was evicted; 1 still completes.
	if got := feed(t, r, 11, split(1, pattern(1, 2000), 1000)[1]); !bytes.Equal(got, pattern(1, 2000)) {
		t.Error("datagram 1 lost")
	}
	if got := feed(t, r, 11, split(0, pattern(0, 2000), 1000)[1]); got != nil {
		t.Error("evicted datagram completed")
	}
}

func TestBoundFragments(t *testing.T) {
	c := testConfig()
	c.Fragments = 4
	r := New(c)
	f := split(1, pattern(1, 800), 160) // 5 fragments
	if got := feed(t, r, 1, f...); got != nil || r.S.TooMany != 1 || r.InProgress() != 0 {
		t.Fatalf("too many %d in progress %d", r.S.TooMany, r.InProgress())
	}
	if got := feed(t, r, 1, split(2, pattern(2, 800), 200)...); !bytes.Equal(got, pattern(2, 800)) {
		t.Error("4 fragments refused")
	}
}

func TestBoundMemory(t *testing.T) {
	c := testConfig()
	c.Memory = MinMemory(headroom) + 4096
	r := New(c)
	big := split(1, pattern(1, MaxPayload), 1480)
	// The last fragment first: the datagram needs the largest buffer at once.
	feed(t, r, 1, big[len(big)-1])
	if r.MemoryUsed() > c.Memory {
		t.Fatalf("memory %d over %d", r.MemoryUsed(), c.Memory)
	}
	// A second datagram of the largest size evicts it.
	other := split(2, pattern(2, MaxPayload), 1480)
	feed(t, r, 2, other[len(other)-1])
	if r.S.Memory != 1 || r.InProgress() != 1 {
		t.Fatalf("memory drops %d in progress %d", r.S.Memory, r.InProgress())
	}
	if got := feed(t, r, 3, other[:len(other)-1]...); !bytes.Equal(got, pattern(2, MaxPayload)) {
		t.Fatal("largest datagram not reassembled")
	}
	// Small datagrams reuse what was kept, within the limit.
	for id := uint16(10); id < 100; id++ {
		p := pattern(id, 3000)
		if got := feed(t, r, 4, split(id, p, 1480)...); !bytes.Equal(got, p) {
			t.Fatalf("datagram %d", id)
		}
		if r.MemoryUsed() > c.Memory {
			t.Fatalf("memory %d over %d", r.MemoryUsed(), c.Memory)
		}
	}
}

func TestLargest(t *testing.T) {
	r := New(testConfig())
	p := pattern(1, MaxPayload)
	if got := feed(t, r, 1, split(1, p, 1480)...); !bytes.Equal(got, p) {
		t.Fatal("65,515 bytes of payload not reassembled")
	}
	// A fragment that ends past it drops its datagram.
	f := fragment(2, 17, 65512, false, make([]byte, 8))
	feed(t, r, 1, fragment(2, 17, 0, true, make([]byte, 8)), f)
	if r.S.TooBig != 1 || r.InProgress() != 0 {
		t.Errorf("too big %d in progress %d", r.S.TooBig, r.InProgress())
	}
}

func TestLend(t *testing.T) {
	c := testConfig()
	c.Datagrams = 1
	r := New(c)
	f := split(1, pattern(1, 3000), 1480)
	feed(t, r, 1, f[0], f[1])
	d, ok := r.Add(f[2], 0, mac, 1)
	if !ok {
		t.Fatal("not complete")
	}
	buf := d.Buf
	flag := r.Lend(d)
	// The only slot is lent: a new datagram cannot have it, nor its buffer.
	feed(t, r, 2, split(2, pattern(2, 100), 48)[0])
	if r.InProgress() != 0 || r.S.Full != 1 {
		t.Fatalf("in progress %d full %d while lent", r.InProgress(), r.S.Full)
	}
	if !bytes.Equal(buf[headroom:headroom+3000], pattern(1, 3000)) {
		t.Fatal("lent buffer overwritten")
	}
	flag.Store(false)
	if got := feed(t, r, 3, split(3, pattern(3, 100), 48)...); !bytes.Equal(got, pattern(3, 100)) {
		t.Fatal("slot not back after the loan")
	}
}

func TestNoAllocs(t *testing.T) {
	r := New(testConfig())
	frags := split(1, pattern(1, 9000), 1480)
	run := func() {
		for _, f := range frags {
			if d, ok := r.Add(f, 0, mac, 1); ok {
				r.Release(d)
			}
		}
	}
	run() // the pool makes its buffers
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocations per datagram", n)
	}
}

// FuzzStream feeds a stream of fragments of a few datagrams, each with
// the pattern's bytes for its place, with any offsets and lengths, in
// any order, at any times. Whatever completes must be the pattern, and
// every bound must hold.
func FuzzStream(f *testing.F) {
	f.Add([]byte{0, 0, 0, 10, 1, 0, 0, 10, 10, 0})
	f.Add([]byte{0, 1, 0, 200, 0, 1, 25, 200, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := Config{Timeout: 100, Datagrams: 3, Fragments: 5, Memory: MinMemory(headroom) + 8192, Headroom: headroom, Seed: 7}
		r := New(c)
		now := int64(0)
		var pats [4][]byte
		for id := range pats {
			// Room for the largest offset the input can give and the
			// longest fragment beyond it.
			pats[id] = pattern(uint16(id), MaxPayload+64+255*8)
		}
		for len(in) >= 5 {
			// id, flags and time step, offset in 8-byte units, length
			id := uint16(in[0] & 3)
			more := in[1]&1 != 0
			now += int64(in[1] >> 1)
			off := int(binary.BigEndian.Uint16(in[2:])) * 8 % (MaxPayload + 64)
			n := int(in[4]) * 8
			if in[1]&2 != 0 {
				n = int(in[4]) // an odd length
			}
			in = in[5:]
			for {
				if _, ok := r.Expire(now); !ok {
					break
				}
			}
			p := pats[id]
			d, ok := r.Add(fragment(id, 17, off&^7, more, p[off&^7:off&^7+n]), 0, mac, now)
			if ok {
				if !bytes.Equal(d.Payload(), p[:d.Len]) {
					t.Fatalf("datagram %d: wrong bytes", id)
				}
				r.Release(d)
			}
			if r.MemoryUsed() > c.Memory || r.InProgress() > c.Datagrams {
				t.Fatalf("memory %d, in progress %d", r.MemoryUsed(), r.InProgress())
			}
		}
	})
}
