package tcp

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/pmdstack/pmd/ipv4"
)

// Golden segments, composed by hand from RFC 9293, 2018 and 7323 (checksums
// worked out independently of this package), between a Linux peer at
// 198.18.0.2:40000 and pmd at 198.18.0.1:7. The names of this file's
// fixtures and helpers start with "wire" to keep them apart from the control
// block's tests in the same package.
var (
	wirePeer = ipv4.Addr(0xc6120002)
	wirePmd  = ipv4.Addr(0xc6120001)

	// The peer's SYN as Linux sends it: ISN 0x1a2b3c4d, window 64240,
	// MSS 1460, SACK-Permitted, TSval 0x9a3c1f05, NOP, window scale 7.
	wireSYN = wireHex(`
		9c 40 00 07 1a 2b 3c 4d 00 00 00 00 a0 02 fa f0 14 e6 00 00
		02 04 05 b4 04 02 08 0a 9a 3c 1f 05 00 00 00 00 01 03 03 07`)

	// pmd's SYN-ACK: ISN 0x6b8f2e11, window 65535, the same options with
	// TSval 0x1000 echoing the peer's.
	wireSYNACK = wireHex(`
		00 07 9c 40 6b 8f 2e 11 1a 2b 3c 4e a0 12 ff ff 66 25 00 00
		02 04 05 b4 04 02 08 0a 00 00 10 00 9a 3c 1f 05 01 03 03 07`)

	// The peer's first data: PSH|ACK, window 502, NOP NOP TS, "hello\n".
	wireData = wireHex(`
		9c 40 00 07 1a 2b 3c 4e 6b 8f 2e 12 80 18 01 f6 4f 07 00 00
		01 01 08 0a 9a 3c 1f 0f 00 00 10 00
		68 65 6c 6c 6f 0a`)

	// pmd's ACK of it with two SACK blocks: NOP NOP TS NOP NOP SACK.
	wireSACK = wireHex(`
		00 07 9c 40 6b 8f 2e 12 1a 2b 3c 54 d0 10 02 00 d1 53 00 00
		01 01 08 0a 00 00 10 05 9a 3c 1f 0f
		01 01 05 12 1a 2b 40 00 1a 2b 45 b4 1a 2b 3e 00 1a 2b 3f 00`)
)

// wireGolden is one golden segment with what each accessor must read.
type wireGolden struct {
	name     string
	pkt      []byte
	src, dst ipv4.Addr
	seg      Segment
	hl       int
	checksum uint16
	pseudo   uint16 // folded pseudo-header sum, as SetPseudoChecksum writes
}

func wireGoldens() []wireGolden {
	return []wireGolden{
		{
			name: "SYN", pkt: wireSYN, src: wirePeer, dst: wirePmd,
			seg: Segment{
				SrcPort: 40000, DstPort: 7, Seq: 0x1a2b3c4d, Flags: FlagSYN, Window: 64240,
				Opts: Options{MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: 0x9a3c1f05,
					HasWScale: true, WScale: 7},
			},
			hl: 40, checksum: 0x14e6, pseudo: 0x8c56,
		},
		{
			name: "SYN-ACK", pkt: wireSYNACK, src: wirePmd, dst: wirePeer,
			seg: Segment{
				SrcPort: 7, DstPort: 40000, Seq: 0x6b8f2e11, Ack: 0x1a2b3c4e,
				Flags: FlagSYN | FlagACK, Window: 65535,
				Opts: Options{MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: 0x1000,
					TSEcr: 0x9a3c1f05, HasWScale: true, WScale: 7},
			},
			hl: 40, checksum: 0x6625, pseudo: 0x8c56,
		},
		{
			name: "data", pkt: wireData, src: wirePeer, dst: wirePmd,
			seg: Segment{
				SrcPort: 40000, DstPort: 7, Seq: 0x1a2b3c4e, Ack: 0x6b8f2e12,
				Flags: FlagPSH | FlagACK, Window: 502,
				Opts:    Options{HasTS: true, TSVal: 0x9a3c1f0f, TSEcr: 0x1000},
				Payload: []byte("hello\n"),
			},
			hl: 32, checksum: 0x4f07, pseudo: 0x8c54,
		},
		{
			name: "SACK", pkt: wireSACK, src: wirePmd, dst: wirePeer,
			seg: Segment{
				SrcPort: 7, DstPort: 40000, Seq: 0x6b8f2e12, Ack: 0x1a2b3c54,
				Flags: FlagACK, Window: 512,
				Opts: Options{HasTS: true, TSVal: 0x1005, TSEcr: 0x9a3c1f0f, NSACK: 2,
					SACK: [4]SACKBlock{{0x1a2b4000, 0x1a2b45b4}, {0x1a2b3e00, 0x1a2b3f00}}},
			},
			hl: 52, checksum: 0xd153, pseudo: 0x8c62,
		},
	}
}

