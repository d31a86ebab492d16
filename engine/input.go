package engine

import (
	"runtime/debug"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
)

const (
	ethLen = ipv4.EthernetHeaderLen
	ipLen  = ipv4.IPv4MinHeaderLen
	// replyTTL is the TTL of packets we originate.
	replyTTL = 64
)

// input handles one received frame on port i: on the port's untagged
// link, or on the VLAN its tag names. Every path ends with the buffer
// sent or dropped with a counter.
func (l *Lcore) input(i int, q dev.Queue, b dev.Buf, data []byte, meta dev.RxMeta, now int64) {
	l.c[RxPackets]++
	l.c[RxBytes] += uint64(len(data))
	eth := ipv4.Ethernet(data)
	if !eth.Valid() {
		l.drop(q, b, DropEthShort)
		return
	}
	ifc := &l.cfg.Ifaces[i]
	if meta.VLAN&0xfff != 0 { // a priority tag (VLAN 0) is the untagged link's
		if ifc = l.vlanIface(i, meta.VLAN&0xfff); ifc == nil {
			if !l.excSend(i, dev.Offload(meta.VLAN)<<16, q, b, len(data)) {
				l.drop(q, b, DropVLANUnknown)
			}
			return
		}
		l.c[VLANRxPackets]++
	}
	if dst := eth.Dst(); dst != ifc.MAC && !dst.IsBroadcast() {
		if dst.IsMulticast() && l.toKernel(ifc, q, b, len(data)) {
			return
		}
		l.drop(q, b, DropEthNotOurs)
		return
	}
	switch eth.Type() {
	case ipv4.EtherTypeIPv4:
		l.inputIPv4(ifc, q, b, eth, meta, now)
	case ipv4.EtherTypeARP:
		l.inputARP(ifc, q, b, eth)
	default:
		if !l.toKernel(ifc, q, b, len(data)) {
			l.drop(q, b, DropEthType)
		}
	}
}

// vlanIface is port i's interface for VLAN vid; nil if it has none.
func (l *Lcore) vlanIface(i int, vid uint16) *Iface {
	for _, v := range l.vlans {
		if v.port == i && v.vid == vid {
			return &l.cfg.Ifaces[v.ifc]
		}
	}
	return nil
}

// inputARP answers requests for our address and learns the sender of every
// request or reply aimed at us (RFC 826, RFC 1122 2.3.2).
func (l *Lcore) inputARP(ifc *Iface, q dev.Queue, b dev.Buf, eth ipv4.Ethernet) {
	a := ipv4.ARP(eth.Payload())
	if a.Check() != nil {
		l.drop(q, b, DropARPBad)
		return
	}
	if !ifc.Owns(a.TargetAddr()) {
		if !l.toKernel(ifc, q, b, len(eth)) {
			l.drop(q, b, DropARPNotOurs)
		}
		return
	}
	sender := a.SenderAddr()
	if sender != 0 && ifc.OnLink(sender) && !a.SenderMAC().IsMulticast() {
		if !l.learn.Push(Learned{Addr: sender, MAC: a.SenderMAC()}) {
			l.c[DropLearnFull]++
		} else if l.cfg.Learned != nil {
			select {
			case l.cfg.Learned <- struct{}{}:
			default: // a wake-up is already pending
			}
		}
	}
	switch a.Op() {
	case ipv4.ARPRequest:
		l.c[ARPRequestsIn]++
		ipv4.ARPReplyInPlace(a, ifc.MAC)
		eth.SetDst(eth.Src())
		eth.SetSrc(ifc.MAC)
		l.c[ARPRepliesOut]++
		l.send(q, b, len(eth), ifc.tag)
	case ipv4.ARPReply:
		l.c[ARPRepliesIn]++
		// A kernel that shares our address may have asked too.
		if !l.toKernel(ifc, q, b, len(eth)) {
			q.Free(b)
		}
	default:
		l.drop(q, b, DropARPBad)
	}
}

