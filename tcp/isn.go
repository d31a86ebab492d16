package tcp

import "github.com/pmdstack/pmd/ipv4"

// isnTick is the period of the RFC 6528 clock M in nanoseconds: 4 µs, so the
// clock advances 250,000 per second and wraps the sequence space in about
// 4.77 hours (RFC 9293 3.4.1).
const isnTick = 4000

// ISNGen chooses initial sequence numbers as RFC 6528 section 3 specifies:
//
//	ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//
// where M is a 4 µs timer and F is SipHash-2-4 keyed with a 128-bit secret.
// Each connection 4-tuple gets its own sequence space, unpredictable to an
// off-path attacker, that still advances with time so that a new incarnation
// of a connection starts above the sequence numbers of the old one.
//
// An ISNGen is immutable after NewISNGen and safe for concurrent use.
type ISNGen struct {
	key sipKey
}

// NewISNGen returns a generator keyed with seed, which should come from a
// cryptographically secure source such as crypto/rand and stay secret.
func NewISNGen(seed [16]byte) *ISNGen {
	return &ISNGen{key: newSipKey(seed)}
}

// ISN returns the initial sequence number for a connection from local:lport
// to remote:rport at time now, in nanoseconds of a monotonic clock that
// starts at or after zero. The value grows by 250,000 per second of now for a
// fixed 4-tuple; different 4-tuples are offset by unrelated 32-bit values.
func (g *ISNGen) ISN(local, remote ipv4.Addr, lport, rport uint16, now int64) Seq {
	f := g.key.sum(uint64(local)<<32|uint64(remote), uint64(lport)<<16|uint64(rport))
	return Seq(uint32(now/isnTick) + uint32(f))
}
