package engine

import "sync/atomic"

// Counter names one per-lcore counter.
type Counter int

// The per-lcore counters. Every packet that is not answered or delivered
// ends in exactly one Drop counter.
const (
	RxPackets Counter = iota
	TxPackets
	RxBytes
	TxBytes
	RxBursts // polls that received at least one packet: rx_packets/rx_bursts is the mean burst
	Polls    // poll iterations: 1 - rx_bursts/polls is the share of polls that found nothing
	ARPRequestsIn
	ARPRepliesIn
	ARPRepliesOut
	ARPRequestsOut
	ARPRefreshes // of arp_requests_out, those for a next hop in use whose entry was near its end (it kept serving)
	ICMPEchoReplies
	ICMPUnreachOut
	ICMPFragNeededIn // ICMP "fragmentation needed" quoting our TCP, handed to it (tcp_pmtu_lowered, tcp_pmtu_ignored)
	UDPIn
	UDPEchoed
	UDPDiscarded
	UDPReplied
	UDPHandlerPanics // UDP handler calls that panicked (contained: the datagram dropped)
	HTTPRequests
	HTTPBadRequests
	SteeredOut       // TCP packets and fragments handed to the lcore that owns their flow or datagram
	SteeredIn        // TCP packets and fragments taken from other lcores
	IPFragsIn        // fragments received for reassembly (each also ends as part of a datagram or in a drop_frag_ counter)
	IPReassembled    // datagrams reassembled and delivered
	IPFragsOut       // fragments sent
	IPFragmented     // datagrams sent as fragments
	ICMPTimeExceeded // ICMP time exceeded (fragment reassembly) sent
	RSSHashMatch     // device hashes equal to ours
	RSSHashMismatch  // device hashes that differ
	PcapSkipped      // frames a capture (port.pcap) did not record: its file was full or unwritable
	PollGaps         // polls that began more than 1 ms after the one before with no idle action between: the lcore lost its CPU, or a poll was slow
	PollGapMicros    // the time those gaps took, in microseconds (poll_gap_microseconds)
	// The exception path (port.exception): frames handed to the kernel,
	// and frames the kernel sent out of the port.
	ExceptionToKernel
	ExceptionFromKernel
	// Frames damaged by the fault injector ([port.faults]); not drops of the stack.
	FaultDropped
	FaultDuplicated
	FaultReordered
	FaultCorrupted
	VLANRxPackets // frames received on a VLAN interface ([[port.vlan]])
	// Drops, by reason.
	DropEthShort
	DropVLANUnknown // tagged for a VLAN the port does not have
	DropVLANInsert  // a tag could not be inserted in software (no headroom)
	DropEthNotOurs
	DropEthType
	DropARPBad
	DropARPNotOurs
	DropIPBad
	DropIPChecksum
	DropIPNotOurs
	DropIPBadSource
	DropIPFragment // fragments, with reassembly off
	// Reassembly: fragments dropped on their own, then datagrams dropped
	// with the fragments they held.
	DropFragDuplicate
	DropFragBad
	DropFragOverlap
	DropFragTooBig
	DropFragTooMany
	DropFragFull
	DropFragMemory
	DropFragTimeout
	DropIPProto
	DropICMPBad
	DropICMPChecksum
	DropICMPType
	DropUDPBad
	DropUDPChecksum
	DropUDPNoPort
	DropTCPChecksum
	DropNoRoute
	DropARPUnresolved
	DropARPPendingFull
	DropLearnFull
	DropTxFull
	DropNoMbuf
	DropMultiSeg
	DropSteerFull
	DropSteerStopped // handed to an lcore after its last poll, freed at exit
	NumCounters
)

