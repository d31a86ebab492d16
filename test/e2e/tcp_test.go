package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tcpServices adds the TCP services to a configuration.
const tcpServices = `
[[service]]
kind = "echo"
proto = "tcp"
port = 7

[[service]]
kind = "discard"
proto = "tcp"
port = 9

[[service]]
kind = "http"
proto = "tcp"
port = 80
`

// dial opens a TCP connection from the peer namespace.
func (tp *topo) dial(port int) (net.Conn, error) { return tp.dialTimeout(port, 10*time.Second) }

// dialTimeout is dial giving up after d (the kernel retries a lost SYN
// after 1, 3, 7, 15 s...).
func (tp *topo) dialTimeout(port int, d time.Duration) (net.Conn, error) {
	var c net.Conn
	err := tp.inPeerNS(func() error {
		var err error
		c, err = net.DialTimeout("tcp4", net.JoinHostPort(tp.pmdAddr, strconv.Itoa(port)), d)
		return err
	})
	return c, err
}

// echoCheck sends n seeded random bytes on c while reading the echo, and
// compares the SHA-256 of both.
func echoCheck(c net.Conn, n int, seed uint64) error { return echoPaced(c, n, 64<<10, 0, seed) }

// echoPaced is echoCheck writing chunk bytes at a time, gap apart: a
// transfer that keeps carrying data for n/chunk*gap.
func echoPaced(c net.Conn, n, chunk int, gap time.Duration, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 3))
	sent := sha256.New()
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, chunk)
		for left := n; left > 0; {
			k := min(left, len(buf))
			for i := range buf[:k] {
				buf[i] = byte(rng.Uint32())
			}
			sent.Write(buf[:k])
			if _, err := c.Write(buf[:k]); err != nil {
				errc <- fmt.Errorf("write: %w", err)
				return
			}
			left -= k
			time.Sleep(gap)
		}
		errc <- c.(*net.TCPConn).CloseWrite()
	}()
	got := sha256.New()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	m, err := io.Copy(got, c)
	if werr := <-errc; werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("read after %d bytes: %w", m, err)
	}
	if m != int64(n) || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		return fmt.Errorf("echo: %d bytes back of %d, SHA-256 %x, sent %x", m, n, got.Sum(nil), sent.Sum(nil))
	}
	return nil
}

