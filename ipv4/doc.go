// Package ipv4 parses and builds Ethernet, ARP, IPv4, ICMP and UDP on the
// bytes of a packet buffer, keeps the neighbour (ARP) table, and computes
// Internet checksums, with or without device offload (ChecksumCaps).
//
// Every wire format is a view: a named byte slice (Ethernet, ARP, IPv4, ICMP,
// UDP) whose methods read and write fields in place, without copying or
// allocating. The contract: run the view's one check (Valid or Check) on
// received bytes; once it has passed, no accessor can panic, whatever the
// bytes hold. Do not check a buffer you are about to write into; its Repr's
// Encode writes every header byte and needs only Len bytes of room.
package ipv4
