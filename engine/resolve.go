package engine

import (
	"math"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
)

// pendingPkt is a frame waiting for its next hop's link address.
type pendingPkt struct {
	port     int
	buf      dev.Buf
	frame    []byte // the whole frame; the Ethernet destination is filled on release
	n        int
	off      dev.Offload
	hop      ipv4.Addr
	deadline int64 // drop after this
}

// pendingHop is the ARP schedule of a next hop that pending frames wait
// for: one request per hop at a time, whatever the number of frames.
type pendingHop struct {
	nextReq int64 // the next request
	frames  int   // frames waiting for it
}

// Route chooses the interface (its index in Config.Ifaces) and next hop
// for dst: the interface whose prefix holds dst, or else the one with a
// gateway.
func (l *Lcore) Route(dst ipv4.Addr) (port int, hop ipv4.Addr, ok bool) {
	bits := -1
	for i := range l.cfg.Ifaces {
		ifc := &l.cfg.Ifaces[i]
		if ifc.Prefix.Contains(dst) && ifc.Prefix.Bits > bits {
			port, hop, bits = i, dst, ifc.Prefix.Bits
		}
		for _, p := range ifc.Addrs {
			if p.Contains(dst) && p.Bits > bits {
				port, hop, bits = i, dst, p.Bits
			}
		}
	}
	for _, r := range l.cfg.Routes {
		if r.Prefix.Contains(dst) && r.Prefix.Bits > bits {
			port, hop, bits = r.Port, r.Via, r.Prefix.Bits
		}
	}
	if bits >= 0 {
		return port, hop, true
	}
	for i := range l.cfg.Ifaces {
		if gw := l.cfg.Ifaces[i].Gateway; gw != 0 {
			return i, gw, true
		}
	}
	return 0, 0, false
}

// Route is a static route: the network Prefix through the neighbour Via
// on interface Port (an index in Config.Ifaces: a port or a VLAN).
type Route struct {
	Prefix ipv4.Prefix
	Via    ipv4.Addr
	Port   int
}

// Owns reports whether a is one of our addresses on the interface.
func (ifc *Iface) Owns(a ipv4.Addr) bool {
	if a == ifc.Prefix.Addr {
		return true
	}
	for _, p := range ifc.Addrs {
		if a == p.Addr {
			return true
		}
	}
	return false
}

