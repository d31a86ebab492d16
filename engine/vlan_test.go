package engine

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
)

var (
	vlan100IP  = mustAddr("198.18.100.1")
	vlan200IP  = mustAddr("198.18.200.1")
	peer100IP  = mustAddr("198.18.100.2")
	peer200IP  = mustAddr("198.18.200.2")
	vlanIfaces = []Iface{
		{Name: "p0.100", MAC: ourMAC, Prefix: ipv4.Prefix{Addr: vlan100IP, Bits: 24}, VLAN: 100},
		{Name: "p0.200", MAC: ourMAC, Prefix: ipv4.Prefix{Addr: vlan200IP, Bits: 24}, VLAN: 200},
	}
)

// tagged is frame with an 802.1Q tag for vid behind its MAC addresses.
func tagged(frame []byte, vid uint16) []byte {
	out := append([]byte{}, frame[:12]...)
	out = binary.BigEndian.AppendUint16(out, 0x8100)
	out = binary.BigEndian.AppendUint16(out, vid)
	return append(out, frame[12:]...)
}

// untag checks that frame is tagged for vid and returns it untagged.
func untag(t *testing.T, frame []byte, vid uint16) []byte {
	t.Helper()
	if len(frame) < 18 || binary.BigEndian.Uint16(frame[12:]) != 0x8100 || binary.BigEndian.Uint16(frame[14:])&0xfff != vid {
		t.Fatalf("frame not tagged for VLAN %d: % x", vid, frame[:min(len(frame), 18)])
	}
	return append(append([]byte{}, frame[:12]...), frame[16:]...)
}

func newVLANFixture(t *testing.T) *fixture {
	f := newFixture(t, ipv4.ChecksumCaps{})
	f.l.cfg.Ifaces = append(f.l.cfg.Ifaces, vlanIfaces...)
	return &fixture{t: t, q: f.q, l: NewLcore(0, f.l.cfg, []dev.Queue{f.q}), ctl: f.ctl, now: f.now}
}

// TestVLANInput: a frame tagged for a VLAN reaches that VLAN's interface
// and is answered tagged for it; an address of another VLAN (or of the
// untagged link) is not answered there; an unknown VLAN is dropped and
// counted; the untagged link goes on untagged.
func TestVLANInput(t *testing.T) {
	f := newVLANFixture(t)
	ping := func(src, dst ipv4.Addr) []byte {
		fr := ipFrame(src, dst, ipv4.ProtoICMP, nil, echoRequest(1, 2, []byte("vlan")))
		return fr
	}
	// ARP on VLAN 100 for its address: a tagged reply.
	out := f.exchange(dev.RxMeta{}, tagged(arpFrame(ipv4.ARPRequest, peerMAC, peer100IP, ipv4.MAC{}, vlan100IP), 100))
	want := arpFrame(ipv4.ARPReply, ourMAC, vlan100IP, peerMAC, peer100IP)
	if len(out) != 1 || !bytes.Equal(untag(t, out[0], 100), want) {
		t.Fatalf("ARP on VLAN 100: sent %x", out)
	}
	// Echo on each VLAN, answered on it.
	for _, c := range []struct {
		vid       uint16
		src, addr ipv4.Addr
	}{{100, peer100IP, vlan100IP}, {200, peer200IP, vlan200IP}} {
		out = f.exchange(dev.RxMeta{}, tagged(ping(c.src, c.addr), c.vid))
		if len(out) != 1 {
			t.Fatalf("VLAN %d: %d frames sent", c.vid, len(out))
		}
		ip := ipv4.IPv4(ipv4.Ethernet(untag(t, out[0], c.vid)).Payload())
		if ip.Src() != c.addr || ip.Dst() != c.src || !ip.ChecksumValid() {
			t.Fatalf("VLAN %d: reply %v -> %v", c.vid, ip.Src(), ip.Dst())
		}
	}
	// UDP echo on VLAN 200.
	out = f.exchange(dev.RxMeta{}, tagged(ipFrame(peer200IP, vlan200IP, ipv4.ProtoUDP, nil, udpDatagram(peer200IP, vlan200IP, 40000, 7, []byte("hello"))), 200))
	if len(out) != 1 {
		t.Fatalf("UDP on VLAN 200: %d frames sent", len(out))
	}
	if u := ipv4.UDP(ipv4.IPv4(ipv4.Ethernet(untag(t, out[0], 200)).Payload()).Payload()); !u.ChecksumValid(vlan200IP, peer200IP) || string(u.Payload()) != "hello" {
		t.Fatalf("UDP reply %x", []byte(u))
	}
	f.expectCount(VLANRxPackets, 4)
	// VLAN 200's address and the untagged link's, asked on VLAN 100.
	for _, dst := range []ipv4.Addr{vlan200IP, ourIP} {
		if out = f.exchange(dev.RxMeta{}, tagged(ping(peer100IP, dst), 100)); len(out) != 0 {
			t.Fatalf("%v answered on VLAN 100: %x", dst, out)
		}
	}
	f.expectCount(DropIPNotOurs, 2)
	// A VLAN the port does not have.
	if out = f.exchange(dev.RxMeta{}, tagged(ping(peer100IP, vlan100IP), 300)); len(out) != 0 {
		t.Fatalf("VLAN 300 answered: %x", out)
	}
	f.expectCount(DropVLANUnknown, 1)
	// The untagged link: its address only, untagged.
	if out = f.exchange(dev.RxMeta{}, ping(peerIP, vlan100IP)); len(out) != 0 {
		t.Fatalf("VLAN 100's address answered untagged: %x", out)
	}
	out = f.exchange(dev.RxMeta{}, ping(peerIP, ourIP))
	if len(out) != 1 {
		t.Fatalf("untagged: %d frames sent", len(out))
	}
	checkIPReply(t, out[0], ipv4.ProtoICMP)
	// The device stripped the tag itself: the same as in software.
	out = f.exchange(dev.RxMeta{VLAN: 100}, ping(peer100IP, vlan100IP))
	if len(out) != 1 {
		t.Fatalf("stripped by the device: %d frames sent", len(out))
	}
	untag(t, out[0], 100)
	f.expectNoLeak()
}