// TestTCPServices: curl and wrk against http, 64 MiB through echo on one
// connection and over 200 at once, every byte compared by SHA-256.
func TestTCPServices(t *testing.T) {
	tp := newTopo(t, 20)
	p := tp.startPMD(tp.conf("[0]", 1, tcpServices))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	out, err := tp.peer(ctx, "curl", "-s", "-S", "-m", "10", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "http://"+tp.pmdAddr+"/")
	if err != nil || out != "200 64" {
		t.Fatalf("curl: %v: %q, want \"200 64\"", err, out)
	}

	c, err := tp.dial(7)
	if err != nil {
		t.Fatal(err)
	}
	// kill -USR1 lists the listeners and connections.
	p.cmd.Process.Signal(syscall.SIGUSR1)
	want := fmt.Sprintf("%s:7 %s:%d ESTABLISHED", tp.pmdAddr, tp.peerAddr, c.LocalAddr().(*net.TCPAddr).Port)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(p.output(), want) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if out := p.output(); !strings.Contains(out, want) || !strings.Contains(out, "listening on tcp [7 9 80]") {
		t.Errorf("the listing lacks %q or the listeners:\n%s", want, lastLine(out, "listing"))
	}
	if err := echoCheck(c, 64<<20, 1); err != nil {
		t.Fatalf("64 MiB over one connection: %v", err)
	}
	c.Close()

	const conns = 200
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		c, err := tp.dial(7)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer c.Close()
			if err := echoCheck(c, (64<<20)/conns, uint64(100+i)); err != nil {
				errs <- fmt.Errorf("connection %d: %w", i, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	dur := os.Getenv("E2E_WRK_DURATION")
	if dur == "" {
		dur = "30s"
	}
	out, err = tp.peer(ctx, "wrk", "-t", "2", "-c", "400", "-d", dur, "--timeout", "5s", "http://"+tp.pmdAddr+"/")
	t.Logf("wrk:\n%s", out)
	if err != nil {
		t.Fatalf("wrk: %v", err)
	}
	if strings.Contains(out, "Socket errors") || strings.Contains(out, "Non-2xx") {
		t.Errorf("wrk saw errors")
	}
	m := regexp.MustCompile(`(\d+) requests in`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" {
		t.Errorf("wrk made no requests")
	}
	out = p.stop(t)
	tt := finalCounters(t, out, "tcp_total")
	total := finalCounters(t, out, "total")
	t.Logf("pmd: %d HTTP requests, tcp %v", total["http_requests"], tt)
	if total["drop_tcp_checksum"] != 0 {
		t.Errorf("%d TCP checksum errors", total["drop_tcp_checksum"])
	}
}

// TestTCPManyConnections holds 10,000 connections open against echo, each
// answered once, then closes them all; pmd's tables end up empty.
func TestTCPManyConnections(t *testing.T) {
	tp := newTopo(t, 21)
	conf := strings.Replace(tp.conf("[0]", 1, tcpServices+"\n[tcp]\nsnd_buf = 16384\nrcv_buf = 16384\nbuffers = 25000\n"), `stats_interval = "0s"`, `stats_interval = "200ms"`, 1)
	p := tp.startPMD(conf)
	const n = 10000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := tp.dial(7)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	msg := []byte("ping\n")
	buf := make([]byte, 16)
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("connection %d: write: %v", i, err)
		}
	}
	for i, c := range conns {
		if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil || !bytes.Equal(buf[:len(msg)], msg) {
			t.Fatalf("connection %d: echo %q, %v", i, buf[:len(msg)], err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	conns = conns[:0]
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(lastLine(p.output(), "scope=tcp_total"), "tcp_conns=0 ") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	out := p.stop(t)
	tt := finalCounters(t, out, "tcp_total")
	if tt["tcp_conns"] != 0 {
		t.Errorf("pmd still holds %d connections after all closed", tt["tcp_conns"])
	}
	if tt["tcp_passive_opens"] < n {
		t.Errorf("%d passive opens, want %d", tt["tcp_passive_opens"], n)
	}
	t.Logf("tcp counters: %v", tt)
}

func lastLine(out, substr string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], substr) {
			return lines[i] + " "
		}
	}
	return ""
}

