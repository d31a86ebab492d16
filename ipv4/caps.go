package ipv4

// ChecksumCaps says which checksums the device handles, filled from the
// port's offload flags and passed to the code that parses and builds packets,
// so that the same code runs with and without offload. A true Rx field means
// the device verifies that checksum on receive and reports the verdict per
// packet (RxChecksum); a true Tx field means the device computes it on
// transmit, and software leaves the field as the device expects (zero for
// IPv4, the pseudo-header sum for UDP and TCP). The zero value does every
// checksum in software.
type ChecksumCaps struct {
	IPv4Rx, IPv4Tx bool
	UDPRx, UDPTx   bool
	TCPRx, TCPTx   bool
}

// RxChecksum is the device's verdict on one received packet's checksum.
type RxChecksum uint8

const (
	// RxCksumUnknown means the device did not check: verify in software.
	RxCksumUnknown RxChecksum = iota
	// RxCksumGood means the device found the checksum correct.
	RxCksumGood
	// RxCksumBad means the device found the checksum wrong: drop the packet.
	RxCksumBad
)

// String returns "unknown", "good" or "bad".
func (r RxChecksum) String() string {
	switch r {
	case RxCksumGood:
		return "good"
	case RxCksumBad:
		return "bad"
	}
	return "unknown"
}
