package stack

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/pmd"
	"github.com/pmdstack/pmd/tcp"
)

// Collector is a Prometheus collector of the stack's counters and gauges,
// for a program that serves metrics from its own registry (the endpoint
// of [metrics] listen serves the same). A scrape reads what Counters
// reads: the values the lcores publish every 10 ms, the devices'
// counters and the pools' levels; it never waits for an lcore.
func (s *Stack) Collector() prometheus.Collector { return newCollector(s.Counters) }

// The metric names are the counter lines' keys with the prefix pmd_ (and
// _total on counters): the names in engine and tcp are the only list.
// Drops become one family each, with the reason as a label.
const (
	metricsPrefix = "pmd_"
	engineDrop    = "drop_"     // engine drop counters: pmd_drops_total{reason}
	tcpDrop       = "tcp_drop_" // TCP drop counters: pmd_tcp_drops_total{reason}
)

// queueStat is one of the per-queue device counters of pmd.QueueStats.
type queueStat struct {
	name string
	help string
	get  func(*pmd.QueueStats) uint64
}

var queueStats = []queueStat{
	{"rx_packets", "Packets the device received on the queue.", func(s *pmd.QueueStats) uint64 { return s.RxPackets }},
	{"tx_packets", "Packets the device sent from the queue.", func(s *pmd.QueueStats) uint64 { return s.TxPackets }},
	{"rx_bytes", "Bytes the device received on the queue.", func(s *pmd.QueueStats) uint64 { return s.RxBytes }},
	{"tx_bytes", "Bytes the device sent from the queue.", func(s *pmd.QueueStats) uint64 { return s.TxBytes }},
}

// collector builds constant metrics from one reading of the counters at
// each scrape: nothing is kept between scrapes, so the metrics can never
// disagree with the counter lines.
type collector struct {
	read func() Counters

	engine    [engine.NumCounters]*prometheus.Desc // nil for drops
	drops     *prometheus.Desc
	tcp       [tcp.NumCounters]*prometheus.Desc // nil for drops
	tcpDrops  *prometheus.Desc
	conns     *prometheus.Desc
	sndBufs   *prometheus.Desc
	rcvBufs   *prometheus.Desc
	mbufs     *prometheus.Desc
	mbufsFree *prometheus.Desc
	mbufsUsed *prometheus.Desc
	port      []*prometheus.Desc // by pmd.StatFields
	queue     []*prometheus.Desc // by queueStats
	neigh     *prometheus.Desc
	goHeap    *prometheus.Desc
}

func newCollector(read func() Counters) *collector {
	lcore := []string{"lcore"}
	c := &collector{
		read:      read,
		drops:     prometheus.NewDesc(metricsPrefix+"drops_total", "Packets the lcore dropped, by reason (the drop_<reason> counters).", []string{"lcore", "reason"}, nil),
		tcpDrops:  prometheus.NewDesc(metricsPrefix+"tcp_drops_total", "TCP segments the lcore dropped, by reason (the tcp_drop_<reason> counters).", []string{"lcore", "reason"}, nil),
		conns:     prometheus.NewDesc(metricsPrefix+"tcp_connections", "TCP connections in the lcore's table, by state.", []string{"lcore", "state"}, nil),
		sndBufs:   prometheus.NewDesc(metricsPrefix+"tcp_send_buffers_in_use", "TCP send buffers held by the lcore's connections (at most tcp.buffers).", lcore, nil),
		rcvBufs:   prometheus.NewDesc(metricsPrefix+"tcp_recv_buffers_in_use", "TCP receive buffers held by the lcore's connections (at most tcp.buffers).", lcore, nil),
		mbufs:     prometheus.NewDesc(metricsPrefix+"pool_mbufs", "Mbufs in the lcore's packet pool, free or not.", lcore, nil),
		mbufsFree: prometheus.NewDesc(metricsPrefix+"pool_mbufs_free", "Free mbufs in the lcore's packet pool and its caches.", lcore, nil),
		mbufsUsed: prometheus.NewDesc(metricsPrefix+"mbufs_in_use", "Mbufs taken from the lcore's packet pool: in device rings, queues and buffers.", lcore, nil),
		neigh:     prometheus.NewDesc(metricsPrefix+"neighbours", "Entries in the neighbour (ARP) table.", nil, nil),
		goHeap:    prometheus.NewDesc(metricsPrefix+"go_heap_bytes", "Bytes of live Go heap objects at the last garbage collection.", nil, nil),
	}
	for i := engine.Counter(0); i < engine.NumCounters; i++ {
		if !i.IsDrop() {
			name, _ := engineMetric(i)
			c.engine[i] = prometheus.NewDesc(name, fmt.Sprintf("The lcore's %s counter (README, Counters).", i), lcore, nil)
		}
	}
	for i := tcp.Counter(0); i < tcp.NumCounters; i++ {
		if !i.IsDrop() {
			c.tcp[i] = prometheus.NewDesc(metricsPrefix+i.String()+"_total",
				fmt.Sprintf("The lcore's %s counter (README, Counters).", i), lcore, nil)
		}
	}
	for _, ps := range pmd.StatFields {
		c.port = append(c.port, prometheus.NewDesc(metricsPrefix+"port_"+ps.Name+"_total", ps.Help, []string{"port"}, nil))
	}
	for _, qs := range queueStats {
		c.queue = append(c.queue, prometheus.NewDesc(metricsPrefix+"port_queue_"+qs.name+"_total", qs.help, []string{"port", "queue"}, nil))
	}
	return c
}