func TestHeaderGolden(t *testing.T) {
	for _, g := range wireGoldens() {
		// Read fields from the known bytes.
		h := Header(g.pkt)
		if err := h.Check(); err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		if h.SrcPort() != g.seg.SrcPort || h.DstPort() != g.seg.DstPort || h.Seq() != g.seg.Seq ||
			h.Ack() != g.seg.Ack || h.HeaderLen() != g.hl || h.Flags() != g.seg.Flags ||
			h.Window() != g.seg.Window || h.Checksum() != g.checksum || h.Urgent() != 0 {
			t.Errorf("%s: read fields wrong: %x", g.name, g.pkt[:HeaderMinLen])
		}
		if !bytes.Equal(h.Options(), g.pkt[HeaderMinLen:g.hl]) || !bytes.Equal(h.Payload(), g.seg.Payload) {
			t.Errorf("%s: options %x payload %q", g.name, h.Options(), h.Payload())
		}
		if !h.ChecksumValid(g.src, g.dst) {
			t.Errorf("%s: checksum not valid", g.name)
		}

		// Parse to a value.
		var s Segment
		if err := ParseSegment(h, &s); err != nil || !wireSameSegment(&s, &g.seg) {
			t.Errorf("%s: ParseSegment = %+v, %v; want %+v", g.name, s, err, g.seg)
		}
		if s.HeaderLen() != g.hl {
			t.Errorf("%s: Segment.HeaderLen = %d, want %d", g.name, s.HeaderLen(), g.hl)
		}

		// Build the same bytes from the value, and encode the parsed value
		// back, into buffers filled with 0xa5.
		for _, s := range []*Segment{&g.seg, &s} {
			b := wireFilled(len(g.pkt) + 4)
			n := s.EncodeHeader(b)
			if n != g.hl || !bytes.Equal(b[:HeaderMinLen-4], g.pkt[:HeaderMinLen-4]) ||
				!bytes.Equal(b[HeaderMinLen:n], g.pkt[HeaderMinLen:n]) {
				t.Errorf("%s: EncodeHeader = %d, %x; want %x", g.name, n, b[:n], g.pkt[:g.hl])
			}
			if c := Header(b).Checksum(); c != 0 || Header(b).Urgent() != 0 {
				t.Errorf("%s: EncodeHeader left checksum %#x urgent %#x", g.name, c, Header(b).Urgent())
			}
			if !bytes.Equal(b[n:], wireFilled(len(b)-n)) {
				t.Errorf("%s: EncodeHeader wrote past the header: %x", g.name, b[n:])
			}
			copy(b[n:], s.Payload)
			seg := Header(b[:len(g.pkt)])
			seg.ComputeChecksum(g.src, g.dst)
			if !bytes.Equal(seg, g.pkt) || !bytes.Equal(b[len(seg):], wireFilled(4)) {
				t.Errorf("%s: encoded segment %x, want %x", g.name, b, g.pkt)
			}
			seg.SetPseudoChecksum(g.src, g.dst)
			if seg.Checksum() != g.pseudo {
				t.Errorf("%s: SetPseudoChecksum wrote %#x, want %#x", g.name, seg.Checksum(), g.pseudo)
			}
		}
	}
}

func TestHeaderSetters(t *testing.T) {
	b := wireFilled(HeaderMinLen + 8)
	h := Header(b)
	h.SetSrcPort(0x1234)
	h.SetDstPort(0x5678)
	h.SetSeq(0xfffffffe)
	h.SetAck(0x01020304)
	h.SetHeaderLen(24)
	h.SetFlags(FlagFIN | FlagACK | FlagCWR)
	h.SetWindow(0xabcd)
	h.SetChecksum(0xbeef)
	h.SetUrgent(0x0102)
	want := wireHex("12 34 56 78 ff ff ff fe 01 02 03 04 65 91 ab cd be ef 01 02 a5 a5 a5 a5 a5 a5 a5 a5")
	if !bytes.Equal(b, want) {
		t.Fatalf("setters wrote %x, want %x (reserved bits 0x5 kept)", b, want)
	}
	if err := h.Check(); err != nil || h.HeaderLen() != 24 || len(h.Options()) != 4 || len(h.Payload()) != 4 {
		t.Errorf("after SetHeaderLen(24): %v, header %d options %d payload %d",
			err, h.HeaderLen(), len(h.Options()), len(h.Payload()))
	}
	if h.SrcPort() != 0x1234 || h.DstPort() != 0x5678 || h.Seq() != 0xfffffffe || h.Ack() != 0x01020304 ||
		h.Flags() != FlagFIN|FlagACK|FlagCWR || h.Window() != 0xabcd || h.Checksum() != 0xbeef || h.Urgent() != 0x0102 {
		t.Errorf("getters disagree with setters: %x", b)
	}
}

