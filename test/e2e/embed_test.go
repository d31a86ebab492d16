package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
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
	if tc["handler_panics"] != 0 || tc["recv_buffer_full"] != 0 {
		t.Errorf("counters: %v", tc)
	}
}
