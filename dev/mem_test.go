package dev_test

import (
	"testing"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// TestMemFillsOffloadedTCPChecksum: a segment sent with its pseudo-header
// sum in the checksum field and OffTCPCksum leaves Mem with the checksum
// completed, as a device that offloads it would send it.
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
}
