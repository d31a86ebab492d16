package stack

import (
	"regexp"
	"testing"

	"github.com/pmdstack/pmd/eal"
	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/tcp"
)

// TestTelemetryCounterNames checks that /pmd/stats and /pmd/lcore fit one
// telemetry dictionary: names DPDK accepts, none twice, within its limit
// of entries (a name DPDK refused would be renamed, one too many left
// out).
func TestTelemetryCounterNames(t *testing.T) {
	names := []string{"lcores", "lcore", "cpu", "tcp_conns", "drops", "go_heap_bytes", "mbufs_in_use", "mbufs"}
	for i := engine.Counter(0); i < engine.NumCounters; i++ {
		names = append(names, i.String())
	}
	for i := tcp.Counter(0); i < tcp.NumCounters; i++ {
		names = append(names, i.String())
	}
	if len(names) > eal.TelMaxDictEntries {
		t.Errorf("%d counters, more than a telemetry dictionary's %d", len(names), eal.TelMaxDictEntries)
	}
	valid := regexp.MustCompile(`^[A-Za-z0-9_/]{1,127}$`)
	seen := map[string]bool{}
	for _, n := range names {
		if !valid.MatchString(n) {
			t.Errorf("counter %q: not a name DPDK's telemetry accepts", n)
		}
		if seen[n] {
			t.Errorf("counter %q twice", n)
		}
		seen[n] = true
	}
}

func TestTelemetryCommandNames(t *testing.T) {
	valid := regexp.MustCompile(`^/[A-Za-z0-9_/]{1,54}$`)
	for _, c := range telemetryCommands {
		if !valid.MatchString(c.cmd) || len(c.help) > eal.TelMaxString {
			t.Errorf("command %q (help of %d bytes): DPDK would refuse it", c.cmd, len(c.help))
		}
	}
}
