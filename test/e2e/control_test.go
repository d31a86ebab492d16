package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pmdCtl runs a control command (pmd stats, conns, capture, faults)
// against the control socket sock and returns its output, failing t if it
// does not exit 0.
func pmdCtl(t *testing.T, sock string, args ...string) string {
	t.Helper()
	out, err := exec.Command(pmdBin, append(args, "-s", sock)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pmd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ctlSnapshot is the part of pmd stats -once -json the tests read.
type ctlSnapshot struct {
	Total struct {
		Conns    int               `json:"tcp_conns"`
		Counters map[string]uint64 `json:"counters"`
	} `json:"total"`
	Lcores []struct {
		Lcore int `json:"lcore"`
	} `json:"lcores"`
	Memory struct {
		Mbufs int `json:"mbufs"`
	} `json:"memory"`
}

// TestControl drives a running pmd through its control socket as an
// operator would: pmd stats -once -json during and after traffic (its
// totals equal pmd's own final counter lines), the live table, pmd conns
// filtered by state and port, pmd capture off (the capture file stops
// growing), pmd faults changing the drop rate at run time (the fault
// counters move only while it is on). Then, idle for a minute, pmd prints
// no counter line though engine.stats_interval is 1 s.
func TestControl(t *testing.T) {
	tp := newTopo(t, 45)
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	capFile := filepath.Join(dir, "pmd.pcap")
	conf := strings.Replace(tp.conf("[0]", 1, tcpServices+"\n[control]\nsocket = \""+sock+"\"\n"), "queues = 1\n", `queues = 1
pcap = "`+capFile+`"
pcap_snaplen = 64

[port.faults]
drop = 0
`, 1)
	conf = strings.Replace(conf, `stats_interval = "0s"`, `stats_interval = "1s"`, 1)
	p := tp.startPMD(conf)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket %s: %v, mode %v; want mode 0600", sock, err, fi.Mode())
	}

	// Connections held open: three to echo, one to discard.
	var conns []net.Conn
	for _, port := range []int{7, 7, 7, 9} {
		c, err := tp.dial(port)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns[:3] {
		if err := echoKeep(c, 100<<10, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}

	// The lcore publishes its counters every 10 ms: the handshakes and
	// echoes above can all fit between two publications (CI once saw 3
	// passive opens and 6 packets), so ask again until they show.
	var snap ctlSnapshot
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := json.Unmarshal([]byte(pmdCtl(t, sock, "stats", "-once", "-json")), &snap); err != nil {
			t.Fatal(err)
		}
		if snap.Total.Counters["tcp_passive_opens"] >= 4 || time.Now().After(deadline) {
			break
		}
	}
	if len(snap.Lcores) != 1 || snap.Total.Conns != 4 || snap.Total.Counters["tcp_passive_opens"] != 4 || snap.Total.Counters["rx_packets"] == 0 || snap.Memory.Mbufs == 0 {
		t.Errorf("pmd stats -once -json: %+v; want 1 lcore, 4 connections and 4 passive opens", snap)
	}

	// The live table: two refreshes, a line per lcore and a total.
	out := pmdCtl(t, sock, "stats", "-interval", "200ms", "-count", "2")
	if strings.Count(out, "rx pkt/s") != 2 || !strings.Contains(out, "total") {
		t.Errorf("pmd stats -count 2:\n%s", out)
	}

	// pmd conns: all, then by state and by port.
	out = pmdCtl(t, sock, "conns")
	if strings.Count(out, "ESTABLISHED") < 4 || !strings.Contains(out, "listening on tcp") {
		t.Errorf("pmd conns: want 4 established connections:\n%s", out)
	}
	out = pmdCtl(t, sock, "conns", "-port", "9", "-state", "established")
	if n := strings.Count(out, " ESTABLISHED "); n != 1 || !strings.Contains(out, ":9 ") {
		t.Errorf("pmd conns -port 9 -state established: %d connections, want the one to discard:\n%s", n, out)
	}
	out = pmdCtl(t, sock, "conns", "-state", "time-wait")
	if strings.Contains(out, " ESTABLISHED ") {
		t.Errorf("pmd conns -state time-wait lists established ones:\n%s", out)
	}
	if out, err := exec.Command(pmdBin, "conns", "-state", "sleeping", "-s", sock).CombinedOutput(); err == nil || !strings.Contains(string(out), "no TCP state") {
		t.Errorf("pmd conns -state sleeping: %v, want an error naming the states:\n%s", err, out)
	}

	// pmd capture off: the file grows no more.
	if out := pmdCtl(t, sock, "capture"); !strings.Contains(out, "capture on (1 files)") {
		t.Errorf("pmd capture: %s", out)
	}
	if out := pmdCtl(t, sock, "capture", "off"); !strings.Contains(out, "capture off") {
		t.Errorf("pmd capture off: %s", out)
	}
	time.Sleep(100 * time.Millisecond) // the next poll writes what was buffered
	before := fileSize(t, capFile)
	if err := echoKeep(conns[0], 50<<10, 7); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if after := fileSize(t, capFile); after != before {
		t.Errorf("capture off, yet the file grew from %d to %d bytes", before, after)
	}

	// pmd faults: 5% drop on the port, the transfer still whole, then off.
	if out := pmdCtl(t, sock, "faults", "drop=0.05"); !strings.Contains(out, "port 0: drop=0.05 duplicate=0 reorder=0 corrupt=0 direction=both") {
		t.Errorf("pmd faults drop=0.05: %s", out)
	}
	if err := echoKeep(conns[1], 200<<10, 8); err != nil {
		t.Fatal(err)
	}
	if out := pmdCtl(t, sock, "faults", "drop=0"); !strings.Contains(out, "drop=0 ") {
		t.Errorf("pmd faults drop=0: %s", out)
	}
	var mid ctlSnapshot
	json.Unmarshal([]byte(pmdCtl(t, sock, "stats", "-once", "-json")), &mid)
	if mid.Total.Counters["fault_dropped"] == 0 {
		t.Errorf("5%% drop for 200 KiB dropped nothing: %v", mid.Total.Counters)
	}
	if err := echoKeep(conns[2], 200<<10, 9); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(pmdBin, "faults", "-port", "1", "drop=0.1", "-s", sock).CombinedOutput(); err == nil || !strings.Contains(string(out), "no port 1") {
		t.Errorf("pmd faults -port 1: %v, want an error:\n%s", err, out)
	}
	for _, c := range conns {
		c.Close()
	}

	// Idle: once the closes have settled, a minute without a counter
	// line.
	time.Sleep(2 * time.Second)
	quiet := len(p.output())
	var last ctlSnapshot
	json.Unmarshal([]byte(pmdCtl(t, sock, "stats", "-once", "-json")), &last)
	time.Sleep(time.Minute)
	if idle := p.output()[quiet:]; strings.Contains(idle, "msg=stats") {
		t.Errorf("an idle pmd printed counter lines:\n%s", idle)
	}
	if last.Total.Counters["fault_dropped"] != mid.Total.Counters["fault_dropped"] {
		t.Errorf("fault_dropped rose from %d to %d with the rate at 0", mid.Total.Counters["fault_dropped"], last.Total.Counters["fault_dropped"])
	}

	out = p.stop(t)
	fin := finalCounters(t, out, "total")
	for _, name := range []string{"rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "fault_dropped"} {
		if fin[name] != last.Total.Counters[name] {
			t.Errorf("%s: pmd stats said %d, the final line %d", name, last.Total.Counters[name], fin[name])
		}
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("control socket left behind after exit: %v", err)
	}
	t.Log("stats, conns, capture and faults answered; idle for a minute without counter lines")
}

// echoKeep sends n seeded bytes on an echo connection and reads them
// back, leaving the connection open (echoCheck half-closes it).
func echoKeep(c net.Conn, n int, seed uint64) error {
	want := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, 5))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	errc := make(chan error, 1)
	go func() { _, err := c.Write(want); errc <- err }()
	got := make([]byte, n)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(got, want) {
		return errors.New("the echo differs from what was sent")
	}
	return nil
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
