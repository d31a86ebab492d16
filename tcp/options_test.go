package tcp

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func TestOptionsLayouts(t *testing.T) {
	blocks := [4]SACKBlock{{0x100, 0x200}, {0x300, 0x400}, {0x500, 0x600}, {0x700, 0x800}}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"none", Options{}, ""},
		{"Linux SYN", Options{MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: 1, HasWScale: true, WScale: 7},
			"02 04 05 b4 04 02 08 0a 00 00 00 01 00 00 00 00 01 03 03 07"},
		{"SYN without timestamps", Options{MSS: 1460, SACKPermitted: true, HasWScale: true, WScale: 7},
			"02 04 05 b4 01 01 04 02 01 03 03 07"},
		{"MSS and timestamps", Options{MSS: 1460, HasTS: true, TSVal: 0x01020304, TSEcr: 0x05060708},
			"02 04 05 b4 01 01 08 0a 01 02 03 04 05 06 07 08"},
		{"MSS alone", Options{MSS: 9000}, "02 04 23 28"},
		{"timestamps alone", Options{HasTS: true, TSVal: 0xfffffffe, TSEcr: 0x10},
			"01 01 08 0a ff ff ff fe 00 00 00 10"},
		{"SACK-Permitted alone", Options{SACKPermitted: true}, "01 01 04 02"},
		{"window scale alone", Options{HasWScale: true, WScale: 14}, "01 03 03 0e"},
		{"window scale 0", Options{HasWScale: true}, "01 03 03 00"},
		{"one SACK block", Options{NSACK: 1, SACK: [4]SACKBlock{{0x1a2b4000, 0x1a2b45b4}}},
			"01 01 05 0a 1a 2b 40 00 1a 2b 45 b4"},
		{"timestamps and three SACK blocks", Options{HasTS: true, TSVal: 7, TSEcr: 9, NSACK: 3,
			SACK: [4]SACKBlock{blocks[0], blocks[1], blocks[2]}}, `
			01 01 08 0a 00 00 00 07 00 00 00 09
			01 01 05 1a 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04 00 00 00 05 00 00 00 06 00`},
		{"four SACK blocks", Options{NSACK: 4, SACK: blocks}, `
			01 01 05 22 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04 00
			00 00 05 00 00 00 06 00 00 00 07 00 00 00 08 00`},
	}
	for _, tt := range tests {
		want := wireHex(tt.want)
		if n := tt.opts.Len(); n != len(want) || n%4 != 0 || n > MaxOptionsLen {
			t.Errorf("%s: Len = %d, want %d", tt.name, n, len(want))
		}
		b := wireFilled(len(want) + 4)
		n := tt.opts.Encode(b)
		if n != len(want) || !bytes.Equal(b[:n], want) || !bytes.Equal(b[n:], wireFilled(4)) {
			t.Errorf("%s: Encode = %d, %x; want %x", tt.name, n, b, want)
		}
		var o Options
		if err := ParseOptions(want, &o); err != nil || o != tt.opts {
			t.Errorf("%s: ParseOptions = %+v, %v; want %+v", tt.name, o, err, tt.opts)
		}
	}
}

func TestMaxSACKBlocks(t *testing.T) {
	if MaxSACKBlocks(true) != 3 || MaxSACKBlocks(false) != 4 {
		t.Fatalf("MaxSACKBlocks = %d, %d; want 3, 4", MaxSACKBlocks(true), MaxSACKBlocks(false))
	}
	for _, ts := range []bool{true, false} {
		o := Options{HasTS: ts, NSACK: MaxSACKBlocks(ts)}
		if o.Len() > MaxOptionsLen {
			t.Errorf("timestamps %v: %d blocks take %d bytes", ts, o.NSACK, o.Len())
		}
		o.NSACK++
		if ts && o.Len() != MaxOptionsLen {
			t.Errorf("timestamps: one block too many gives Len %d", o.Len())
		}
	}
}

