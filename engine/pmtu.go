package engine

import (
	"encoding/binary"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// fragmentationNeeded takes an ICMP "fragmentation needed and DF set"
// (RFC 1191) to the TCP connection whose segment it quotes: our IPv4
// header and the first 8 bytes of the segment (ports and sequence
// number). The router's address is the packet's source, so the device
// spread it by that, not by the connection: with several lcores it is
// handed to the connection's owner as a TCP segment of the flow would
// be. Anything that quotes no segment of ours is dropped and counted.
func (l *Lcore) fragmentationNeeded(ifc *Iface, q dev.Queue, b dev.Buf, ip ipv4.IPv4, ic ipv4.ICMP, meta dev.RxMeta) {
	quoted := ipv4.IPv4(ic.Payload())
	if len(quoted) < ipLen || quoted[0]>>4 != 4 {
		l.drop(q, b, DropICMPBad)
		return
	}
	hl := quoted.HeaderLen()
	if hl < ipLen || len(quoted) < hl+8 || quoted.Protocol() != ipv4.ProtoTCP || !ifc.Owns(quoted.Src()) {
		l.drop(q, b, DropICMPType) // about something else than our TCP: not ours to act on
		return
	}
	seg := quoted[hl:]
	lport, rport := binary.BigEndian.Uint16(seg), binary.BigEndian.Uint16(seg[2:])
	remote := quoted.Dst()
	if l.steerTo != nil {
		if own := l.cfg.Owner.Of(remote, quoted.Src(), rport, lport); own != l.ID {
			l.steer(own, ifc.index, q, b, ip, meta)
			return
		}
	}
	l.c[ICMPFragNeededIn]++
	mtu := int(binary.BigEndian.Uint16(ic[6:])) // RFC 1191 4: the next hop's MTU, in the low half of the unused word
	l.tcp.FragmentationNeeded(quoted.Src(), remote, lport, rport, tcp.Seq(binary.BigEndian.Uint32(seg[4:])), mtu, int(quoted.TotalLength()), l.now)
	q.Free(b)
}
