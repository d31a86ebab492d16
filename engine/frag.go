package engine

import (
	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/frag"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// Fragments, in and out.
//
// In: every fragment of a datagram must reach one lcore, and fragments
// carry no ports (only the first has the transport header), so a device's
// RSS hashes them on addresses alone and pmd's software owner of a TCP
// flow cannot be computed from them. A fragment's lcore is therefore
// chosen by the Toeplitz hash of (source, destination, identification,
// protocol), the identification and protocol standing where the ports
// would: all fragments of a datagram agree, and the datagrams of one pair
// of hosts spread over the lcores. A fragment received elsewhere is handed
// over on the steering ring, as TCP packets are. That lcore reassembles
// the datagram into a buffer of its reassembler (frag) and hands it to
// ICMP and UDP as if it had arrived whole; a reassembled TCP segment whose
// flow another lcore owns is lent to that lcore over the ring (the buffer
// comes back when the owner has read it: tcp.Stack.Input copies what it
// keeps).
//
// Out: a reply longer than the port's MTU, built in a reassembly buffer
// or an mbuf, is sent as fragments, each in an mbuf of its own. pmd sends
// UDP and ICMP without Don't Fragment (as it always has), so splitting its
// own replies is allowed: a request's DF asked that the request not be
// split on its way, and says nothing of the reply, which is a datagram of
// pmd's. TCP never needs it: segments are sized from the smallest MTU.

// FragConfig is reassembly's configuration: frag's bounds (Datagrams 0
// turns reassembly off: fragments are dropped as drop_ip_fragment) and
// whether a datagram that times out with its fragment 0 received is
// answered with an ICMP time exceeded (RFC 792 code 1, RFC 1122 3.3.2).
type FragConfig struct {
	frag.Config
	TimeExceeded bool
}

// fragQueue stands for a reassembled datagram's buffer where the input
// paths expect a queue and an mbuf: Free gives the buffer back to the
// reassembler, and sending goes through emitReply, which copies (and
// splits) the reply into mbufs of the real queue.
type fragQueue struct {
	dev.Queue // the real queue the datagram's last fragment came on
	l         *Lcore
	d         *frag.Datagram
}

// Free gives the datagram's buffer back; harmless twice.
func (f *fragQueue) Free(dev.Buf) {
	if f.d != nil {
		f.l.reasm.Release(f.d)
		f.d = nil
	}
}

// Send is not reached: emitReply sends for a reassembled datagram.
func (f *fragQueue) Send(b dev.Buf, n int, o dev.Offload) { f.Free(b) }

// isFrag reports whether q is the stand-in of a reassembled datagram.
func (l *Lcore) isFrag(q dev.Queue) bool { return q == dev.Queue(&l.fq) }

// fragOwner is the lcore that reassembles ip's datagram.
func (l *Lcore) fragOwner(ip ipv4.IPv4) int {
	if l.cfg.Owner == nil {
		return l.ID
	}
	return l.cfg.Owner.Of(ip.Src(), ip.Dst(), ip.ID(), uint16(ip.Protocol()))
}

// inputFragment takes a fragment for us (checked) into reassembly, on the
// lcore that owns its datagram.
func (l *Lcore) inputFragment(ifc *Iface, q dev.Queue, b dev.Buf, mac ipv4.MAC, ip ipv4.IPv4, meta dev.RxMeta, now int64) {
	if l.reasm == nil {
		l.drop(q, b, DropIPFragment)
		return
	}
	if l.steerTo != nil {
		if own := l.fragOwner(ip); own != l.ID {
			if !l.steerTo[own].Push(steered{port: ifc.index, b: b, ip: ip, meta: meta, frag: true, mac: mac}) {
				l.drop(q, b, DropSteerFull)
				return
			}
			l.c[SteeredOut]++
			return
		}
	}
	d, ok := l.reasm.Add(ip, ifc.index, mac, now)
	q.Free(b) // its bytes are copied
	if ok {
		l.deliver(d, now)
	}
}

// deliver hands a reassembled datagram to its protocol, as a frame in the
// reassembly buffer: the Ethernet header of its last fragment and an IPv4
// header without options (the input paths read no options, and replies
// carry none).
func (l *Lcore) deliver(d *frag.Datagram, now int64) {
	ifc := &l.cfg.Ifaces[d.Port]
	eth := ipv4.Ethernet(d.Buf)
	eth.SetDst(ifc.MAC)
	eth.SetSrc(d.MAC)
	eth.SetType(ipv4.EtherTypeIPv4)
	// No header checksum: nothing reads it, the verdict below says good.
	ipv4.IPv4Repr{Src: d.Src, Dst: d.Dst, Protocol: d.Proto, TTL: d.TTL, TOS: d.TOS, ID: d.ID, PayloadLen: d.Len}.Encode(eth[ethLen:], ipv4.ChecksumCaps{IPv4Tx: true})
	ip := ipv4.IPv4(eth[ethLen:])
	meta := dev.RxMeta{IPCksum: ipv4.RxCksumGood, L4Cksum: ipv4.RxCksumUnknown}
	fq := &l.fq
	fq.Queue, fq.d = l.queues[ifc.queue], d
	switch d.Proto {
	case ipv4.ProtoICMP:
		l.inputICMP(ifc, fq, 0, eth, ip, meta)
	case ipv4.ProtoUDP:
		l.inputUDP(ifc, fq, 0, eth, ip, meta, now)
	case ipv4.ProtoTCP:
		if l.steerTo != nil {
			if own := l.owner(ip); own != l.ID {
				l.lendTCP(own, d, ip)
				return
			}
		}
		l.inputTCP(ifc, fq, 0, ip, meta, now)
	default:
		l.unreachable(ifc, fq, 0, eth, ip, ipv4.ICMPProtocolUnreachable, DropIPProto, now)
	}
	fq.Free(0) // every path gave it back; this is in case one did not
}

// lendTCP hands a reassembled TCP segment to the lcore that owns its flow;
// the buffer stays this lcore's and returns when the owner is done.
func (l *Lcore) lendTCP(own int, d *frag.Datagram, ip ipv4.IPv4) {
	l.fq.d = nil
	lent := l.reasm.Lend(d)
	if !l.steerTo[own].Push(steered{port: d.Port, ip: ip, lent: lent}) {
		lent.Store(false)
		l.c[DropSteerFull]++
		return
	}
	l.c[SteeredOut]++
}

// inputLent processes a reassembled TCP segment lent by another lcore and
// gives its buffer back.
func (l *Lcore) inputLent(s steered, now int64) {
	seg := tcp.Header(s.ip.Payload())
	if seg.ChecksumValid(s.ip.Src(), s.ip.Dst()) {
		l.tcp.Input(s.ip.Dst(), s.ip.Src(), seg, now)
	} else {
		l.c[DropTCPChecksum]++
	}
	s.lent.Store(false)
}

// expireFrags gives up the datagrams whose time is over, answering each
// whose fragment 0 arrived with an ICMP time exceeded, within the ICMP
// error rate.
func (l *Lcore) expireFrags(now int64) {
	for {
		e, ok := l.reasm.Expire(now)
		if !ok {
			return
		}
		if len(e.Quote) > 0 && l.cfg.Frag.TimeExceeded && l.icmpAllowed(now) {
			l.timeExceeded(e)
		}
	}
}

// timeExceeded sends ICMP time exceeded, fragment reassembly time exceeded
// (RFC 792 type 11 code 1), quoting fragment 0's header and first 8 bytes,
// to the link source of the datagram's last fragment.
func (l *Lcore) timeExceeded(e *frag.Expired) {
	ifc := &l.cfg.Ifaces[e.Port]
	q := l.queues[ifc.queue]
	n := ipv4.ICMPHeaderLen + len(e.Quote)
	b, data, ok := q.Alloc()
	if !ok {
		l.c[DropNoMbuf]++
		return
	}
	if cap(data) < ethLen+ipLen+n {
		q.Free(b)
		l.c[DropNoMbuf]++
		return
	}
	eth := ipv4.Ethernet(data[:ethLen+ipLen+n])
	eth.SetSrc(e.MAC) // emitReply sends to the frame's source
	eth.SetType(ipv4.EtherTypeIPv4)
	ic := ipv4.ICMP(eth[ethLen+ipLen:])
	copy(ic[ipv4.ICMPHeaderLen:], e.Quote)
	ic.SetType(ipv4.ICMPTimeExceeded)
	ic.SetCode(1)
	ic.SetIdent(0) // the unused word
	ic.SetSeq(0)
	ic.ComputeChecksum()
	l.c[ICMPTimeExceeded]++
	l.emitReply(ifc, q, b, eth, e.Dst, e.Src, ipv4.ProtoICMP, 0, n, 0)
}

// sendSplit sends the IPv4 packet in frame (Ethernet header, a 20-byte
// IPv4 header, payload) on ifc's queue in fresh mbufs: whole if it fits
// the MTU, else as fragments of at most the MTU. Then it gives back b, the
// buffer frame is in (an mbuf of q, or a reassembly buffer).
func (l *Lcore) sendSplit(ifc *Iface, q dev.Queue, b dev.Buf, frame []byte, o dev.Offload) {
	out := l.queues[ifc.queue]
	caps := &l.caps[ifc.queue]
	o |= ifc.tag
	ip := ipv4.IPv4(frame[ethLen:])
	payload := frame[ethLen+ipLen:]
	mtu := ifc.mtu()
	step := len(payload)
	if ipLen+len(payload) > mtu {
		step = (mtu - ipLen) &^ 7 // RFC 791: fragments but the last carry multiples of 8 bytes
		// No device sums a transport checksum across fragments.
		if o&dev.OffUDPCksum != 0 {
			ipv4.UDP(payload).ComputeChecksum(ip.Src(), ip.Dst())
		}
		o &^= dev.OffUDPCksum | dev.OffTCPCksum
	}
	pieces := 0
	for off := 0; off < len(payload); off += step {
		end := min(off+step, len(payload))
		n := ethLen + ipLen + end - off
		nb, data, ok := out.Alloc()
		if ok && cap(data) < n {
			out.Free(nb)
			ok = false
		}
		if !ok {
			// The fragments sent already are wasted: the receiver times
			// them out.
			l.c[DropNoMbuf]++
			break
		}
		data = data[:n]
		copy(data, frame[:ethLen+ipLen])
		copy(data[ethLen+ipLen:], payload[off:end])
		if step < len(payload) {
			h := ipv4.IPv4(data[ethLen:])
			h.SetTotalLength(uint16(ipLen + end - off))
			var flags uint8
			if end < len(payload) {
				flags = ipv4.IPv4MoreFragments
			}
			h.SetFlags(flags)
			h.SetFragmentOffset(uint16(off))
			if !caps.IPv4Tx {
				h.ComputeChecksum()
			}
		}
		l.send(out, nb, n, o.WithL3Len(ipLen))
		pieces++
	}
	if step < len(payload) {
		l.c[IPFragmented]++
		l.c[IPFragsOut] += uint64(pieces)
	}
	q.Free(b)
}

// mtu is the port's IPv4 MTU.
func (ifc *Iface) mtu() int {
	if ifc.MTU == 0 {
		return 1500
	}
	return ifc.MTU
}

// publishFrag copies the reassembler's counters into the lcore's.
func (l *Lcore) publishFrag() {
	s := &l.reasm.S
	l.c[IPFragsIn], l.c[IPReassembled] = s.Fragments, s.Reassembled
	l.c[DropFragDuplicate], l.c[DropFragBad], l.c[DropFragOverlap] = s.Duplicates, s.Bad, s.Overlaps
	l.c[DropFragTooBig], l.c[DropFragTooMany], l.c[DropFragFull] = s.TooBig, s.TooMany, s.Full
	l.c[DropFragMemory], l.c[DropFragTimeout] = s.Memory, s.Timeouts
}

// fragRoom is the longest UDP reply to a reassembled datagram: what its
// buffer holds, up to the largest datagram.
func fragRoom(eth ipv4.Ethernet) int {
	return min(cap(eth)-ethLen-ipLen-ipv4.UDPHeaderLen, frag.MaxPayload-ipv4.UDPHeaderLen)
}