func (l *Lcore) inputIPv4(ifc *Iface, q dev.Queue, b dev.Buf, eth ipv4.Ethernet, meta dev.RxMeta, now int64) {
	ip := ipv4.IPv4(eth.Payload())
	if ip.Check() != nil {
		l.drop(q, b, DropIPBad)
		return
	}
	// The device's verdict where it gave one, ours where it did not.
	if !(meta.IPCksum == ipv4.RxCksumGood || meta.IPCksum == ipv4.RxCksumUnknown && ip.ChecksumValid()) {
		l.drop(q, b, DropIPChecksum)
		return
	}
	if !ifc.Owns(ip.Dst()) {
		if !l.toKernel(ifc, q, b, ethLen+len(ip)) {
			l.drop(q, b, DropIPNotOurs)
		}
		return
	}
	// Never answer a source that cannot be a single host (RFC 1122
	// 3.2.1.3), nor one that claims our own address (a "land" attack:
	// the answer would come back to us as a new packet).
	if src := ip.Src(); src == 0 || src.IsBroadcast() || src.IsMulticast() || ifc.isBroadcast(src) || src>>24 == 127 || ifc.Owns(src) {
		l.drop(q, b, DropIPBadSource)
		return
	}
	if ip.IsFragment() {
		l.inputFragment(ifc, q, b, eth.Src(), ip, meta, now)
		return
	}
	switch ip.Protocol() {
	case ipv4.ProtoICMP:
		l.inputICMP(ifc, q, b, eth, ip, meta)
	case ipv4.ProtoUDP:
		l.inputUDP(ifc, q, b, eth, ip, meta, now)
	case ipv4.ProtoTCP:
		if meta.HasHash {
			l.checkHash(ip, meta)
		}
		if l.steerTo != nil {
			if own := l.owner(ip); own != l.ID {
				l.steer(own, ifc.index, q, b, ip, meta)
				return
			}
		}
		l.inputTCP(ifc, q, b, ip, meta, now)
	default:
		if l.toKernel(ifc, q, b, ethLen+len(ip)) {
			return
		}
		l.unreachable(ifc, q, b, eth, ip, ipv4.ICMPProtocolUnreachable, DropIPProto, now)
	}
}

func (l *Lcore) inputICMP(ifc *Iface, q dev.Queue, b dev.Buf, eth ipv4.Ethernet, ip ipv4.IPv4, meta dev.RxMeta) {
	ic := ipv4.ICMP(ip.Payload())
	if ic.Check() != nil {
		l.drop(q, b, DropICMPBad)
		return
	}
	if !ic.ChecksumValid() {
		l.drop(q, b, DropICMPChecksum)
		return
	}
	if ic.Type() == ipv4.ICMPDestUnreachable && ic.Code() == ipv4.ICMPFragmentationNeeded {
		l.fragmentationNeeded(ifc, q, b, ip, ic, meta)
		return
	}
	if ic.Type() != ipv4.ICMPEchoRequest || ic.Code() != 0 {
		l.drop(q, b, DropICMPType)
		return
	}
	ipv4.EchoReplyInPlace(ic)
	l.c[ICMPEchoReplies]++
	l.reflect(ifc, q, b, eth, ip, len(ic), 0)
}

func (l *Lcore) inputUDP(ifc *Iface, q dev.Queue, b dev.Buf, eth ipv4.Ethernet, ip ipv4.IPv4, meta dev.RxMeta, now int64) {
	u := ipv4.UDP(ip.Payload())
	if u.Check() != nil {
		l.drop(q, b, DropUDPBad)
		return
	}
	if !(meta.L4Cksum == ipv4.RxCksumGood || meta.L4Cksum == ipv4.RxCksumUnknown && u.ChecksumValid(ip.Src(), ip.Dst())) {
		l.drop(q, b, DropUDPChecksum)
		return
	}
	l.c[UDPIn]++
	k := l.udpPort[u.DstPort()]
	if k == 0 {
		if !l.toKernel(ifc, q, b, ethLen+len(ip)) {
			l.unreachable(ifc, q, b, eth, ip, ipv4.ICMPPortUnreachable, DropUDPNoPort, now)
		}
		return
	}
	room := udpRoom(eth, ip, ifc.MTU)
	if l.isFrag(q) {
		room = fragRoom(eth) // a reply as long as the request at least: sent as fragments
	}
	d := &l.dgram
	*d = Datagram{Src: ip.Src(), Dst: ip.Dst(), SrcPort: u.SrcPort(), DstPort: u.DstPort(), Payload: u.Payload(), room: room, reply: -1}
	if !l.callUDP(l.udp[k-1], d) {
		l.c[UDPHandlerPanics]++
		q.Free(b)
		return
	}
	switch {
	case d.echo:
		// Swapping addresses and ports leaves the checksum as it was:
		// the one's-complement sum does not depend on their order.
		sp, dp := u.SrcPort(), u.DstPort()
		u.SetSrcPort(dp)
		u.SetDstPort(sp)
		l.c[UDPEchoed]++
		l.reflect(ifc, q, b, eth, ip, int(u.Length()), 0)
	case d.reply >= 0:
		l.replyUDP(ifc, q, b, eth, ip, u, d)
	default:
		l.c[UDPDiscarded]++
		q.Free(b)
	}
}