// Describe sends every family's description.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.engine {
		if d != nil {
			ch <- d
		}
	}
	for _, d := range c.tcp {
		if d != nil {
			ch <- d
		}
	}
	for _, d := range append(c.port, c.queue...) {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{c.drops, c.tcpDrops, c.conns, c.sndBufs, c.rcvBufs, c.mbufs, c.mbufsFree, c.mbufsUsed, c.neigh, c.goHeap} {
		ch <- d
	}
}

// Collect reads the counters once and sends them as metrics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	cs := c.read()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	for li, l := range cs.Lcores {
		lc := strconv.Itoa(li)
		for i := engine.Counter(0); i < engine.NumCounters; i++ {
			if i.IsDrop() {
				counter(c.drops, l.Engine[i], lc, strings.TrimPrefix(i.String(), engineDrop))
			} else if _, unit := engineMetric(i); unit != 1 {
				ch <- prometheus.MustNewConstMetric(c.engine[i], prometheus.CounterValue, float64(l.Engine[i])*unit, lc)
			} else {
				counter(c.engine[i], l.Engine[i], lc)
			}
		}
		for i := tcp.Counter(0); i < tcp.NumCounters; i++ {
			if i.IsDrop() {
				counter(c.tcpDrops, l.TCP[i], lc, strings.TrimPrefix(i.String(), tcpDrop))
			} else {
				counter(c.tcp[i], l.TCP[i], lc)
			}
		}
		// CLOSED and LISTEN are never states of a connection in the
		// table: a listener is not a connection.
		for st := tcp.SynSent; int(st) < tcp.NumStates; st++ {
			gauge(c.conns, l.Gauges.States[st], lc, st.String())
		}
		gauge(c.sndBufs, l.Gauges.SendBuffers, lc)
		gauge(c.rcvBufs, l.Gauges.RecvBuffers, lc)
		gauge(c.mbufs, l.Mbufs, lc)
		gauge(c.mbufsFree, l.MbufsFree, lc)
		gauge(c.mbufsUsed, l.Mbufs-l.MbufsFree, lc)
	}
	for pi := range cs.Ports {
		p := &cs.Ports[pi]
		pl := strconv.Itoa(pi)
		for i, ps := range pmd.StatFields {
			counter(c.port[i], ps.Get(p), pl)
		}
		for q := range p.Queues {
			ql := strconv.Itoa(q)
			for i, qs := range queueStats {
				counter(c.queue[i], qs.get(&p.Queues[q]), pl, ql)
			}
		}
	}
	gauge(c.neigh, cs.Neighbours)
	ch <- prometheus.MustNewConstMetric(c.goHeap, prometheus.GaugeValue, float64(cs.Memory.GoHeap))
}

// metricsServer is the endpoint of [metrics] listen.
type metricsServer struct {
	srv  *http.Server
	done chan struct{}
}

// startMetrics serves the stack's metrics at /metrics on [metrics] listen,
// if set, through the kernel's stack: in the network namespace pmd runs
// in, not on pmd's ports. The process's own metrics (CPU, memory, file
// descriptors) come along; the Go runtime's are left out, since some of
// them stop the world, and the polling lcores with it.
func (s *Stack) startMetrics() error {
	addr := s.cfg.Metrics.Listen
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: metrics.listen: %w", s.cfg.File, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slogPrinter{s},
		MaxRequestsInFlight: 4, // a scrape costs little, but a flood of them should not
		Timeout:             10 * time.Second,
	}))
	m := &metricsServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan struct{}),
	}
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics endpoint failed", "err", err)
		}
	}()
	s.metrics = m
	s.log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

// stopMetrics closes the endpoint, if one is served, and waits for it.
func (s *Stack) stopMetrics() {
	if s.metrics == nil {
		return
	}
	s.metrics.srv.Close()
	<-s.metrics.done
	s.metrics = nil
}

// slogPrinter passes promhttp's errors (a metric that could not be
// gathered or written) to the stack's log.
type slogPrinter struct{ s *Stack }

func (p slogPrinter) Println(v ...any) {
	p.s.log.Warn("metrics scrape", "err", strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// engineMetric is the family of an engine counter other than a drop, and
// the factor from the counter to the family's unit: Prometheus counts
// time in seconds.
func engineMetric(i engine.Counter) (name string, unit float64) {
	if i == engine.PollGapMicros {
		return metricsPrefix + "poll_gap_seconds_total", 1e-6
	}
	return metricsPrefix + i.String() + "_total", 1
}