func TestOptionsEncodeKeepsWithinForty(t *testing.T) {
	blocks := [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}
	tests := []struct {
		name  string
		opts  Options
		nsack int // blocks written
	}{
		{"all options and four blocks", Options{MSS: 1460, SACKPermitted: true, HasTS: true,
			HasWScale: true, NSACK: 4, SACK: blocks}, 2},
		{"timestamps and four blocks", Options{HasTS: true, NSACK: 4, SACK: blocks}, 3},
		{"NSACK above 4", Options{NSACK: 9, SACK: blocks}, 4},
		{"negative NSACK", Options{NSACK: -1, SACK: blocks}, 0},
	}
	for _, tt := range tests {
		b := make([]byte, MaxOptionsLen)
		n := tt.opts.Encode(b)
		var o Options
		if err := ParseOptions(b[:n], &o); err != nil || n != tt.opts.Len() || n > MaxOptionsLen {
			t.Fatalf("%s: Encode = %d (Len %d), parse %v", tt.name, n, tt.opts.Len(), err)
		}
		want := tt.opts
		want.NSACK = tt.nsack
		want.SACK = [4]SACKBlock{}
		copy(want.SACK[:], blocks[:tt.nsack]) // the first blocks are kept
		if o != want {
			t.Errorf("%s: encoded %+v, want %+v", tt.name, o, want)
		}
	}
	// A shift above 14 goes out as 14.
	b := make([]byte, 4)
	(&Options{HasWScale: true, WScale: 200}).Encode(b)
	if !bytes.Equal(b, wireHex("01 03 03 0e")) {
		t.Errorf("shift 200 encoded as %x", b)
	}
}

func TestParseOptionsZeroesFirst(t *testing.T) {
	o := Options{MSS: 1, HasWScale: true, WScale: 3, SACKPermitted: true, HasTS: true, TSVal: 5,
		NSACK: 1, SACK: [4]SACKBlock{{1, 2}}}
	if err := ParseOptions(wireHex("01 01 01 01"), &o); err != nil || o != (Options{}) {
		t.Errorf("ParseOptions of NOPs = %+v, %v; want zero", o, err)
	}
	// A second SACK option replaces the first, blocks and all.
	b := wireHex(`
		01 01 05 12 00 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04
		01 01 05 0a 00 00 00 05 00 00 00 06`)
	want := Options{NSACK: 1, SACK: [4]SACKBlock{{5, 6}}}
	if err := ParseOptions(b, &o); err != nil || o != want {
		t.Errorf("two SACK options: %+v, %v; want %+v", o, err, want)
	}
}

func TestParseOptionsLengthZero(t *testing.T) {
	for _, b := range []string{"02 00 05 b4", "1e 00 00 00", "01 01 08 00"} {
		var o Options
		if err := ParseOptions(wireHex(b), &o); err != ErrOptions {
			t.Errorf("%s: %v, want ErrOptions", b, err)
		}
	}
}

func TestParseOptionsLengthOne(t *testing.T) {
	for _, b := range []string{"02 01 05 b4", "1e 01 00 00", "04 01 01 01"} {
		var o Options
		if err := ParseOptions(wireHex(b), &o); err != ErrOptions {
			t.Errorf("%s: %v, want ErrOptions", b, err)
		}
	}
}

func TestParseOptionsPastEnd(t *testing.T) {
	for _, b := range []string{
		"02 04 05",             // MSS cut short
		"01 01 08 0a 00 00 00", // timestamps cut short
		"1e 0c 00 00 00 00",    // unknown option of 12 bytes in 6
		"01 01 01 02",          // a kind with no length byte
		"05 22 00 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04",
	} {
		var o Options
		if err := ParseOptions(wireHex(b), &o); err != ErrOptions {
			t.Errorf("%s: %v, want ErrOptions", b, err)
		}
	}
}

func TestParseOptionsMSSLength3(t *testing.T) {
	var o Options
	if err := ParseOptions(wireHex("02 03 05 01"), &o); err != ErrOptions {
		t.Errorf("%v, want ErrOptions", err)
	}
}

func TestParseOptionsSACKLength11(t *testing.T) {
	var o Options
	b := wireHex("05 0b 00 00 00 01 00 00 00 02 00 01")
	if err := ParseOptions(b, &o); err != ErrOptions {
		t.Errorf("length 11: %v, want ErrOptions", err)
	}
	// No block, or five, are as wrong.
	if err := ParseOptions(wireHex("05 02 01 01"), &o); err != ErrOptions {
		t.Errorf("length 2: %v, want ErrOptions", err)
	}
	b = append(wireHex("05 2a"), make([]byte, 40)...)
	if err := ParseOptions(b, &o); err != ErrOptions {
		t.Errorf("length 42: %v, want ErrOptions", err)
	}
}

