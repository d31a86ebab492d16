package engine

import (
	"testing"

	"github.com/pmdstack/pmd/ipv4"
)

func mustPrefix(s string) ipv4.Prefix {
	p, err := ipv4.ParsePrefix(s)
	if err != nil {
		panic(err)
	}
	return p
}

// TestRouteLongestPrefix: the interfaces' networks and the static routes
// are one table, the longest prefix wins, and the gateway is the route of
// last resort; our address toward a next hop is the one in its network.
func TestRouteLongestPrefix(t *testing.T) {
	l := &Lcore{cfg: &Config{
		Ifaces: []Iface{
			{Prefix: mustPrefix("198.18.0.1/24"), Addrs: []ipv4.Prefix{mustPrefix("198.18.5.1/24")}, Gateway: mustAddr("198.18.0.254")},
			{Prefix: mustPrefix("198.19.0.1/16")},
		},
		Routes: []Route{
			{Prefix: mustPrefix("10.0.0.0/8"), Via: mustAddr("198.18.0.9"), Port: 0},
			{Prefix: mustPrefix("10.1.0.0/16"), Via: mustAddr("198.19.0.9"), Port: 1},
			{Prefix: mustPrefix("198.19.7.0/24"), Via: mustAddr("198.18.5.9"), Port: 0},
		},
	}}
	for _, c := range []struct {
		dst, hop string
		port     int
	}{
		{"198.18.0.7", "198.18.0.7", 0},    // on the link
		{"198.18.5.7", "198.18.5.7", 0},    // on the link, the second network
		{"198.19.3.3", "198.19.3.3", 1},    // the other port's link
		{"198.19.7.3", "198.18.5.9", 0},    // a /24 route inside port 1's /16
		{"10.9.9.9", "198.18.0.9", 0},      // /8
		{"10.1.2.3", "198.19.0.9", 1},      // /16 beats /8
		{"203.0.113.1", "198.18.0.254", 0}, // the gateway
	} {
		port, hop, ok := l.Route(mustAddr(c.dst))
		if !ok || port != c.port || hop != mustAddr(c.hop) {
			t.Errorf("Route(%s) = port %d via %v (%v), want port %d via %s", c.dst, port, hop, ok, c.port, c.hop)
		}
	}
	ifc := &l.cfg.Ifaces[0]
	if !ifc.Owns(mustAddr("198.18.5.1")) || ifc.Owns(mustAddr("198.18.5.2")) {
		t.Error("Owns")
	}
	if a := ifc.AddrFor(mustAddr("198.18.5.9")); a != mustAddr("198.18.5.1") {
		t.Errorf("AddrFor(198.18.5.9) = %v", a)
	}
	if a, ok := l.SourceAddr(mustAddr("198.19.7.3")); !ok || a != mustAddr("198.18.5.1") {
		t.Errorf("SourceAddr(198.19.7.3) = %v, want 198.18.5.1 (the address beside the route's next hop)", a)
	}
	l.cfg.Ifaces[0].Gateway = 0
	if _, _, ok := l.Route(mustAddr("203.0.113.1")); ok {
		t.Error("a route without a gateway")
	}
}
