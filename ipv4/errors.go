package ipv4

import "errors"

// The reasons a check rejects a packet. They are allocated once, so that
// checking a packet never allocates, and can be compared with ==.
var (
	// ErrTruncated means the bytes end before the header, or before the length
	// that the header claims.
	ErrTruncated = errors.New("ipv4: packet truncated")
	// ErrVersion means the IPv4 version field is not 4.
	ErrVersion = errors.New("ipv4: version is not 4")
	// ErrHeaderLen means the IPv4 header length (IHL) is below 5 words.
	ErrHeaderLen = errors.New("ipv4: header length below 20 bytes")
	// ErrTotalLength means the IPv4 total length is below the header length.
	ErrTotalLength = errors.New("ipv4: total length below header length")
	// ErrARPFormat means the ARP packet is not for Ethernet and IPv4.
	ErrARPFormat = errors.New("ipv4: arp is not ethernet/ipv4")
	// ErrUDPLength means the UDP length field is below the 8-byte header.
	ErrUDPLength = errors.New("ipv4: udp length below header length")
)
