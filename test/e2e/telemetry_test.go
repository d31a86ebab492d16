package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// telClient speaks DPDK's telemetry protocol (v2): a SOCK_SEQPACKET
// socket that greets with a JSON object, then answers each command with
// one JSON message.
type telClient struct {
	t  *testing.T
	fd int
}

func dialTelemetry(t *testing.T, path string) *telClient {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		t.Fatalf("telemetry socket %s: %v", path, err)
	}
	c := &telClient{t: t, fd: fd}
	t.Cleanup(func() { unix.Close(fd) })
	greet := c.read()
	if greet["max_output_len"] == nil || greet["pid"] == nil {
		t.Fatalf("telemetry greeting %v", greet)
	}
	return c
}

func (c *telClient) read() map[string]any {
	c.t.Helper()
	buf := make([]byte, 1<<16)
	unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
	n, err := unix.Read(c.fd, buf)
	if err != nil {
		c.t.Fatalf("telemetry: read: %v", err)
	}
	return decodeTel(c.t, buf[:n])
}

// decodeTel decodes a telemetry message; numbers stay json.Number, exact
// for counters beyond float64's 2^53.
func decodeTel(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("telemetry: %v in %q", err, b)
	}
	return m
}

// ask sends cmd and returns the reply's value.
func (c *telClient) ask(cmd string) any {
	c.t.Helper()
	if _, err := unix.Write(c.fd, []byte(cmd)); err != nil {
		c.t.Fatalf("telemetry: %s: %v", cmd, err)
	}
	name, _, _ := strings.Cut(cmd, ",")
	return c.read()[name]
}

// telDict is ask for a command that answers a dictionary.
func (c *telClient) telDict(cmd string) map[string]any {
	c.t.Helper()
	d, ok := c.ask(cmd).(map[string]any)
	if !ok {
		c.t.Fatalf("telemetry %s: not a dictionary", cmd)
	}
	if e, ok := d["error"]; ok {
		c.t.Fatalf("telemetry %s: error %v", cmd, e)
	}
	return d
}

func telU64(t *testing.T, d map[string]any, name string) uint64 {
	t.Helper()
	n, ok := d[name].(json.Number)
	if !ok {
		t.Fatalf("telemetry: no number %q in %v", name, d)
	}
	var v uint64
	fmt.Sscan(n.String(), &v)
	return v
}

var telSocketRe = regexp.MustCompile(`msg=telemetry socket=(\S+)`)