// callUDP runs a UDP handler, containing a panic: false if it panicked
// (the datagram is then dropped, unanswered).
func (l *Lcore) callUDP(h UDPHandler, d *Datagram) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			ok = false
			l.keepPanic(&HandlerPanic{Proto: "udp", Value: r, Stack: debug.Stack()})
		}
	}()
	h.Datagram(d)
	return true
}

// reflect turns the received packet into its reply in place: addresses
// swapped, a fresh 20-byte IPv4 header (options are not echoed), the
// payload of n bytes moved behind it if the request had options.
func (l *Lcore) reflect(ifc *Iface, q dev.Queue, b dev.Buf, eth ipv4.Ethernet, ip ipv4.IPv4, n int, o dev.Offload) {
	src, dst, proto, tos := ip.Src(), ip.Dst(), ip.Protocol(), ip.TOS()
	if hl := ip.HeaderLen(); hl > ipLen {
		copy(ip[ipLen:], ip[hl:hl+n])
	}
	l.emitReply(ifc, q, b, eth, dst, src, proto, tos, n, o)
}

// emitReply writes the IPv4 header for n bytes of payload already in place
// behind it, addresses the frame back to its sender and sends it.
func (l *Lcore) emitReply(ifc *Iface, q dev.Queue, b dev.Buf, eth ipv4.Ethernet, src, dst ipv4.Addr, proto, tos uint8, n int, o dev.Offload) {
	l.ipID++
	caps := l.caps[ifc.queue]
	ipv4.IPv4Repr{Src: src, Dst: dst, Protocol: proto, TTL: replyTTL, TOS: tos, ID: l.ipID, PayloadLen: n}.Encode(eth[ethLen:], caps)
	if caps.IPv4Tx {
		o |= dev.OffIPv4Cksum
	}
	eth.SetDst(eth.Src())
	eth.SetSrc(ifc.MAC)
	if ipLen+n > ifc.mtu() || l.isFrag(q) {
		l.sendSplit(ifc, q, b, eth[:ethLen+ipLen+n], o)
		return
	}
	l.send(q, b, ethLen+ipLen+n, (o | ifc.tag).WithL3Len(ipLen))
}

// unreachable answers a datagram nobody takes with an ICMP destination
// unreachable (RFC 1122 3.2.2.1, 4.1.3.1), rate-limited per lcore, built in
// place over the request: IPv4 header, ICMP header, then the original IPv4
// header and the first 8 bytes of its payload (RFC 792).
func (l *Lcore) unreachable(ifc *Iface, q dev.Queue, b dev.Buf, eth ipv4.Ethernet, ip ipv4.IPv4, code uint8, why Counter, now int64) {
	l.c[why]++
	quote := ip.HeaderLen() + min(8, len(ip.Payload()))
	n := ipv4.ICMPHeaderLen + quote
	if cap(eth) < ethLen+ipLen+n || !l.icmpAllowed(now) {
		q.Free(b)
		return
	}
	src, dst := ip.Src(), ip.Dst()
	eth = eth[:ethLen+ipLen+n]
	ic := ipv4.ICMP(eth[ethLen+ipLen:])
	copy(ic[ipv4.ICMPHeaderLen:], ip[:quote]) // overlapping: copy moves
	ic.SetType(ipv4.ICMPDestUnreachable)
	ic.SetCode(code)
	ic.SetIdent(0) // the unused word
	ic.SetSeq(0)
	ic.ComputeChecksum()
	l.c[ICMPUnreachOut]++
	l.emitReply(ifc, q, b, eth, dst, src, ipv4.ProtoICMP, 0, n, 0)
}

// icmpAllowed is a token bucket of ICMPRate errors per second.
func (l *Lcore) icmpAllowed(now int64) bool {
	if now >= l.icmpRefill {
		l.icmpTokens = l.cfg.ICMPRate
		l.icmpRefill = now + int64(1e9)
	}
	if l.icmpTokens <= 0 {
		return false
	}
	l.icmpTokens--
	return true
}
