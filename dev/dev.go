// Package dev defines the burst queue that the lcore engine runs on, and an
// in-memory implementation of it for tests. Package pmd implements it over a
// DPDK port queue; the engine sees no difference.
package dev

import "github.com/pmdstack/pmd/ipv4"

// Buf is a handle to one packet buffer owned by a queue (an mbuf pointer
// for DPDK queues). Every Buf obtained from a queue is given back exactly
// once, through Send or Free.
type Buf uintptr

// Offload asks the device to fill checksums on transmit and to tag the
// frame for a VLAN. The low byte holds flags, the next byte the IPv4
// header length the device needs to find L4, the high 16 bits the 802.1Q
// tag control information (0: the frame leaves untagged).
type Offload uint32

// Transmit offload flags.
const (
	OffIPv4Cksum Offload = 1 << iota
	OffUDPCksum
	OffTCPCksum
)

// WithL3Len records the IPv4 header length for the device.
func (o Offload) WithL3Len(n int) Offload { return o&^0xff00 | Offload(n)<<8 }

// L3Len is the IPv4 header length recorded by WithL3Len.
func (o Offload) L3Len() int { return int(o >> 8 & 0xff) }

// VLANTag is the offload that asks for an 802.1Q tag with VLAN id vid
// (priority 0); OR it into the others.
func VLANTag(vid uint16) Offload { return Offload(vid&0xfff) << 16 }

// TCI is the tag control information the frame is to be tagged with; 0
// for none.
func (o Offload) TCI() uint16 { return uint16(o >> 16) }

// RxMeta is what the device says about a received packet.
type RxMeta struct {
	IPCksum ipv4.RxChecksum // the device's IPv4 header checksum verdict
	L4Cksum ipv4.RxChecksum // the device's TCP/UDP checksum verdict
	Hash    uint32          // the device's RSS hash, if HasHash
	HasHash bool
	// VLAN is the 802.1Q tag control information of a tagged frame,
	// whose tag the device (or the queue, in software) removed: the
	// frame's bytes are always untagged. 0: the frame had no tag.
	VLAN uint16
}

// Queue is one RX/TX queue pair, used by exactly one lcore.
type Queue interface {
	// Poll transmits what Send queued since the last Poll, releases what
	// Free released, then receives a burst; it returns how many packets
	// arrived. The previous burst's packets must all have been given back.
	Poll() int
	// Packet is packet i of the last Poll: its handle, its bytes (len is
	// the frame length, cap reaches the end of the buffer) and metadata.
	Packet(i int) (Buf, []byte, RxMeta)
	// Alloc gives a fresh buffer (len 0, cap its room), or ok false when
	// the pool is dry.
	Alloc() (b Buf, data []byte, ok bool)
	// Send queues the first n bytes of b for transmission on the next Poll
	// or Flush; the queue owns b afterwards.
	Send(b Buf, n int, o Offload)
	// Free gives b back without sending it.
	Free(b Buf)
	// Data is b's bytes from the frame's first byte to the end of its
	// room, for a wrapper that looks at what is sent (Pcap).
	Data(b Buf) []byte
	// Flush transmits what is queued now.
	Flush()
	// CanSend reports whether Send would take a frame now rather than
	// drop it for a full TX queue; a full queue is flushed first. A
	// sender that can wait (TCP) asks before it builds a frame, and
	// tries again at a later poll instead of losing the frame.
	CanSend() bool
	// Caps says which checksums the device verifies and computes.
	Caps() ipv4.ChecksumCaps
	// Stats are the queue's own counters (packets refused by a full TX ring,
	// buffer allocation failures).
	Stats() QueueStats
}

// QueueStats are counted by a queue itself.
type QueueStats struct {
	TxFull    uint64 // packets freed because the TX ring stayed full
	AllocFail uint64 // Alloc calls that found the pool dry
	MultiSeg  uint64 // received packets dropped for spanning several buffers
	// VLANInsertFail is frames dropped because their VLAN tag could not
	// be inserted in software (no headroom, a shared buffer).
	VLANInsertFail uint64
	// PcapSkipped is frames a capture (Pcap) did not record: its file
	// reached its limit or could not be written.
	PcapSkipped uint64
	// Frames damaged by a fault injector (Faults).
	FaultDropped, FaultDuplicated, FaultReordered, FaultCorrupted uint64
}

// Add adds o's counts to s.
func (s *QueueStats) Add(o QueueStats) {
	s.TxFull += o.TxFull
	s.AllocFail += o.AllocFail
	s.MultiSeg += o.MultiSeg
	s.VLANInsertFail += o.VLANInsertFail
	s.PcapSkipped += o.PcapSkipped
	s.FaultDropped += o.FaultDropped
	s.FaultDuplicated += o.FaultDuplicated
	s.FaultReordered += o.FaultReordered
	s.FaultCorrupted += o.FaultCorrupted
}
