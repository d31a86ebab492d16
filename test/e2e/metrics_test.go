package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The endpoints of the metrics test, both on the loopback interface of
// pmd's namespace: pmd serves its metrics through the kernel's stack of
// the namespace it runs in, so Prometheus runs there too.
const (
	metricsAddr    = "127.0.0.1:9470"
	prometheusAddr = "127.0.0.1:9090"
)

// TestMetrics runs a real Prometheus beside pmd, scraping pmd's /metrics
// every second while the kernel peer runs TCP echo transactions, and
// checks through Prometheus's HTTP API that the counters move during the
// run, that the connection gauges agree with pmd's own listing, and that
// the last scrape (after the traffic, before pmd stops) equals pmd's
// final counter lines. promtool checks a scrape's format.
func TestMetrics(t *testing.T) {
	for _, bin := range []string{"prometheus", "promtool"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (Debian package prometheus; scripts/test installs it)", bin)
		}
	}
	tp := newTopo(t, 43)
	p := tp.startPMD(tp.conf("[0, 1]", 2, tcpServices+fmt.Sprintf("\n[metrics]\nlisten = %q\n", metricsAddr)))
	if !strings.Contains(p.output(), "url=http://"+metricsAddr+"/metrics") {
		t.Fatalf("pmd did not log its metrics endpoint:\n%s", p.output())
	}
	web := tp.nsClient(tp.pmdNS)

	// promtool lints the exposition as pmd serves it.
	body := httpGet(t, web, "http://"+metricsAddr+"/metrics")
	check := exec.Command("promtool", "check", "metrics")
	check.Stdin = bytes.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	prom := startPrometheus(t, tp, web)
	prom.waitUp(t)

	// A connection held open over the run, for the state gauges.
	held, err := tp.dial(7)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	held.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := held.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(held, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}

	// Echo transactions, bounded in count and time: 40 connections of
	// 50 exchanges of 100 bytes, 100 ms apart (about 5 s, 5 scrapes).
	const conns, exchanges = 40, 50
	var mid float64
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < conns && time.Now().Before(deadline); i++ {
		if err := tp.echoTransactions(exchanges, 100); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if i == conns/2 {
			mid = prom.value(t, `sum(pmd_tcp_segs_in_total)`)
		}
		time.Sleep(100 * time.Millisecond)
	}
	trafficEnd := time.Now()

	// The gauges while one connection is open, after a scrape that
	// follows the traffic, against pmd's own listing (SIGUSR1).
	prom.waitScrapeAfter(t, trafficEnd)
	if got := prom.value(t, `sum(pmd_tcp_connections{state="ESTABLISHED"})`); got != 1 {
		t.Errorf(`sum(pmd_tcp_connections{state="ESTABLISHED"}) = %v, want 1 (the held connection)`, got)
	}
	if got, want := prom.value(t, `sum(pmd_tcp_connections)`), float64(1); got != want {
		t.Errorf("sum(pmd_tcp_connections) = %v, want %v", got, want)
	}
	listed := listingByLcore(t, p, 2)
	gauged := map[string]int{}
	for _, s := range prom.query(t, `pmd_tcp_connections > 0`) {
		v, _ := strconv.Atoi(fmt.Sprint(s.Value[1]))
		gauged["lcore"+s.Metric["lcore"]+" "+s.Metric["state"]] = v
	}
	if len(listed) != 1 {
		t.Errorf("pmd's listing: %v, want the held connection alone", listed)
	}
	if !maps.Equal(listed, gauged) {
		t.Errorf("connections by lcore and state: pmd's listing %v, pmd_tcp_connections %v", listed, gauged)
	}
	// An idle connection holds no buffers: at rest every one is back.
	for _, q := range []string{`pmd_tcp_send_buffers_in_use`, `pmd_tcp_recv_buffers_in_use`} {
		if n := prom.value(t, "count("+q+")"); n != 2 {
			t.Errorf("%s: %v samples, want 2 (one per lcore)", q, n)
		}
		if got := prom.value(t, "sum("+q+")"); got != 0 {
			t.Errorf("sum(%s) = %v at rest, want 0", q, got)
		}
	}
	if got := prom.value(t, `sum(pmd_pool_mbufs_free) / sum(pmd_pool_mbufs)`); got <= 0 || got > 1 {
		t.Errorf("free share of the pools %v, want in (0, 1]", got)
	}
	if got := prom.value(t, `pmd_neighbours`); got < 1 {
		t.Errorf("pmd_neighbours = %v, want at least 1 (the peer)", got)
	}
	held.Close()
	time.Sleep(200 * time.Millisecond) // the close's segments
	closed := time.Now()

	// The counters moved scrape after scrape during the run.
	if n := prom.value(t, `max(changes(pmd_tcp_segs_in_total[2m]))`); n < 3 {
		t.Errorf("pmd_tcp_segs_in_total changed %v times over the run, want at least 3", n)
	}

	// The last scrape, after the traffic and before pmd stops, equals
	// pmd's final counters. Polls and bursts go on while pmd idles; the
	// rest must not move without traffic.
	prom.waitScrapeAfter(t, closed)
	names := []string{"rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "tcp_segs_in", "tcp_segs_out",
		"tcp_passive_opens", "tcp_conns_closed", "tcp_conns_failed", "tcp_resets_sent"}
	scraped := map[string]float64{}
	for _, n := range names {
		scraped[n] = prom.value(t, "sum(pmd_"+n+"_total)")
	}
	if mid == 0 || mid >= scraped["tcp_segs_in"] {
		t.Errorf("sum(pmd_tcp_segs_in_total) %v in the middle of the run, %v at the end", mid, scraped["tcp_segs_in"])
	}
	scrapedDrops := prom.value(t, `sum(pmd_drops_total)`)
	scrapedTCPDrops := prom.value(t, `sum(pmd_tcp_drops_total)`)
	scrapedPortRx := prom.value(t, `sum(pmd_port_rx_packets_total)`)
	scrapedQueueRx := prom.value(t, `sum(pmd_port_queue_rx_packets_total)`)
	prom.stop(t)

	out := p.stop(t)
	total, tcpTotal, port := finalCounters(t, out, "total"), finalCounters(t, out, "tcp_total"), finalCounters(t, out, "port0")
	for _, n := range names {
		want := total[n]
		if strings.HasPrefix(n, "tcp_") {
			want = tcpTotal[n]
		}
		if scraped[n] != float64(want) {
			t.Errorf("%s: Prometheus %v, pmd's final counters %d", n, scraped[n], want)
		}
	}
	if scrapedDrops != float64(total["drops"]) {
		t.Errorf("sum(pmd_drops_total) %v, final drops %d", scrapedDrops, total["drops"])
	}
	var tcpDrops uint64
	for k, v := range tcpTotal {
		if strings.HasPrefix(k, "tcp_drop_") {
			tcpDrops += v
		}
	}
	if scrapedTCPDrops != float64(tcpDrops) {
		t.Errorf("sum(pmd_tcp_drops_total) %v, final tcp_drop_* %d", scrapedTCPDrops, tcpDrops)
	}
	if scrapedPortRx != float64(port["rx_packets"]) {
		t.Errorf("sum(pmd_port_rx_packets_total) %v, final port0 rx_packets %d", scrapedPortRx, port["rx_packets"])
	}
	// net_af_packet counts per queue: the queues add up to the port.
	if scrapedQueueRx != scrapedPortRx {
		t.Errorf("sum(pmd_port_queue_rx_packets_total) %v, pmd_port_rx_packets_total %v", scrapedQueueRx, scrapedPortRx)
	}
	t.Logf("at rest: %v", listed)
	t.Logf("last scrape: %v drops %v tcp drops %v port rx %v", scraped, scrapedDrops, scrapedTCPDrops, scrapedPortRx)
	if min := uint64(conns * exchanges); tcpTotal["tcp_segs_in"] < min {
		t.Errorf("tcp_segs_in %d, want at least %d (one per exchange)", tcpTotal["tcp_segs_in"], min)
	}
}

