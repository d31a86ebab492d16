package tcp

import "encoding/binary"

// TCP options (RFC 9293 3.2) follow the 20 bytes of fixed header, up to
// MaxOptionsLen bytes. Each is one kind byte, and for kinds other than End
// of Option List and No-Operation a length byte counting kind, length and
// value:
//
//	+--------+--------+---------...
//	|  Kind  | Length |  Value
//	+--------+--------+---------...
//
//	Kind  Length  Value                                   RFC
//	 0    -       End of Option List: nothing follows     9293
//	 1    -       No-Operation: padding                   9293
//	 2    4       Maximum Segment Size, 16 bits           9293
//	 3    3       Window Scale shift count, 8 bits        7323
//	 4    2       SACK-Permitted                          2018
//	 5    2+8n    SACK: n blocks of Left Edge, Right Edge 2018
//	 8    10      Timestamps: TSval, TSecr, 32 bits each  7323
const (
	optEOL    = 0
	optNOP    = 1
	optMSS    = 2
	optWS     = 3
	optSACKOK = 4
	optSACK   = 5
	optTS     = 8

	optMSSLen    = 4
	optWSLen     = 3
	optSACKOKLen = 2
	optTSLen     = 10
	sackBlockLen = 8

	// MaxWScale is the largest window scale shift (RFC 7323 2.3): a larger
	// one is read as 14.
	MaxWScale = 14
)

// SACKBlock is one block of a SACK option: the segment space from Left up to,
// not including, Right has been received (RFC 2018 3).
type SACKBlock struct{ Left, Right Seq }

// Options are the TCP options pmd understands, decoded. The zero value has
// none. Options is comparable with ==.
type Options struct {
	MSS           uint16 // maximum segment size; 0: absent
	WScale        uint8  // window scale shift, at most MaxWScale; valid if HasWScale
	HasWScale     bool
	SACKPermitted bool
	TSVal, TSEcr  uint32 // valid if HasTS
	HasTS         bool
	SACK          [4]SACKBlock // SACK[:NSACK], first the most recent (RFC 2018 4)
	NSACK         int          // 0 to 4
}

// MaxSACKBlocks returns how many SACK blocks fit in the options of a segment
// that carries no other option than, if hasTS, timestamps: 3 with them, 4
// without (RFC 2018 3).
func MaxSACKBlocks(hasTS bool) int {
	if hasTS {
		return (MaxOptionsLen - 12 - 4) / sackBlockLen
	}
	return (MaxOptionsLen - 4) / sackBlockLen
}

// ParseOptions decodes the options b, as Header.Options returns them, into
// o, which it first zeroes. It stops at End of Option List, skips
// No-Operation and options of unknown kind, and keeps the last of repeated
// options. It returns ErrOptions, with o holding the options before the bad
// one, if an option other than End of Option List and No-Operation has no
// length byte, a length below 2, a length running past the end of b, or the
// wrong length for its kind; a SACK option must have 1 to 4 blocks. A Window
// Scale shift above 14 is read as 14 (RFC 7323 2.3). An MSS of 0 reads as
// absent.
func ParseOptions(b []byte, o *Options) error {
	// Every segment of an established connection with timestamps carries
	// exactly NOP, NOP, TS (RFC 7323 appendix A): take it in one step.
	if len(b) == 2+optTSLen && binary.BigEndian.Uint32(b) == tsOnlyPrefix {
		*o = Options{HasTS: true, TSVal: binary.BigEndian.Uint32(b[4:]), TSEcr: binary.BigEndian.Uint32(b[8:])}
		return nil
	}
	*o = Options{}
	for i := 0; i < len(b); {
		kind := b[i]
		if kind == optEOL {
			return nil
		}
		if kind == optNOP {
			i++
			continue
		}
		if len(b)-i < 2 {
			return ErrOptions
		}
		n := int(b[i+1])
		if n < 2 || n > len(b)-i {
			return ErrOptions
		}
		v := b[i+2 : i+n]
		switch kind {
		case optMSS:
			if n != optMSSLen {
				return ErrOptions
			}
			o.MSS = binary.BigEndian.Uint16(v)
		case optWS:
			if n != optWSLen {
				return ErrOptions
			}
			o.WScale = min(v[0], MaxWScale)
			o.HasWScale = true
		case optSACKOK:
			if n != optSACKOKLen {
				return ErrOptions
			}
			o.SACKPermitted = true
		case optSACK:
			k := len(v) / sackBlockLen
			if len(v)%sackBlockLen != 0 || k < 1 || k > len(o.SACK) {
				return ErrOptions
			}
			o.SACK = [4]SACKBlock{}
			for j := range k {
				blk := v[j*sackBlockLen:]
				o.SACK[j] = SACKBlock{
					Left:  Seq(binary.BigEndian.Uint32(blk)),
					Right: Seq(binary.BigEndian.Uint32(blk[4:])),
				}
			}
			o.NSACK = k
		case optTS:
			if n != optTSLen {
				return ErrOptions
			}
			o.TSVal = binary.BigEndian.Uint32(v)
			o.TSEcr = binary.BigEndian.Uint32(v[4:])
			o.HasTS = true
		}
		i += n
	}
	return nil
}

