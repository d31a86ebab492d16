package engine

import (
	"sync/atomic"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// tcpOut is the lcore's link layer as TCP sees it: a buffer with room for
// the Ethernet and IPv4 headers in front of the segment, then the IPv4
// header, the checksum (in software or offloaded) and next-hop resolution.
type tcpOut struct {
	l      *Lcore
	port   int         // the interface
	queue  int         // its port's queue
	tag    dev.Offload // its VLAN tag
	hop    ipv4.Addr
	frame  []byte
	cached bool // the frame goes by path, not through sendVia
	busy   bool // the last Alloc failed for a moment (Busy)
	path   tcpPath
}

// tcpPath is the route and link header of the last destination TCP sent
// to, kept while the neighbour entry behind it holds: a run of segments to
// one peer (every connection from one client) resolves it once, not once
// per segment.
type tcpPath struct {
	ok     bool
	remote ipv4.Addr
	port   int
	queue  int
	tag    dev.Offload
	eth    [ethLen]byte // destination, source, type
	table  ipv4.NeighVersion
	until  int64
}

const tcpHeadroom = ethLen + ipLen

func (o *tcpOut) Alloc(id *tcp.FourTuple, n int) (uintptr, []byte, bool) {
	l := o.l
	p := &o.path
	o.busy = false
	var port, queue int
	var tag dev.Offload
	if p.ok && p.remote == id.Remote && l.now < p.until && l.cfg.Neigh.Version() == p.table {
		port, queue, tag, o.cached = p.port, p.queue, p.tag, true
	} else {
		var hop ipv4.Addr
		var ok bool
		port, hop, ok = l.Route(id.Remote)
		if !ok {
			l.c[DropNoRoute]++
			return 0, nil, false
		}
		ifc := &l.cfg.Ifaces[port]
		queue, tag = ifc.queue, ifc.tag
		o.hop, o.cached = hop, o.learnPath(id.Remote, port, hop)
	}
	q := l.queues[queue]
	if !q.CanSend() {
		// The TX queue is full: TCP holds the segment back until a
		// later poll finds room, rather than losing it here.
		o.busy = true
		return 0, nil, false
	}
	b, data, ok := q.Alloc()
	if !ok {
		l.c[DropNoMbuf]++
		o.busy = true // the buffers in flight come back as the device sends them
		return 0, nil, false
	}
	if cap(data) < tcpHeadroom+n {
		q.Free(b)
		l.c[DropNoMbuf]++
		return 0, nil, false
	}
	o.port, o.queue, o.tag, o.frame = port, queue, tag, data[:tcpHeadroom+n]
	return uintptr(b), o.frame[tcpHeadroom:], true
}

// learnPath remembers remote's route if its next hop is resolved, and
// reports whether it did.
func (o *tcpOut) learnPath(remote ipv4.Addr, port int, hop ipv4.Addr) bool {
	l := o.l
	p := &o.path
	mac, until, v, ok := l.cfg.Neigh.LookupVersion(hop, l.now)
	p.ok = ok
	if !ok {
		return false
	}
	ifc := &l.cfg.Ifaces[port]
	l.refresh(port, hop, until, l.now)
	// Kept until the entry's last quarter of life, when refresh asks
	// again: the segments then look it up, and ask, until the answer
	// renews it (a new table version ends the path too).
	if r := until - l.cfg.Neigh.TTL()/4; r > l.now {
		until = r
	}
	p.remote, p.port, p.queue, p.tag, p.table, p.until = remote, port, ifc.queue, ifc.tag, v, until
	eth := ipv4.Ethernet(p.eth[:])
	eth.SetDst(mac)
	eth.SetSrc(ifc.MAC)
	eth.SetType(ipv4.EtherTypeIPv4)
	return true
}

// Busy reports whether the last Alloc failed on a full TX queue or a dry
// pool, which a later poll may find otherwise (tcp.Output).
func (o *tcpOut) Busy() bool { return o.busy }

func (o *tcpOut) Send(tok uintptr, id *tcp.FourTuple, n int) {
	l := o.l
	frame := o.frame[:tcpHeadroom+n]
	caps := &l.caps[o.queue]
	seg := tcp.Header(frame[tcpHeadroom:])
	var off dev.Offload
	if caps.TCPTx {
		seg.SetPseudoChecksum(id.Local, id.Remote)
		off |= dev.OffTCPCksum
	} else {
		seg.ComputeChecksum(id.Local, id.Remote)
	}
	if caps.IPv4Tx {
		off |= dev.OffIPv4Cksum
	}
	l.ipID++
	ipv4.IPv4Repr{Src: id.Local, Dst: id.Remote, Protocol: ipv4.ProtoTCP, TTL: replyTTL, ID: l.ipID, DontFragment: true, PayloadLen: n}.Encode(frame[ethLen:], *caps)
	if o.cached {
		copy(frame, o.path.eth[:])
		l.send(l.queues[o.queue], dev.Buf(tok), tcpHeadroom+n, (off | o.tag).WithL3Len(ipLen))
		return
	}
	l.sendVia(o.port, o.hop, dev.Buf(tok), frame, tcpHeadroom+n, off.WithL3Len(ipLen), l.now)
}

// inputTCP verifies the checksum (unless the device did) and hands the
// segment to the lcore's TCP, which copies what it keeps.
func (l *Lcore) inputTCP(ifc *Iface, q dev.Queue, b dev.Buf, ip ipv4.IPv4, meta dev.RxMeta, now int64) {
	seg := tcp.Header(ip.Payload())
	if !(meta.L4Cksum == ipv4.RxCksumGood || meta.L4Cksum == ipv4.RxCksumUnknown && seg.ChecksumValid(ip.Src(), ip.Dst())) {
		l.drop(q, b, DropTCPChecksum)
		return
	}
	// With an exception path, what no connection or listener of ours
	// takes is the kernel's (its own connections from an address it
	// shares with us), not answered with a reset.
	if l.exc != nil && len(seg) >= 4 && !l.tcp.Claims(ip.Dst(), ip.Src(), seg.DstPort(), seg.SrcPort()) && l.toKernel(ifc, q, b, ethLen+len(ip)) {
		return
	}
	l.tcp.Input(ip.Dst(), ip.Src(), seg, now)
	q.Free(b)
}

// TCP is the lcore's TCP stack, for applications running on this lcore.
func (l *Lcore) TCP() *tcp.Stack { return l.tcp }

// Now is the time of the current poll iteration.
func (l *Lcore) Now() int64 { return l.now }

// TCPCounters are the lcore's TCP counters as last published.
func (l *Lcore) TCPCounters() (c tcp.Counters, conns int) {
	for i := range c {
		c[i] = l.pubTCP[i].Load()
	}
	return c, int(l.pubConns.Load())
}

type publishedTCP [tcp.NumCounters]atomic.Uint64

func (p *publishedTCP) store(c *tcp.Counters) {
	for i := range c {
		p[i].Store(c[i])
	}
}
