package e2e

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// lastTCP is pmd's last periodic tcp_total line as a map.
func lastTCP(t *testing.T, out string) map[string]uint64 { return lastScope(t, out, "tcp_total") }

// lastScope is pmd's last counter line of a scope ("tcp_total", "port0",
// ...) as a map: empty if there is none yet.
func lastScope(t *testing.T, out, scope string) map[string]uint64 {
	t.Helper()
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "scope="+scope+" ") {
			line = l
		}
	}
	m := map[string]uint64{}
	for _, kv := range kvRe.FindAllStringSubmatch(line, -1) {
		if v, err := strconv.ParseUint(kv[2], 10, 64); err == nil {
			m[kv[1]] = v
		}
	}
	return m
}

// echoOnce is a normal transaction: a new connection, 1 KiB echoed.
func echoOnce(tp *topo) error {
	c, err := tp.dial(7)
	if err != nil {
		return err
	}
	defer c.Close()
	return echoCheck(c, 1024, 99)
}

// chargenLines checks that b continues the chargen pattern (RFC 864): each
// line 72 printable characters, each one after the previous (' ' after
// '~'), then CRLF; each line starting one character after the previous
// one's first, or over again at ' ' (pmd's pattern repeats every 64 KiB).
// first is the first character the next line may start with (0: any); it
// returns the next one.
func chargenLines(b []byte, first byte) (byte, error) {
	next := func(c byte) byte {
		if c == '~' {
			return ' '
		}
		return c + 1
	}
	for len(b) >= 74 {
		if first != 0 && b[0] != first && b[0] != ' ' {
			return 0, fmt.Errorf("chargen line starts %q, want %q or ' '", b[0], first)
		}
		for j := 1; j < 72; j++ {
			if b[j] != next(b[j-1]) {
				return 0, fmt.Errorf("chargen line %q: byte %d", b[:72], j)
			}
		}
		if string(b[72:74]) != "\r\n" {
			return 0, fmt.Errorf("chargen line ends %q", b[72:74])
		}
		first = next(b[0])
		b = b[74:]
	}
	return first, nil
}