// listingByLcore asks pmd for its listing (SIGUSR1) and returns the
// connections of each of its lcores by state, keyed "lcore0 ESTABLISHED".
func listingByLcore(t *testing.T, p *proc, lcores int) map[string]int {
	t.Helper()
	const head = "listening on tcp"
	before := strings.Count(p.output(), head)
	p.cmd.Process.Signal(syscall.SIGUSR1)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out := p.output()
		if strings.Count(out, head) < before+lcores {
			continue
		}
		by := map[string]int{}
		lines := strings.Split(out, "\n")
		for i, seen := len(lines)-1, 0; i >= 0 && seen < lcores; i-- {
			m := lcoreRe.FindStringSubmatch(lines[i])
			if m == nil || !strings.Contains(lines[i], head) {
				continue
			}
			seen++
			if k := strings.Index(lines[i], "by state"); k >= 0 {
				for _, st := range stateRe.FindAllStringSubmatch(lines[i][k:], -1) {
					by["lcore"+m[1]+" "+st[1]], _ = strconv.Atoi(st[2])
				}
			}
		}
		return by
	}
	t.Fatalf("no listing from pmd within 5 s:\n%s", p.output())
	return nil
}

var lcoreRe = regexp.MustCompile(`lcore (\d+): listening on tcp`)