// TestVLANResolveAndTCP: TCP between two hosts over VLAN 100 of their
// ports, through ARP on the VLAN, with every frame tagged both ways; the
// connection allocates nothing once established, as on an untagged link.
func TestVLANResolveAndTCP(t *testing.T) {
	host := func(mac ipv4.MAC, addr, vaddr ipv4.Addr, svcs []TCPService) *MemHost {
		cfg := hostConfig(mac, addr, svcs, 64<<10, 64)
		cfg.Ifaces = append(cfg.Ifaces, Iface{Name: "p0.100", MAC: mac, Prefix: ipv4.Prefix{Addr: vaddr, Bits: 24}, VLAN: 100})
		return newHostWith(cfg)
	}
	a := host(macA, ourIP, peer100IP, nil)
	b := host(macB, peerIP, vlan100IP, []TCPService{{Port: 7, New: newEcho}})
	k := &MemLink{A: a, B: b, Now: int64(time.Second)}
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<12)
	cl := &MemClient{Out: data, Want: len(data)}
	if _, err := a.L.TCP().Connect(peer100IP, vlan100IP, 7, cl, k.Now); err != nil {
		t.Fatal(err)
	}
	if !k.Run(100000, func() bool { return cl.Done }) || !bytes.Equal(cl.Got, data) {
		t.Fatalf("echo over VLAN 100: %d of %d bytes, err %v", len(cl.Got), len(data), cl.Err)
	}
	for _, h := range []*MemHost{a, b} {
		h.L.publish()
		c := h.L.c
		if c[VLANRxPackets] == 0 || c[VLANRxPackets] != c[RxPackets] || c.Drops() != 0 {
			t.Errorf("rx %d, on the VLAN %d, drops %d", c[RxPackets], c[VLANRxPackets], c.Drops())
		}
	}
	// An established connection over the VLAN allocates nothing.
	cl2 := &MemClient{Discard: true, NoDelay: true}
	if _, err := a.L.TCP().Connect(peer100IP, vlan100IP, 7, cl2, k.Now); err != nil {
		t.Fatal(err)
	}
	k.Run(100, func() bool { return cl2.Conn != nil })
	msg := bytes.Repeat([]byte{'x'}, 64)
	txn := func() {
		cl2.N = 0
		cl2.Conn.Write(msg)
		for i := 0; i < 20 && cl2.N < len(msg); i++ {
			k.Step()
		}
		if cl2.N != len(msg) {
			t.Fatalf("transaction: %d of %d bytes back", cl2.N, len(msg))
		}
	}
	for i := 0; i < 100; i++ {
		txn()
	}
	if n := testing.AllocsPerRun(200, txn); n != 0 {
		t.Errorf("%v allocations per transaction over a VLAN", n)
	}
}
