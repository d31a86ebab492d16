package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var macRe = regexp.MustCompile(`msg=port .*mac=([0-9a-f:]{17})`)

// TestFoundation: arping, ping and UDP echo from the kernel of another
// namespace, through net_af_packet, and pmd's counters agree.
func TestFoundation(t *testing.T) {
	tp := newTopo(t, 10)
	p := tp.startPMD(tp.conf("[0]", 1, ""))
	m := macRe.FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("no port MAC in the start-up summary:\n%s", p.output())
	}
	mac := strings.ToUpper(m[1])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	out, err := tp.peer(ctx, "arping", "-c", "3", "-w", "5", "-I", tp.peerIf, tp.pmdAddr)
	if err != nil || !strings.Contains(out, "["+mac+"]") || !strings.Contains(out, "Received 3 response") {
		t.Fatalf("arping (want 3 replies from %s): %v\n%s", mac, err, out)
	}

	out, err = tp.peer(ctx, "ping", "-c", "100", "-i", "0.01", "-W", "2", tp.pmdAddr)
	if err != nil || !strings.Contains(out, "100 received") {
		t.Fatalf("ping: %v\n%s", err, out)
	}

	sent := udpEcho(t, tp, 7, 1000, 1)

	// Discard takes datagrams and answers nothing.
	discarded := 0
	err = tp.inPeerNS(func() error {
		c, err := net.Dial("udp4", tp.pmdAddr+":9")
		if err != nil {
			return err
		}
		defer c.Close()
		for ; discarded < 50; discarded++ {
			if _, err := c.Write([]byte("nothing comes back")); err != nil {
				return err
			}
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := c.Read(make([]byte, 100)); err == nil {
			return fmt.Errorf("discard answered %d bytes", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A closed UDP port answers ICMP port unreachable: the kernel reports
	// it as "connection refused" on the next read.
	err = tp.inPeerNS(func() error {
		c, err := net.Dial("udp4", tp.pmdAddr+":5999")
		if err != nil {
			return err
		}
		defer c.Close()
		c.Write([]byte("anyone?"))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Read(make([]byte, 100))
		if err == nil || !strings.Contains(err.Error(), "refused") {
			return fmt.Errorf("read from a closed port: %v, want connection refused", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	out = p.stop(t)
	total := finalCounters(t, out, "total")
	port := finalCounters(t, out, "port0")
	want := map[string]uint64{
		"icmp_echo_replies": 100,
		"udp_echoed":        uint64(sent),
		"udp_discarded":     uint64(discarded),
		"drop_udp_no_port":  1,
		"icmp_unreach_out":  1,
		"udp_in":            uint64(sent + discarded + 1),
		"drops":             1, // the datagram to the closed port
	}
	for k, v := range want {
		if total[k] != v {
			t.Errorf("counter %s = %d, want %d", k, total[k], v)
		}
	}
	if total["arp_requests_in"] < 3 || total["arp_replies_out"] != total["arp_requests_in"] {
		t.Errorf("arp: %d requests in, %d replies out; want at least 3, all answered", total["arp_requests_in"], total["arp_replies_out"])
	}
	if total["rx_packets"] != port["rx_packets"] || total["tx_packets"] != port["tx_packets"] {
		t.Errorf("lcore counters rx %d tx %d disagree with the device's rx %d tx %d",
			total["rx_packets"], total["tx_packets"], port["rx_packets"], port["tx_packets"])
	}
	if exp := total["rx_packets"] - total["drops"] - uint64(discarded) - total["arp_replies_in"] + total["icmp_unreach_out"]; total["tx_packets"] != exp {
		t.Errorf("tx_packets %d, want rx - drops - discarded - ARP replies + ICMP errors = %d", total["tx_packets"], exp)
	}
}

// udpEcho sends n datagrams of seeded random sizes (0..1472 bytes and the
// edges) one at a time to the echo port and checks every reply byte for
// byte. It returns how many were sent.
func udpEcho(t *testing.T, tp *topo, port, n int, seed uint64) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0))
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = rng.IntN(1473)
	}
	edges := []int{0, 1472, 1} // 1472: the largest datagram in a 1500-byte MTU
	copy(sizes, edges[:min(n, len(edges))])
	sent, err := udpEchoTo(tp, port, sizes, rng)
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

// udpEchoTo sends a datagram of each size, of bytes from rng, to port one
// at a time and checks each reply byte for byte; it returns how many it
// sent.
func udpEchoTo(tp *topo, port int, sizes []int, rng *rand.Rand) (sent int, err error) {
	err = tp.inPeerNS(func() error {
		c, err := net.Dial("udp4", net.JoinHostPort(tp.pmdAddr, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		defer c.Close()
		c.(*net.UDPConn).SetReadBuffer(1 << 20)
		buf := make([]byte, 70000)
		for i, size := range sizes {
			msg := make([]byte, size)
			for j := range msg {
				msg[j] = byte(rng.Uint32())
			}
			if _, err := c.Write(msg); err != nil {
				return fmt.Errorf("datagram %d (%d bytes): %w", i, size, err)
			}
			sent++
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			k, err := c.Read(buf)
			if err != nil {
				return fmt.Errorf("datagram %d (%d bytes): no echo: %w", i, size, err)
			}
			if !bytes.Equal(buf[:k], msg) {
				return fmt.Errorf("datagram %d: echoed %d bytes differ from the %d sent", i, k, size)
			}
		}
		return nil
	})
	return sent, err
}

// TestTwoLcores runs two polling lcores on a two-queue af_packet port: the
// kernel's fanout spreads packets over both queues and every one is
// answered.
func TestTwoLcores(t *testing.T) {
	tp := newTopo(t, 11)
	p := tp.startPMD(tp.conf("[0, 1]", 2, ""))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := tp.peer(ctx, "ping", "-c", "50", "-i", "0.01", "-W", "2", tp.pmdAddr); err != nil || !strings.Contains(out, "50 received") {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	// Many source ports, so that the fanout hash uses both queues.
	var sent int
	for i := 0; i < 20; i++ {
		sent += udpEcho(t, tp, 7, 20, uint64(i))
	}
	out := p.stop(t)
	total := finalCounters(t, out, "total")
	if total["udp_echoed"] != uint64(sent) || total["icmp_echo_replies"] != 50 || total["drops"] != 0 {
		t.Errorf("total counters %v: want udp_echoed %d, icmp_echo_replies 50, no drops", total, sent)
	}
	for _, l := range []string{"lcore0", "lcore1"} {
		c := finalCounters(t, out, l)
		t.Logf("%s: rx %d tx %d", l, c["rx_packets"], c["tx_packets"])
	}
}

// pmdFails runs pmd with conf and expects a non-zero exit whose message
// contains every one of want.
func pmdFails(t *testing.T, ns, conf string, want ...string) {
	t.Helper()
	pmdFailsOn(t, ns, writeConf(t, conf), want...)
}

// pmdFailsOn is pmdFails on a configuration file as it is.
func pmdFailsOn(t *testing.T, ns, path string, want ...string) {
	t.Helper()
	args := []string{pmdBin, "-c", path}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err == nil {
		t.Fatalf("pmd exited 0, want a failure\n%s", out)
	}
	if ctx.Err() != nil {
		t.Fatalf("pmd did not exit within a minute\n%s", out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("pmd's message lacks %q:\n%s", w, out)
		}
	}
}

func TestFailsOnMissingDevice(t *testing.T) {
	tp := newTopo(t, 12)
	conf := strings.Replace(tp.conf("[0]", 1, ""), "iface="+tp.pmdIf, "iface=nosuchif0", 1)
	pmdFails(t, tp.pmdNS, conf, "port[0].device", "nosuchif0")
}

func TestFailsOnBadConfig(t *testing.T) {
	tp := newTopo(t, 13)
	conf := tp.conf("[0]", 1, "\n[[service]]\nkind = \"echo\"\nproto = \"udp\"\nport = 17\ncolour = \"blue\"\n")
	pmdFails(t, tp.pmdNS, conf, "service[2].colour")
	pmdFails(t, tp.pmdNS, strings.Replace(tp.conf("[0]", 1, ""), "/24", "/33", 1), "port[0].address")
	pmdFails(t, tp.pmdNS, tp.conf("[0]", 3, ""), "port[0].queues")
}

// A net_memif client with no server on its socket fails to start, and says
// what is missing instead of DPDK's bare return code.
func TestFailsOnMemifWithoutServer(t *testing.T) {
	sock := memifSocket(t)
	pmdFails(t, "", memifConf("client", sock, "198.18.41.2", "[0]", "", ""),
		"rte_eth_dev_start", "needs its server running")
}

// TestFailsWithoutHugepages releases the reserved pages for the duration
// of the test, and restores them.
func TestFailsWithoutHugepages(t *testing.T) {
	const knob = "/proc/sys/vm/nr_hugepages"
	old, err := os.ReadFile(knob)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(knob, old, 0o644) })
	if err := os.WriteFile(knob, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	tp := newTopo(t, 14)
	pmdFailsOn(t, tp.pmdNS, writeConfAsIs(t, tp.conf("[0]", 1, "")), "hugepages", "nr_hugepages")
	// With hugepages off the same configuration runs.
	conf := strings.Replace(tp.conf("[0]", 1, ""), "hugepages = true", "hugepages = false", 1)
	p := tp.startPMD(conf)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := tp.peer(ctx, "ping", "-c", "5", "-i", "0.01", "-W", "2", tp.pmdAddr); err != nil || !strings.Contains(out, "5 received") {
		t.Fatalf("ping with --no-huge: %v\n%s", err, out)
	}
	p.stop(t)
}

// TestCheck: pmd check accepts the default configuration and names the
// shortfall when the pools cannot fit in the free hugepages.
func TestCheck(t *testing.T) {
	out, err := exec.Command(pmdBin, "check", "-c", "../../conf.toml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration valid") || !strings.Contains(string(out), "enough") {
		t.Fatalf("pmd check conf.toml: %v\n%s", err, out)
	}
	huge := "[eal]\nlcores = [0]\nargs = [\"--no-pci\", \"--in-memory\"]\n[engine]\nmbufs = 4194303\n[[port]]\ndevice = \"net_null0\"\naddress = \"198.18.20.1/24\"\n"
	out, err = exec.Command(pmdBin, "check", "-c", writeConfAsIs(t, huge)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "nr_hugepages") {
		t.Fatalf("pmd check with 4M mbufs per lcore: %v\n%s", err, out)
	}
}
