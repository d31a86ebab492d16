package e2e

import (
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDrain: SIGTERM during 100 echo transfers. pmd refuses new
// connections at once (a reset: ECONNREFUSED), lets every transfer that
// had started finish intact, and exits 0 well within engine.drain, as
// soon as the last one ends. A second test sends SIGTERM twice: pmd
// stops at once and the open connections are reset.
func TestDrain(t *testing.T) {
	tp := newTopo(t, 16)
	conf := strings.Replace(tp.conf("[0]", 1, tcpServices), "[engine]\n", "[engine]\ndrain = \"30s\"\n", 1)

	t.Run("finish", func(t *testing.T) {
		p := tp.startPMD(conf)
		const n, size = 100, 256 << 10
		conns := make([]net.Conn, n)
		for i := range conns {
			c, err := tp.dial(7)
			if err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
			conns[i] = c
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				errs[i] = echoCheck(c, size, uint64(i))
			}()
		}
		time.Sleep(200 * time.Millisecond)
		sent := time.Now()
		p.cmd.Process.Signal(syscall.SIGTERM)
		// New connections are refused from the next poll on.
		time.Sleep(100 * time.Millisecond)
		if c, err := tp.dial(7); err == nil {
			c.Close()
			t.Errorf("a connection opened during the drain")
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("a connection during the drain: %v, want ECONNREFUSED", err)
		}
		wg.Wait()
		failed := 0
		for i, err := range errs {
			if err != nil {
				failed++
				if failed <= 3 {
					t.Errorf("transfer %d: %v", i, err)
				}
			}
		}
		p.exited(t, 30*time.Second, "SIGTERM")
		out := p.output()
		t.Logf("%d transfers of %d KiB, %d failed; pmd exited %.1f s after SIGTERM", n, size>>10, failed, time.Since(sent).Seconds())
		if !strings.Contains(out, "drained: every connection finished") {
			t.Errorf("pmd did not say it drained:\n%s", out)
		}
		tc := finalCounters(t, out, "tcp_total")
		if tc["tcp_resets_sent"] < 1 || tc["tcp_conns_failed"] != 0 {
			t.Errorf("resets sent %d (want the refused SYN's), connections failed %d (want 0)", tc["tcp_resets_sent"], tc["tcp_conns_failed"])
		}
	})

	t.Run("twice", func(t *testing.T) {
		p := tp.startPMD(conf)
		c, err := tp.dial(7)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		time.Sleep(300 * time.Millisecond)
		sent := time.Now()
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.exited(t, 10*time.Second, "the second SIGTERM")
		t.Logf("pmd exited %.2f s after the second SIGTERM", time.Since(sent).Seconds())
		if !strings.Contains(p.output(), "drain cut short") {
			t.Errorf("pmd did not say the drain was cut short:\n%s", p.output())
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		for {
			if _, err = c.Read(buf); err != nil {
				break
			}
		}
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("the open connection ended with %v, want a reset", err)
		}
	})
}
