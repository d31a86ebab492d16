package engine

import (
	"github.com/pmdstack/pmd/dev"
)

// The exception path: with a kernel interface attached to a port
// (SetException: a TAP or virtio-user device, one queue per lcore), the
// frames pmd does not serve go to the kernel instead of being dropped or
// refused, and what the kernel sends on that interface goes out of the
// port. pmd answers what it serves; the kernel the rest: other
// EtherTypes (IPv6, LLDP), ARP and IPv4 for addresses that are not pmd's,
// multicast frames, other IP protocols, UDP ports without a service and
// TCP segments for no connection and no listener. Each lcore carries its
// own share: what it receives, and what the kernel hands to its queue.

// SetException attaches queue q of the kernel interface to the lcore's
// port; call before Run.
func (l *Lcore) SetException(port int, q dev.Queue) {
	for len(l.exc) <= port {
		l.exc = append(l.exc, nil)
	}
	l.exc[port] = q
}

// toKernel hands an unserved frame of interface ifc, received on q, to
// the kernel; false if its port has no exception path (the caller drops
// or answers it then). A frame of a VLAN goes to the kernel tagged, as it
// came (the kernel's own VLAN interfaces on the exception interface take
// it). A datagram reassembled from fragments is not in a buffer of the
// device's: it is not handed over.
func (l *Lcore) toKernel(ifc *Iface, q dev.Queue, b dev.Buf, n int) bool {
	return l.excSend(ifc.queue, ifc.tag, q, b, n)
}

// excSend hands a frame of port i to its kernel interface, tagged as tag
// asks; false without an exception path.
func (l *Lcore) excSend(i int, tag dev.Offload, q dev.Queue, b dev.Buf, n int) bool {
	if i >= len(l.exc) || l.exc[i] == nil {
		return false
	}
	if _, ok := q.(*fragQueue); ok {
		return false
	}
	l.c[ExceptionToKernel]++
	l.exc[i].Send(b, n, tag)
	return true
}

// fromKernel sends what the kernel queued on the lcore's exception queues
// out of their ports, as the kernel built it.
func (l *Lcore) fromKernel() int {
	work := 0
	for i, q := range l.exc {
		if q == nil {
			continue
		}
		n := q.Poll()
		for j := 0; j < n; j++ {
			b, data, _ := q.Packet(j)
			l.c[ExceptionFromKernel]++
			l.send(l.queues[i], b, len(data), 0)
		}
		work += n
	}
	return work
}