// echoServer runs a kernel TCP echo server in the peer namespace.
func (tp *topo) echoServer(t *testing.T, port int) {
	var ln net.Listener
	err := tp.inPeerNS(func() error {
		var err error
		ln, err = net.Listen("tcp4", net.JoinHostPort(tp.peerAddr, strconv.Itoa(port)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
}

// runClient runs pmd as a client against the kernel echo server and
// expects every connection to complete intact.
func (tp *topo) runClient(t *testing.T, conf string, conns int, nbytes int) string {
	t.Helper()
	return tp.runClientRaw(t, conf, tp.peerAddr+":5001", conns, nbytes)
}

// TestTCPClient: pmd connects out to a kernel echo server and moves 64 MiB
// each way, checked byte for byte.
func TestTCPClient(t *testing.T) {
	tp := newTopo(t, 22)
	tp.echoServer(t, 5001)
	tp.runClient(t, tp.conf("[0]", 1, ""), 1, 64<<20)
}

// impair has the peer's kernel drop drop% of the TCP packets to and from
// pmd at random, each way, and duplicate dup% of those it sends.
func (tp *topo) impair(t *testing.T, drop, dup int) {
	t.Helper()
	rules := fmt.Sprintf(`table ip impair {
	chain in {
		type filter hook input priority 0;
		ip saddr %[1]s meta l4proto tcp numgen random mod 100 < %[3]d counter drop
	}
	chain out {
		type filter hook output priority 0;
		ip daddr %[1]s meta l4proto tcp numgen random mod 100 < %[3]d counter drop
`, tp.pmdAddr, tp.peerIf, drop)
	if dup > 0 {
		rules += fmt.Sprintf("\t\tip daddr %[1]s meta l4proto tcp numgen random mod 100 < %[3]d counter dup to %[1]s device %[2]s\n", tp.pmdAddr, tp.peerIf, dup)
	}
	tp.nft(t, rules+"\t}\n}\n")
}

// nft applies an nftables ruleset in the peer namespace for the test.
func (tp *topo) nft(t *testing.T, rules string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", tp.peerNS, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s\n%s", err, out, rules)
	}
}

// TestTCPLossAndDuplication: with the kernel side dropping 2% of TCP
// packets at random and duplicating 1%, in both directions, 64 MiB still
// crosses intact both ways: pmd as server and pmd as client.
func TestTCPLossAndDuplication(t *testing.T) {
	tp := newTopo(t, 23)
	tp.impair(t, 2, 1)
	tp.echoServer(t, 5001)
	p := tp.startPMD(tp.conf("[0]", 1, tcpServices))
	c, err := tp.dial(7)
	if err != nil {
		t.Fatal(err)
	}
	if err := echoCheck(c, 64<<20, 7); err != nil {
		t.Fatalf("64 MiB through pmd's echo under loss: %v", err)
	}
	c.Close()
	out := p.stop(t)
	tt := finalCounters(t, out, "tcp_total")
	t.Logf("pmd as server: %v", tt)
	if tt["tcp_retransmits"] == 0 {
		t.Errorf("no retransmissions: were packets dropped at all?")
	}
	tp.runClient(t, tp.conf("[0]", 1, ""), 1, 64<<20)
	nft, _ := exec.Command("ip", "netns", "exec", tp.peerNS, "nft", "list", "table", "ip", "impair").CombinedOutput()
	t.Logf("nftables counters:\n%s", nft)
	if !regexp.MustCompile(`counter packets [1-9]\d* bytes \d+ dup`).Match(nft) {
		t.Errorf("nftables duplicated nothing")
	}
}

// TestTCPTwoLcores: two lcores on a two-queue net_af_packet port, where
// the kernel's fanout hash (not Toeplitz) picks the queue: 1,000
// concurrent connections carry data intact, each lcore owns at least a
// quarter of them, and the packets that arrived on the other lcore were
// steered to their owner. The connections are all open at once and send
// 64 at a time: a surge from all of them would overflow the steering ring
// (its drops are counted and TCP recovers them, but that is overload, not
// what this test is about); the few drops left are bounded at 1% of the
// steered packets.
func TestTCPTwoLcores(t *testing.T) {
	tp := newTopo(t, 24)
	p := tp.startPMD(tp.conf("[0, 1]", 2, tcpServices))
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := tp.dial(7)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns[i] = c
	}
	for i, c := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, c net.Conn) {
			defer wg.Done()
			defer func() { <-sem }()
			defer c.Close()
			if err := echoCheck(c, 32<<10, uint64(1000+i)); err != nil {
				errs <- fmt.Errorf("connection %d: %w", i, err)
			}
		}(i, c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	out := p.stop(t)
	var opens [2]uint64
	for i := range opens {
		tc := finalCounters(t, out, "tcp"+strconv.Itoa(i))
		lc := finalCounters(t, out, "lcore"+strconv.Itoa(i))
		opens[i] = tc["tcp_passive_opens"]
		t.Logf("lcore %d: %d connections, %d packets received, steered out %d, steered in %d", i, opens[i], lc["rx_packets"], lc["steered_out"], lc["steered_in"])
	}
	if opens[0]+opens[1] < n {
		t.Errorf("%d connections accepted, want %d", opens[0]+opens[1], n)
	}
	for i, o := range opens {
		if o*4 < n {
			t.Errorf("lcore %d owns %d of %d connections, under a quarter", i, o, n)
		}
	}
	total := finalCounters(t, out, "total")
	// Every steered packet is taken by its owner, or, when it arrived
	// after the owner's last poll, freed and counted at exit.
	sOut, sIn, full, late := total["steered_out"], total["steered_in"], total["drop_steer_full"], total["drop_steer_stopped"]
	t.Logf("steering: %d out, %d in, %d dropped on a full ring, %d after the owner stopped", sOut, sIn, full, late)
	if sOut == 0 || sOut != sIn+late || (full+late)*100 > sOut {
		t.Errorf("steering: %d out, %d in, %d dropped on a full ring, %d after the owner stopped", sOut, sIn, full, late)
	}
}

// TestMemifZeroSteering: two pmd processes joined by net_memif, two lcores
// each, as two hosts with RSS NICs: memif carries client TX queue i to
// server RX queue i, both use the symmetric key and the same table, and
// the client picks ports whose flows hash to the connecting lcore, so
// every packet arrives on its owner's queue: nothing is steered.
func TestMemifZeroSteering(t *testing.T) {
	tp := newTopo(t, 25)
	sock := memifSocket(t)
	conf := func(role, addr, extra string) string {
		return memifConf(role, sock, addr, "[0, 1]", "queues = 2\n", extra)
	}
	srv := tp.startPMD(conf("server", "198.18.31.1", tcpServices))
	tp.pmdAddr = "198.18.31.1"
	out := tp.runClientRaw(t, conf("client", "198.18.31.2", ""), "198.18.31.1:7", 200, 256<<10)
	sout := srv.stop(t)
	for name, o := range map[string]string{"client": out, "server": sout} {
		total := finalCounters(t, o, "total")
		if total["steered_out"] != 0 {
			t.Errorf("%s: %d packets steered, want 0", name, total["steered_out"])
		}
		for i := 0; i < 2; i++ {
			tc := finalCounters(t, o, "tcp"+strconv.Itoa(i))
			n := tc["tcp_passive_opens"] + tc["tcp_active_opens"]
			t.Logf("%s lcore %d: %d connections, %d segments in", name, i, n, tc["tcp_segs_in"])
			if n < 50 {
				t.Errorf("%s lcore %d carried only %d of 200 connections", name, i, n)
			}
		}
	}
}

// memifSocket is a path for a memif control socket, removed when t ends.
func memifSocket(t *testing.T) string {
	sock := fmt.Sprintf("/tmp/pmd-e2e-%d.sock", os.Getpid())
	t.Cleanup(func() { os.Remove(sock) })
	return sock
}

// memifConf is the configuration of one end of a net_memif link between
// two pmd processes: role server or client, our address, the lcores, more
// port keys (portKeys) and what follows the port (rest).
func memifConf(role, sock, addr, lcores, portKeys, rest string) string {
	return fmt.Sprintf(`[eal]
lcores = %s
args = ["--no-pci", "--in-memory"]

[engine]
stats_interval = "0s"
idle = "yield"

[[port]]
device = "net_memif0,role=%s,socket=%s,socket-abstract=no"
address = "%s/24"
%s%s`, lcores, role, sock, addr, portKeys, rest)
}

// runClientRaw runs pmd client in the pmd namespace against addr.
func (tp *topo) runClientRaw(t *testing.T, conf, addr string, conns, nbytes int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", tp.pmdNS, pmdBin, "client", "-c", writeConf(t, conf),
		"-connect", addr, "-conns", strconv.Itoa(conns), "-bytes", strconv.Itoa(nbytes), "-echo", "-timeout", "5m").CombinedOutput()
	if err != nil {
		t.Fatalf("pmd client: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("%d completed, 0 failed", conns); !strings.Contains(string(out), want) {
		t.Fatalf("pmd client: output lacks %q:\n%s", want, out)
	}
	t.Log(lastLine(string(out), "client:"))
	return string(out)
}

// TestMemifTrustedLink: two pmd processes over net_memif with trusted_link
// on both ports carry echo traffic intact without computing a checksum.
// Then the server alone drops trusted_link: it must refuse the client's
// frames, whose checksums were never computed, by its checksum counters.
func TestMemifTrustedLink(t *testing.T) {
	tp := newTopo(t, 26)
	sock := memifSocket(t)
	conf := func(role, addr string, trusted bool, extra string) string {
		return memifConf(role, sock, addr, "[0]", fmt.Sprintf("trusted_link = %t\n", trusted), extra)
	}
	srv := tp.startPMD(conf("server", "198.18.32.1", true, tcpServices))
	if !strings.Contains(srv.output(), "trusted link") {
		t.Errorf("server start-up summary does not name the trusted link")
	}
	tp.pmdAddr = "198.18.32.1"
	tp.runClientRaw(t, conf("client", "198.18.32.2", true, ""), "198.18.32.1:7", 20, 1<<20)
	sout := srv.stop(t)
	if d := finalCounters(t, sout, "total")["drop_tcp_checksum"]; d != 0 {
		t.Errorf("trusted server dropped %d segments for their checksum", d)
	}
	if tc := finalCounters(t, sout, "tcp0"); tc["tcp_passive_opens"] != 20 {
		t.Errorf("server saw %d passive opens, want 20", tc["tcp_passive_opens"])
	}

	os.Remove(sock)
	srv = tp.startPMD(conf("server", "198.18.32.1", false, tcpServices))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", tp.pmdNS, pmdBin, "client",
		"-c", writeConf(t, conf("client", "198.18.32.2", true, "")),
		"-connect", "198.18.32.1:7", "-conns", "1", "-bytes", "1000", "-echo", "-timeout", "3s").CombinedOutput()
	if err == nil {
		t.Errorf("a trusted client got through to a server that checks checksums:\n%s", out)
	}
	sout = srv.stop(t)
	if c := finalCounters(t, sout, "total"); c["drop_ip_checksum"]+c["drop_tcp_checksum"] == 0 {
		t.Errorf("the checking server counted no bad checksums from a trusted client; client:\n%s", out)
	}
}

