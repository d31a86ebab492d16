package engine

import (
	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
)

// UDPHandler answers the datagrams to one UDP port, on the lcore that
// received them: the same contract as TCP's handlers, without
// connections. A panic in Datagram is not recovered.
type UDPHandler interface {
	// Datagram is called once per datagram; d and its Payload are valid
	// only during the call. Without Echo or Reply the datagram is taken
	// and counted in udp_discarded.
	Datagram(d *Datagram)
}

// UDPHandlerFunc makes a function a UDPHandler.
type UDPHandlerFunc func(d *Datagram)

// Datagram implements UDPHandler.
func (f UDPHandlerFunc) Datagram(d *Datagram) { f(d) }

// Datagram is one received UDP datagram, in the packet's own buffer.
type Datagram struct {
	Src, Dst         ipv4.Addr
	SrcPort, DstPort uint16
	// Payload is the datagram's data. A handler may overwrite it, and up
	// to Room bytes past its start, to build a reply in place.
	Payload []byte
	room    int
	echo    bool
	reply   int // bytes of reply, -1 for none
}

// Room is how long a reply may be: what the buffer holds and the port's
// MTU allows.
func (d *Datagram) Room() int { return d.room }

// Echo sends the datagram back to its sender unchanged (its checksum
// stays valid, so none is computed).
func (d *Datagram) Echo() { d.echo, d.reply = true, -1 }

// Reply sends the first n bytes at Payload's start (Payload[:n], with n up
// to Room) back to the sender, from the port it was sent to. It reports
// false, sending nothing, when n is out of range.
func (d *Datagram) Reply(n int) bool {
	if n < 0 || n > d.room {
		return false
	}
	d.echo, d.reply = false, n
	return true
}

// ReplyBuf is the buffer a reply is written into: Payload's start, Room
// bytes long.
func (d *Datagram) ReplyBuf() []byte { return d.Payload[:d.room:d.room] }

// udpRoom is the longest reply that fits both the request's buffer (from
// its payload on) and the MTU.
func udpRoom(eth ipv4.Ethernet, ip ipv4.IPv4, mtu int) int {
	if mtu == 0 {
		mtu = 1500
	}
	payload := ethLen + ip.HeaderLen() + ipv4.UDPHeaderLen
	return max(0, min(cap(eth)-payload, mtu-ipLen-ipv4.UDPHeaderLen))
}

// replyUDP sends d's reply back in the request's buffer: ports swapped, a
// new length and checksum, and the IPv4 header as reflect writes it.
func (l *Lcore) replyUDP(ifc *Iface, q dev.Queue, b dev.Buf, eth ipv4.Ethernet, ip ipv4.IPv4, u ipv4.UDP, d *Datagram) {
	n := ipv4.UDPHeaderLen + d.reply
	u = u[:cap(u)][:n]
	sp, dp := u.SrcPort(), u.DstPort()
	u.SetSrcPort(dp)
	u.SetDstPort(sp)
	u.SetLength(uint16(n))
	var o dev.Offload
	if l.caps[ifc.queue].UDPTx {
		u.SetChecksum(ipv4.Fold(ipv4.PseudoHeaderSum(d.Dst, d.Src, ipv4.ProtoUDP, uint16(n))))
		o |= dev.OffUDPCksum
	} else {
		u.ComputeChecksum(d.Dst, d.Src)
	}
	l.c[UDPReplied]++
	src, dst, tos := ip.Dst(), ip.Src(), ip.TOS()
	if hl := ip.HeaderLen(); hl > ipLen {
		copy(ip[ipLen:], ip[hl:hl+n])
	}
	eth = eth[:cap(eth)]
	l.emitReply(ifc, q, b, eth, src, dst, ipv4.ProtoUDP, tos, n, o)
}
