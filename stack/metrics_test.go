package stack

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/pmd"
	"github.com/pmdstack/pmd/tcp"
)

// testCounters are two lcores and one port of two queues, every value
// distinct enough to tell where it went.
func testCounters() Counters {
	var c Counters
	for l := range 2 {
		var lc LcoreCounters
		for i := range lc.Engine {
			lc.Engine[i] = uint64(1000*l + i + 1)
		}
		for i := range lc.TCP {
			lc.TCP[i] = uint64(1000*l + 500 + i)
		}
		lc.Gauges.States[tcp.Established] = 10 + l
		lc.Gauges.States[tcp.TimeWait] = 20 + l
		lc.Gauges.SendBuffers, lc.Gauges.RecvBuffers = 3, 4
		lc.Mbufs, lc.MbufsFree = 8192, 8000-l
		c.Lcores = append(c.Lcores, lc)
	}
	c.Ports = []pmd.Stats{{RxPackets: 7, TxPackets: 8, RxMissed: 9, Queues: []pmd.QueueStats{{RxPackets: 3}, {RxPackets: 4, TxBytes: 99}}}}
	c.Neighbours = 2
	c.Memory.GoHeap = 1 << 20
	return c
}

func gather(t *testing.T, c Counters) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry() // also checks Describe against Collect
	reg.MustRegister(newCollector(func() Counters { return c }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		m[mf.GetName()] = mf
	}
	return m
}

// value finds the sample of family name with exactly the labels given
// (name=value pairs).
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no family %s", name)
	}
	want := map[string]string{}
	for i := 0; i < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			t.Fatalf("%s has labels %v, want the names of %v", name, m.GetLabel(), want)
		}
		for _, lp := range m.GetLabel() {
			if want[lp.GetName()] != lp.GetValue() {
				continue next
			}
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		}
		t.Fatalf("%s: type %v", name, mf.GetType())
	}
	t.Fatalf("%s: no sample with %v", name, want)
	return 0
}

func TestCollectorValues(t *testing.T) {
	c := testCounters()
	mfs := gather(t, c)
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"pmd_rx_packets_total", []string{"lcore", "0"}, float64(c.Lcores[0].Engine[engine.RxPackets])},
		{"pmd_polls_total", []string{"lcore", "1"}, float64(c.Lcores[1].Engine[engine.Polls])},
		{"pmd_fault_corrupted_total", []string{"lcore", "1"}, float64(c.Lcores[1].Engine[engine.FaultCorrupted])},
		{"pmd_drops_total", []string{"lcore", "0", "reason", "ip_checksum"}, float64(c.Lcores[0].Engine[engine.DropIPChecksum])},
		{"pmd_drops_total", []string{"lcore", "1", "reason", "steer_stopped"}, float64(c.Lcores[1].Engine[engine.DropSteerStopped])},
		{"pmd_tcp_segs_in_total", []string{"lcore", "1"}, float64(c.Lcores[1].TCP[tcp.SegsIn])},
		{"pmd_tcp_drops_total", []string{"lcore", "0", "reason", "no_conn"}, float64(c.Lcores[0].TCP[tcp.DropNoConn])},
		{"pmd_tcp_drops_total", []string{"lcore", "1", "reason", "backlog"}, float64(c.Lcores[1].TCP[tcp.DropBacklog])},
		{"pmd_tcp_connections", []string{"lcore", "1", "state", "ESTABLISHED"}, 11},
		{"pmd_tcp_connections", []string{"lcore", "0", "state", "TIME-WAIT"}, 20},
		{"pmd_tcp_connections", []string{"lcore", "0", "state", "SYN-SENT"}, 0},
		{"pmd_tcp_send_buffers_in_use", []string{"lcore", "0"}, 3},
		{"pmd_tcp_recv_buffers_in_use", []string{"lcore", "1"}, 4},
		{"pmd_pool_mbufs", []string{"lcore", "1"}, 8192},
		{"pmd_pool_mbufs_free", []string{"lcore", "1"}, 7999},
		{"pmd_mbufs_in_use", []string{"lcore", "1"}, 193},
		{"pmd_port_rx_packets_total", []string{"port", "0"}, 7},
		{"pmd_port_rx_missed_total", []string{"port", "0"}, 9},
		{"pmd_port_queue_rx_packets_total", []string{"port", "0", "queue", "1"}, 4},
		{"pmd_port_queue_tx_bytes_total", []string{"port", "0", "queue", "1"}, 99},
		{"pmd_neighbours", nil, 2},
		{"pmd_go_heap_bytes", nil, 1 << 20},
	}
	for _, tt := range tests {
		if got := value(t, mfs, tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
}

// TestCollectorFamilies checks that every counter of engine and tcp is
// exported, drops under one family with a reason each, with the right
// type and labels, and that promlint finds nothing to say.
func TestCollectorFamilies(t *testing.T) {
	mfs := gather(t, testCounters())
	var drops, tcpDrops int
	for i := engine.Counter(0); i < engine.NumCounters; i++ {
		if i.IsDrop() {
			drops++
			continue
		}
		if name, _ := engineMetric(i); mfs[name] == nil {
			t.Errorf("engine counter %s: no family %s", i, name)
		}
	}
	for i := tcp.Counter(0); i < tcp.NumCounters; i++ {
		if i.IsDrop() {
			tcpDrops++
			continue
		}
		if mfs["pmd_"+i.String()+"_total"] == nil {
			t.Errorf("tcp counter %s: no family", i)
		}
	}
	if drops == 0 || tcpDrops == 0 {
		t.Fatalf("%d engine drop counters, %d TCP drop counters", drops, tcpDrops)
	}
	if n := len(mfs["pmd_drops_total"].GetMetric()); n != 2*drops {
		t.Errorf("pmd_drops_total: %d samples, want %d (2 lcores)", n, 2*drops)
	}
	if n := len(mfs["pmd_tcp_drops_total"].GetMetric()); n != 2*tcpDrops {
		t.Errorf("pmd_tcp_drops_total: %d samples, want %d (2 lcores)", n, 2*tcpDrops)
	}
	for name, mf := range mfs {
		if !strings.HasPrefix(name, "pmd_") {
			t.Errorf("%s: not prefixed pmd_", name)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s: no HELP", name)
		}
		isCounter := mf.GetType() == dto.MetricType_COUNTER
		if isCounter != strings.HasSuffix(name, "_total") {
			t.Errorf("%s: type %v", name, mf.GetType())
		}
		if !isCounter && mf.GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s: type %v", name, mf.GetType())
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "lcore", "port", "queue", "reason", "state":
				default:
					t.Errorf("%s: label %s", name, lp.GetName())
				}
			}
		}
	}
	problems, err := testutil.CollectAndLint(newCollector(testCounters))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
