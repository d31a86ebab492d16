package engine

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
)

var (
	ourMAC  = ipv4.MAC{0x02, 0, 0, 0, 0, 1}
	peerMAC = ipv4.MAC{0x02, 0, 0, 0, 0, 2}
	ourIP   = mustAddr("198.18.0.1")
	peerIP  = mustAddr("198.18.0.2")
	farIP   = mustAddr("198.19.5.5")
	gwIP    = mustAddr("198.18.0.254")
)

func mustAddr(s string) ipv4.Addr {
	a, err := ipv4.ParseAddr(s)
	if err != nil {
		panic(err)
	}
	return a
}

// fixture is one lcore on one in-memory queue with a virtual clock.
type fixture struct {
	t   *testing.T
	q   *dev.Mem
	l   *Lcore
	ctl *Control
	now int64
}

func newFixture(t *testing.T, caps ipv4.ChecksumCaps) *fixture {
	t.Helper()
	cfg := &Config{
		Ifaces:     []Iface{{Name: "p0", MAC: ourMAC, Prefix: ipv4.Prefix{Addr: ourIP, Bits: 24}, Gateway: gwIP}},
		UDP:        udpServices,
		Idle:       IdlePoll,
		IdleAfter:  1,
		ARPRetry:   time.Second,
		ARPTries:   3,
		ARPPending: 4,
		ICMPRate:   2,
		Neigh:      ipv4.NewNeighbours(16, time.Minute),
	}
	q := dev.NewMem(64, 2048, caps)
	l := NewLcore(0, cfg, []dev.Queue{q})
	return &fixture{t: t, q: q, l: l, ctl: &Control{Neigh: cfg.Neigh, Lcores: []*Lcore{l}}, now: 1}
}

// exchange injects frames, polls twice (handle, then flush) and returns
// copies of what was sent.
func (f *fixture) exchange(meta dev.RxMeta, frames ...[]byte) [][]byte {
	f.t.Helper()
	for _, fr := range frames {
		if !f.q.Inject(fr, meta) {
			f.t.Fatal("no buffer to inject into")
		}
	}
	f.l.Poll(f.now)
	f.l.Poll(f.now)
	var out [][]byte
	for _, s := range f.q.Sent() {
		out = append(out, bytes.Clone(s))
	}
	return out
}

func (f *fixture) counters() Counters { f.l.publish(); return f.l.c }

// expectCount checks one counter.
func (f *fixture) expectCount(c Counter, want uint64) {
	f.t.Helper()
	if got := f.counters()[c]; got != want {
		f.t.Errorf("%s = %d, want %d", c, got, want)
	}
}

func (f *fixture) expectNoLeak() {
	f.t.Helper()
	if n := f.q.InUse(); n != 0 {
		f.t.Errorf("%d buffers not returned", n)
	}
}

func ethFrame(dst, src ipv4.MAC, typ uint16, payload []byte) []byte {
	b := make([]byte, ipv4.EthernetHeaderLen+len(payload))
	ipv4.EthernetRepr{Dst: dst, Src: src, Type: typ}.Encode(b)
	copy(b[ipv4.EthernetHeaderLen:], payload)
	return b
}

func arpFrame(op uint16, smac ipv4.MAC, sip ipv4.Addr, tmac ipv4.MAC, tip ipv4.Addr) []byte {
	a := make([]byte, ipv4.ARPLen)
	ipv4.ARPRepr{Op: op, SenderMAC: smac, SenderAddr: sip, TargetMAC: tmac, TargetAddr: tip}.Encode(a)
	dst := ipv4.BroadcastMAC
	if op == ipv4.ARPReply {
		dst = tmac
	}
	return ethFrame(dst, smac, ipv4.EtherTypeARP, a)
}