// OnLink reports whether a is in one of the interface's networks.
func (ifc *Iface) OnLink(a ipv4.Addr) bool {
	if ifc.Prefix.Contains(a) {
		return true
	}
	for _, p := range ifc.Addrs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// isBroadcast reports whether a is the broadcast address of one of the
// interface's networks.
func (ifc *Iface) isBroadcast(a ipv4.Addr) bool {
	if a == ifc.Prefix.Broadcast() {
		return true
	}
	for _, p := range ifc.Addrs {
		if a == p.Broadcast() {
			return true
		}
	}
	return false
}

// AddrFor is our address to use toward the neighbour hop: the one whose
// network holds it, else the first.
func (ifc *Iface) AddrFor(hop ipv4.Addr) ipv4.Addr {
	if ifc.Prefix.Contains(hop) {
		return ifc.Prefix.Addr
	}
	for _, p := range ifc.Addrs {
		if p.Contains(hop) {
			return p.Addr
		}
	}
	return ifc.Prefix.Addr
}

// SendIPv4 transmits a frame whose IPv4 packet (from byte 14 on) is built,
// routing it by its destination: it fills the Ethernet header from the
// neighbour table, or holds the frame (bounded) while ARP resolves the next
// hop. The buffer belongs to the lcore afterwards.
func (l *Lcore) SendIPv4(b dev.Buf, frame []byte, n int, off dev.Offload, now int64) {
	dst := ipv4.IPv4(frame[ethLen:]).Dst()
	port, hop, ok := l.Route(dst)
	if !ok {
		l.drop(l.queues[0], b, DropNoRoute)
		return
	}
	l.sendVia(port, hop, b, frame, n, off, now)
}

// sendVia is SendIPv4 with the route already chosen.
func (l *Lcore) sendVia(port int, hop ipv4.Addr, b dev.Buf, frame []byte, n int, off dev.Offload, now int64) {
	ifc := &l.cfg.Ifaces[port]
	eth := ipv4.Ethernet(frame)
	eth.SetSrc(ifc.MAC)
	eth.SetType(ipv4.EtherTypeIPv4)
	off |= ifc.tag
	if mac, until, _, ok := l.cfg.Neigh.LookupVersion(hop, now); ok {
		eth.SetDst(mac)
		l.send(l.queues[ifc.queue], b, n, off)
		l.refresh(port, hop, until, now)
		return
	}
	if len(l.pending) == cap(l.pending) {
		l.drop(l.queues[ifc.queue], b, DropARPPendingFull)
		return
	}
	p := pendingPkt{port: port, buf: b, frame: frame, n: n, off: off, hop: hop,
		deadline: now + int64(l.cfg.ARPTries)*int64(l.cfg.ARPRetry)}
	if len(l.pending) == 0 {
		l.pendingDue = p.deadline
	}
	// One request per hop at a time: a second packet to the same hop
	// shares the first one's schedule.
	h, ok := l.pendingHops[hop]
	if !ok {
		l.requestARP(port, hop)
		h.nextReq = now + int64(l.cfg.ARPRetry)
	}
	h.frames++
	l.pendingHops[hop] = h
	l.pendingDue = min(l.pendingDue, p.deadline, h.nextReq)
	l.pending = append(l.pending, p)
}

// refresh asks a next hop in use for its address again once its entry is
// in the last quarter of its life, while packets keep going to the MAC
// address it has (as a kernel re-probes a stale neighbour in use): the
// answer renews the entry before it expires. Without it, a busy next hop
// expired every arp.timeout, and its traffic, up to the line rate, waited
// for ARP in the bounded pending queue and overflowed it. At most one
// request per hop per arp.retry.
func (l *Lcore) refresh(port int, hop ipv4.Addr, until, now int64) {
	if until-now > l.cfg.Neigh.TTL()/4 {
		return
	}
	if next, ok := l.refreshing[hop]; ok && now < next {
		return
	}
	if l.refreshing == nil || len(l.refreshing) > refreshHops {
		l.refreshing = make(map[ipv4.Addr]int64) // forget the hops long renewed
	}
	l.refreshing[hop] = now + int64(l.cfg.ARPRetry)
	l.c[ARPRefreshes]++
	l.requestARP(port, hop)
}

// refreshHops bounds the hops refresh remembers.
const refreshHops = 4096

// servicePending releases frames whose next hop is now known, requests the
// others again when their retry is due, and drops those out of time. It
// goes through the frames only when the neighbour table changed or a
// request or deadline is due: a full queue (arp.pending frames for as many
// hops, as a flood from spoofed addresses leaves behind) costs a poll
// nothing in between.
func (l *Lcore) servicePending(now int64) {
	v := l.cfg.Neigh.Version() // before the lookups: a change during them makes another pass
	if v == l.pendingVer && now < l.pendingDue {
		return
	}
	l.pendingVer = v
	l.pendingPass++
	due := int64(math.MaxInt64)
	keep := l.pending[:0]
	for _, p := range l.pending {
		q := l.queues[l.cfg.Ifaces[p.port].queue]
		if mac, ok := l.cfg.Neigh.Lookup(p.hop, now); ok {
			ipv4.Ethernet(p.frame).SetDst(mac)
			l.send(q, p.buf, p.n, p.off)
			l.unwait(p.hop)
			continue
		}
		if now >= p.deadline {
			l.drop(q, p.buf, DropARPUnresolved)
			l.unwait(p.hop)
			continue
		}
		h := l.pendingHops[p.hop]
		if now >= h.nextReq {
			l.requestARP(p.port, p.hop)
			h.nextReq = now + int64(l.cfg.ARPRetry)
			l.pendingHops[p.hop] = h
		}
		due = min(due, p.deadline, h.nextReq)
		keep = append(keep, p)
	}
	clear(l.pending[len(keep):])
	l.pending = keep
	l.pendingDue = due
}

// unwait counts a frame that no longer waits for hop.
func (l *Lcore) unwait(hop ipv4.Addr) {
	h := l.pendingHops[hop]
	if h.frames--; h.frames <= 0 {
		delete(l.pendingHops, hop)
		return
	}
	l.pendingHops[hop] = h
}

// requestARP broadcasts "who has hop" on interface port (RFC 826).
func (l *Lcore) requestARP(port int, hop ipv4.Addr) {
	ifc := &l.cfg.Ifaces[port]
	q := l.queues[ifc.queue]
	b, data, ok := q.Alloc()
	if !ok {
		l.c[DropNoMbuf]++
		return
	}
	const frameLen = 60 // the Ethernet minimum without FCS
	data = data[:frameLen]
	clear(data)
	ipv4.EthernetRepr{Dst: ipv4.BroadcastMAC, Src: ifc.MAC, Type: ipv4.EtherTypeARP}.Encode(data)
	ipv4.ARPRepr{Op: ipv4.ARPRequest, SenderMAC: ifc.MAC, SenderAddr: ifc.AddrFor(hop), TargetAddr: hop}.Encode(data[ethLen:])
	l.c[ARPRequestsOut]++
	l.send(q, b, frameLen, ifc.tag)
}

// Control is the single writer of the neighbour table: it drains what the
// lcores learned and expires old entries. One goroutine calls Tick.
type Control struct {
	Neigh  *ipv4.Neighbours
	Lcores []*Lcore
}

// Tick applies learned neighbours and expires entries at time now.
func (c *Control) Tick(now int64) {
	for _, l := range c.Lcores {
		for {
			n, ok := l.learn.Pop()
			if !ok {
				break
			}
			c.Neigh.Update(n.Addr, n.MAC, now)
		}
	}
	c.Neigh.Expire(now)
}
