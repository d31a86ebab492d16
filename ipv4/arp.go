package ipv4

import "encoding/binary"

// ARP is a view of an ARP packet for Ethernet and IPv4 (RFC 826), the only
// kind this stack speaks. Its fields do not fall on 32-bit words, so here
// they are as RFC 826 lists them:
//
//	offset size field
//	     0    2 hardware type (1: Ethernet)
//	     2    2 protocol type (0x0800: IPv4)
//	     4    1 hardware address length (6)
//	     5    1 protocol address length (4)
//	     6    2 operation (1: request, 2: reply)
//	     8    6 sender hardware address
//	    14    4 sender protocol address
//	    18    6 target hardware address (zero in a request)
//	    24    4 target protocol address
type ARP []byte

const (
	arpHType = 0
	arpPType = 2
	arpHLen  = 4
	arpPLen  = 5
	arpOp    = 6
	arpSHA   = 8
	arpSPA   = 14
	arpTHA   = 18
	arpTPA   = 24

	// ARPLen is the length of an Ethernet/IPv4 ARP packet.
	ARPLen = 28

	arpHTypeEthernet = 1
)

// ARP operations.
const (
	ARPRequest = 1
	ARPReply   = 2
)

// Check returns ErrTruncated if b is shorter than ARPLen and ErrARPFormat
// if it is not an Ethernet/IPv4 packet. After it, no accessor can panic. The
// operation is not checked.
func (b ARP) Check() error {
	if len(b) < ARPLen {
		return ErrTruncated
	}
	if binary.BigEndian.Uint16(b[arpHType:]) != arpHTypeEthernet ||
		binary.BigEndian.Uint16(b[arpPType:]) != EtherTypeIPv4 ||
		b[arpHLen] != 6 || b[arpPLen] != 4 {
		return ErrARPFormat
	}
	return nil
}

// Op returns the operation, ARPRequest or ARPReply.
func (b ARP) Op() uint16 { return binary.BigEndian.Uint16(b[arpOp:]) }

// SenderMAC returns the sender hardware address.
func (b ARP) SenderMAC() MAC { return MAC(b[arpSHA:]) }

// SenderAddr returns the sender protocol address.
func (b ARP) SenderAddr() Addr { return ReadAddr(b[arpSPA:]) }

// TargetMAC returns the target hardware address (zero in a request).
func (b ARP) TargetMAC() MAC { return MAC(b[arpTHA:]) }

// TargetAddr returns the target protocol address.
func (b ARP) TargetAddr() Addr { return ReadAddr(b[arpTPA:]) }

// SetFormat writes the fixed fields for Ethernet and IPv4.
func (b ARP) SetFormat() {
	binary.BigEndian.PutUint16(b[arpHType:], arpHTypeEthernet)
	binary.BigEndian.PutUint16(b[arpPType:], EtherTypeIPv4)
	b[arpHLen] = 6
	b[arpPLen] = 4
}

// SetOp sets the operation.
func (b ARP) SetOp(op uint16) { binary.BigEndian.PutUint16(b[arpOp:], op) }

// SetSenderMAC sets the sender hardware address.
func (b ARP) SetSenderMAC(m MAC) { copy(b[arpSHA:arpSHA+6], m[:]) }

// SetSenderAddr sets the sender protocol address.
func (b ARP) SetSenderAddr(a Addr) { PutAddr(b[arpSPA:], a) }

// SetTargetMAC sets the target hardware address.
func (b ARP) SetTargetMAC(m MAC) { copy(b[arpTHA:arpTHA+6], m[:]) }

// SetTargetAddr sets the target protocol address.
func (b ARP) SetTargetAddr(a Addr) { PutAddr(b[arpTPA:], a) }

// ARPReplyInPlace turns a, a checked request for one of our addresses, into
// its reply: the operation becomes ARPReply, the requester becomes the
// target and we (ourMAC and the address asked for) the sender. The Ethernet
// header around it is the caller's to rewrite.
func ARPReplyInPlace(a ARP, ourMAC MAC) {
	senderMAC, senderAddr, ourAddr := a.SenderMAC(), a.SenderAddr(), a.TargetAddr()
	a.SetOp(ARPReply)
	a.SetTargetMAC(senderMAC)
	a.SetTargetAddr(senderAddr)
	a.SetSenderMAC(ourMAC)
	a.SetSenderAddr(ourAddr)
}

// ARPRepr is a decoded Ethernet/IPv4 ARP packet.
type ARPRepr struct {
	Op         uint16
	SenderMAC  MAC
	SenderAddr Addr
	TargetMAC  MAC
	TargetAddr Addr
}

// ParseARP decodes a checked packet.
func ParseARP(b ARP) ARPRepr {
	return ARPRepr{
		Op:         b.Op(),
		SenderMAC:  b.SenderMAC(),
		SenderAddr: b.SenderAddr(),
		TargetMAC:  b.TargetMAC(),
		TargetAddr: b.TargetAddr(),
	}
}

// Len returns ARPLen, the number of bytes Encode writes.
func (r ARPRepr) Len() int { return ARPLen }

// Encode writes the packet into the first ARPLen bytes of b.
func (r ARPRepr) Encode(b []byte) {
	a := ARP(b[:ARPLen])
	a.SetFormat()
	a.SetOp(r.Op)
	a.SetSenderMAC(r.SenderMAC)
	a.SetSenderAddr(r.SenderAddr)
	a.SetTargetMAC(r.TargetMAC)
	a.SetTargetAddr(r.TargetAddr)
}
