package engine

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/spsc"
)

// steered (port: the interface's index in Config.Ifaces) is a TCP packet handed by the lcore that received it to the
// lcore that owns its flow, or a fragment to the lcore that reassembles
// its datagram (frag, with its link source), or a reassembled TCP segment
// lent to the owner of its flow (lent: no mbuf, the buffer is the
// reassembling lcore's until the owner stores false).
type steered struct {
	port int
	b    dev.Buf
	ip   ipv4.IPv4
	meta dev.RxMeta
	frag bool
	mac  ipv4.MAC
	lent *atomic.Bool
}

// SteerRing bounds the packets in flight between two lcores.
const SteerRing = 1024

// Join connects every pair of lcores with a single-producer,
// single-consumer ring each way, so that a packet received on one lcore
// reaches the owner of its flow. With one lcore there is nothing to join.
func Join(lcores []*Lcore) {
	if len(lcores) < 2 {
		return
	}
	for _, l := range lcores {
		l.steerTo = make([]*spsc.Ring[steered], len(lcores))
		l.steerFrom = make([]*spsc.Ring[steered], len(lcores))
	}
	for _, a := range lcores {
		for _, b := range lcores {
			if a != b {
				r := spsc.New[steered](SteerRing)
				a.steerTo[b.ID] = r
				b.steerFrom[a.ID] = r
			}
		}
	}
}

// owner is the lcore that owns the TCP flow of ip (checked, long enough
// for the ports), as the device would see it.
func (l *Lcore) owner(ip ipv4.IPv4) int {
	p := ip.Payload()
	if len(p) < 4 || l.cfg.Owner == nil {
		return l.ID
	}
	return l.cfg.Owner.Of(ip.Src(), ip.Dst(), binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:]))
}

// checkHash compares the device's RSS hash of a TCP or UDP packet with
// ours, on the first packets that carry one.
func (l *Lcore) checkHash(ip ipv4.IPv4, meta dev.RxMeta) {
	p := ip.Payload()
	if l.cfg.Owner == nil || len(p) < 4 || l.c[RSSHashMatch]+l.c[RSSHashMismatch] >= hashChecks {
		return
	}
	if meta.Hash == l.cfg.Owner.H.HashTuple(ip.Src(), ip.Dst(), binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:])) {
		l.c[RSSHashMatch]++
	} else {
		l.c[RSSHashMismatch]++
	}
}

// hashChecks is how many packets per lcore have their device hash checked.
const hashChecks = 64

// steer hands a packet to its owner, or drops it when the ring is full.
func (l *Lcore) steer(owner, port int, q dev.Queue, b dev.Buf, ip ipv4.IPv4, meta dev.RxMeta) {
	if !l.steerTo[owner].Push(steered{port: port, b: b, ip: ip, meta: meta}) {
		l.drop(q, b, DropSteerFull)
		return
	}
	l.c[SteeredOut]++
}

// popSteered takes the next packet another lcore handed over, trying the
// rings in turn from *from; false once all of them are empty.
func (l *Lcore) popSteered(from *int) (steered, bool) {
	for ; *from < len(l.steerFrom); *from++ {
		if r := l.steerFrom[*from]; r != nil {
			if s, ok := r.Pop(); ok {
				return s, true
			}
		}
	}
	return steered{}, false
}

// drainSteered processes what other lcores handed over.
func (l *Lcore) drainSteered(now int64) int {
	n := 0
	for from := 0; ; n++ {
		s, ok := l.popSteered(&from)
		if !ok {
			return n
		}
		l.c[SteeredIn]++
		switch {
		case s.lent != nil:
			l.inputLent(s, now)
		case s.frag:
			ifc := &l.cfg.Ifaces[s.port]
			l.inputFragment(ifc, l.queues[ifc.queue], s.b, s.mac, s.ip, s.meta, now)
		case s.ip.Protocol() == ipv4.ProtoICMP: // about one of our TCP flows
			ifc := &l.cfg.Ifaces[s.port]
			l.fragmentationNeeded(ifc, l.queues[ifc.queue], s.b, s.ip, ipv4.ICMP(s.ip.Payload()), s.meta)
		default:
			ifc := &l.cfg.Ifaces[s.port]
			l.inputTCP(ifc, l.queues[ifc.queue], s.b, s.ip, s.meta, now)
		}
	}
}

// Stopped accounts for what other lcores handed over after this one's
// last poll: each packet is freed and counted (drop_steer_stopped), and the
// counters are published again. Call it once every lcore has returned from
// Run, from any one goroutine.
func (l *Lcore) Stopped() {
	for from := 0; ; {
		s, ok := l.popSteered(&from)
		if !ok {
			break
		}
		if s.lent != nil {
			s.lent.Store(false)
			l.c[DropSteerStopped]++
			continue
		}
		l.drop(l.queues[l.cfg.Ifaces[s.port].queue], s.b, DropSteerStopped)
	}
	for _, q := range l.queues {
		q.Flush()
	}
	for _, q := range l.exc {
		if q != nil {
			q.Flush()
		}
	}
	l.publish()
}

// ownsFlow reports whether this lcore receives the flow local:lport ->
// remote:rport (with a symmetric key, both of its directions).
func (l *Lcore) ownsFlow(local, remote ipv4.Addr, lport, rport uint16) bool {
	return l.cfg.Owner == nil || l.cfg.Owner.Of(remote, local, rport, lport) == l.ID
}
