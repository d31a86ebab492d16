package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// soakDuration is PMD_SOAK (a Go duration), 60 s by default: what the
// suite runs. scripts/soak runs it for 10 minutes.
func soakDuration(t *testing.T) time.Duration {
	d := 60 * time.Second
	if v := os.Getenv("PMD_SOAK"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d < 20*time.Second {
			t.Fatalf("PMD_SOAK=%q: want a duration of at least 20s", v)
		}
	}
	return d
}

var stateRe = regexp.MustCompile(`([A-Z-]+)=(\d+)`)

// TestSoak runs pmd for PMD_SOAK (60 s) under a mixed load, with faults
// on both sides: pmd's port drops, duplicates, reorders and corrupts
// frames, and the kernel drops 1% of TCP packets each way (nftables).
// Persistent echo connections exchange random messages, short-lived ones
// send a random amount and close, HTTP clients with and without
// keep-alive fetch; every byte and every response is checked. Each 10 s
// window reports the transactions, errors, pmd's Go heap and mbufs in use
// and its connections by state. No error, and the memory stays flat: the
// mbufs in use of the last window within 5% (or 64) of the second's, the
// live heap within 5% (or 256 KiB) of the middle window's.
func TestSoak(t *testing.T) {
	d := soakDuration(t)
	tp := newTopo(t, 19)
	tp.impair(t, 1, 0)
	conf := strings.Replace(tp.conf("[0]", 1, tcpServices), "queues = 1\n", `queues = 1

[port.faults]
drop = 0.01
duplicate = 0.005
reorder = 0.01
corrupt = 0.002
seed = 3
`, 1)
	conf = strings.Replace(conf, `stats_interval = "0s"`, `stats_interval = "1s"`, 1)
	// TIME-WAIT of 5 s: its population (pmd closes the HTTP connections
	// without keep-alive) reaches its steady state within the first
	// window, so that the memory check sees leaks, not the first minute
	// of TIME-WAIT filling up.
	conf += "\n[tcp]\ntime_wait = \"5s\"\n"
	p := tp.startPMD(conf)

	var txns, bytesOK, errs atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		errs.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	worker := func(fn func(rng *rand.Rand)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
			for time.Now().Before(end) {
				fn(rng)
			}
		}()
	}
	// 8 persistent echo connections, messages of 1 byte to 32 KiB.
	for i := 0; i < 8; i++ {
		var c net.Conn
		worker(func(rng *rand.Rand) {
			if c == nil {
				var err error
				if c, err = tp.dial(7); err != nil {
					fail(err)
					time.Sleep(time.Second)
					return
				}
			}
			msg := make([]byte, 1+rng.IntN(32<<10))
			for j := range msg {
				msg[j] = byte(rng.Uint32())
			}
			got := make([]byte, len(msg))
			c.SetDeadline(time.Now().Add(30 * time.Second))
			_, err := c.Write(msg)
			if err == nil {
				_, err = io.ReadFull(c, got)
			}
			if err == nil && !bytes.Equal(got, msg) {
				err = fmt.Errorf("persistent echo: %d bytes differ", len(msg))
			}
			if err != nil {
				fail(err)
				c.Close()
				c = nil
				return
			}
			txns.Add(1)
			bytesOK.Add(int64(len(msg)))
		})
	}
	// 4 workers of short-lived echo connections, 1 byte to 64 KiB each.
	for i := 0; i < 4; i++ {
		worker(func(rng *rand.Rand) {
			c, err := tp.dial(7)
			if err != nil {
				fail(err)
				return
			}
			defer c.Close()
			n := 1 + rng.IntN(64<<10)
			if err := echoCheck(c, n, rng.Uint64()); err != nil {
				fail(err)
				return
			}
			txns.Add(1)
			bytesOK.Add(int64(n))
		})
	}
	// HTTP: 2 keep-alive clients, 2 with a connection per request.
	for i := 0; i < 4; i++ {
		cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			DisableKeepAlives: i >= 2,
			DialContext:       func(context.Context, string, string) (net.Conn, error) { return tp.dial(80) },
		}}
		worker(func(*rand.Rand) {
			resp, err := cl.Get("http://" + tp.pmdAddr + "/")
			if err != nil {
				fail(err)
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && (resp.StatusCode != 200 || len(body) == 0) {
				err = fmt.Errorf("http: status %d, %d bytes", resp.StatusCode, len(body))
			}
			if err != nil {
				fail(err)
				return
			}
			txns.Add(1)
		})
	}

	// The windows.
	type window struct {
		txns, errs  int64
		heap, mbufs int64
		states      string
	}
	var ws []window
	var lastTx, lastErr int64
	for w := 0; time.Now().Add(5*time.Second).Before(end) || w == 0; w++ {
		time.Sleep(min(10*time.Second, time.Until(end)))
		heap, mbufs := lastMemory(t, p.output())
		tx, er := txns.Load(), errs.Load()
		ws = append(ws, window{txns: tx - lastTx, errs: er - lastErr, heap: heap, mbufs: mbufs, states: tp.states(t, p)})
		lastTx, lastErr = tx, er
		x := ws[len(ws)-1]
		t.Logf("window %2d: %6d transactions, %d errors, Go heap %5d KiB, %4d mbufs in use, connections %s", len(ws), x.txns, x.errs, x.heap>>10, x.mbufs, x.states)
	}
	wg.Wait()
	t.Logf("%d transactions, %d MiB of echo checked byte for byte, %d errors over %v", txns.Load(), bytesOK.Load()>>20, errs.Load(), d)
	if errs.Load() != 0 {
		t.Errorf("%d errors, the first: %v", errs.Load(), firstErr.Load())
	}
	if len(ws) >= 3 {
		// The live heap is known at garbage collections only, and pmd
		// makes little garbage (in a minute the collector may not run).
		// Its free lists and pools grow to the load's peaks in the first
		// half of the run: the last window is compared with the middle
		// one.
		last, mid := ws[len(ws)-1], ws[len(ws)/2]
		if last.heap > mid.heap+max(mid.heap/20, 256<<10) {
			t.Errorf("Go heap grew from %d KiB (window %d, the middle) to %d KiB (last)", mid.heap>>10, len(ws)/2+1, last.heap>>10)
		} else {
			t.Logf("Go heap %d KiB at the start, %d KiB in the middle (window %d), %d KiB in the last window", ws[0].heap>>10, mid.heap>>10, len(ws)/2+1, last.heap>>10)
		}
		second := ws[1]
		if last.mbufs > second.mbufs+max(second.mbufs/20, 64) {
			t.Errorf("mbufs in use grew from %d (second window) to %d (last)", second.mbufs, last.mbufs)
		}
	}
	out := p.stop(t)
	tc := finalCounters(t, out, "tcp_total")
	pc := finalCounters(t, out, "total")
	t.Logf("pmd: faults dropped %d, duplicated %d, reordered %d, corrupted %d; retransmissions %d; checksum drops %d",
		pc["fault_dropped"], pc["fault_duplicated"], pc["fault_reordered"], pc["fault_corrupted"], tc["tcp_retransmits"], pc["drop_tcp_checksum"])
	if pc["fault_corrupted"] == 0 || tc["tcp_retransmits"] == 0 {
		t.Errorf("the faults did not bite: corrupted %d, retransmissions %d", pc["fault_corrupted"], tc["tcp_retransmits"])
	}
}

// states asks pmd for its listing (SIGUSR1) and returns its connections
// by state, as "ESTABLISHED=12 TIME-WAIT=3".
func (tp *topo) states(t *testing.T, p *proc) string {
	before := strings.Count(p.output(), "listening on tcp")
	p.cmd.Process.Signal(syscall.SIGUSR1)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out := p.output()
		if strings.Count(out, "listening on tcp") > before {
			lines := strings.Split(out, "\n")
			for i := len(lines) - 1; i >= 0; i-- {
				if l := lines[i]; strings.Contains(l, "listening on tcp") {
					by := map[string]int{}
					if k := strings.Index(l, "by state"); k >= 0 {
						for _, m := range stateRe.FindAllStringSubmatch(l[k:], -1) {
							by[m[1]], _ = strconv.Atoi(m[2])
						}
					}
					var names []string
					for n := range by {
						names = append(names, n)
					}
					sort.Strings(names)
					var b strings.Builder
					for _, n := range names {
						fmt.Fprintf(&b, "%s=%d ", n, by[n])
					}
					return strings.TrimSpace(b.String())
				}
			}
		}
	}
	return "(no listing)"
}