// ipFrame builds an Ethernet frame holding an IPv4 packet with optional
// header options (a multiple of 4 bytes).
func ipFrame(src, dst ipv4.Addr, proto uint8, opts, payload []byte) []byte {
	hl := ipv4.IPv4MinHeaderLen + len(opts)
	p := make([]byte, hl+len(payload))
	ipv4.IPv4Repr{Src: src, Dst: dst, Protocol: proto, TTL: 64, ID: 7, PayloadLen: len(opts) + len(payload)}.Encode(p, ipv4.ChecksumCaps{})
	ip := ipv4.IPv4(p)
	ip.SetHeaderLen(hl)
	copy(p[ipv4.IPv4MinHeaderLen:], opts)
	copy(p[hl:], payload)
	ip.ComputeChecksum()
	return ethFrame(ourMAC, peerMAC, ipv4.EtherTypeIPv4, p)
}

func echoRequest(id, seq uint16, data []byte) []byte {
	m := make([]byte, ipv4.ICMPHeaderLen+len(data))
	ic := ipv4.ICMP(m)
	ic.SetType(ipv4.ICMPEchoRequest)
	ic.SetIdent(id)
	ic.SetSeq(seq)
	copy(ic.Payload(), data)
	ic.ComputeChecksum()
	return m
}

func udpDatagram(src, dst ipv4.Addr, sport, dport uint16, data []byte) []byte {
	u := make([]byte, ipv4.UDPHeaderLen+len(data))
	copy(u[ipv4.UDPHeaderLen:], data)
	ipv4.UDPRepr{SrcPort: sport, DstPort: dport, PayloadLen: len(data)}.Encode(u, src, dst, ipv4.ChecksumCaps{})
	return u
}

// checkIPReply asserts the common shape of a reply to peerIP and returns
// its IPv4 packet.
func checkIPReply(t *testing.T, frame []byte, proto uint8) ipv4.IPv4 {
	t.Helper()
	eth := ipv4.Ethernet(frame)
	if eth.Dst() != peerMAC || eth.Src() != ourMAC || eth.Type() != ipv4.EtherTypeIPv4 {
		t.Fatalf("ethernet header %v -> %v type %#x", eth.Src(), eth.Dst(), eth.Type())
	}
	ip := ipv4.IPv4(eth.Payload())
	if err := ip.Check(); err != nil {
		t.Fatalf("reply IPv4: %v", err)
	}
	if !ip.ChecksumValid() {
		t.Fatal("reply IPv4 checksum wrong")
	}
	if ip.Src() != ourIP || ip.Dst() != peerIP || ip.Protocol() != proto || ip.TTL() != replyTTL || ip.HeaderLen() != ipv4.IPv4MinHeaderLen {
		t.Fatalf("reply IPv4 header %+v", ipv4.ParseIPv4(ip))
	}
	if len(frame) != ipv4.EthernetHeaderLen+int(ip.TotalLength()) {
		t.Fatalf("frame length %d for IPv4 total length %d", len(frame), ip.TotalLength())
	}
	return ip
}

func TestARPRequestForUs(t *testing.T) {
	f := newFixture(t, ipv4.ChecksumCaps{})
	out := f.exchange(dev.RxMeta{}, arpFrame(ipv4.ARPRequest, peerMAC, peerIP, ipv4.MAC{}, ourIP))
	want := arpFrame(ipv4.ARPReply, ourMAC, ourIP, peerMAC, peerIP)
	if len(out) != 1 || !bytes.Equal(out[0], want) {
		t.Fatalf("sent %x\nwant %x", out, want)
	}
	f.expectCount(ARPRequestsIn, 1)
	f.expectCount(ARPRepliesOut, 1)
	f.ctl.Tick(f.now)
	if mac, ok := f.l.cfg.Neigh.Lookup(peerIP, f.now); !ok || mac != peerMAC {
		t.Fatalf("sender not learned: %v %v", mac, ok)
	}
	f.expectNoLeak()
}