// TestBenchWorkloads runs every pmd bench workload for a second against a
// pmd server over net_memif (and raw against pmd fwd): each must report
// a rate and no errors, the check that scripts/bench measures something.
func TestBenchWorkloads(t *testing.T) {
	tp := newTopo(t, 27)
	sock := memifSocket(t)
	conf := func(role, addr, extra string) string {
		return memifConf(role, sock, addr, "[0]", "trusted_link = true\n", "\n[tcp]\ntw_reuse = true\n"+extra)
	}
	services := tcpServices + "\n[[service]]\nkind = \"chargen\"\nport = 19\n"
	rateRe := regexp.MustCompile(`rate=([0-9.e+]+) .*errors=([0-9]+)`)
	run := func(mode string, args ...string) {
		t.Helper()
		os.Remove(sock)
		var srv *proc
		if mode == "fwd" {
			srv = tp.startPMDArgs(conf("server", "198.18.33.1", ""), "fwd")
		} else {
			srv = tp.startPMD(conf("server", "198.18.33.1", services))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := append([]string{"netns", "exec", tp.pmdNS, pmdBin, "bench", "-c", writeConf(t, conf("client", "198.18.33.2", "")),
			"-connect", "198.18.33.1", "-duration", "1s", "-warmup", "500ms"}, args...)
		out, err := exec.CommandContext(ctx, "ip", cmd...).CombinedOutput()
		srv.stop(t)
		if err != nil {
			t.Fatalf("pmd bench %v: %v\n%s", args, err, out)
		}
		m := rateRe.FindStringSubmatch(lastLine(string(out), "RESULT"))
		if m == nil {
			t.Fatalf("pmd bench %v: no RESULT line:\n%s", args, out)
		}
		rate, _ := strconv.ParseFloat(m[1], 64)
		t.Logf("%v: rate %.4g, errors %s", args, rate, m[2])
		if rate <= 0 || m[2] != "0" {
			t.Errorf("pmd bench %v: rate %s, errors %s", args, m[1], m[2])
		}
	}
	run("run", "-workload", "rr", "-size", "64", "-conns", "16")
	run("run", "-workload", "rr", "-size", "1000", "-conns", "4", "-depth", "4")
	run("run", "-workload", "crr", "-size", "64", "-conns", "8")
	run("run", "-workload", "stream-up", "-conns", "2")
	run("run", "-workload", "stream-down", "-conns", "2")
	run("run", "-workload", "http", "-conns", "8")
	run("fwd", "-workload", "raw", "-size", "64", "-conns", "64")

	// -json: one object on standard output, the progress on standard
	// error, a line a second.
	// benchJSON runs pmd bench -json with client configuration cli and
	// args against a fresh server, decodes its result into res and
	// returns its standard error and the server's output.
	benchJSON := func(cli string, res any, args ...string) (stderr, sout string) {
		t.Helper()
		os.Remove(sock)
		srv := tp.startPMD(conf("server", "198.18.33.1", services))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", tp.pmdNS, pmdBin, "bench", "-c", writeConf(t, cli),
			"-connect", "198.18.33.1", "-duration", "2s", "-json"}, args...)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		sout = srv.stop(t)
		if err != nil {
			t.Fatalf("pmd bench -json %v: %v\n%s%s", args, err, out.String(), errOut.String())
		}
		if err := json.Unmarshal(out.Bytes(), res); err != nil {
			t.Fatalf("pmd bench -json %v: %v\n%s", args, err, out.String())
		}
		return errOut.String(), sout
	}
	var sum struct {
		Workload  string    `json:"workload"`
		Rate      float64   `json:"rate"`
		Errors    uint64    `json:"errors"`
		P99us     float64   `json:"p99_us"`
		PerSecond []float64 `json:"per_second"`
	}
	stderr, _ := benchJSON(conf("client", "198.18.33.2", ""), &sum, "-warmup", "1s")
	if sum.Workload != "rr" || sum.Rate <= 0 || sum.Errors != 0 || sum.P99us <= 0 || len(sum.PerSecond) == 0 { // the last second's tick may race the end
		t.Errorf("pmd bench -json: %+v", sum)
	}
	if !strings.Contains(stderr, "bench rr: warm-up 1s/1s") || !strings.Contains(stderr, "bench rr: 1s/2s") {
		t.Errorf("pmd bench: no progress lines on standard error:\n%s", stderr)
	}

	// Held connections from several source addresses: 3,000 connections
	// with 1,000 source ports per address need three of the four
	// addresses of -sources; opened at 6,000/s, then 10% of them active
	// at a time with 10 ms pauses, the rest idle; then (-reopen) all
	// closed at once, kept in TIME-WAIT here, and opened again on the
	// same tuples.
	cli := memifConf("client", sock, "198.18.33.2", "[0]",
		"trusted_link = true\naddresses = [\"198.18.33.64/24\", \"198.18.33.65/24\", \"198.18.33.66/24\", \"198.18.33.67/24\"]\n",
		"\n[tcp]\nport_min = 40000\nport_max = 40999\ntw_reuse = true\n")
	var held struct {
		Rate     float64 `json:"rate"`
		Errors   uint64  `json:"errors"`
		Opened   uint64  `json:"conns_open"`
		OpenRate float64 `json:"open_rate"`
		Active   int     `json:"active_conns"`
		Reopen   struct {
			Closed   uint64 `json:"closed"`
			TimeWait int    `json:"time_wait"`
			Reopened uint64 `json:"reopened"`
			Failures uint64 `json:"reopen_failures"`
		} `json:"reopen"`
	}
	stderr, sout := benchJSON(cli, &held, "-warmup", "500ms",
		"-conns", "3000", "-sources", "198.18.33.64/30", "-open-rate", "6000", "-active", "10", "-think", "10ms", "-reopen")
	t.Logf("held: %+v", held)
	// The opening is paced: 3,000 at 6,000/s take half a second, not a
	// poll (a slow machine may take longer, never shorter).
	if held.Opened != 3000 || held.Errors != 0 || held.Active != 300 || held.Rate <= 0 || held.OpenRate > 6600 {
		t.Errorf("pmd bench holding connections: %+v\n%s", held, stderr)
	}
	if strings.Contains(stderr, "no free source port") {
		t.Errorf("pmd bench: moving on to the next source address was reported as a shortage of ports:\n%s", stderr)
	}
	if !strings.Contains(stderr, "3000/3000 connections open") {
		t.Errorf("pmd bench: the progress lines do not count the open connections:\n%s", stderr)
	}
	if r := held.Reopen; r.Closed != 3000 || r.TimeWait != 3000 || r.Reopened != 3000 || r.Failures != 0 {
		t.Errorf("pmd bench -reopen: %+v, want 3,000 closed into TIME-WAIT and reopened, no failure\n%s", r, stderr)
	}
	if tc := finalCounters(t, sout, "tcp0"); tc["tcp_passive_opens"] != 6000 {
		t.Errorf("server saw %d passive opens, want 6000 (3,000, and again after -reopen)", tc["tcp_passive_opens"])
	}
}
