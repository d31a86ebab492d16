package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pmdstack/pmd/config"
	"github.com/pmdstack/pmd/stack"
)

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(config.Log{Level: "warn", Format: "json"}, &buf)
	log.Info("not shown")
	log.Warn("shown", "k", 1)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["msg"] != "shown" || rec["level"] != "WARN" || rec["k"] != 1.0 {
		t.Errorf("json at warn: %v %q", err, buf.String())
	}
	buf.Reset()
	newLogger(config.Log{Level: "debug", Format: "text"}, &buf).Debug("d")
	if !strings.Contains(buf.String(), "level=DEBUG msg=d") {
		t.Errorf("text at debug: %q", buf.String())
	}
}

// TestPrintStats: the rates are the counters' differences over the time
// between the snapshots, per lcore and in total.
func TestPrintStats(t *testing.T) {
	snap := func(at time.Time, rx0, rx1 uint64) *stack.Snapshot {
		l := func(id int, rx uint64) stack.LcoreSnapshot {
			return stack.LcoreSnapshot{Lcore: id, Conns: 3, Counters: map[string]uint64{"rx_packets": rx, "rx_bytes": rx * 125, "tcp_passive_opens": rx / 10}}
		}
		return &stack.Snapshot{Time: at, Uptime: 42, Lcores: []stack.LcoreSnapshot{l(0, rx0), l(1, rx1)}, Total: l(-1, rx0+rx1)}
	}
	t0 := time.Unix(1000, 0)
	var buf bytes.Buffer
	printStats(&buf, snap(t0, 1000, 0), snap(t0.Add(2*time.Second), 3000, 400))
	lines := strings.Split(buf.String(), "\n")
	want := map[string][]string{
		"0":     {"1000", "1.0", "100"}, // rx pkt/s, rx Mbit/s, new conn/s
		"1":     {"200", "0.2", "20"},
		"total": {"1200", "1.2", "120"},
	}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) < 8 || want[f[0]] == nil {
			continue
		}
		if got := []string{f[1], f[3], f[6]}; strings.Join(got, " ") != strings.Join(want[f[0]], " ") {
			t.Errorf("lcore %s: rx pkt/s, rx Mbit/s, new conn/s = %v, want %v\n%s", f[0], got, want[f[0]], buf.String())
		}
		delete(want, f[0])
	}
	if len(want) > 0 {
		t.Errorf("rows missing %v:\n%s", want, buf.String())
	}
}