func TestDropsByReason(t *testing.T) {
	goodEcho := ipFrame(peerIP, ourIP, ipv4.ProtoICMP, nil, echoRequest(1, 1, []byte("x")))
	badCksum := bytes.Clone(goodEcho)
	badCksum[ipv4.EthernetHeaderLen+10] ^= 0xff
	badICMP := bytes.Clone(goodEcho)
	badICMP[len(badICMP)-1] ^= 0xff
	notOurMAC := bytes.Clone(goodEcho)
	notOurMAC[0] = 0x04
	frag := ipFrame(peerIP, ourIP, ipv4.ProtoICMP, nil, echoRequest(1, 1, nil))
	ipv4.IPv4(frag[14:]).SetFlags(ipv4.IPv4MoreFragments)
	ipv4.IPv4(frag[14:]).ComputeChecksum()
	badUDP := ipFrame(peerIP, ourIP, ipv4.ProtoUDP, nil, udpDatagram(peerIP, ourIP, 1000, 7, []byte("hello")))
	badUDP[len(badUDP)-1] ^= 1
	shortUDP := ipFrame(peerIP, ourIP, ipv4.ProtoUDP, nil, []byte{1, 2, 3})
	cases := []struct {
		name  string
		frame []byte
		meta  dev.RxMeta
		why   Counter
	}{
		{"short ethernet", []byte{1, 2, 3}, dev.RxMeta{}, DropEthShort},
		{"not our MAC", notOurMAC, dev.RxMeta{}, DropEthNotOurs},
		{"IPv6", ethFrame(ourMAC, peerMAC, ipv4.EtherTypeIPv6, make([]byte, 40)), dev.RxMeta{}, DropEthType},
		{"ARP truncated", ethFrame(ipv4.BroadcastMAC, peerMAC, ipv4.EtherTypeARP, make([]byte, 20)), dev.RxMeta{}, DropARPBad},
		{"ARP for another host", arpFrame(ipv4.ARPRequest, peerMAC, peerIP, ipv4.MAC{}, mustAddr("198.18.0.9")), dev.RxMeta{}, DropARPNotOurs},
		{"IPv4 truncated", ethFrame(ourMAC, peerMAC, ipv4.EtherTypeIPv4, make([]byte, 10)), dev.RxMeta{}, DropIPBad},
		{"IPv4 checksum", badCksum, dev.RxMeta{}, DropIPChecksum},
		{"IPv4 checksum bad per device", goodEcho, dev.RxMeta{IPCksum: ipv4.RxCksumBad}, DropIPChecksum},
		{"not our address", ipFrame(peerIP, mustAddr("198.18.0.3"), ipv4.ProtoICMP, nil, echoRequest(1, 1, nil)), dev.RxMeta{}, DropIPNotOurs},
		{"broadcast source", ipFrame(mustAddr("255.255.255.255"), ourIP, ipv4.ProtoICMP, nil, echoRequest(1, 1, nil)), dev.RxMeta{}, DropIPBadSource},
		{"our own address as source (land)", ipFrame(ourIP, ourIP, ipv4.ProtoTCP, nil, make([]byte, 20)), dev.RxMeta{}, DropIPBadSource},
		{"fragment", frag, dev.RxMeta{}, DropIPFragment},
		{"ICMP truncated", ipFrame(peerIP, ourIP, ipv4.ProtoICMP, nil, []byte{8, 0}), dev.RxMeta{}, DropICMPBad},
		{"ICMP checksum", badICMP, dev.RxMeta{}, DropICMPChecksum},
		{"ICMP not echo", ipFrame(peerIP, ourIP, ipv4.ProtoICMP, nil, func() []byte {
			m := echoRequest(1, 1, nil)
			ipv4.ICMP(m).SetType(ipv4.ICMPTimeExceeded)
			ipv4.ICMP(m).ComputeChecksum()
			return m
		}()), dev.RxMeta{}, DropICMPType},
		{"UDP checksum", badUDP, dev.RxMeta{}, DropUDPChecksum},
		{"UDP checksum bad per device", ipFrame(peerIP, ourIP, ipv4.ProtoUDP, nil, udpDatagram(peerIP, ourIP, 1000, 7, nil)), dev.RxMeta{L4Cksum: ipv4.RxCksumBad}, DropUDPChecksum},
		{"UDP truncated", shortUDP, dev.RxMeta{}, DropUDPBad},
		{"TCP checksum", ipFrame(peerIP, ourIP, ipv4.ProtoTCP, nil, make([]byte, 20)), dev.RxMeta{}, DropTCPChecksum},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, ipv4.ChecksumCaps{})
			if out := f.exchange(c.meta, c.frame); len(out) != 0 {
				t.Errorf("answered a packet that should be dropped: %x", out)
			}
			f.expectCount(c.why, 1)
			if d := f.counters(); d.Drops() != 1 {
				t.Errorf("%d drops counted, want 1", d.Drops())
			}
			f.expectNoLeak()
		})
	}
}

