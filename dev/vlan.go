package dev

import "encoding/binary"

// IEEE 802.1Q in software, for queues whose device does not tag and untag
// frames itself (Mem; pmd's queues do the same in C) and for captures,
// which record a frame as it is on the wire.

// EtherTypeVLAN is the 802.1Q tag protocol identifier.
const EtherTypeVLAN = 0x8100

// vlanTagLen is the bytes a tag adds behind the two MAC addresses.
const vlanTagLen = 4

// vlanTCI is the tag control information of an 802.1Q tagged frame; ok
// false if it has no tag.
func vlanTCI(frame []byte) (tci uint16, ok bool) {
	if len(frame) < 12+vlanTagLen+2 || binary.BigEndian.Uint16(frame[12:]) != EtherTypeVLAN {
		return 0, false
	}
	return binary.BigEndian.Uint16(frame[14:]), true
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