func TestCheckShort(t *testing.T) {
	for n := range HeaderMinLen {
		if err := Header(wireSYN[:n]).Check(); err != ErrShort {
			t.Errorf("%d bytes: %v, want ErrShort", n, err)
		}
	}
}

func TestCheckDataOffsetBelowFive(t *testing.T) {
	for off := range 5 {
		h := Header(wireClone(wireData))
		h[12] = byte(off) << 4
		if err := h.Check(); err != ErrDataOffset {
			t.Errorf("data offset %d: %v, want ErrDataOffset", off, err)
		}
	}
	h := Header(wireClone(wireData))
	h.SetHeaderLen(16)
	if err := h.Check(); err != ErrDataOffset {
		t.Errorf("SetHeaderLen(16): %v, want ErrDataOffset", err)
	}
}

func TestCheckDataOffsetPastEnd(t *testing.T) {
	// The SYN's 40-byte header cut short anywhere after the fixed part.
	for n := HeaderMinLen; n < len(wireSYN); n++ {
		if err := Header(wireSYN[:n]).Check(); err != ErrDataOffset {
			t.Errorf("%d bytes of a 40-byte header: %v, want ErrDataOffset", n, err)
		}
	}
	h := Header(wireClone(wireSYN))
	h.SetHeaderLen(HeaderMaxLen)
	if err := h.Check(); err != ErrDataOffset {
		t.Errorf("data offset 15 in 40 bytes: %v, want ErrDataOffset", err)
	}
	// The header may end exactly at the end of the bytes.
	if err := Header(wireSYN).Check(); err != nil || len(Header(wireSYN).Payload()) != 0 {
		t.Errorf("header to the last byte: %v", err)
	}
}

func TestParseSegmentBadOptions(t *testing.T) {
	h := Header(wireClone(wireSYN))
	h[HeaderMinLen+1] = 3 // MSS of length 3
	var s Segment
	if err := h.Check(); err != nil {
		t.Fatal(err)
	}
	if err := ParseSegment(h, &s); err != ErrOptions {
		t.Errorf("ParseSegment = %v, want ErrOptions", err)
	}
}