var counterNames = [NumCounters]string{
	RxPackets:           "rx_packets",
	TxPackets:           "tx_packets",
	RxBytes:             "rx_bytes",
	TxBytes:             "tx_bytes",
	RxBursts:            "rx_bursts",
	Polls:               "polls",
	ARPRequestsIn:       "arp_requests_in",
	ARPRepliesIn:        "arp_replies_in",
	ARPRepliesOut:       "arp_replies_out",
	ARPRequestsOut:      "arp_requests_out",
	ARPRefreshes:        "arp_refreshes",
	PollGaps:            "poll_gaps",
	PollGapMicros:       "poll_gap_microseconds",
	ICMPEchoReplies:     "icmp_echo_replies",
	ICMPUnreachOut:      "icmp_unreach_out",
	ICMPFragNeededIn:    "icmp_frag_needed_in",
	UDPIn:               "udp_in",
	UDPEchoed:           "udp_echoed",
	UDPDiscarded:        "udp_discarded",
	UDPReplied:          "udp_replied",
	UDPHandlerPanics:    "udp_handler_panics",
	HTTPRequests:        "http_requests",
	HTTPBadRequests:     "http_bad_requests",
	SteeredOut:          "steered_out",
	SteeredIn:           "steered_in",
	IPFragsIn:           "ip_frags_in",
	IPReassembled:       "ip_reassembled",
	IPFragsOut:          "ip_frags_out",
	IPFragmented:        "ip_fragmented",
	ICMPTimeExceeded:    "icmp_time_exceeded_out",
	RSSHashMatch:        "rss_hash_match",
	RSSHashMismatch:     "rss_hash_mismatch",
	PcapSkipped:         "pcap_skipped",
	ExceptionToKernel:   "exception_to_kernel",
	ExceptionFromKernel: "exception_from_kernel",
	FaultDropped:        "fault_dropped",
	FaultDuplicated:     "fault_duplicated",
	FaultReordered:      "fault_reordered",
	FaultCorrupted:      "fault_corrupted",
	VLANRxPackets:       "vlan_rx_packets",
	DropEthShort:        "drop_eth_short",
	DropVLANUnknown:     "drop_vlan_unknown",
	DropVLANInsert:      "drop_vlan_insert",
	DropEthNotOurs:      "drop_eth_not_ours",
	DropEthType:         "drop_eth_type",
	DropARPBad:          "drop_arp_bad",
	DropARPNotOurs:      "drop_arp_not_ours",
	DropIPBad:           "drop_ip_bad",
	DropIPChecksum:      "drop_ip_checksum",
	DropIPNotOurs:       "drop_ip_not_ours",
	DropIPBadSource:     "drop_ip_bad_source",
	DropIPFragment:      "drop_ip_fragment",
	DropFragDuplicate:   "drop_frag_duplicate",
	DropFragBad:         "drop_frag_bad",
	DropFragOverlap:     "drop_frag_overlap",
	DropFragTooBig:      "drop_frag_too_big",
	DropFragTooMany:     "drop_frag_too_many",
	DropFragFull:        "drop_frag_full",
	DropFragMemory:      "drop_frag_memory",
	DropFragTimeout:     "drop_frag_timeout",
	DropIPProto:         "drop_ip_proto",
	DropICMPBad:         "drop_icmp_bad",
	DropICMPChecksum:    "drop_icmp_checksum",
	DropICMPType:        "drop_icmp_type",
	DropUDPBad:          "drop_udp_bad",
	DropUDPChecksum:     "drop_udp_checksum",
	DropUDPNoPort:       "drop_udp_no_port",
	DropTCPChecksum:     "drop_tcp_checksum",
	DropNoRoute:         "drop_no_route",
	DropARPUnresolved:   "drop_arp_unresolved",
	DropARPPendingFull:  "drop_arp_pending_full",
	DropLearnFull:       "drop_learn_full",
	DropTxFull:          "drop_tx_full",
	DropNoMbuf:          "drop_no_mbuf",
	DropMultiSeg:        "drop_multiseg",
	DropSteerFull:       "drop_steer_full",
	DropSteerStopped:    "drop_steer_stopped",
}

// String is the name used in logs and counter lines.
func (c Counter) String() string { return counterNames[c] }

// IsDrop reports whether c counts dropped packets.
func (c Counter) IsDrop() bool { return c >= DropEthShort && c < NumCounters }

// Counters is a set of counter values.
type Counters [NumCounters]uint64

// published is written by its lcore and read by anyone.
type published [NumCounters]atomic.Uint64

func (p *published) store(c *Counters) {
	for i := range c {
		p[i].Store(c[i])
	}
}

func (p *published) load() (c Counters) {
	for i := range p {
		c[i] = p[i].Load()
	}
	return c
}

// Add adds o to c.
func (c *Counters) Add(o *Counters) {
	for i := range c {
		c[i] += o[i]
	}
}

// Drops is the sum of the drop counters.
func (c *Counters) Drops() uint64 {
	var n uint64
	for i := DropEthShort; i < NumCounters; i++ {
		n += c[i]
	}
	return n
}