// TestTelemetry: pmd's /pmd/ commands on DPDK's telemetry socket, read
// with the protocol itself and with dpdk-telemetry.py, while TCP traffic
// from the kernel runs and after it, compared with the totals pmd prints
// when it stops.
func TestTelemetry(t *testing.T) {
	script, err := exec.LookPath("dpdk-telemetry.py")
	if err != nil {
		t.Skip("dpdk-telemetry.py (Debian package dpdk) is not installed")
	}
	tp := newTopo(t, 44)
	p := tp.startPMD(tp.conf("[0, 1]", 2, tcpServices))
	m := telSocketRe.FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("pmd did not log its telemetry socket:\n%s", p.output())
	}
	sock := m[1]
	prefix := filepath.Base(filepath.Dir(sock))
	c := dialTelemetry(t, sock)

	// Connections open while /pmd/conns lists them.
	const n = 24
	var open []net.Conn
	for i := 0; i < n; i++ {
		conn, err := tp.dial(7)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if i < 4 {
			// Open, with an echo, until /pmd/conns has listed them.
			buf := []byte("hello")
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := conn.Write(buf); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(conn, buf); err != nil {
				t.Fatal(err)
			}
			open = append(open, conn)
			continue
		}
		// echoCheck ends with a close of both sides.
		err = echoCheck(conn, 64<<10, uint64(i))
		conn.Close()
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	lines, _ := c.ask("/pmd/conns").([]any)
	listed := 0
	for _, l := range lines {
		if s, _ := l.(string); strings.Contains(s, tp.peerAddr) {
			listed++
		}
	}
	if listed < len(open) {
		t.Errorf("/pmd/conns lists %d connections from %s, want at least %d:\n%v", listed, tp.peerAddr, len(open), lines)
	}
	if live := telU64(t, c.telDict("/pmd/stats"), "tcp_conns"); live < uint64(len(open)) {
		t.Errorf("/pmd/stats: tcp_conns %d with %d connections open", live, len(open))
	}
	for _, conn := range open {
		conn.Close()
	}
	// Every connection ends (pmd's side leaves no TIME-WAIT: the kernel
	// closed first) and the lcores publish their counters every 10 ms.
	deadline := time.Now().Add(5 * time.Second)
	for telU64(t, c.telDict("/pmd/stats"), "tcp_conns") != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)

	stats := c.telDict("/pmd/stats")
	if got := telU64(t, stats, "tcp_passive_opens"); got != n {
		t.Errorf("/pmd/stats: tcp_passive_opens %d, want %d", got, n)
	}
	// The lcores add up to the total.
	if ids, _ := c.ask("/pmd/lcore").([]any); len(ids) != 2 {
		t.Errorf("/pmd/lcore = %v, want two lcore ids", ids)
	}
	l0, l1 := c.telDict("/pmd/lcore,0"), c.telDict("/pmd/lcore,1")
	for _, k := range []string{"tcp_segs_in", "tcp_segs_out", "tcp_passive_opens", "tcp_conns_closed"} {
		if a, b, tot := telU64(t, l0, k), telU64(t, l1, k), telU64(t, stats, k); a+b != tot {
			t.Errorf("%s: lcore 0 %d + lcore 1 %d != total %d", k, a, b, tot)
		}
	}
	if d, _ := c.ask("/pmd/lcore,2").(map[string]any); d["error"] == nil {
		t.Errorf("/pmd/lcore,2 = %v, want an error", d)
	}
	ports := c.telDict("/pmd/ports")
	port0, _ := ports["port0"].(map[string]any)
	if telU64(t, port0, "rx_packets") == 0 {
		t.Errorf("/pmd/ports: port0 %v", port0)
	}
	info := c.telDict("/pmd/info")
	pi, _ := info["ports"].(map[string]any)["port0"].(map[string]any)
	if pi["address"] != tp.pmdAddr+"/24" || info["file_prefix"] != prefix {
		t.Errorf("/pmd/info = %v", info)
	}
	if svcs := fmt.Sprint(info["services"]); !strings.Contains(svcs, "tcp/7 echo") || !strings.Contains(svcs, "udp/9 discard") {
		t.Errorf("/pmd/info: services %s", svcs)
	}

	// The same through DPDK's own client, beside DPDK's own command.
	cmd := exec.Command("ip", "netns", "exec", tp.pmdNS, script, "-f", prefix)
	cmd.Stdin = strings.NewReader("/pmd/stats\n/ethdev/stats,0\n/\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s -f %s: %v\n%s", script, prefix, err, out)
	}
	replies := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(replies) != 3 {
		t.Fatalf("%s: %d replies, want 3:\n%s", script, len(replies), out)
	}
	pyStats, _ := decodeTel(t, []byte(replies[0]))["/pmd/stats"].(map[string]any)
	if e := decodeTel(t, []byte(replies[1]))["/ethdev/stats"]; e == nil {
		t.Errorf("/ethdev/stats,0 through %s: %s", script, replies[1])
	}
	if list := replies[2]; !strings.Contains(list, `"/pmd/stats"`) || !strings.Contains(list, `"/pmd/conns"`) {
		t.Errorf("/ through %s does not list pmd's commands: %s", script, list)
	}

	out2 := p.stop(t)
	defer func() {
		if t.Failed() {
			t.Logf("/pmd/stats: %v\ndpdk-telemetry.py: %s", stats, out)
		}
	}()
	final := finalCounters(t, out2, "total")
	finalTCP := finalCounters(t, out2, "tcp_total")
	finalPort := finalCounters(t, out2, "port0")
	// Traffic has stopped, but polls go on and the kernel may still probe
	// pmd's address with ARP: those counters may only have grown since.
	moving := regexp.MustCompile(`^(polls|rx_bursts|rx_packets|tx_packets|rx_bytes|tx_bytes|arp_.*)$`)
	// And an lcore may lose its CPU at any time, before the reading or
	// after it: the poll gaps may only have grown, from anything.
	gaps := regexp.MustCompile(`^poll_gap`)
	for name, d := range map[string]map[string]any{"/pmd/stats": stats, "dpdk-telemetry.py /pmd/stats": pyStats} {
		for k, v := range final {
			got := telU64(t, d, k)
			if gaps.MatchString(k) {
				if got > v {
					t.Errorf("%s: %s %d, final %d", name, k, got, v)
				}
			} else if moving.MatchString(k) {
				if got > v || got == 0 {
					t.Errorf("%s: %s %d, final %d", name, k, got, v)
				}
			} else if got != v {
				t.Errorf("%s: %s %d, final %d", name, k, got, v)
			}
		}
		for k, v := range finalTCP {
			if got := telU64(t, d, k); got != v {
				t.Errorf("%s: %s %d, final %d", name, k, got, v)
			}
		}
		// The final lines print the non-zero counters only.
		for k := range d {
			if strings.HasPrefix(k, "tcp_") || strings.HasPrefix(k, "drop") {
				if _, ok := final[k]; !ok && finalTCP[k] == 0 && telU64(t, d, k) != 0 {
					t.Errorf("%s: %s %d, not in the final lines", name, k, telU64(t, d, k))
				}
			}
		}
	}
	if got, v := telU64(t, port0, "rx_packets"), finalPort["rx_packets"]; got > v {
		t.Errorf("/pmd/ports: port0 rx_packets %d, final %d", got, v)
	}
	// pmd removes its socket and runtime directory as it stops.
	if _, err := os.Stat(filepath.Dir(sock)); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", filepath.Dir(sock), err)
	}
}
