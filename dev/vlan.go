package dev

import "encoding/binary"

// IEEE 802.1Q in software, for queues whose device does not tag and untag
// frames itself (Mem; pmd's queues do the same in C) and for captures,
// which record a frame as it is on the wire.

// EtherTypeVLAN is the 802.1Q tag protocol identifier.
const EtherTypeVLAN = 0x8100

// vlanTagLen is the bytes a tag adds behind the two MAC addresses.
const vlanTagLen = 4

// stripVLAN removes the 802.1Q tag of frame in place, moving the MAC
// addresses forward: it returns the untagged frame (a suffix of frame)
// and the tag control information, or frame and 0 when it has no tag.
func stripVLAN(frame []byte) ([]byte, uint16) {
	if len(frame) < 12+vlanTagLen+2 || binary.BigEndian.Uint16(frame[12:]) != EtherTypeVLAN {
		return frame, 0
	}
	tci := binary.BigEndian.Uint16(frame[14:])
	copy(frame[vlanTagLen:12+vlanTagLen], frame[:12])
	return frame[vlanTagLen:], tci
}

// appendTagged appends frame to dst with an 802.1Q tag of tci behind its
// MAC addresses (frame as it is if shorter than them).
func appendTagged(dst, frame []byte, tci uint16) []byte {
	if len(frame) < 12 {
		return append(dst, frame...)
	}
	dst = append(dst, frame[:12]...)
	dst = binary.BigEndian.AppendUint16(dst, EtherTypeVLAN)
	dst = binary.BigEndian.AppendUint16(dst, tci)
	return append(dst, frame[12:]...)
}
