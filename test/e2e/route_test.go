package e2e

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestAddressesAndRoutes: pmd has two addresses on its link, in two
// networks, and two routes to a far network behind the peer (a router):
// 198.18.249.0/24 through a next hop that does not exist, and the more
// specific 198.18.249.2/32 through the router's address in the second
// network. Each of pmd's addresses answers ping and TCP from the peer;
// the far host at .2 reaches pmd (the longest prefix wins), while the far
// network's other host, .3, routed only by the /24, gets no answer and
// pmd counts the next hop that never resolved.
func TestAddressesAndRoutes(t *testing.T) {
	tp := newTopo(t, 49)
	farNS, rIf, farIf := "pmde2e-f"+tp.pmdNS[len("pmde2e-h"):], "pmdr"+tp.pmdIf[len("pmdv"):], "pmdf"+tp.pmdIf[len("pmdv"):]
	exec.Command("ip", "netns", "del", farNS).Run()
	t.Cleanup(func() { exec.Command("ip", "netns", "del", farNS).Run() })
	run(t, "ip", "-n", tp.peerNS, "addr", "add", "198.18.149.2/24", "dev", tp.peerIf)
	run(t, "ip", "netns", "add", farNS)
	run(t, "ip", "link", "add", rIf, "netns", tp.peerNS, "type", "veth", "peer", "name", farIf, "netns", farNS)
	run(t, "ip", "-n", tp.peerNS, "addr", "add", "198.18.249.1/24", "dev", rIf)
	run(t, "ip", "-n", tp.peerNS, "link", "set", rIf, "up")
	run(t, "ip", "netns", "exec", tp.peerNS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	run(t, "ip", "-n", farNS, "addr", "add", "198.18.249.2/24", "dev", farIf)
	run(t, "ip", "-n", farNS, "addr", "add", "198.18.249.3/24", "dev", farIf)
	run(t, "ip", "-n", farNS, "link", "set", farIf, "up")
	run(t, "ip", "-n", farNS, "link", "set", "lo", "up")
	run(t, "ip", "-n", farNS, "route", "add", "default", "via", "198.18.249.1")
	for _, nsIf := range [][2]string{{tp.peerNS, rIf}, {farNS, farIf}} {
		run(t, "ip", "netns", "exec", nsIf[0], "ethtool", "-K", nsIf[1], "tx", "off")
	}

	conf := strings.Replace(tp.conf("[0]", 1, tcpServices+`
[[route]]
prefix = "198.18.249.0/24"
via = "198.18.49.99"

[[route]]
prefix = "198.18.249.2/32"
via = "198.18.149.2"
`), "queues = 1\n", "queues = 1\naddresses = [\"198.18.149.1/24\"]\n", 1)
	p := tp.startPMD(conf)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, addr := range []string{"198.18.49.1", "198.18.149.1"} {
		if out, err := tp.peer(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "2", addr); err != nil || !strings.Contains(out, "3 received") {
			t.Errorf("ping %s: %v\n%s", addr, err, out)
		}
		var c net.Conn
		err := tp.inPeerNS(func() (err error) {
			c, err = net.DialTimeout("tcp4", addr+":7", 5*time.Second)
			return err
		})
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		if err := echoKeep(c, 10000, 3); err != nil {
			t.Errorf("echo to %s: %v", addr, err)
		}
		c.Close()
	}

	// From the far network: .2 through the /32, .3 only through the /24's
	// next hop that never answers ARP.
	dialFrom := func(src string) error {
		return inNS(farNS, func() error {
			d := net.Dialer{Timeout: 4 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			c, err := d.Dial("tcp4", "198.18.49.1:7")
			if err != nil {
				return err
			}
			defer c.Close()
			return echoKeep(c, 5000, 4)
		})
	}
	if err := dialFrom("198.18.249.2"); err != nil {
		t.Errorf("from 198.18.249.2 (route /32 via the router): %v", err)
	}
	if err := dialFrom("198.18.249.3"); err == nil {
		t.Errorf("from 198.18.249.3: connected, though its route's next hop does not exist")
	}
	out := p.stop(t)
	if tot := finalCounters(t, out, "total"); tot["drop_arp_unresolved"] == 0 {
		t.Errorf("drop_arp_unresolved = 0; want the SYN-ACKs to 198.18.249.3 dropped for their unresolved next hop")
	}
}
