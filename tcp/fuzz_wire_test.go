package tcp

import (
	"bytes"
	"testing"

	"github.com/pmdstack/pmd/ipv4"
)

// The wire fuzz targets run Check on arbitrary bytes and, when it passes,
// every accessor: none may panic, what they return must stay within the
// bytes, and a round trip through Segment or Options must keep what they
// represent.

func FuzzHeader(f *testing.F) {
	f.Add(wireSYN)
	f.Add(wireSYNACK)
	f.Add(wireData)
	f.Add(wireSACK)
	f.Add(wireSYN[:30])
	f.Add(wireHex("00 07 9c 40 00 00 00 01 00 00 00 02 f0 11 00 00 00 00 00 00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := Header(data)
		switch err := h.Check(); err {
		case nil:
		case ErrShort:
			if len(data) >= HeaderMinLen {
				t.Fatalf("%d bytes short", len(data))
			}
			return
		case ErrDataOffset:
			if hl := int(data[12]>>4) * 4; hl >= HeaderMinLen && hl <= len(data) {
				t.Fatalf("header %d of %d bytes rejected", hl, len(data))
			}
			return
		default:
			t.Fatalf("unexpected error %v", err)
		}
		hl := h.HeaderLen()
		if hl < HeaderMinLen || hl > HeaderMaxLen || hl%4 != 0 || hl > len(data) {
			t.Fatalf("header %d of %d bytes", hl, len(data))
		}
		if len(h.Options()) != hl-HeaderMinLen || len(h.Payload()) != len(data)-hl {
			t.Fatalf("options %d payload %d", len(h.Options()), len(h.Payload()))
		}
		_, _, _, _ = h.SrcPort(), h.DstPort(), h.Seq(), h.Ack()
		_, _, _, _ = h.Flags().String(), h.Window(), h.Checksum(), h.Urgent()

		// A valid segment has the computed checksum, or 0xffff for 0; the
		// offload path completes to the same.
		if len(data) <= 0xffff {
			valid := h.ChecksumValid(wirePeer, wirePmd)
			c := Header(bytes.Clone(data))
			c.ComputeChecksum(wirePeer, wirePmd)
			same := h.Checksum() == c.Checksum() || h.Checksum() == 0xffff && c.Checksum() == 0
			if !c.ChecksumValid(wirePeer, wirePmd) || valid != same {
				t.Fatalf("ComputeChecksum %#x, had %#x (valid %v)", c.Checksum(), h.Checksum(), valid)
			}
			p := Header(bytes.Clone(data))
			p.SetPseudoChecksum(wirePeer, wirePmd)
			if ipv4.Checksum(p, 0) != c.Checksum() {
				t.Fatalf("offload path %#x, ComputeChecksum %#x", ipv4.Checksum(p, 0), c.Checksum())
			}
		}

		var s Segment
		err := ParseSegment(h, &s)
		var o Options
		if oerr := ParseOptions(h.Options(), &o); oerr != err || o != s.Opts {
			t.Fatalf("ParseSegment %v, ParseOptions %v", err, oerr)
		}
		if err != nil {
			if err != ErrOptions {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if s.SrcPort != h.SrcPort() || s.DstPort != h.DstPort() || s.Seq != h.Seq() || s.Ack != h.Ack() ||
			s.Flags != h.Flags() || s.Window != h.Window() || !bytes.Equal(s.Payload, h.Payload()) {
			t.Fatalf("ParseSegment %+v differs from the accessors", s)
		}

		// A round trip through Segment keeps it, but for SACK blocks that
		// do not fit with the other options.
		b := make([]byte, HeaderMaxLen+len(s.Payload))
		n := s.EncodeHeader(b)
		if n != s.HeaderLen() || n > HeaderMaxLen || n%4 != 0 {
			t.Fatalf("EncodeHeader %d, HeaderLen %d", n, s.HeaderLen())
		}
		b = b[:n+copy(b[n:], s.Payload)]
		var s2 Segment
		if Header(b).Check() != nil || ParseSegment(Header(b), &s2) != nil {
			t.Fatalf("round trip rejected: %x", b)
		}
		want := s
		want.Opts = wireFitted(s.Opts)
		if !wireSameSegment(&s2, &want) {
			t.Fatalf("round trip %+v, want %+v", s2, want)
		}
	})
}

func FuzzOptions(f *testing.F) {
	f.Add(Header(wireSYN).Options())
	f.Add(Header(wireSACK).Options())
	f.Add(wireHex("02 04 05 b4 00 03 03 07 02 01"))
	f.Add(wireHex("1e 06 00 81 aa bb 03 03 0f 05 0a 00 00 00 01 00 00 00 02"))
	f.Add(wireHex("05 0b 00 00 00 01 00 00 00 02 00 01"))
	f.Add(wireHex("01 01 05 22 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04 00 00 00 05 00 00 00 06 00 00 00 07 00 00 00 08 00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var o Options
		switch err := ParseOptions(data, &o); err {
		case nil:
		case ErrOptions:
			return
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if o.WScale > MaxWScale || !o.HasWScale && o.WScale != 0 || o.NSACK < 0 || o.NSACK > len(o.SACK) {
			t.Fatalf("parsed %+v", o)
		}
		for _, blk := range o.SACK[o.NSACK:] {
			if blk != (SACKBlock{}) {
				t.Fatalf("stale SACK blocks in %+v", o)
			}
		}
		n := o.Len()
		if n%4 != 0 || n > MaxOptionsLen {
			t.Fatalf("Len %d", n)
		}
		b := bytes.Repeat([]byte{0xa5}, n+4)
		if m := o.Encode(b); m != n || !bytes.Equal(b[n:], wireFilled(4)) {
			t.Fatalf("Encode %d, Len %d: %x", m, n, b)
		}
		var o2 Options
		if err := ParseOptions(b[:n], &o2); err != nil {
			t.Fatalf("encoded options rejected: %x", b[:n])
		}
		if want := wireFitted(o); o2 != want {
			t.Fatalf("round trip %+v, want %+v", o2, want)
		}
	})
}

// wireFitted returns o as Encode writes it: with the SACK blocks that fit in
// MaxOptionsLen after the other options, worked out here apart from Encode.
func wireFitted(o Options) Options {
	rest := 0
	if o.MSS != 0 {
		rest += 4
	}
	if o.HasTS {
		rest += 12
	} else if o.SACKPermitted {
		rest += 4
	}
	if o.HasWScale {
		rest += 4
	}
	for o.NSACK > 0 && rest+4+8*o.NSACK > MaxOptionsLen {
		o.NSACK--
		o.SACK[o.NSACK] = SACKBlock{}
	}
	return o
}
