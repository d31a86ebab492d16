package pmd

import "testing"

func TestWithRingSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		desc int
		want string
	}{
		{"net_af_packet0,iface=pmd0", 1024, "net_af_packet0,iface=pmd0,framecnt=1024"},
		{"net_af_packet0,iface=pmd0,qpairs=2", 4096, "net_af_packet0,iface=pmd0,qpairs=2,framecnt=4096"},
		{"net_af_packet0,iface=pmd0,framecnt=512", 4096, "net_af_packet0,iface=pmd0,framecnt=512"}, // the devargs' own wins
		{"net_memif0,role=server", 1024, "net_memif0,role=server"},
		{"0000:01:00.0", 1024, "0000:01:00.0"},
		{"net_af_packet0,iface=pmd0", 0, "net_af_packet0,iface=pmd0"},
	} {
		if got := WithRingSize(c.in, c.desc); got != c.want {
			t.Errorf("WithRingSize(%q, %d) = %q, want %q", c.in, c.desc, got, c.want)
		}
	}
	if got := afPacketIface("net_af_packet1,qpairs=2,iface=veth3"); got != "veth3" {
		t.Errorf("afPacketIface = %q, want veth3", got)
	}
	if v, ok := Devarg("net_tap9,iface=pmdk0,mac=02:00:00:00:00:01", "mac"); !ok || v != "02:00:00:00:00:01" {
		t.Errorf("Devarg mac = %q, %v", v, ok)
	}
	if _, ok := Devarg("net_tap9,iface=pmdk0,xmac=1", "mac"); ok {
		t.Errorf("Devarg found mac in xmac")
	}
}