func TestPing(t *testing.T) {
	for _, opts := range [][]byte{nil, {1, 1, 1, 0}, bytes.Repeat([]byte{1}, 40)} {
		for _, caps := range []ipv4.ChecksumCaps{{}, {IPv4Tx: true}} {
			f := newFixture(t, caps)
			data := []byte("abcdefghijklmnopqrstuvwxyz0123456789")
			out := f.exchange(dev.RxMeta{}, ipFrame(peerIP, ourIP, ipv4.ProtoICMP, opts, echoRequest(0x1234, 9, data)))
			if len(out) != 1 {
				t.Fatalf("options %d: %d frames sent", len(opts), len(out))
			}
			ic := ipv4.ICMP(checkIPReply(t, out[0], ipv4.ProtoICMP).Payload())
			if ic.Type() != ipv4.ICMPEchoReply || ic.Ident() != 0x1234 || ic.Seq() != 9 || !ic.ChecksumValid() || !bytes.Equal(ic.Payload(), data) {
				t.Fatalf("options %d: echo reply %x", len(opts), []byte(ic))
			}
			f.expectCount(ICMPEchoReplies, 1)
			f.expectNoLeak()
		}
	}
}

func TestPaddedFrame(t *testing.T) {
	f := newFixture(t, ipv4.ChecksumCaps{})
	fr := append(ipFrame(peerIP, ourIP, ipv4.ProtoICMP, nil, echoRequest(1, 2, nil)), make([]byte, 18)...)
	out := f.exchange(dev.RxMeta{}, fr)
	if len(out) != 1 {
		t.Fatalf("%d frames sent", len(out))
	}
	checkIPReply(t, out[0], ipv4.ProtoICMP)
}

func TestUDPEcho(t *testing.T) {
	for _, size := range []int{0, 1, 64, 1472} {
		f := newFixture(t, ipv4.ChecksumCaps{})
		data := bytes.Repeat([]byte{byte(size)}, size)
		out := f.exchange(dev.RxMeta{}, ipFrame(peerIP, ourIP, ipv4.ProtoUDP, nil, udpDatagram(peerIP, ourIP, 40000, 7, data)))
		if len(out) != 1 {
			t.Fatalf("size %d: %d frames sent", size, len(out))
		}
		ip := checkIPReply(t, out[0], ipv4.ProtoUDP)
		u := ipv4.UDP(ip.Payload())
		if u.Check() != nil || u.SrcPort() != 7 || u.DstPort() != 40000 || !u.ChecksumValid(ourIP, peerIP) || !bytes.Equal(u.Payload(), data) {
			t.Fatalf("size %d: reply %x", size, []byte(u))
		}
		f.expectCount(UDPEchoed, 1)
		f.expectNoLeak()
	}
}

