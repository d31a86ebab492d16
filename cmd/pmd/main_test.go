package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pmdstack/pmd/tcp"
)

// writeConf writes doc to a file of a temporary directory.
func writeConf(t *testing.T, doc string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "conf.toml")
	if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCheckEveryMistake: pmd check prints each of five mistakes in five
// tables on its own line, naming the file and the key, and exits 1.
func TestCheckEveryMistake(t *testing.T) {
	f := writeConf(t, `
[eal]
lcores = [0]
hugepages = false
file_prefix = "a/b"

[engine]
mbufs = 100000000

[arp]
tries = 99

[[port]]
device = "net_bogus0,foo"
address = "198.18.0.1/24"

[tcp]
snd_buf = 1
`)
	var out, errb bytes.Buffer
	if code := run([]string{"check", "-c", f}, &out, &errb); code != 1 {
		t.Errorf("exit %d, want 1\n%s%s", code, &out, &errb)
	}
	want := []string{
		f + ": eal.file_prefix: expected a name without '/'",
		f + ": engine.mbufs: expected 0 (computed) to 4194303",
		f + ": arp.tries: expected 1..20, got 99",
		f + `: port[0].device: "net_bogus0" names no virtual device driver`,
		f + ": tcp.snd_buf: expected 4096..",
		"pmd check: 5 mistakes in " + f,
	}
	lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), &errb)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %q, want it to start with %q", i+1, lines[i], w)
		}
	}
	if out.Len() != 0 {
		t.Errorf("summary printed for a bad file:\n%s", &out)
	}
}

// TestCheckClean: a good file (no hugepages, so that the host's need not
// be reserved) passes with the summary.
func TestCheckClean(t *testing.T) {
	f := writeConf(t, "[eal]\nlcores = [0]\nhugepages = false\n[[port]]\ndevice = \"net_null0\"\naddress = \"198.18.0.1/24\"\n")
	var out, errb bytes.Buffer
	if code := run([]string{"check", "-c", f}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, &out, &errb)
	}
	for _, w := range []string{"configuration valid: 1 lcores, 1 ports, 0 services", "memory: ", "hugepages: off"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("no %q in\n%s", w, &out)
		}
	}
}

// TestCheckTCPMemory: pmd check prints the Go heap the TCP stacks take at
// most, from [tcp] and the number of lcores. The table's figure is
// written out here: 2^21 slots of 24 bytes for a million connections, and
// a free list of 8-byte pointers; the control block's size comes from
// tcp.ConnMemory, which TestIdleConnMemory holds to a measured stack.
func TestCheckTCPMemory(t *testing.T) {
	f := writeConf(t, `
[eal]
lcores = [0, 1]
hugepages = false

[[port]]
device = "net_null0"
address = "198.18.0.1/24"

[tcp]
max_conns = 1000000
buffers = 1000
snd_buf = 65536
rcv_buf = 100000
`)
	var out, errb bytes.Buffer
	if code := run([]string{"check", "-c", f}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, &out, &errb)
	}
	const mb = 1 << 20
	conn := tcp.ConnMemory(tcp.Config{}).Conn
	table := 1<<21*24 + 1000000*8
	perLcore := 1000000*conn + table
	// Receive buffers are a power of two: 128 KiB. Each free list is 1000
	// slices of 24 bytes. In all 187.5 MiB, rounded up.
	bufs := 1000*(64<<10+128<<10) + 2*1000*24
	want := []string{
		fmt.Sprintf("connections (Go heap): 1000000 per lcore (tcp.max_conns), at most %d MiB per lcore for the table and control blocks (%d bytes per connection), %d MiB for 2 lcores\n",
			(perLcore+mb-1)/mb, conn+(table+999999)/1000000, (2*perLcore+mb-1)/mb),
		fmt.Sprintf("buffers (Go heap): 1000 of 64 KiB to send and 1000 of 128 KiB to receive per lcore (tcp.buffers), at most %d MiB per lcore, %d MiB for 2 lcores\n",
			(bufs+mb-1)/mb, (2*bufs+mb-1)/mb),
	}
	for _, w := range want {
		if !strings.Contains(out.String(), w) {
			t.Errorf("no line\n%sin\n%s", w, &out)
		}
	}
}

// TestCheckMissingFile: a file that cannot be read is one error.
func TestCheckMissingFile(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"check", "-c", filepath.Join(t.TempDir(), "none.toml")}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no such file") {
		t.Errorf("exit %d, %s", code, &errb)
	}
}

// TestCheckSyntax: a syntax error is a mistake line too, with its position.
func TestCheckSyntax(t *testing.T) {
	f := writeConf(t, "[eal]\nlcores = [0\n")
	var out, errb bytes.Buffer
	if code := run([]string{"check", "-c", f}, &out, &errb); code != 1 || !strings.HasPrefix(errb.String(), f+":2:") || !strings.Contains(errb.String(), "1 mistake in") {
		t.Errorf("exit %d:\n%s", code, &errb)
	}
}