// echoTransactions opens a connection to the echo service, exchanges n
// messages of size bytes one at a time, and closes.
func (tp *topo) echoTransactions(n, size int) error {
	c, err := tp.dial(7)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg, back := bytes.Repeat([]byte{'m'}, size), make([]byte, size)
	for i := 0; i < n; i++ {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, back); err != nil {
			return fmt.Errorf("exchange %d: %w", i, err)
		}
	}
	return nil
}

// nsClient is an HTTP client whose connections are made in namespace ns,
// to reach what listens on that namespace's loopback.
func (tp *topo) nsClient(ns string) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNS(ns, func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

func httpGet(t *testing.T, c *http.Client, u string) []byte {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", u, resp.Status, b)
	}
	return b
}

// prometheus is a Prometheus server the test runs in pmd's namespace,
// its data in a temporary directory.
type prometheus struct {
	cmd  *exec.Cmd
	web  *http.Client
	log  bytes.Buffer
	done chan error
}

func startPrometheus(t *testing.T, tp *topo, web *http.Client) *prometheus {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	yml := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: pmd
    static_configs:
      - targets: [%q]
`, metricsAddr)
	if err := os.WriteFile(conf, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	pr := &prometheus{web: web, done: make(chan error, 1)}
	// ip netns exec execs Prometheus itself: the PID is Prometheus's.
	pr.cmd = exec.Command("ip", "netns", "exec", tp.pmdNS, "prometheus",
		"--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+prometheusAddr, "--log.level=warn")
	pr.cmd.Stdout, pr.cmd.Stderr = &pr.log, &pr.log
	if err := pr.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { pr.done <- pr.cmd.Wait() }()
	// Registered after TempDir's: runs before the directory is removed.
	t.Cleanup(func() {
		if pr.cmd.ProcessState == nil {
			pr.cmd.Process.Signal(syscall.SIGKILL)
			<-pr.done
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", pr.log.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := web.Get("http://" + prometheusAddr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return pr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready within 30 s: %v\n%s", err, pr.log.String())
		}
	}
}

// stop ends Prometheus with SIGTERM, by its PID, and waits for it.
func (pr *prometheus) stop(t *testing.T) {
	t.Helper()
	pr.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pr.done:
	case <-time.After(20 * time.Second):
		t.Errorf("prometheus still runs 20 s after SIGTERM")
	}
}

// sample is one element of an instant query's vector.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // unix time, value as a string
}

// query runs an instant query through the HTTP API.
func (pr *prometheus) query(t *testing.T, q string) []sample {
	t.Helper()
	b := httpGet(t, pr.web, "http://"+prometheusAddr+"/api/v1/query?query="+url.QueryEscape(q))
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string   `json:"resultType"`
			Result     []sample `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("query %s: %v\n%s", q, err, b)
	}
	if r.Status != "success" || r.Data.ResultType != "vector" {
		t.Fatalf("query %s: %s %s (%s)", q, r.Status, r.Error, r.Data.ResultType)
	}
	return r.Data.Result
}

// value is the single value an instant query returns.
func (pr *prometheus) value(t *testing.T, q string) float64 {
	t.Helper()
	res := pr.query(t, q)
	if len(res) != 1 {
		t.Fatalf("query %s: %d samples, want 1: %+v", q, len(res), res)
	}
	s, _ := res[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("query %s: value %v: %v", q, res[0].Value[1], err)
	}
	return v
}

// waitUp waits for a successful scrape of pmd.
func (pr *prometheus) waitUp(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if res := pr.query(t, `up{job="pmd"}`); len(res) == 1 && res[0].Value[1] == "1" {
			return
		}
	}
	t.Fatalf("prometheus did not scrape pmd within 20 s: %+v", pr.query(t, `up{job="pmd"}`))
}

// waitScrapeAfter waits until Prometheus holds a successful scrape of pmd
// taken after when.
func (pr *prometheus) waitScrapeAfter(t *testing.T, when time.Time) {
	t.Helper()
	after := float64(when.UnixNano()) / 1e9
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if pr.value(t, `up{job="pmd"}`) == 1 && pr.value(t, `timestamp(up{job="pmd"})`) > after {
			return
		}
	}
	t.Fatalf("no scrape of pmd after %v within 20 s", when)
}
