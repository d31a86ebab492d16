package e2e

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestExceptionPath: pmd's port carries a kernel interface (a TAP device
// in pmd's namespace, port.exception) that holds pmd's own address and a
// second address of the kernel's. From the peer: ping of the kernel's
// address, and TCP to a kernel server on a port pmd does not serve, on
// both addresses, work through pmd's port; pmd's own TCP and UDP echo
// keep working beside them, and pmd counts the frames each way.
func TestExceptionPath(t *testing.T) {
	tp := newTopo(t, 51)
	tap := "pmdk" + tp.pmdIf[len("pmdv"):]
	conf := strings.Replace(tp.conf("[0]", 1, tcpServices), "queues = 1\n", "queues = 1\nexception = \"net_tap9,iface="+tap+"\"\n", 1)
	p := tp.startPMD(conf)
	// On a NIC that DPDK drives, the kernel sees nothing of the port's
	// traffic but what pmd hands it. Here the port is a veth that
	// net_af_packet reads beside the kernel: keep the kernel of pmd's
	// namespace, which now has addresses, from answering on it itself
	// (the ingress hook comes after the packet sockets' taps).
	run(t, "ip", "netns", "exec", tp.pmdNS, "nft", "add table netdev pmdexc")
	run(t, "ip", "netns", "exec", tp.pmdNS, "nft", "add chain netdev pmdexc in { type filter hook ingress device "+tp.pmdIf+" priority 0; policy drop; }")
	run(t, "ip", "netns", "exec", tp.pmdNS, "sysctl", "-qw", "net.ipv6.conf."+tap+".disable_ipv6=1")
	run(t, "ip", "-n", tp.pmdNS, "addr", "add", tp.pmdAddr+"/24", "dev", tap)
	run(t, "ip", "-n", tp.pmdNS, "addr", "add", "198.18.51.3/24", "dev", tap)
	run(t, "ip", "-n", tp.pmdNS, "link", "set", tap, "up")

	// The kernel's server: an echo on port 2222, which pmd does not serve.
	var ln net.Listener
	if err := inNS(tp.pmdNS, func() (err error) { ln, err = net.Listen("tcp4", ":2222"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := tp.peer(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "2", "198.18.51.3"); err != nil || !strings.Contains(out, "3 received") {
		t.Errorf("ping of the kernel's address: %v\n%s", err, out)
	}
	for _, addr := range []string{"198.18.51.3:2222", tp.pmdAddr + ":2222", tp.pmdAddr + ":7"} {
		var c net.Conn
		err := tp.inPeerNS(func() (err error) { c, err = net.DialTimeout("tcp4", addr, 5*time.Second); return err })
		if err != nil {
			t.Errorf("dial %s: %v", addr, err)
			continue
		}
		if err := echoKeep(c, 200<<10, 5); err != nil {
			t.Errorf("echo through %s: %v", addr, err)
		}
		c.Close()
	}
	udpEcho(t, tp, 7, 100, 1)
	out := p.stop(t)
	tot := finalCounters(t, out, "total")
	if tot["exception_to_kernel"] == 0 || tot["exception_from_kernel"] == 0 {
		t.Errorf("exception_to_kernel %d, exception_from_kernel %d; want frames both ways", tot["exception_to_kernel"], tot["exception_from_kernel"])
	}
	t.Logf("exception path: %d frames to the kernel, %d from it", tot["exception_to_kernel"], tot["exception_from_kernel"])
}
