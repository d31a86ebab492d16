package gen

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pmdstack/pmd/bench"
	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/httpsvc"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/services"
	"github.com/pmdstack/pmd/tcp"
)

// sectionOne is scripts/bench's section 1: each workload with its
// connections, 64-byte messages (TestSectionOneIsBenchs keeps the two
// lists alike).
var sectionOne = []struct {
	name  string
	w     bench.Workload
	conns int
}{
	{"rr-1", bench.RR, 1},
	{"rr-16", bench.RR, 16},
	{"rr-256", bench.RR, 256},
	{"crr-16", bench.CRR, 16},
	{"stream-up-4", bench.StreamUp, 4},
	{"stream-down-4", bench.StreamDown, 4},
	{"http-16", bench.HTTP, 16},
}

// workloadPair is pmd bench's generator on one in-memory host and pmd's
// services (echo, discard, chargen, http) on the other, over a trusted
// link as in scripts/bench (no checksum computed or verified anywhere):
// both ends of a section-1 workload in one thread. units reports the
// work done so far in the workload's unit: transactions (rr, http),
// connections (crr) or KiB of payload (streams).
func workloadPair(tb testing.TB, w bench.Workload, conns int) (step func(), units func() uint64) {
	resp := httpsvc.NewResponder(64)
	a := memHost(macA, ipA, nil, tcp.Config{}, true) // pmd's defaults, as in scripts/bench
	b := memHost(macB, ipB, []engine.TCPService{
		{Port: 7, New: func(*engine.Lcore) tcp.Handler { return services.Echo{} }},
		{Port: 9, New: func(*engine.Lcore) tcp.Handler { return services.Discard{} }},
		{Port: 19, New: func(*engine.Lcore) tcp.Handler { return services.Chargen{} }},
		{Port: 80, New: func(l *engine.Lcore) tcp.Handler { return services.NewHTTP(l, resp) }},
	}, tcp.Config{}, true)
	k := &engine.MemLink{A: a, B: b, Now: int64(time.Second), Tick: 5 * time.Microsecond,
		Meta: dev.RxMeta{IPCksum: ipv4.RxCksumGood, L4Cksum: ipv4.RxCksumGood}}
	var measuring, stopping, up atomic.Bool
	up.Store(true)
	spec := bench.Spec{Workload: w, Conns: conns, Size: 64, Depth: 1,
		Server: netip.AddrPortFrom(netip.AddrFrom4(ipB.As4()), w.DefaultPort())}
	g := &Gen{Spec: spec, Locals: []ipv4.Addr{ipA}, Remote: ipB, Share: conns, Meter: &bench.Meter{},
		Measuring: &measuring, Stopping: &stopping, Go: &up}
	a.L.AddApp(g)
	units = func() uint64 {
		switch w {
		case bench.StreamUp, bench.StreamDown:
			return g.bytes >> 10
		}
		return g.txns
	}
	step = func() { k.Step() }
	// Warm up: every connection open, the pools and tables at their
	// working size; crr past twice the source ports (28,232), so that its
	// TIME-WAIT tuples are taken over as in a long run, not new ones
	// made.
	warm := uint64(20000)
	if w == bench.CRR {
		warm = 60000
	}
	for i := 0; units() < warm; i++ {
		if i == 2000000 {
			tb.Fatalf("%s: %d units after %d steps, %d errors", w, units(), i, g.Meter.Errors.Load())
		}
		step()
	}
	if e := g.Meter.Errors.Load(); e != 0 {
		tb.Fatalf("%s: %d errors", w, e)
	}
	return step, units
}

// BenchmarkWorkload runs scripts/bench's section-1 workloads through both
// ends in memory: an op is a transaction (rr, http), a connection opened,
// used and closed (crr), or a KiB of payload (streams). scripts/cost
// counts its instructions per op with callgrind.
func BenchmarkWorkload(b *testing.B) {
	for _, c := range sectionOne {
		b.Run(c.name, func(b *testing.B) {
			step, units := workloadPair(b, c.w, c.conns)
			b.ReportAllocs()
			b.ResetTimer()
			end := units() + uint64(b.N)
			for idle := 0; units() < end; {
				before := units()
				step()
				if units() == before {
					if idle++; idle == 100000 {
						b.Fatalf("no progress for %d steps", idle)
					}
				} else {
					idle = 0
				}
			}
		})
	}
}

// TestWorkloadPair: every section-1 workload runs over the in-memory pair
// without an error, so BenchmarkWorkload measures working traffic.
func TestWorkloadPair(t *testing.T) {
	for _, c := range sectionOne {
		t.Run(c.name, func(t *testing.T) {
			step, units := workloadPair(t, c.w, c.conns)
			u := units()
			for range 1000 {
				step()
			}
			if units() == u {
				t.Errorf("no %s progress in 1,000 steps", c.w.Unit())
			}
		})
	}
}

// TestSectionOneIsBenchs: sectionOne lists the workloads of scripts/bench's
// section 1, in its order, so that the instruction counts stand beside its
// rates workload for workload.
func TestSectionOneIsBenchs(t *testing.T) {
	script, err := os.ReadFile("../../scripts/bench")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`\nsection1=\(("rr 64 1"[^)]*)\)\n`).FindSubmatch(script)
	if m == nil {
		t.Fatal("scripts/bench: section 1's list of workloads not found")
	}
	var ours []string
	for _, c := range sectionOne {
		ours = append(ours, fmt.Sprintf("%q", fmt.Sprintf("%s 64 %d", c.w, c.conns)))
		if want := fmt.Sprintf("%s-%d", c.w, c.conns); c.name != want {
			t.Errorf("benchmark %s: want the name %s", c.name, want)
		}
	}
	if got := strings.Join(ours, " "); got != string(m[1]) {
		t.Errorf("sectionOne is %s, scripts/bench's section 1 %s", got, m[1])
	}
}
