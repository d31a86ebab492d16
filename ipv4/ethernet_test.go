package ipv4

import (
	"bytes"
	"testing"
)

func TestEthernetGolden(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  EthernetRepr
	}{
		{"ping", pingFrame, EthernetRepr{Dst: pmdMAC, Src: peerMAC, Type: EtherTypeIPv4}},
		{"arp", arpFrame, EthernetRepr{Dst: BroadcastMAC, Src: peerMAC, Type: EtherTypeARP}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Read fields from known bytes.
			e := Ethernet(tt.frame)
			if !e.Valid() {
				t.Fatal("not valid")
			}
			if e.Dst() != tt.want.Dst || e.Src() != tt.want.Src || e.Type() != tt.want.Type {
				t.Errorf("read %v > %v type %#04x", e.Src(), e.Dst(), e.Type())
			}
			if !bytes.Equal(e.Payload(), tt.frame[EthernetHeaderLen:]) {
				t.Errorf("payload differs")
			}
			// Parse to a value.
			if r := ParseEthernet(e); r != tt.want {
				t.Errorf("ParseEthernet = %+v, want %+v", r, tt.want)
			}
			// Build into 0xa5 and encode the parsed value back.
			for _, r := range []EthernetRepr{tt.want, ParseEthernet(e)} {
				b := filled(r.Len())
				r.Encode(b)
				if !bytes.Equal(b, tt.frame[:EthernetHeaderLen]) {
					t.Errorf("Encode = %x, want %x", b, tt.frame[:EthernetHeaderLen])
				}
			}
		})
	}
}

func TestEthernetTruncated(t *testing.T) {
	for n := range EthernetHeaderLen {
		if Ethernet(pingFrame[:n]).Valid() {
			t.Errorf("%d bytes: valid", n)
		}
	}
	if e := Ethernet(pingFrame[:EthernetHeaderLen]); !e.Valid() || len(e.Payload()) != 0 {
		t.Errorf("bare header: valid %v payload %d", e.Valid(), len(e.Payload()))
	}
}