// TestExhaustion puts one pmd under pressures at once, and checks that it
// counts them, applies back-pressure or times out as configured, keeps
// serving meanwhile, and is whole afterwards:
//   - a reader that stops reading chargen for 60 s, then resumes: the
//     window closes, pmd probes it, and the stream goes on intact;
//   - 10,000 connections opened and never used, then closed;
//   - a peer that vanishes mid-transfer (all its packets dropped; deleting
//     its namespace would take pmd's own veth end with it): pmd
//     retransmits tcp.retries times and drops the connection;
//
// and after each, a normal transaction succeeds. The table, backlog,
// buffer, mbuf, steering-ring and ARP bounds are tested one by one in the
// tcp and engine packages.
func TestExhaustion(t *testing.T) {
	tp := newTopo(t, 18)
	conf := tp.conf("[0]", 1, tcpServices+"\n[[service]]\nkind = \"chargen\"\nproto = \"tcp\"\nport = 19\n\n[tcp]\nretries = 5\nmax_rto = \"1s\"\n")
	conf = strings.Replace(conf, `stats_interval = "0s"`, `stats_interval = "500ms"`, 1)
	p := tp.startPMD(conf)

	// The stalled reader, in the background for the whole test.
	const stall = 60 * time.Second
	var sw sync.WaitGroup
	var stallErr error
	var stallRead int
	sw.Add(1)
	go func() {
		defer sw.Done()
		stallErr = func() error {
			c, err := tp.dial(19)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(stall + time.Minute))
			buf := make([]byte, 74*1024)
			first := byte(' ')
			read := func(n int) error {
				for got := 0; got < n; {
					k, err := io.ReadFull(c, buf)
					if err != nil {
						return err
					}
					if first, err = chargenLines(buf[:k], first); err != nil {
						return fmt.Errorf("after %d bytes: %w", stallRead, err)
					}
					got += k
					stallRead += k
				}
				return nil
			}
			if err := read(1 << 20); err != nil {
				return err
			}
			time.Sleep(stall)
			return read(8 << 20)
		}()
	}()
	start := time.Now()

	t.Run("10000 idle connections", func(t *testing.T) {
		const n = 10000
		conns := make([]net.Conn, 0, n)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for len(conns) < n {
			c, err := tp.dial(7)
			if err != nil {
				t.Fatalf("connection %d: %v", len(conns), err)
			}
			conns = append(conns, c)
		}
		if err := echoOnce(tp); err != nil {
			t.Fatalf("a transaction beside %d idle connections: %v", n, err)
		}
		time.Sleep(600 * time.Millisecond)
		held := lastTCP(t, p.output())["tcp_conns"]
		heap, mbufs := lastMemory(t, p.output())
		t.Logf("pmd holds %d connections; Go heap %d MiB, %d mbufs in use", held, heap>>20, mbufs)
		if held < n {
			t.Errorf("pmd holds %d connections, want at least %d", held, n)
		}
		for _, c := range conns {
			c.Close()
		}
		conns = nil
		deadline := time.Now().Add(20 * time.Second)
		for lastTCP(t, p.output())["tcp_conns"] > 2 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if left := lastTCP(t, p.output())["tcp_conns"]; left > 2 {
			t.Errorf("%d connections left 20 s after the client closed them", left)
		}
		if err := echoOnce(tp); err != nil {
			t.Fatalf("a transaction afterwards: %v", err)
		}
	})

	t.Run("peer vanishes", func(t *testing.T) {
		// A chargen connection read as fast as it comes (the window stays
		// open), whose peer then vanishes: nothing of it crosses any
		// more, and pmd's data goes unacknowledged.
		v, err := tp.dial(19)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		go io.Copy(io.Discard, v)
		time.Sleep(300 * time.Millisecond)
		before := lastTCP(t, p.output())
		port := v.LocalAddr().(*net.TCPAddr).Port
		tp.nft(t, fmt.Sprintf("table ip vanish {\n\tchain in {\n\t\ttype filter hook input priority 0;\n\t\ttcp dport %d drop\n\t}\n\tchain out {\n\t\ttype filter hook output priority 0;\n\t\ttcp sport %d drop\n\t}\n}\n", port, port))
		defer exec.Command("ip", "netns", "exec", tp.peerNS, "nft", "delete", "table", "ip", "vanish").Run()
		// retries = 5 with max_rto = 1s: the connection is dropped within
		// a few seconds of silence.
		cut := time.Now()
		deadline := cut.Add(30 * time.Second)
		var now map[string]uint64
		for time.Now().Before(deadline) {
			time.Sleep(250 * time.Millisecond)
			now = lastTCP(t, p.output())
			if now["tcp_conns_failed"] > before["tcp_conns_failed"] {
				break
			}
		}
		t.Logf("after %.1f s: connections failed %d -> %d, retransmission timeouts %d -> %d", time.Since(cut).Seconds(),
			before["tcp_conns_failed"], now["tcp_conns_failed"], before["tcp_timeouts"], now["tcp_timeouts"])
		if now["tcp_conns_failed"] == before["tcp_conns_failed"] || now["tcp_timeouts"] < before["tcp_timeouts"]+5 {
			t.Errorf("pmd did not time the vanished peer out after 5 retransmissions")
		}
		if err := echoOnce(tp); err != nil {
			t.Fatalf("a transaction afterwards: %v", err)
		}
	})

	// The stalled reader resumes and its stream goes on.
	sw.Wait()
	if stallErr != nil {
		t.Fatalf("the reader that stalled %v: %v", stall, stallErr)
	}
	tc := lastTCP(t, p.output())
	t.Logf("the stalled reader read %d KiB intact, the last %d KiB after %v without reading; window probes %d; whole test %.0f s",
		stallRead>>10, (stallRead-1<<20)>>10, stall, tc["tcp_window_probes"], time.Since(start).Seconds())
	if tc["tcp_window_probes"] == 0 {
		t.Errorf("no window probe while the reader stalled")
	}
	if err := echoOnce(tp); err != nil {
		t.Fatalf("a transaction at the end: %v", err)
	}
	out := p.stop(t)
	if f := finalCounters(t, out, "tcp_total"); f["tcp_handler_panics"] != 0 {
		t.Errorf("%d handler panics", f["tcp_handler_panics"])
	}
	if regexp.MustCompile(`level=ERROR`).MatchString(out) {
		t.Errorf("pmd logged errors:\n%s", out)
	}
}