// TestUDPReply: a service's reply built in place, longer than the
// request, with the checksum computed in software or left to the device,
// and with IP options in the request (the reply has none).
func TestUDPReply(t *testing.T) {
	opts := []byte{1, 1, 1, 0} // NOP NOP NOP EOL
	for _, tt := range []struct {
		name string
		caps ipv4.ChecksumCaps
		opts []byte
	}{{"software", ipv4.ChecksumCaps{}, nil}, {"offload", ipv4.ChecksumCaps{UDPTx: true, IPv4Tx: true}, nil}, {"ip options", ipv4.ChecksumCaps{}, opts}} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.caps)
			out := f.exchange(dev.RxMeta{}, ipFrame(peerIP, ourIP, ipv4.ProtoUDP, tt.opts, udpDatagram(peerIP, ourIP, 40000, 11, []byte("abc"))))
			if len(out) != 1 {
				t.Fatalf("%d frames sent", len(out))
			}
			ip := checkIPReply(t, out[0], ipv4.ProtoUDP)
			u := ipv4.UDP(ip.Payload())
			if u.Check() != nil || u.SrcPort() != 11 || u.DstPort() != 40000 || !u.ChecksumValid(ourIP, peerIP) || string(u.Payload()) != "cba!" {
				t.Fatalf("reply %x (%q)", []byte(u), u.Payload())
			}
			f.expectCount(UDPReplied, 1)
			f.expectNoLeak()
		})
	}
}

func TestUDPDiscard(t *testing.T) {
	f := newFixture(t, ipv4.ChecksumCaps{})
	if out := f.exchange(dev.RxMeta{}, ipFrame(peerIP, ourIP, ipv4.ProtoUDP, nil, udpDatagram(peerIP, ourIP, 40000, 9, []byte("x")))); len(out) != 0 {
		t.Fatalf("discard answered: %x", out)
	}
	f.expectCount(UDPDiscarded, 1)
	f.expectNoLeak()
}

func TestPortUnreachableRateLimited(t *testing.T) {
	f := newFixture(t, ipv4.ChecksumCaps{})
	req := ipFrame(peerIP, ourIP, ipv4.ProtoUDP, nil, udpDatagram(peerIP, ourIP, 40000, 5555, []byte("0123456789")))
	out := f.exchange(dev.RxMeta{}, req, req, req) // ICMPRate is 2 a second
	if len(out) != 2 {
		t.Fatalf("%d ICMP errors sent, want 2 (rate limit)", len(out))
	}
	ic := ipv4.ICMP(checkIPReply(t, out[0], ipv4.ProtoICMP).Payload())
	quote := req[ipv4.EthernetHeaderLen : ipv4.EthernetHeaderLen+ipv4.IPv4MinHeaderLen+8]
	if ic.Type() != ipv4.ICMPDestUnreachable || ic.Code() != ipv4.ICMPPortUnreachable || !ic.ChecksumValid() || !bytes.Equal(ic.Payload(), quote) {
		t.Fatalf("port unreachable %x", []byte(ic))
	}
	f.expectCount(DropUDPNoPort, 3)
	f.expectCount(ICMPUnreachOut, 2)
	f.now += int64(time.Second)
	if out := f.exchange(dev.RxMeta{}, req); len(out) != 1 {
		t.Fatalf("after a second: %d ICMP errors, want 1", len(out))
	}
	f.expectNoLeak()
}

func TestProtocolUnreachable(t *testing.T) {
	f := newFixture(t, ipv4.ChecksumCaps{})
	out := f.exchange(dev.RxMeta{}, ipFrame(peerIP, ourIP, 200, []byte{1, 1, 1, 0}, []byte("payload!")))
	if len(out) != 1 {
		t.Fatalf("%d frames", len(out))
	}
	ic := ipv4.ICMP(checkIPReply(t, out[0], ipv4.ProtoICMP).Payload())
	if ic.Code() != ipv4.ICMPProtocolUnreachable || len(ic.Payload()) != 24+8 || !ic.ChecksumValid() {
		t.Fatalf("protocol unreachable %x", []byte(ic))
	}
	f.expectCount(DropIPProto, 1)
}

// outgoing builds a UDP frame from us to dst in a buffer of the queue.
func (f *fixture) outgoing(dst ipv4.Addr) (dev.Buf, []byte, int) {
	b, data, ok := f.q.Alloc()
	if !ok {
		f.t.Fatal("pool dry")
	}
	p := ipFrame(ourIP, dst, ipv4.ProtoUDP, nil, udpDatagram(ourIP, dst, 5000, 6000, []byte("out")))
	data = append(data, p...)
	return b, data, len(p)
}

