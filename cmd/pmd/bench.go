package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pmdstack/pmd/bench"
	"github.com/pmdstack/pmd/bench/gen"
	"github.com/pmdstack/pmd/config"
	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/stack"
	"github.com/pmdstack/pmd/tcp"
)

// benchJob is pmd bench: a generator per lcore, measured by bench.Measure.
type benchJob struct {
	spec      bench.Spec
	gens      []*gen.Gen
	meters    []*bench.Meter
	measuring atomic.Bool
	stopping  atomic.Bool
	linksUp   atomic.Bool
	closing   atomic.Bool // -reopen's phases
	reopening atomic.Bool
	started   bool
	finished  atomic.Bool
	stoppedAt time.Time
	result    bench.Result
	stack     *stack.Stack
	progress  func(bench.Progress)
	created   time.Time
}

// linkWait is how long pmd bench waits for the links to come up before it
// starts anyway (the errors then tell).
const linkWait = 10 * time.Second

func (b *benchJob) setup(s *stack.Stack) error {
	b.stack = s
	remote, _ := ipv4.AddrFromNetip(b.spec.Server.Addr())
	la, err := s.LocalFor(b.spec.Server.Addr())
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	local, _ := ipv4.AddrFromNetip(la)
	locals, err := sources(s.Config(), b.spec.Sources, local)
	if err != nil {
		return err
	}
	for _, sl := range s.Lcores() {
		l := sl.Engine()
		share, _ := shares(b.spec.Conns, len(s.Lcores()), sl.ID())
		if share == 0 {
			continue
		}
		m := &bench.Meter{}
		b.meters = append(b.meters, m)
		if b.spec.Workload == bench.Raw {
			l.SetRaw(&engine.Raw{Window: share * b.spec.Depth, Size: max(60, b.spec.Size), Received: &m.Txns})
			continue
		}
		g := &gen.Gen{Spec: b.spec, Locals: locals, Remote: remote, Share: share, Meter: m, Measuring: &b.measuring, Stopping: &b.stopping, Go: &b.linksUp}
		if b.spec.Reopen {
			g.Closing, g.Reopening = &b.closing, &b.reopening
		}
		b.gens = append(b.gens, g)
		l.AddApp(g)
	}
	return nil
}

// sources is the source addresses of pmd bench's connections: every
// address of the -sources network, each of them one of the ports'
// addresses, or else the one that routes to the server.
func sources(cfg *config.Config, p netip.Prefix, local ipv4.Addr) ([]ipv4.Addr, error) {
	if !p.IsValid() {
		return []ipv4.Addr{local}, nil
	}
	owned := map[netip.Addr]bool{}
	for _, port := range cfg.Ports {
		owned[port.Address.Addr()] = true
		for _, a := range port.Addresses {
			owned[a.Addr()] = true
		}
	}
	var locals []ipv4.Addr
	for a := p.Addr(); a.IsValid() && p.Contains(a); a = a.Next() {
		if !owned[a] {
			return nil, fmt.Errorf("bench: -sources %s: %s is not one of the ports' addresses (port.address, port.addresses)", p, a)
		}
		la, _ := ipv4.AddrFromNetip(a)
		locals = append(locals, la)
	}
	return locals, nil
}

// done starts the generators and the measurement once the links are up
// (the lcores run by then) and ends the run shortly after the measurement,
// once the generators stopped issuing work.
func (b *benchJob) done() bool {
	if !b.linksUp.Load() {
		if !b.stack.LinksUp() && time.Since(b.created) < linkWait {
			return false
		}
		b.linksUp.Store(true)
	}
	if !b.started {
		b.started = true
		go func() {
			b.result = bench.MeasureProgress(b.spec, b.meters, &b.measuring, nil, b.progress)
			if b.spec.Reopen {
				r := bench.RunReopen(b.spec, b.meters, &b.closing, &b.reopening, b.timeWaits)
				b.result.Reopen = &r
			}
			b.stopping.Store(true)
			b.finished.Store(true)
		}()
	}
	if !b.finished.Load() {
		return false
	}
	if b.stoppedAt.IsZero() {
		b.stoppedAt = time.Now()
	}
	return time.Since(b.stoppedAt) > 100*time.Millisecond
}

// timeWaits is the connections in TIME-WAIT on every lcore, as last
// published.
func (b *benchJob) timeWaits() int {
	n := 0
	for _, l := range b.stack.Lcores() {
		n += l.Engine().Gauges().States[tcp.TimeWait]
	}
	return n
}

// progressLine writes the progress of a run to w: a line rewritten in
// place on a terminal, else a line a second.
func progressLine(w io.Writer, spec bench.Spec) func(bench.Progress) {
	tty := isTerminal(w)
	return func(p bench.Progress) {
		phase := fmt.Sprintf("warm-up %s/%s", p.Elapsed.Round(time.Second), spec.Warmup)
		if !p.Warmup {
			phase = fmt.Sprintf("%s/%s", (p.Elapsed - spec.Warmup).Round(time.Second), spec.Duration)
		}
		line := fmt.Sprintf("bench %s: %s, %.4g %s in the last second, %d errors", spec.Workload, phase, p.Rate, spec.Workload.Unit(), p.Errors)
		if spec.Holds() {
			line += fmt.Sprintf(", %d/%d connections open", p.Open, spec.Conns)
		}
		if tty {
			fmt.Fprintf(w, "\r\x1b[K%s", line)
		} else {
			fmt.Fprintln(w, line)
		}
	}
}

func runBench(cfg *config.Config, log *slog.Logger, spec bench.Spec, asJSON bool, stdout, stderr io.Writer) int {
	b := &benchJob{spec: spec, progress: progressLine(stderr, spec), created: time.Now()}
	if err := serve(cfg, log, b); err != nil {
		fmt.Fprintf(stderr, "pmd: %v\n", err)
		return 1
	}
	if !b.finished.Load() {
		fmt.Fprintln(stderr, "pmd bench: stopped before the measurement ended")
		return 1
	}
	var switches uint64
	for _, g := range b.gens { // the lcores have stopped: their histograms are still
		b.result.Hist.Merge(&g.Hist)
		switches += g.Switches
	}
	b.result.Impl = "pmd"
	if isTerminal(stderr) {
		fmt.Fprintln(stderr) // end the progress line
	}
	if asJSON {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		e.Encode(b.result.Summary())
	} else {
		b.result.Print(stdout)
	}
	// A source address whose ports ran out, left for the next, counts in
	// tcp_no_ports too.
	if n := b.stack.Counters().Total().TCP[tcp.NoPorts] - switches; n > 0 && !cfg.TCP.TWReuse {
		// Every source port was held, most likely in TIME-WAIT after the
		// connections we closed (crr): the connections that failed are
		// the errors above.
		fmt.Fprintf(stderr, "pmd bench: %d connections found no free source port (tcp_no_ports): set [tcp] tw_reuse = true to reuse ports in TIME-WAIT, as a kernel client does with net.ipv4.tcp_tw_reuse\n", n)
	}
	return 0
}

// fwdJob is pmd fwd: every lcore reflects what it receives, until a
// signal.
type fwdJob struct{ count atomic.Uint64 }

func (f *fwdJob) setup(s *stack.Stack) error {
	for _, l := range s.Lcores() {
		l.Engine().SetRaw(&engine.Raw{Reflect: true, Received: &f.count})
	}
	return nil
}

func (f *fwdJob) done() bool { return false }
