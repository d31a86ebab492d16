package tcp

import "github.com/pmdstack/pmd/ipv4"

// Path MTU discovery (RFC 1191): every segment goes out with DF set; a
// router that cannot forward one without fragmenting drops it and answers
// ICMP "fragmentation needed", quoting our IPv4 header and the first 8
// bytes of the segment, with the next hop's MTU. The connection then
// sends smaller segments. Packetization-layer discovery (RFC 4821), which
// also works where that ICMP is filtered, is not done.

// minPathMTU is the smallest path MTU taken from ICMP: every IPv4 host
// must accept 576-byte datagrams (RFC 791, RFC 1122 3.3.3), and a forged
// message must not shrink a connection's segments to a few bytes each,
// which would multiply its packets (RFC 5927 7.2 discusses this attack).
const minPathMTU = 576

// mtuPlateaus are RFC 1191's plateaus (section 7), for routers that do
// not say the next hop's MTU: the largest below the datagram's length is
// tried.
var mtuPlateaus = [...]int{32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68}

// FragmentationNeeded takes an ICMP "fragmentation needed and DF set"
// quoting a segment we sent from local:lport to remote:rport with
// sequence number seq, in a datagram of quotedLen bytes; mtu is the next
// hop's MTU (0 if the router did not say). After RFC 5927's checks (a
// connection has this 4-tuple, is synchronized, and seq lies in
// SND.UNA..SND.NXT: a blind attacker does not know them), the
// connection's segments shrink to fit and what was in flight is sent
// again at the new size, without counting it as congestion. It reports
// whether the message was taken (tcp_pmtu_lowered) or ignored
// (tcp_pmtu_ignored).
func (s *Stack) FragmentationNeeded(local, remote ipv4.Addr, lport, rport uint16, seq Seq, mtu, quotedLen int, now int64) bool {
	if s.depth != 0 {
		reentered()
	}
	s.now = now
	c := s.conns.get(FourTuple{Local: local, Remote: remote, LocalPort: lport, RemotePort: rport})
	if c == nil || !c.state.synchronized() || c.state == TimeWait || seq.LessThan(c.sndUna) || seq.GreaterThan(c.sndNxt) {
		s.C[PMTUIgnored]++
		return false
	}
	if mtu == 0 {
		for _, p := range mtuPlateaus {
			if p < quotedLen {
				mtu = p
				break
			}
		}
	}
	mtu = max(mtu, minPathMTU)
	mss := mtu - ipv4.IPv4MinHeaderLen - HeaderMinLen
	if c.tsOK {
		mss -= 12 // the timestamps ride on every segment
	}
	if mss >= c.mss {
		// Not smaller than what we send: a stale message about an
		// earlier, larger segment, or a forged one.
		s.C[PMTUIgnored]++
		return false
	}
	s.C[PMTULowered]++
	c.mss = mss
	// What was sent at the old size beyond the bottleneck is lost:
	// send it again at the new size. Loss to a too-small MTU is no
	// congestion (RFC 1191 6.5), so the windows stay.
	c.rttTiming = false
	c.sndNxt = c.sndUna
	c.sacked = c.sacked[:0]
	c.output(now)
	if c.tRtx == 0 && c.sndMax.GreaterThan(c.sndUna) {
		c.tRtx = now + c.rto
	}
	c.schedule()
	return true
}
