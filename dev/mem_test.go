package dev_test

import (
	"bytes"
	"testing"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// TestMemFillsOffloadedTCPChecksum: a segment sent with its pseudo-header
// sum in the checksum field and OffTCPCksum leaves Mem with the checksum
// completed, as a device that offloads it would send it; a trusted link
// leaves it as it is.
func TestMemFillsOffloadedTCPChecksum(t *testing.T) {
	src, dst := ipv4.AddrFrom4([4]byte{198, 18, 0, 1}), ipv4.AddrFrom4([4]byte{198, 18, 0, 2})
	caps := ipv4.ChecksumCaps{IPv4Tx: true, TCPTx: true}
	m := dev.NewMem(4, 2048, caps)
	b, data, ok := m.Alloc()
	if !ok {
		t.Fatal("no buffer")
	}
	const segLen = 20 + 11
	frame := data[:ipv4.EthernetHeaderLen+ipv4.IPv4MinHeaderLen+segLen]
	ipv4.Ethernet(frame).SetType(ipv4.EtherTypeIPv4)
	ipv4.IPv4Repr{Src: src, Dst: dst, Protocol: ipv4.ProtoTCP, TTL: 64, PayloadLen: segLen}.Encode(frame[ipv4.EthernetHeaderLen:], caps)
	seg := tcp.Header(frame[ipv4.EthernetHeaderLen+ipv4.IPv4MinHeaderLen:])
	seg.SetSrcPort(80)
	seg.SetDstPort(40000)
	seg.SetHeaderLen(20)
	copy(seg[20:], "hello world")
	seg.SetPseudoChecksum(src, dst)
	if seg.ChecksumValid(src, dst) {
		t.Fatal("the pseudo-header sum alone already checks out")
	}
	m.Send(b, len(frame), (dev.OffTCPCksum | dev.OffIPv4Cksum).WithL3Len(ipv4.IPv4MinHeaderLen))
	m.Flush()
	out := m.Sent()
	if len(out) != 1 {
		t.Fatalf("%d frames sent", len(out))
	}
	ip := ipv4.IPv4(out[0][ipv4.EthernetHeaderLen:])
	if ip.Check() != nil || !tcp.Header(ip.Payload()).ChecksumValid(src, dst) {
		t.Errorf("sent segment's checksum is not valid: %x", out[0])
	}

	// A trusted link computes none: the frame leaves as it was sent.
	m.Trusted = true
	b, data, _ = m.Alloc()
	data = data[:len(frame)]
	copy(data, frame)
	seg = tcp.Header(data[ipv4.EthernetHeaderLen+ipv4.IPv4MinHeaderLen:])
	seg.SetPseudoChecksum(src, dst)
	want := bytes.Clone(data)
	m.Send(b, len(frame), (dev.OffTCPCksum | dev.OffIPv4Cksum).WithL3Len(ipv4.IPv4MinHeaderLen))
	m.Flush()
	if out := m.Sent(); len(out) != 2 || !bytes.Equal(out[1], want) {
		t.Errorf("a trusted link changed the frame: sent %x, want %x", out, want)
	}
}

// TestMemVLAN: a tagged frame is received untagged with its tag in the
// metadata, and a frame sent with a tag leaves tagged, after its
// checksums are filled; so does a capture record both, tagged.
func TestMemVLAN(t *testing.T) {
	m := dev.NewMem(4, 2048, ipv4.ChecksumCaps{})
	var file bytes.Buffer
	p, err := dev.NewPcap(m, &file, 0, 0, func() int64 { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	untagged := []byte{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x08, 0x06, 'a', 'r', 'p'}
	frame := append(append(append([]byte{}, untagged[:12]...), 0x81, 0x00, 0x20, 0x64), untagged[12:]...) // priority 1, VLAN 100
	m.Inject(frame, dev.RxMeta{})
	if p.Poll() != 1 {
		t.Fatal("nothing received")
	}
	b, data, meta := p.Packet(0)
	if !bytes.Equal(data, untagged) || meta.VLAN != 0x2064 {
		t.Fatalf("received % x, VLAN %#x", data, meta.VLAN)
	}
	p.Send(b, len(data), dev.VLANTag(100))
	p.Flush()
	want := append(append(append([]byte{}, untagged[:12]...), 0x81, 0x00, 0x00, 0x64), untagged[12:]...)
	if out := m.Sent(); len(out) != 1 || !bytes.Equal(out[0], want) {
		t.Fatalf("sent % x", out)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	rec := file.Bytes()[24:]
	if got := rec[16 : 16+len(frame)]; !bytes.Equal(got, frame) {
		t.Errorf("received frame recorded as % x", got)
	}
	rec = rec[16+len(frame):]
	if got := rec[16:]; !bytes.Equal(got, want) {
		t.Errorf("sent frame recorded as % x", got)
	}
}
