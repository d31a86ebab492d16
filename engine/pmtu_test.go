package engine

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// fragNeeded is a router's ICMP "fragmentation needed" to dst for the
// datagram quoted (its header and 8 bytes are kept), with the next hop's
// MTU.
func fragNeeded(dstMAC, srcMAC ipv4.MAC, router, dst ipv4.Addr, quoted ipv4.IPv4, mtu uint16) []byte {
	q := quoted[:quoted.HeaderLen()+8]
	f := make([]byte, ethLen+ipLen+ipv4.ICMPHeaderLen+len(q))
	eth := ipv4.Ethernet(f)
	eth.SetDst(dstMAC)
	eth.SetSrc(srcMAC)
	binary.BigEndian.PutUint16(f[12:], ipv4.EtherTypeIPv4)
	ipv4.IPv4Repr{Src: router, Dst: dst, Protocol: ipv4.ProtoICMP, TTL: 64, PayloadLen: ipv4.ICMPHeaderLen + len(q)}.Encode(f[ethLen:], ipv4.ChecksumCaps{})
	ic := ipv4.ICMP(f[ethLen+ipLen:])
	ic.SetType(ipv4.ICMPDestUnreachable)
	ic.SetCode(ipv4.ICMPFragmentationNeeded)
	ic.SetIdent(0)
	ic.SetSeq(mtu)
	copy(ic.Payload(), q)
	ic.ComputeChecksum()
	return f
}

// TestFragmentationNeededSteered: a router's ICMP about a flow arrives on
// an lcore that does not own the flow (the device spreads it by the
// router's address); it is handed to the owner, whose connection sends
// smaller segments from then on, and the transfer completes.
func TestFragmentationNeededSteered(t *testing.T) {
	cli := newMultiHost(2, macA, ourIP, nil, 3)
	srv := newMultiHost(1, macB, peerIP, []TCPService{{Port: 9, New: newDiscard}}, 4)
	cl := &MemClient{Out: make([]byte, 300<<10)}
	c, err := cli.ls[0].TCP().Connect(ourIP, peerIP, 9, cl, int64(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	owner, other := cli.ls[0], cli.ls[1]
	now := int64(time.Second)
	step := func(deliver bool) [][]byte {
		now += int64(50 * time.Microsecond)
		out := cli.poll(now)
		if deliver {
			for _, f := range out {
				srv.deliver(f)
			}
		}
		for _, f := range srv.poll(now) {
			cli.deliver(f)
		}
		return out
	}
	for i := 0; i < 50 && cl.Sent < 64<<10; i++ {
		step(true)
	}
	// A full-sized data segment in flight, lost at the router.
	var quoted ipv4.IPv4
	for i := 0; i < 50 && quoted == nil; i++ {
		for _, f := range step(false) {
			ip := ipv4.IPv4(ipv4.Ethernet(f).Payload())
			if ip.Protocol() == ipv4.ProtoTCP && int(ip.TotalLength()) > 1280 {
				quoted = ip
			}
		}
	}
	if quoted == nil {
		t.Fatal("no full-sized segment sent")
	}
	steered := other.c[SteeredOut]
	cli.qs[1].Inject(fragNeeded(macA, macB, peerIP, ourIP, quoted, 1280), dev.RxMeta{})
	step(false)
	step(false)
	if other.c[SteeredOut] != steered+1 || owner.c[ICMPFragNeededIn] != 1 || owner.tcp.C[tcp.PMTULowered] != 1 {
		t.Fatalf("steered_out %d (was %d), icmp_frag_needed_in %d, tcp_pmtu_lowered %d; want the ICMP handed to the owner and taken",
			other.c[SteeredOut], steered, owner.c[ICMPFragNeededIn], owner.tcp.C[tcp.PMTULowered])
	}
	for i := 0; i < 20000 && !(cl.Sent == len(cl.Out) && c.Info().SendQueued == 0); i++ {
		for _, f := range step(true) {
			if ip := ipv4.IPv4(ipv4.Ethernet(f).Payload()); ip.TotalLength() > 1280 {
				t.Fatalf("a %d-byte datagram sent after the path MTU fell to 1280", ip.TotalLength())
			}
		}
	}
	if cl.Sent != len(cl.Out) || c.Info().SendQueued != 0 {
		t.Fatalf("transfer stalled: %d of %d written, %d unacknowledged", cl.Sent, len(cl.Out), c.Info().SendQueued)
	}
}
