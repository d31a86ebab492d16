package tcp

import "github.com/pmdstack/pmd/ipv4"

// SYN cookie layout (RFC 4987 section 3.6), most significant bit first:
//
//	[31:27] t     5-bit time counter, (now / cookiePeriod) mod 32
//	[26:24] mss   index into cookieMSS
//	[23:0]  hash  low 24 bits of SipHash(tuple, peer ISN, full counter, mss)
const (
	cookiePeriod    = 64e9 // nanoseconds per time-counter step
	cookieTimeShift = 27
	cookieMSSShift  = 24
	cookieHashMask  = 1<<cookieMSSShift - 1
)

// cookieMSS are the MSS values a SYN cookie can encode, ascending: the
// RFC 9293 default, common tunnel and PPPoE sizes, Ethernet with and without
// timestamps, and a 9000-byte jumbo frame.
var cookieMSS = [8]uint16{536, 1000, 1220, 1380, 1440, 1448, 1460, 8960}

// cookieMSSIndex is the index of the largest cookieMSS entry not above mss,
// or 0 when mss is below them all.
func cookieMSSIndex(mss uint16) uint64 {
	i := uint64(len(cookieMSS) - 1)
	for i > 0 && cookieMSS[i] > mss {
		i--
	}
	return i
}

// Cookies makes and checks SYN cookies (RFC 4987 section 3.6): instead of
// keeping state for a half-open connection, a listener under SYN flood
// answers with a SYN-ACK whose sequence number encodes everything it needs,
// and rebuilds the connection from the client's ACK.
//
// A cookie stays valid for the time-counter period it was made in and the
// next one, so between 64 and 128 seconds. It authenticates the 4-tuple, the
// peer's ISN, the time and the MSS with a 24-bit SipHash-2-4 tag, so a blind
// attacker guessing the ACK succeeds once in 2^24 tries per tuple.
//
// The only option a cookie keeps is the MSS, rounded down to one of eight
// values (536, 1000, 1220, 1380, 1440, 1448, 1460, 8960). A connection
// established from a cookie therefore runs without window scaling, SACK and
// timestamps, whatever the SYN offered: the listener must not echo those
// options in a cookie SYN-ACK.
//
// A Cookies is immutable after NewCookies and safe for concurrent use.
type Cookies struct {
	key sipKey
}

// NewCookies returns a cookie maker keyed with seed, which should come from a
// cryptographically secure source such as crypto/rand and stay secret.
func NewCookies(seed [16]byte) *Cookies {
	return &Cookies{key: newSipKey(seed)}
}

// tag is the 24-bit authenticator of a cookie made at time counter count
// with MSS index mssIdx.
func (c *Cookies) tag(local, remote ipv4.Addr, lport, rport uint16, peerISN Seq, count, mssIdx uint64) uint32 {
	h := c.key.sum3(
		uint64(local)<<32|uint64(remote),
		uint64(lport)<<48|uint64(rport)<<32|uint64(peerISN),
		count<<3|mssIdx,
	)
	return uint32(h) & cookieHashMask
}

// Make returns the cookie to send as the ISN of the SYN-ACK that answers a
// SYN from remote:rport to local:lport with sequence number peerISN and MSS
// option mss (536 if the SYN had none), at time now in nanoseconds of a
// monotonic clock that starts at or after zero.
func (c *Cookies) Make(local, remote ipv4.Addr, lport, rport uint16, peerISN Seq, mss uint16, now int64) (isn Seq) {
	count := uint64(now / cookiePeriod)
	idx := cookieMSSIndex(mss)
	h := c.tag(local, remote, lport, rport, peerISN, count, idx)
	return Seq(uint32(count%32)<<cookieTimeShift | uint32(idx)<<cookieMSSShift | h)
}

// Check validates a cookie returned by a client: for an ACK from
// remote:rport to local:lport, the caller passes peerISN = SEG.SEQ - 1 and
// cookie = SEG.ACK - 1. It reports the MSS to use and whether the cookie was
// made by Make with the same key and tuple in the current or the previous
// time-counter period.
func (c *Cookies) Check(local, remote ipv4.Addr, lport, rport uint16, peerISN Seq, cookie Seq, now int64) (mss uint16, ok bool) {
	count := uint64(now / cookiePeriod)
	switch uint64(cookie >> cookieTimeShift) {
	case count % 32:
	case (count - 1) % 32:
		if count == 0 {
			return 0, false
		}
		count--
	default:
		return 0, false
	}
	idx := uint64(cookie>>cookieMSSShift) & 7
	if c.tag(local, remote, lport, rport, peerISN, count, idx) != uint32(cookie)&cookieHashMask {
		return 0, false
	}
	return cookieMSS[idx], true
}