func TestParseOptionsTSLength8(t *testing.T) {
	var o Options
	if err := ParseOptions(wireHex("08 08 00 00 00 01 00 00 01 01"), &o); err != ErrOptions {
		t.Errorf("%v, want ErrOptions", err)
	}
}

func TestParseOptionsWrongLengthOthers(t *testing.T) {
	for _, b := range []string{"03 04 07 00", "04 03 00 01"} {
		var o Options
		if err := ParseOptions(wireHex(b), &o); err != ErrOptions {
			t.Errorf("%s: %v, want ErrOptions", b, err)
		}
	}
}

func TestParseOptionsUnknownSkipped(t *testing.T) {
	// An MPTCP-like option (kind 30) and a Fast Open cookie (kind 34)
	// around an MSS.
	b := wireHex("1e 06 00 81 aa bb 02 04 05 b4 22 0a 01 02 03 04 05 06 07 08 01 01")
	var o Options
	if err := ParseOptions(b, &o); err != nil || o != (Options{MSS: 1460}) {
		t.Errorf("ParseOptions = %+v, %v; want MSS 1460 only", o, err)
	}
}

func TestParseOptionsEOLStops(t *testing.T) {
	// After End of Option List comes padding, even if it reads as a bad
	// option.
	b := wireHex("02 04 05 b4 00 03 03 07 02 01 00 00")
	var o Options
	if err := ParseOptions(b, &o); err != nil || o != (Options{MSS: 1460}) {
		t.Errorf("ParseOptions = %+v, %v; want MSS 1460 only", o, err)
	}
	h := Header(wireClone(wireSYN))
	copy(h.Options()[4:], wireHex("00 ff ff"))
	var s Segment
	if err := ParseSegment(h, &s); err != nil || s.Opts != (Options{MSS: 1460}) {
		t.Errorf("SYN cut by EOL: %+v, %v", s.Opts, err)
	}
}

func TestParseOptionsWScaleClamped(t *testing.T) {
	tests := []struct {
		shift, want uint8
	}{{0, 0}, {7, 7}, {14, 14}, {15, 14}, {255, 14}}
	for _, tt := range tests {
		var o Options
		err := ParseOptions([]byte{optNOP, optWS, optWSLen, tt.shift}, &o)
		if err != nil || !o.HasWScale || o.WScale != tt.want {
			t.Errorf("shift %d: %+v, %v; want %d", tt.shift, o, err, tt.want)
		}
	}
}

func TestParseOptionsMSSZeroIsAbsent(t *testing.T) {
	var o Options
	if err := ParseOptions(wireHex("02 04 00 00"), &o); err != nil || o != (Options{}) || o.Len() != 0 {
		t.Errorf("MSS 0: %+v, %v", o, err)
	}
}

// The one-step path for NOP, NOP, TS must agree with the general parser,
// which it bypasses: the same bytes followed by End of Option List take
// the general path.
func TestParseOptionsTimestampFastPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		b := []byte{optNOP, optNOP, optTS, optTSLen, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(b[4:], rng.Uint64())
		var fast, slow Options
		errFast := ParseOptions(b, &fast)
		errSlow := ParseOptions(append(b, optEOL), &slow)
		if errFast != nil || errSlow != nil || fast != slow || !fast.HasTS {
			t.Fatalf("% x: fast %+v %v, general %+v %v", b, fast, errFast, slow, errSlow)
		}
		out := make([]byte, MaxOptionsLen)
		if n := fast.Encode(out); n != len(b) || !bytes.Equal(out[:n], b) || fast.Len() != n {
			t.Fatalf("encode of %+v: % x, want % x", fast, out[:n], b)
		}
	}
	// Near misses go the general way and still parse as before.
	for _, b := range [][]byte{
		{optNOP, optNOP, optTS, optTSLen, 1, 2, 3, 4, 5, 6, 7},                       // short
		{optNOP, optNOP, optTS, 9, 1, 2, 3, 4, 5, 6, 7, 8},                           // wrong length
		{optNOP, optNOP, optNOP, optNOP, optNOP, optNOP, optNOP, optNOP, 1, 1, 1, 1}, // padding only
	} {
		var o Options
		err := ParseOptions(b, &o)
		if o.HasTS {
			t.Errorf("% x: parsed a timestamp (%+v, %v)", b, o, err)
		}
	}
}
