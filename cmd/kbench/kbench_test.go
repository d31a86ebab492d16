package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pmdstack/pmd/bench"
)

// testAddr is the address the tests serve on, on the loopback device of
// a network namespace of their own: test traffic never leaves it.
const testAddr = "198.18.70.1"

// TestMain runs the tests inside a fresh network namespace: it creates
// one, runs itself again in it with ip netns exec, and removes it.
func TestMain(m *testing.M) {
	if os.Getenv("KBENCH_TEST_NS") != "" {
		os.Exit(m.Run())
	}
	if os.Geteuid() != 0 {
		// Skipped, not failed: go test ./... as a user runs what it can.
		fmt.Fprintln(os.Stderr, "SKIP: kbench tests need root: they run in a network namespace of their own")
		os.Exit(0)
	}
	ns := fmt.Sprintf("pmdkb-%d", os.Getpid())
	setup := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "addr", "add", testAddr + "/32", "dev", "lo"},
	}
	code := 1
	defer func() {
		exec.Command("ip", "netns", "del", ns).Run()
		os.Exit(code)
	}()
	for _, c := range setup {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "%v: %v\n%s", c, err, out)
			return
		}
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), "KBENCH_TEST_NS="+ns)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err == nil {
		code = 0
	}
}

// startTestServer serves on testAddr with -base 40000 (the namespace is
// new: no TIME-WAIT socket holds a port).
func startTestServer(t *testing.T) int {
	t.Helper()
	const base = 40000
	s, err := startServer(serverConfig{Listen: netip.MustParseAddr(testAddr), Cores: 2, Base: base, Body: 64})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(s.Close)
	return base
}

func TestWorkloads(t *testing.T) {
	base := startTestServer(t)
	addr := func(port int) string { return fmt.Sprintf("198.18.70.1:%d", base+port) }
	cases := []struct {
		name string
		args []string
	}{
		{"rr", []string{"-workload", "rr", "-connect", addr(portEcho), "-conns", "4", "-size", "64", "-depth", "4"}},
		// Size×Depth beyond splitBytes: the writer goroutine.
		{"rr-large", []string{"-workload", "rr", "-connect", addr(portEcho), "-conns", "2", "-size", "100000", "-depth", "2"}},
		{"crr", []string{"-workload", "crr", "-connect", addr(portEcho), "-conns", "4", "-size", "64"}},
		{"crr-large", []string{"-workload", "crr", "-connect", addr(portEcho), "-conns", "2", "-size", "200000"}},
		{"stream-up", []string{"-workload", "stream-up", "-connect", addr(portDiscard), "-conns", "2"}},
		{"stream-down", []string{"-workload", "stream-down", "-connect", addr(portChargen), "-conns", "2"}},
		{"http", []string{"-workload", "http", "-connect", addr(portHTTP), "-conns", "4", "-depth", "4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			spec, code, ok := parseSpec(append(tc.args, "-duration", "1s", "-warmup", "0s"), io.Discard, &stderr)
			if !ok {
				t.Fatalf("parse: exit %d: %s", code, stderr.String())
			}
			r := runClient(spec, nil)
			var out bytes.Buffer
			r.Print(&out)
			t.Log(strings.TrimSpace(out.String()))
			if r.Rate() <= 0 {
				t.Errorf("rate %v", r.Rate())
			}
			if r.Errors != 0 {
				t.Errorf("%d errors", r.Errors)
			}
			switch spec.Workload {
			case bench.RR, bench.CRR, bench.HTTP:
				if r.Hist.Count() == 0 || r.Hist.Count() > r.Txns+uint64(spec.Conns*spec.Depth) {
					t.Errorf("%d latencies for %d transactions", r.Hist.Count(), r.Txns)
				}
			}
			if !strings.Contains(out.String(), "RESULT impl=kernel workload="+string(spec.Workload)+" ") {
				t.Errorf("no RESULT line in\n%s", out.String())
			}
		})
	}
}

// TestServices checks what the services say, byte for byte.
func TestServices(t *testing.T) {
	base := startTestServer(t)
	dial := func(port int) net.Conn {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("198.18.70.1:%d", base+port), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}

	// Echo: everything back, then the close after ours.
	c := dial(portEcho)
	msg := bytes.Repeat([]byte("echo!"), 50000)
	go func() {
		c.Write(msg)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || !bytes.Equal(got, msg) {
		t.Errorf("echo: %d bytes back of %d, %v", len(got), len(msg), err)
	}

	// Chargen: the RFC 864 lines, seamless across buffers.
	c = dial(portChargen)
	got = make([]byte, 3*len(chargenBuf))
	_, err = io.ReadFull(c, got)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	if want := " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n!\"#$"; !bytes.HasPrefix(got, []byte(want)) {
		t.Errorf("chargen starts %q", got[:80])
	}
	if !bytes.Equal(got[len(chargenBuf):2*len(chargenBuf)], chargenBuf) || !bytes.Equal(got[2*len(chargenBuf):], chargenBuf) {
		t.Errorf("chargen does not repeat its pattern")
	}

	// HTTP: 200, text/plain, the 64-byte body, keep-alive.
	resp, err := http.Get(fmt.Sprintf("http://198.18.70.1:%d/anything", base+portHTTP))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain" || string(body) != bodyPattern || resp.Close {
		t.Errorf("http: %s %q %q close=%v", resp.Status, resp.Header.Get("Content-Type"), body, resp.Close)
	}
}

func TestRawRejected(t *testing.T) {
	var stderr bytes.Buffer
	if _, code, ok := parseSpec([]string{"-workload", "raw", "-connect", "198.18.70.1:7"}, io.Discard, &stderr); ok || code != 2 {
		t.Errorf("raw accepted: %v %d", ok, code)
	}
}

func TestRespParser(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length:  5\r\n\r\nhello"
	empty := "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"
	stream := []byte(strings.Repeat(ok, 3) + empty + ok)
	// Fed in every chunk size, the stream is five responses.
	for step := 1; step <= len(stream); step++ {
		var p respParser
		var pending []byte
		total := 0
		for i := 0; i < len(stream); i += step {
			pending = append(pending, stream[i:min(i+step, len(stream))]...)
			used, done, err := p.feed(pending)
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			pending = pending[used:]
			total += done
		}
		if total != 5 || len(pending) != 0 {
			t.Fatalf("step %d: %d responses, %d bytes left", step, total, len(pending))
		}
	}
	for _, bad := range []string{
		"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 2000\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		"garbage\r\n\r\n",
	} {
		var p respParser
		if _, _, err := p.feed([]byte(bad)); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
	var p respParser
	buf := []byte(ok)
	if a := testing.AllocsPerRun(1000, func() { p.feed(buf) }); a != 0 {
		t.Errorf("%v allocations per response", a)
	}
}