func TestChecksum(t *testing.T) {
	tests := []struct {
		name     string
		checksum uint16
		src, dst ipv4.Addr
		valid    bool
	}{
		{"golden", 0x4f07, wirePeer, wirePmd, true},
		{"wrong", 0x4f08, wirePeer, wirePmd, false},
		{"zero", 0, wirePeer, wirePmd, false},
		{"wrong source", 0x4f07, wirePeer + 1, wirePmd, false},
		{"wrong destination", 0x4f07, wirePeer, wirePmd + 0x100, false},
		{"swapped addresses still sum alike", 0x4f07, wirePmd, wirePeer, true},
	}
	for _, tt := range tests {
		h := Header(wireClone(wireData))
		h.SetChecksum(tt.checksum)
		if got := h.ChecksumValid(tt.src, tt.dst); got != tt.valid {
			t.Errorf("%s: valid %v", tt.name, got)
		}
	}

	// A flipped payload bit or a missing payload byte fails the check.
	h := Header(wireClone(wireData))
	h[len(h)-1] ^= 0x40
	if h.ChecksumValid(wirePeer, wirePmd) {
		t.Error("corrupt payload passes")
	}
	if Header(wireData[:len(wireData)-1]).ChecksumValid(wirePeer, wirePmd) {
		t.Error("truncated payload passes")
	}
	if Header(make([]byte, 0x10000)).ChecksumValid(wirePeer, wirePmd) {
		t.Error("65536 bytes pass")
	}

	// ComputeChecksum ignores what the field held.
	h = Header(wireClone(wireData))
	h.SetChecksum(0x1234)
	h.ComputeChecksum(wirePeer, wirePmd)
	if h.Checksum() != 0x4f07 || !h.ChecksumValid(wirePeer, wirePmd) {
		t.Errorf("ComputeChecksum = %#x, want 0x4f07", h.Checksum())
	}

	// The offload path: the pseudo-header sum in the field, then the sum
	// over the segment completed as the device does, for odd and even
	// lengths.
	for _, g := range wireGoldens() {
		for _, n := range []int{len(g.pkt), len(g.pkt) - 1} {
			want := Header(wireClone(g.pkt[:n]))
			want.ComputeChecksum(g.src, g.dst)
			h := Header(wireClone(g.pkt[:n]))
			h.SetPseudoChecksum(g.src, g.dst)
			h.SetChecksum(ipv4.Checksum(h, 0))
			if !bytes.Equal(h, want) || !h.ChecksumValid(g.src, g.dst) {
				t.Errorf("%s, %d bytes: offload path gives %#x, ComputeChecksum %#x",
					g.name, n, h.Checksum(), want.Checksum())
			}
		}
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		f    Flags
		want string
	}{
		{0, "none"},
		{FlagSYN, "SYN"},
		{FlagSYN | FlagACK, "SYN|ACK"},
		{FlagFIN | FlagPSH | FlagACK, "FIN|PSH|ACK"},
		{FlagRST | FlagACK, "RST|ACK"},
		{FlagSYN | FlagECE | FlagCWR, "SYN|ECE|CWR"},
		{FlagURG | FlagACK, "ACK|URG"},
		{0xff, "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("Flags(%#x).String() = %q, want %q", uint8(tt.f), got, tt.want)
		}
	}
	f := FlagSYN | FlagACK
	if !f.Has(FlagSYN) || !f.Has(FlagACK) || !f.Has(FlagSYN|FlagACK) || f.Has(FlagFIN) ||
		f.Has(FlagSYN|FlagFIN) || !f.Has(0) {
		t.Error("Has wrong")
	}
	if Header(wireSYNACK).Flags() != FlagSYN|FlagACK || Header(wireData).Flags().String() != "PSH|ACK" {
		t.Error("golden flags wrong")
	}
}

func TestSegmentLen(t *testing.T) {
	tests := []struct {
		flags   Flags
		payload int
		want    int
	}{
		{FlagACK, 0, 0},
		{FlagSYN, 0, 1},
		{FlagSYN | FlagACK, 0, 1},
		{FlagPSH | FlagACK, 6, 6},
		{FlagFIN | FlagACK, 0, 1},
		{FlagFIN | FlagPSH | FlagACK, 100, 101},
		{FlagSYN | FlagFIN, 3, 5},
		{FlagRST, 0, 0},
	}
	for _, tt := range tests {
		s := Segment{Flags: tt.flags, Payload: make([]byte, tt.payload)}
		if got := s.Len(); got != tt.want {
			t.Errorf("%v with %d bytes: Len = %d, want %d", tt.flags, tt.payload, got, tt.want)
		}
	}
}

// TestSegmentDoesNotAllocate runs the receive and reply paths over the golden
// segments: checking, parsing, building a reply and its checksum in both
// ways, and a rejected segment. None of it may allocate.
func TestSegmentDoesNotAllocate(t *testing.T) {
	out := make([]byte, HeaderMaxLen+16)
	bad := Header(wireClone(wireSYN))
	bad[HeaderMinLen+1] = 3
	var s Segment
	allocs := testing.AllocsPerRun(100, func() {
		for _, pkt := range [][]byte{wireSYN, wireSYNACK, wireData, wireSACK} {
			h := Header(pkt)
			if h.Check() != nil || ParseSegment(h, &s) != nil {
				t.Fatal("golden rejected")
			}
			s.SrcPort, s.DstPort = s.DstPort, s.SrcPort
			n := s.EncodeHeader(out)
			n += copy(out[n:], s.Payload)
			Header(out[:n]).ComputeChecksum(wirePmd, wirePeer)
			Header(out[:n]).SetPseudoChecksum(wirePmd, wirePeer)
		}
		if ParseSegment(bad, &s) != ErrOptions || Header(wireSYN[:30]).Check() != ErrDataOffset {
			t.Fatal("malformed accepted")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run", allocs)
	}
}

// wireSameSegment reports whether a and b hold the same fields and payload
// bytes.
func wireSameSegment(a, b *Segment) bool {
	return a.SrcPort == b.SrcPort && a.DstPort == b.DstPort && a.Seq == b.Seq && a.Ack == b.Ack &&
		a.Flags == b.Flags && a.Window == b.Window && a.Opts == b.Opts && bytes.Equal(a.Payload, b.Payload)
}

func wireHex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// wireFilled returns n bytes of 0xa5, so that a byte an encoder forgets
// shows.
func wireFilled(n int) []byte { return bytes.Repeat([]byte{0xa5}, n) }

// wireClone returns a copy of b, so tests never write into the golden bytes.
func wireClone(b []byte) []byte { return append([]byte(nil), b...) }
