package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildExample builds a program of the examples module, which uses pmd
// as any other module would: through its exported packages only.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "./"+name)
	cmd.Dir = filepath.Join("..", "..", "examples")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building examples/%s: %v\n%s", name, err, out)
	}
	return bin
}

// TestEmbeddedService runs examples/framed, a service registered from
// another module through package stack, on DPDK; 100 kernel connections
// exchange 10,000 length-prefixed messages of 1 byte to 64 KiB with it,
// each answered whole and checked byte for byte.
func TestEmbeddedService(t *testing.T) {
	bin := buildExample(t, "framed")
	tp := newTopo(t, 41)
	p := tp.startBin(bin, tp.conf("[0]", 1, "[[service]]\nkind = \"framed\"\nport = 7000\nmax_message = 65536\n"))
	const conns, perConn = 100, 100
	addr := tp.pmdAddr + ":7000"
	var cs []net.Conn
	err := tp.inPeerNS(func() error {
		for range conns {
			c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
			if err != nil {
				return err
			}
			cs = append(cs, c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	var bytesMoved int64
	var mu sync.Mutex
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			rng := rand.New(rand.NewPCG(uint64(i), 41))
			c.SetDeadline(time.Now().Add(2 * time.Minute))
			msg := make([]byte, 4+65536)
			got := make([]byte, 4+65536)
			for k := range perConn {
				n := 1 + rng.IntN(65536)
				binary.BigEndian.PutUint32(msg, uint32(n))
				for j := range n {
					msg[4+j] = byte(rng.Uint32())
				}
				if _, err := c.Write(msg[:4+n]); err != nil {
					errs <- fmt.Errorf("conn %d message %d: write: %w", i, k, err)
					return
				}
				if _, err := io.ReadFull(c, got[:4+n]); err != nil {
					errs <- fmt.Errorf("conn %d message %d (%d bytes): read: %w", i, k, n, err)
					return
				}
				if !bytes.Equal(got[:4+n], msg[:4+n]) {
					errs <- fmt.Errorf("conn %d message %d (%d bytes): answer differs", i, k, n)
					return
				}
				mu.Lock()
				bytesMoved += int64(2 * (4 + n))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	out := p.stop(t)
	tc := finalCounters(t, out, "tcp_total")
	t.Logf("%d messages over %d connections, %d bytes both ways; tcp %v", conns*perConn, conns, bytesMoved, tc)
	if tc["tcp_handler_panics"] != 0 || tc["tcp_recv_buffer_full"] != 0 {
		t.Errorf("counters: %v", tc)
	}
}

// TestAdapterHTTP runs examples/httpd: net/http and crypto/tls over pmd's
// net.Listener. The kernel's curl, wrk and openssl s_client are its
// clients; then examples/fetch, net/http's client over pmd's Dial, fetches
// from a kernel server.
func TestAdapterHTTP(t *testing.T) {
	httpd, fetch := buildExample(t, "httpd"), buildExample(t, "fetch")
	tp := newTopo(t, 42)
	// The lcore and the goroutines it wakes share CPUs: idle = gosched.
	conf := strings.Replace(tp.conf("[0]", 1, ""), `idle = "sleep"`, `idle = "gosched"`, 1)
	p := tp.startBin(httpd, conf, "-http", "8080", "-https", "8443")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	base := "http://" + tp.pmdAddr + ":8080"
	var out string
	var err error
	for try := 0; try < 20; try++ { // the listener opens just after start-up
		if out, err = tp.peer(ctx, "curl", "-sS", "--max-time", "5", base+"/"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || out != "hello from pmd\n" {
		t.Fatalf("curl /: %v: %q", err, out)
	}
	if out, err := tp.peer(ctx, "curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{size_download}", base+"/bytes?n=3000000"); err != nil || out != "3000000" {
		t.Errorf("curl 3 MB: %v: %q", err, out)
	}
	if out, err := tp.peer(ctx, "curl", "-sS", "--max-time", "5", "--data-binary", "ping pong", base+"/echo"); err != nil || out != "ping pong" {
		t.Errorf("curl POST /echo: %v: %q", err, out)
	}
	out, err = tp.peer(ctx, "wrk", "-t", "2", "-c", "50", "-d", "5s", "--timeout", "5s", base+"/")
	t.Logf("wrk over the adapter:\n%s", out)
	if err != nil || strings.Contains(out, "Socket errors") || strings.Contains(out, "Non-2xx") {
		t.Errorf("wrk: %v, or errors in its report", err)
	}
	if m := regexp.MustCompile(`(\d+) requests in`).FindStringSubmatch(out); m == nil || m[1] == "0" {
		t.Errorf("wrk made no requests")
	}
	tlsURL := "https://" + tp.pmdAddr + ":8443/"
	if out, err := tp.peer(ctx, "curl", "-sSk", "--max-time", "5", tlsURL); err != nil || out != "hello from pmd\n" {
		t.Errorf("curl -k %s: %v: %q", tlsURL, err, out)
	}
	out, err = tp.peer(ctx, "sh", "-c", fmt.Sprintf(`printf 'GET / HTTP/1.1\r\nHost: pmd\r\nConnection: close\r\n\r\n' | openssl s_client -connect %s:8443 -quiet 2>&1`, tp.pmdAddr))
	if err != nil || !strings.Contains(out, "HTTP/1.1 200 OK") || !strings.Contains(out, "hello from pmd") {
		t.Errorf("openssl s_client: %v:\n%s", err, out)
	}
	p.stop(t)

	// A kernel server in the peer namespace, fetched by pmd's client.
	body := strings.Repeat("from the kernel ", 50000)
	var ln net.Listener
	if err := tp.inPeerNS(func() (err error) { ln, err = net.Listen("tcp4", tp.peerAddr+":8000"); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })}
	go srv.Serve(ln)
	defer srv.Close()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", tp.pmdNS, fetch, "-c", writeConf(t, conf), "http://"+tp.peerAddr+":8000/")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("fetch: %v\n%s", err, stderr.String())
	}
	if stdout.String() != body {
		t.Errorf("fetch: %d bytes, want %d equal ones\n%s", stdout.Len(), len(body), stderr.String())
	}
}