// tsOnlyPrefix is the first word of the options of a segment that carries
// timestamps and nothing else: NOP, NOP, kind 8, length 10.
const tsOnlyPrefix = optNOP<<24 | optNOP<<16 | optTS<<8 | optTSLen

// tsOnly reports whether the options are timestamps alone, the common case
// of an established connection.
func (o *Options) tsOnly() bool {
	return o.HasTS && o.MSS == 0 && !o.SACKPermitted && !o.HasWScale && o.NSACK <= 0
}

// layout returns the bytes Encode writes before the SACK blocks, and how
// many SACK blocks it writes: NSACK taken into 0..4, and fewer if they would
// not fit in MaxOptionsLen with the rest.
func (o *Options) layout() (rest, nsack int) {
	if o.MSS != 0 {
		rest += optMSSLen
	}
	if o.HasTS {
		rest += 2 + optTSLen // SACK-Permitted or two NOPs, then TS
	} else if o.SACKPermitted {
		rest += 2 + optSACKOKLen
	}
	if o.HasWScale {
		rest += 1 + optWSLen
	}
	// rest is at most 20, so at least two blocks fit.
	return rest, min(max(o.NSACK, 0), len(o.SACK), (MaxOptionsLen-rest-4)/sackBlockLen)
}

// Len returns the number of bytes Encode writes: a multiple of 4, at most
// MaxOptionsLen.
func (o *Options) Len() int {
	if o.tsOnly() {
		return 2 + optTSLen
	}
	rest, n := o.layout()
	if n > 0 {
		rest += 4 + n*sackBlockLen
	}
	return rest
}

// Encode writes the options into b, which must have room for Len bytes, and
// returns Len. The layout is the one Linux and BSD use, every option at its
// natural alignment and no padding needed at the end:
//
//	MSS                        2 4 mss
//	SACK-Permitted and TS      4 2 8 10 tsval tsecr
//	TS alone                   1 1 8 10 tsval tsecr
//	SACK-Permitted alone       1 1 4 2
//	Window Scale               1 3 3 shift
//	SACK                       1 1 5 2+8n blocks
//
// A shift above MaxWScale is written as MaxWScale. SACK blocks that do not
// fit in MaxOptionsLen with the rest are left off from the last: the caller
// keeps NSACK within MaxSACKBlocks.
func (o *Options) Encode(b []byte) int {
	if o.tsOnly() {
		_ = b[2+optTSLen-1]
		binary.BigEndian.PutUint32(b, tsOnlyPrefix)
		binary.BigEndian.PutUint32(b[4:], o.TSVal)
		binary.BigEndian.PutUint32(b[8:], o.TSEcr)
		return 2 + optTSLen
	}
	_, nsack := o.layout()
	i := 0
	if o.MSS != 0 {
		b[i], b[i+1] = optMSS, optMSSLen
		binary.BigEndian.PutUint16(b[i+2:], o.MSS)
		i += optMSSLen
	}
	switch {
	case o.HasTS && o.SACKPermitted:
		b[i], b[i+1] = optSACKOK, optSACKOKLen
		i += 2
	case o.HasTS, o.SACKPermitted:
		b[i], b[i+1] = optNOP, optNOP
		i += 2
	}
	if o.HasTS {
		b[i], b[i+1] = optTS, optTSLen
		binary.BigEndian.PutUint32(b[i+2:], o.TSVal)
		binary.BigEndian.PutUint32(b[i+6:], o.TSEcr)
		i += optTSLen
	} else if o.SACKPermitted {
		b[i], b[i+1] = optSACKOK, optSACKOKLen
		i += optSACKOKLen
	}
	if o.HasWScale {
		b[i], b[i+1], b[i+2], b[i+3] = optNOP, optWS, optWSLen, min(o.WScale, MaxWScale)
		i += 1 + optWSLen
	}
	if nsack > 0 {
		b[i], b[i+1], b[i+2], b[i+3] = optNOP, optNOP, optSACK, uint8(2+nsack*sackBlockLen)
		i += 4
		for _, blk := range o.SACK[:nsack] {
			binary.BigEndian.PutUint32(b[i:], uint32(blk.Left))
			binary.BigEndian.PutUint32(b[i+4:], uint32(blk.Right))
			i += sackBlockLen
		}
	}
	return i
}