func TestResolveThenSend(t *testing.T) {
	f := newFixture(t, ipv4.ChecksumCaps{})
	b, data, n := f.outgoing(peerIP)
	f.l.SendIPv4(b, data, n, 0, f.now)
	f.l.Poll(f.now)
	out := f.q.Sent()
	want := arpFrame(ipv4.ARPRequest, ourMAC, ourIP, ipv4.MAC{}, peerIP)
	want = append(want, make([]byte, 60-len(want))...)
	if len(out) != 1 || !bytes.Equal(out[0], want) {
		t.Fatalf("sent %x\nwant ARP request %x", out, want)
	}
	// A second packet to the same hop does not repeat the request.
	b2, data2, n2 := f.outgoing(peerIP)
	f.l.SendIPv4(b2, data2, n2, 0, f.now)
	f.l.Poll(f.now)
	if len(f.q.Sent()) != 0 {
		t.Fatalf("sent %d frames while resolving", len(f.q.Sent()))
	}
	f.exchange(dev.RxMeta{}, arpFrame(ipv4.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
	f.ctl.Tick(f.now)
	out = f.exchange(dev.RxMeta{})
	if len(out) != 2 {
		t.Fatalf("%d frames released after resolution, want 2", len(out))
	}
	for _, o := range out {
		if e := ipv4.Ethernet(o); e.Dst() != peerMAC || e.Src() != ourMAC {
			t.Fatalf("released frame to %v from %v", e.Dst(), e.Src())
		}
	}
	f.expectCount(ARPRequestsOut, 1)
	f.expectNoLeak()
}

func TestResolveViaGatewayTimesOut(t *testing.T) {
	f := newFixture(t, ipv4.ChecksumCaps{})
	b, data, n := f.outgoing(farIP)
	f.l.SendIPv4(b, data, n, 0, f.now)
	requests := 0
	for i := 0; i < 5; i++ {
		f.l.Poll(f.now)
		for _, s := range f.q.Sent() {
			a := ipv4.ARP(ipv4.Ethernet(s).Payload())
			if a.TargetAddr() != gwIP {
				t.Fatalf("ARP request for %v, want the gateway %v", a.TargetAddr(), gwIP)
			}
			requests++
		}
		f.now += int64(time.Second)
	}
	if requests != 3 {
		t.Errorf("%d ARP requests, want 3 (ARPTries)", requests)
	}
	f.expectCount(DropARPUnresolved, 1)
	f.expectNoLeak()
}

func TestPendingBound(t *testing.T) {
	f := newFixture(t, ipv4.ChecksumCaps{})
	for i := 0; i < 6; i++ {
		b, data, n := f.outgoing(peerIP)
		f.l.SendIPv4(b, data, n, 0, f.now)
	}
	f.expectCount(DropARPPendingFull, 2)
	f.l.Close()
	f.expectCount(DropARPUnresolved, 4)
	f.expectNoLeak()
}

// TestPendingManyHops: frames waiting for many next hops (a flood from
// spoofed on-link addresses leaves arp.pending of them) get one request
// per hop per retry, go out when their hop answers and are dropped at
// their deadline; in between, polls do not go through them.
func TestPendingManyHops(t *testing.T) {
	const hops = 128
	f := newFixture(t, ipv4.ChecksumCaps{})
	f.l.cfg.ARPPending = hops
	f.q = dev.NewMem(4*hops, 2048, ipv4.ChecksumCaps{})
	f.l = NewLcore(0, f.l.cfg, []dev.Queue{f.q})
	f.ctl.Lcores = []*Lcore{f.l}
	hop := func(i int) ipv4.Addr { return peerIP + ipv4.Addr(10+i) }
	requests := func() map[ipv4.Addr]int {
		m := map[ipv4.Addr]int{}
		for _, s := range f.q.Sent() {
			if e := ipv4.Ethernet(s); e.Type() == ipv4.EtherTypeARP {
				m[ipv4.ARP(e.Payload()).TargetAddr()]++
			}
		}
		return m
	}
	for i := range hops {
		b, data, n := f.outgoing(hop(i))
		f.l.SendIPv4(b, data, n, 0, f.now)
	}
	f.l.Poll(f.now)
	if m := requests(); len(m) != hops {
		t.Fatalf("requests for %d hops, want %d", len(m), hops)
	}
	passes := f.l.pendingPass
	for range 1000 {
		f.now += int64(time.Millisecond) / 2
		f.l.Poll(f.now)
	}
	if n := f.l.pendingPass - passes; n != 0 || len(f.q.Sent()) != 0 {
		t.Errorf("half a retry interval of polls: %d passes through the pending frames, %d frames sent; want none", n, len(f.q.Sent()))
	}
	// The first hop answers: its frame goes out at the next poll.
	f.exchange(dev.RxMeta{}, arpFrame(ipv4.ARPReply, peerMAC, hop(0), ourMAC, ourIP))
	f.ctl.Tick(f.now)
	if out := f.exchange(dev.RxMeta{}); len(out) != 1 || ipv4.Ethernet(out[0]).Dst() != peerMAC {
		t.Fatalf("after the reply: sent %d frames, want the one that waited for it", len(out))
	}
	// Each retry asks every other hop once more; the third is the last.
	for round := 2; round <= 3; round++ {
		f.now += int64(time.Second)
		f.l.Poll(f.now)
		f.l.Poll(f.now) // sends what the first queued
		m := requests()
		if len(m) != hops-1 || m[hop(0)] != 0 {
			t.Fatalf("retry %d: requests for %d hops (hop 0: %d), want %d", round, len(m), m[hop(0)], hops-1)
		}
		for a, n := range m {
			if n != 1 {
				t.Fatalf("retry %d: %d requests for %v", round, n, a)
			}
		}
	}
	f.now += int64(time.Second)
	f.l.Poll(f.now)
	f.expectCount(ARPRequestsOut, 3*hops-2)
	f.expectCount(DropARPUnresolved, hops-1)
	if len(f.l.pending) != 0 || len(f.l.pendingHops) != 0 {
		t.Errorf("after the deadline: %d frames pending for %d hops", len(f.l.pending), len(f.l.pendingHops))
	}
	f.expectNoLeak()
}

func TestNoRoute(t *testing.T) {
	f := newFixture(t, ipv4.ChecksumCaps{})
	f.l.cfg.Ifaces[0].Gateway = 0
	b, data, n := f.outgoing(farIP)
	f.l.SendIPv4(b, data, n, 0, f.now)
	f.expectCount(DropNoRoute, 1)
	f.expectNoLeak()
}

// TestNoAllocations: the receive → answer → transmit path allocates nothing.
func TestNoAllocations(t *testing.T) {
	f := newFixture(t, ipv4.ChecksumCaps{})
	ping := ipFrame(peerIP, ourIP, ipv4.ProtoICMP, nil, echoRequest(1, 1, make([]byte, 56)))
	udp := ipFrame(peerIP, ourIP, ipv4.ProtoUDP, nil, udpDatagram(peerIP, ourIP, 40000, 7, make([]byte, 64)))
	arp := arpFrame(ipv4.ARPRequest, peerMAC, peerIP, ipv4.MAC{}, ourIP)
	run := func() {
		f.q.Inject(ping, dev.RxMeta{})
		f.q.Inject(udp, dev.RxMeta{})
		f.q.Inject(arp, dev.RxMeta{})
		f.now += 1000
		f.l.Poll(f.now)
		f.l.Poll(f.now)
		f.ctl.Tick(f.now)
	}
	run()
	if a := testing.AllocsPerRun(1000, run); a != 0 {
		t.Fatalf("%v allocations per iteration", a)
	}
	f.expectCount(ICMPEchoReplies, 1002) // AllocsPerRun runs once more to warm up
	f.expectCount(UDPEchoed, 1002)
}

func BenchmarkUDPEcho(b *testing.B) {
	f := newFixture(&testing.T{}, ipv4.ChecksumCaps{})
	udp := ipFrame(peerIP, ourIP, ipv4.ProtoUDP, nil, udpDatagram(peerIP, ourIP, 40000, 7, make([]byte, 64)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for j := 0; j < 32; j++ {
			f.q.Inject(udp, dev.RxMeta{})
		}
		f.l.Poll(f.now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*32), "ns/packet")
}

// TestUDPHandlerPanic: a UDP handler that panics has its datagram dropped
// and counted, the lcore goes on (the next datagram is answered), and the
// first panic, with its stack, is kept for the log once.
func TestUDPHandlerPanic(t *testing.T) {
	f := newFixture(t, ipv4.ChecksumCaps{})
	boom := ipFrame(peerIP, ourIP, ipv4.ProtoUDP, nil, udpDatagram(peerIP, ourIP, 40000, 13, []byte("boom")))
	if out := f.exchange(dev.RxMeta{}, boom, boom); len(out) != 0 {
		t.Fatalf("a panicking handler's datagram was answered: %x", out)
	}
	f.expectCount(UDPHandlerPanics, 2)
	p := f.l.TakePanic()
	if p == nil || p.Proto != "udp" || p.Value != "boom" || !bytes.Contains(p.Stack, []byte("TestUDPHandlerPanic")) {
		t.Fatalf("first panic: %+v", p)
	}
	if again := f.l.TakePanic(); again != nil {
		t.Fatalf("the second panic was kept too: %+v", again)
	}
	if out := f.exchange(dev.RxMeta{}, ipFrame(peerIP, ourIP, ipv4.ProtoUDP, nil, udpDatagram(peerIP, ourIP, 40000, 13, []byte("ok")))); len(out) != 1 {
		t.Fatalf("after the panic: %d frames sent, want the echo", len(out))
	}
	f.expectNoLeak()
}

// TestListingConcurrent: requests for a listing from several goroutines
// before one poll are all answered by it.
func TestListingConcurrent(t *testing.T) {
	h := newHost(ourMAC, ourIP, []TCPService{{Port: 7, New: newEcho}})
	got := make(chan (<-chan *Listing), 8)
	for i := 0; i < 8; i++ {
		go func() { got <- h.L.RequestListing() }()
	}
	var chs []<-chan *Listing
	for i := 0; i < 8; i++ {
		chs = append(chs, <-got)
	}
	h.L.Poll(int64(time.Second))
	for i, ch := range chs {
		select {
		case ls := <-ch:
			if len(ls.Listening) != 1 || ls.Listening[0] != 7 {
				t.Errorf("request %d: listening on %v, want [7]", i, ls.Listening)
			}
		default:
			t.Fatalf("request %d not answered", i)
		}
	}
}

// TestPollGaps: a poll that begins more than a millisecond after the one
// before (the thread lost its CPU) is counted with its length; with an
// idle action between the two (an lcore with nothing to do sleeps after
// 4 empty polls here), the time is the idle action's and is not.
func TestPollGaps(t *testing.T) {
	for _, c := range []struct {
		idle       Idle
		gaps, usec uint64
	}{{IdlePoll, 1, 5000}, {IdleSleep, 0, 0}} {
		h := NewMemHost(&Config{Ifaces: []Iface{{Name: "p0", MAC: macA, Prefix: ipv4.Prefix{Addr: ourIP, Bits: 24}}},
			Idle: c.idle, IdleAfter: 4, IdleSleep: time.Microsecond}, ipv4.ChecksumCaps{})
		var stop atomic.Bool
		now, calls := int64(time.Second), 0
		clock := func() int64 {
			calls++
			now += int64(time.Microsecond)
			if calls == 100 {
				now += int64(5 * time.Millisecond)
			}
			if calls == 300 {
				stop.Store(true)
			}
			return now
		}
		h.L.Run(&stop, clock)
		got := h.L.Counters()
		if got[PollGaps] != c.gaps || got[PollGapMicros] < c.usec || got[PollGapMicros] > c.usec+10 {
			t.Errorf("idle %v: poll_gaps %d, poll_gap_microseconds %d; want %d and about %d", c.idle, got[PollGaps], got[PollGapMicros], c.gaps, c.usec)
		}
	}
}
