package e2e

import (
	"encoding/binary"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPathMTU: pmd reaches a far host through the peer namespace, a
// router whose link to the far host carries 1280 bytes. The far host's
// MSS (1460, as advertised on its 1500-byte interface) lets pmd send
// 1500-byte segments with DF set; the router drops them and answers ICMP
// "fragmentation needed". pmd lowers the connection's segments and a
// 1 MiB echo completes byte for byte (before path MTU discovery it
// stalled). A forged ICMP quoting the connection with a sequence number
// outside its flight is ignored and counted.
func TestPathMTU(t *testing.T) {
	tp := newTopo(t, 46)
	farNS, rIf, farIf := "pmde2e-f"+tp.pmdNS[len("pmde2e-h"):], "pmdr"+tp.pmdIf[len("pmdv"):], "pmdf"+tp.pmdIf[len("pmdv"):]
	farAddr := "198.18.146.2"
	exec.Command("ip", "netns", "del", farNS).Run()
	t.Cleanup(func() { exec.Command("ip", "netns", "del", farNS).Run() })
	run(t, "ip", "netns", "add", farNS)
	run(t, "ip", "link", "add", rIf, "netns", tp.peerNS, "type", "veth", "peer", "name", farIf, "netns", farNS)
	run(t, "ip", "-n", tp.peerNS, "addr", "add", "198.18.146.1/24", "dev", rIf)
	run(t, "ip", "-n", tp.peerNS, "link", "set", rIf, "mtu", "1280", "up")
	run(t, "ip", "netns", "exec", tp.peerNS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	run(t, "ip", "-n", farNS, "addr", "add", farAddr+"/24", "dev", farIf)
	run(t, "ip", "-n", farNS, "link", "set", farIf, "up")
	run(t, "ip", "-n", farNS, "link", "set", "lo", "up")
	// The far host sends at most 1280 bytes toward pmd (the router's side
	// of the link takes no more) but advertises the MSS of its 1500-byte
	// interface, as a host behind a tunnel does.
	run(t, "ip", "-n", farNS, "route", "add", "default", "via", "198.18.146.1", "mtu", "1280", "advmss", "1460")
	for _, nsIf := range [][2]string{{tp.peerNS, rIf}, {farNS, farIf}} {
		run(t, "ip", "netns", "exec", nsIf[0], "ethtool", "-K", nsIf[1], "tx", "off")
	}

	sock := filepath.Join(t.TempDir(), "ctl.sock")
	conf := strings.Replace(tp.conf("[0]", 1, tcpServices+"\n[control]\nsocket = \""+sock+"\"\n"),
		"queues = 1\n", "queues = 1\ngateway = \""+tp.peerAddr+"\"\n", 1)
	p := tp.startPMD(conf)
	tcpCounter := func(name string) uint64 {
		var snap ctlSnapshot
		if err := json.Unmarshal([]byte(pmdCtl(t, sock, "stats", "-once", "-json")), &snap); err != nil {
			t.Fatal(err)
		}
		return snap.Total.Counters[name]
	}

	var c net.Conn
	err := inNS(farNS, func() error {
		var err error
		c, err = net.DialTimeout("tcp4", tp.pmdAddr+":7", 10*time.Second)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := echoKeep(c, 1000, 1); err != nil {
		t.Fatal(err)
	}

	// The forged ICMP, from the far host: our 4-tuple, a sequence number
	// pmd never sent.
	lport := c.LocalAddr().(*net.TCPAddr).Port
	err = inNS(farNS, func() error { return sendFragNeeded(tp.pmdAddr, farAddr, 7, lport, 0x5eed1e55, 600) })
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := tcpCounter("tcp_pmtu_ignored"); n != 1 {
		t.Errorf("tcp_pmtu_ignored = %d after a forged ICMP, want 1", n)
	}
	if n := tcpCounter("tcp_pmtu_lowered"); n != 0 {
		t.Fatalf("tcp_pmtu_lowered = %d after a forged ICMP, want 0", n)
	}

	start := time.Now()
	if err := echoKeep(c, 1<<20, 2); err != nil {
		t.Fatalf("1 MiB echo over a 1280-byte link: %v (after %v)", err, time.Since(start))
	}
	t.Logf("1 MiB echoed over the 1280-byte link in %v", time.Since(start).Round(time.Millisecond))
	c.Close()
	out := p.stop(t)
	tot, tcp := finalCounters(t, out, "total"), finalCounters(t, out, "tcp_total")
	if tot["icmp_frag_needed_in"] < 2 || tcp["tcp_pmtu_lowered"] < 1 || tcp["tcp_pmtu_ignored"] < 1 {
		t.Errorf("icmp_frag_needed_in %d, tcp_pmtu_lowered %d, tcp_pmtu_ignored %d; want the router's ICMP taken and the forged one ignored",
			tot["icmp_frag_needed_in"], tcp["tcp_pmtu_lowered"], tcp["tcp_pmtu_ignored"])
	}
}

// sendFragNeeded sends, from a raw socket, an ICMP "fragmentation
// needed" to dst quoting a TCP segment from dst:dport to src:sport with
// sequence number seq, as a router on the path would.
func sendFragNeeded(dst, src string, dport, sport int, seq uint32, mtu uint16) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	d, s := net.ParseIP(dst).To4(), net.ParseIP(src).To4()
	quoted := make([]byte, 28)
	quoted[0] = 0x45
	binary.BigEndian.PutUint16(quoted[2:], 1500)
	quoted[6] = 0x40 // DF
	quoted[8], quoted[9] = 64, unix.IPPROTO_TCP
	copy(quoted[12:], d) // the quoted datagram went from dst ...
	copy(quoted[16:], s) // ... to src
	binary.BigEndian.PutUint16(quoted[10:], ipChecksum(quoted[:20]))
	binary.BigEndian.PutUint16(quoted[20:], uint16(dport))
	binary.BigEndian.PutUint16(quoted[22:], uint16(sport))
	binary.BigEndian.PutUint32(quoted[24:], seq)
	msg := append([]byte{3, 4, 0, 0, 0, 0, byte(mtu >> 8), byte(mtu)}, quoted...)
	binary.BigEndian.PutUint16(msg[2:], ipChecksum(msg))
	var to unix.SockaddrInet4
	copy(to.Addr[:], d)
	return unix.Sendto(fd, msg, 0, &to)
}

// ipChecksum is the Internet checksum of b (RFC 1071).
func ipChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
