package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFaultInjectionAndCapture: pmd's own fault injector drops 2%,
// duplicates 1%, reorders 2% of the frames in both directions and flips a
// bit in 0.5% of those received; 4 MiB that the kernel peer sends through
// pmd's echo still come back intact. Every kind of fault happened, the
// corrupted frames were caught by the checksums, and the capture next to
// the device is a pcap file that tcpdump reads, holding the conversation
// and no frame over the link's length; switched off by SIGUSR2, it
// records no more.
func TestFaultInjectionAndCapture(t *testing.T) {
	tp := newTopo(t, 28)
	capFile := filepath.Join(t.TempDir(), "pmd.pcap")
	conf := strings.Replace(tp.conf("[0]", 1, tcpServices), "queues = 1\n", `queues = 1
pcap = "`+capFile+`"
pcap_snaplen = 96

[port.faults]
drop = 0.02
duplicate = 0.01
reorder = 0.02
corrupt = 0.005
seed = 9
`, 1)
	p := tp.startPMD(conf)
	c, err := tp.dial(7)
	if err != nil {
		t.Fatal(err)
	}
	if err := echoCheck(c, 4<<20, 11); err != nil {
		t.Fatalf("4 MiB through pmd's echo under injected faults: %v", err)
	}
	c.Close()
	// kill -USR2 switches the capture off: a second connection's frames
	// are not in the file.
	p.cmd.Process.Signal(syscall.SIGUSR2)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(p.output(), "capture switched") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.output(), "recording=false") {
		t.Fatalf("no log of the capture switched off:\n%s", p.output())
	}
	c2, err := tp.dial(7)
	if err != nil {
		t.Fatal(err)
	}
	if err := echoCheck(c2, 64<<10, 12); err != nil {
		t.Fatalf("64 KiB with the capture off: %v", err)
	}
	port2 := c2.LocalAddr().(*net.TCPAddr).Port
	c2.Close()
	out := p.stop(t)
	if !strings.Contains(out, "fault injection") || !strings.Contains(out, "msg=capture") {
		t.Errorf("the start-up log does not say that faults are injected and frames captured:\n%s", out)
	}
	tot := finalCounters(t, out, "total")
	tcp := finalCounters(t, out, "tcp_total")
	t.Logf("counters: %v\ntcp: %v", tot, tcp)
	for _, k := range []string{"fault_dropped", "fault_duplicated", "fault_reordered", "fault_corrupted", "drop_tcp_checksum"} {
		if tot[k] == 0 {
			t.Errorf("%s = 0", k)
		}
	}
	if tcp["tcp_retransmits"] == 0 {
		t.Error("no retransmissions under 2% loss")
	}
	if tot["pcap_skipped"] != 0 {
		t.Errorf("pcap_skipped = %d", tot["pcap_skipped"])
	}
	// No frame pmd sent or received is longer than the link's 1,514 bytes:
	// SACK blocks on data segments once made them 1,526, and the veth
	// dropped them without a word.
	raw, err := os.ReadFile(capFile)
	if err != nil {
		t.Fatal(err)
	}
	longest, frames := 0, 0
	for b := raw[24:]; len(b) >= 16; frames++ {
		incl, orig := int(binary.LittleEndian.Uint32(b[8:])), int(binary.LittleEndian.Uint32(b[12:]))
		longest = max(longest, orig)
		b = b[min(len(b), 16+incl):]
	}
	if longest > 1514 || frames < 1000 {
		t.Errorf("%d frames captured, the longest %d bytes; want thousands, none over 1514", frames, longest)
	}
	// tcpdump reads the whole file, and sees both directions of the echo.
	dump, err := exec.Command("tcpdump", "-r", capFile, "-nn", "tcp port 7").CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, dump)
	}
	lines := strings.Split(strings.TrimSpace(string(dump)), "\n")
	from, to := 0, 0
	for _, l := range lines {
		if strings.Contains(l, " "+tp.pmdAddr+".7 > ") {
			from++
		}
		if strings.Contains(l, " > "+tp.pmdAddr+".7:") {
			to++
		}
	}
	if n := strings.Count(string(dump), fmt.Sprintf(".%d ", port2)) + strings.Count(string(dump), fmt.Sprintf(".%d:", port2)); n != 0 {
		t.Errorf("%d lines of the connection made with the capture switched off are in the file", n)
	}
	if from < 500 || to < 500 {
		t.Errorf("capture holds %d segments from pmd's echo and %d to it; want thousands each\n%s", from, to, strings.Join(lines[:min(len(lines), 10)], "\n"))
	}
}
