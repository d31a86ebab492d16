// Command pmd runs the pmd userspace IPv4 stack on DPDK ports, or checks a
// configuration and the host's hugepage memory against it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/pmdstack/pmd/bench"
	"github.com/pmdstack/pmd/config"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/stack"
	"github.com/pmdstack/pmd/tcp"
	"github.com/pmdstack/pmd/xfer"
)

const usage = `pmd: a poll-mode userspace IPv4/TCP stack on DPDK.

Usage:
  pmd [-c FILE]          run the stack until SIGINT or SIGTERM, then stop
                         the ports and exit 0
  pmd client [-c FILE] -connect IP:PORT [-conns N] [-bytes N] [-echo] [-timeout D]
                         run the stack as a client: open N connections to
                         IP:PORT (spread over the lcores), send N bytes of a
                         reproducible stream on each (default 64 MiB), with
                         -echo check that the server sends them back intact;
                         exit 0 only if every connection completed
  pmd check [-c FILE]    validate FILE and check the host for it: PCI
                         devices bound to a driver DPDK can use, the memory
                         it needs against the host's and its free hugepages;
                         print every mistake, one a line (FILE: KEY: what is
                         wrong and what is expected, or the fix) and exit 1,
                         or print the memory summary and exit 0
  pmd bench [-c FILE] -connect IP[:PORT] [-workload rr|crr|stream-up|stream-down|http]
            [-conns N] [-size B] [-depth D] [-duration T] [-warmup T] [-json]
            [-sources NET] [-active PCT] [-open-rate R] [-think T] [-reopen]
                         load generator on pmd's own stack: runs the workload
                         against a server (pmd's or the kernel's), shows its
                         progress every second on standard error, and prints
                         a table of the rate, latency percentiles from a
                         histogram and errors, the per-second rates and a
                         RESULT line (-json: one JSON object instead);
                         -sources opens from every address of NET (port
                         addresses), -open-rate paces the opening, -active
                         keeps PCT of the connections busy at a time and the
                         rest open and idle (the busy window moves every
                         second; -think pauses each after a response): a run
                         that holds connections warms up again once all are
                         open, then measures; -reopen then closes them all
                         at once and opens them again (TIME-WAIT at scale)
  pmd fwd [-c FILE]      the device's limit without the stack: every lcore
                         sends back each frame it receives (MACs swapped);
                         pmd bench -workload raw measures the round trips
  pmd stats [-c FILE] [-once] [-json] [-interval D] [-count N]
                         a running pmd's counters through its control socket:
                         one line per lcore with rates over the last interval
                         (packets, Mbit/s, drops, new connections,
                         retransmissions) and totals, refreshed every second;
                         -once prints the totals once, -json as JSON (with
                         -once one object, else one per line per interval)
  pmd conns [-c FILE] [-state S] [-port P] [-json]
                         a running pmd's listeners and TCP connections (what
                         SIGUSR1 logs), only those in state S (established,
                         time-wait, ...) or with local or remote port P
  pmd capture [-c FILE] [on|off]
                         switch a running pmd's captures (port.pcap) on or
                         off, or print their state (SIGUSR2 switches them too)
  pmd faults [-c FILE] [-port N] [drop=P] [duplicate=P] [reorder=P] [corrupt=P]
             [direction=rx|tx|both]
                         print or change a running pmd's fault rates on port N
                         (a port with a [port.faults] table); the rates not
                         named stay
  pmd --help             this text

Options:
  -c FILE            configuration file (default conf.toml)
  -s SOCKET          (stats, conns, capture, faults) the control socket, if
                     not the configuration's [control] socket
  -cpuprofile FILE   (run, client, bench, fwd) write a Go CPU profile of the
                     whole run, lcores included, for go tool pprof
  -connect, -conns, -bytes, -echo, -timeout   see pmd client

The configuration keys are documented in README.md. Counters are printed
every engine.stats_interval when they changed, and once more at exit.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && slices.Contains(ctlCommands, args[0]) {
		return runCtl(args[0], args[1:], stdout, stderr)
	}
	cmd := "run"
	if len(args) > 0 && (args[0] == "check" || args[0] == "client" || args[0] == "bench" || args[0] == "fwd") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("pmd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	file := fs.String("c", "conf.toml", "configuration file")
	var cpuProfile string
	if cmd != "check" {
		fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	}
	var (
		connect string
		conns   int
		nbytes  uint64
		echo    bool
		timeout time.Duration
		spec    bench.Spec
		// pmd bench -json
		benchJSON bool
	)
	switch cmd {
	case "client":
		fs.StringVar(&connect, "connect", "", "server address, IPv4:port")
		fs.IntVar(&conns, "conns", 1, "connections")
		fs.Uint64Var(&nbytes, "bytes", 64<<20, "bytes to send on each connection")
		fs.BoolVar(&echo, "echo", false, "expect the bytes back and compare them")
		fs.DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long")
	case "bench":
		spec.Flags(fs)
		spec.ScaleFlags(fs)
		fs.BoolVar(&benchJSON, "json", false, "print the result as one JSON object instead of the table and RESULT line")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pmd: unexpected argument %q (see pmd --help)\n", fs.Arg(0))
		return 2
	}
	if cmd == "check" {
		return check(*file, stdout, stderr)
	}
	cfg, err := stack.LoadConfig(*file)
	if err != nil {
		fmt.Fprintf(stderr, "pmd: %v\n", err)
		return 1
	}
	log := newLogger(cfg.Log, stderr)
	if cpuProfile != "" {
		stop, err := startCPUProfile(cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "pmd: -cpuprofile: %v\n", err)
			return 1
		}
		defer stop()
	}
	if cmd == "bench" {
		if err := spec.Validate(); err != nil {
			fmt.Fprintf(stderr, "pmd bench: %v\n", err)
			return 2
		}
		return runBench(cfg, log, spec, benchJSON, stdout, stderr)
	}
	if cmd == "client" {
		return runClient(cfg, log, connect, conns, nbytes, echo, timeout, stdout, stderr)
	}
	var j job
	if cmd == "fwd" {
		j = &fwdJob{}
	}
	if err := serve(cfg, log, j); err != nil {
		fmt.Fprintf(stderr, "pmd: %v\n", err)
		return 1
	}
	return 0
}

// clientJob is pmd client: connections spread over the lcores.
type clientJob struct {
	job xfer.Job
	res xfer.Result
}

func (c *clientJob) setup(s *stack.Stack) error {
	local, err := s.LocalFor(c.job.Remote.Netip())
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	c.job.Local, _ = ipv4.AddrFromNetip(local)
	for i, l := range s.Lcores() {
		share, first := shares(c.job.Conns, len(s.Lcores()), i)
		if share > 0 {
			l.Engine().AddApp(&xfer.Client{Job: c.job, Share: share, First: first, Result: &c.res})
		}
	}
	return nil
}

func (c *clientJob) done() bool { return c.res.Finished() >= int64(c.job.Conns) }

// runClient runs a transfer client on the stack and reports whether every
// connection carried its bytes intact.
func runClient(cfg *config.Config, log *slog.Logger, connect string, conns int, nbytes uint64, echo bool, timeout time.Duration, stdout, stderr io.Writer) int {
	ap, err := netip.ParseAddrPort(connect)
	if err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
		fmt.Fprintf(stderr, "pmd client: -connect: expected IPv4:port such as 198.18.0.2:5001, got %q\n", connect)
		return 2
	}
	if conns < 1 {
		fmt.Fprintf(stderr, "pmd client: -conns: expected at least 1, got %d\n", conns)
		return 2
	}
	remote, _ := ipv4.AddrFromNetip(ap.Addr())
	cj := &clientJob{job: xfer.Job{Remote: remote, Port: ap.Port(), Conns: conns, Bytes: nbytes, Echo: echo, Seed: uint64(time.Now().UnixNano())}}
	res := &cj.res
	start := time.Now()
	timer := time.AfterFunc(timeout, func() {
		log.Error("client: timeout", "after", timeout.String())
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
	})
	err = serve(cfg, log, cj)
	timer.Stop()
	el := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "client: %d connections: %d completed, %d failed (%d with differing data); %d bytes out, %d bytes in, %.2f s, %.1f Mbit/s\n",
		conns, res.Completed.Load(), res.Failed.Load(), res.Mismatch.Load(), res.BytesOut.Load(), res.BytesIn.Load(), el,
		float64(res.BytesOut.Load()+res.BytesIn.Load())*8/el/1e6)
	if err != nil {
		fmt.Fprintf(stderr, "pmd: %v\n", err)
		return 1
	}
	if res.Completed.Load() != int64(conns) {
		return 1
	}
	return 0
}

// startCPUProfile profiles the process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// check is pmd check: the configuration's mistakes and the host's, all of
// them, one a line; or the memory summary when there are none.
func check(file string, stdout, stderr io.Writer) int {
	env, err := stack.Env()
	if err != nil {
		fmt.Fprintf(stderr, "pmd: %v\n", err)
		return 1
	}
	cfg, err := config.Check(file, env, "/sys", "/proc")
	if err != nil {
		var es config.Errors
		var e *config.Error
		switch {
		case errors.As(err, &es):
		case errors.As(err, &e): // a syntax error stops the reading alone
			es = config.Errors{e}
		default:
			fmt.Fprintf(stderr, "pmd: %v\n", err)
			return 1
		}
		for _, e := range es {
			fmt.Fprintln(stderr, e)
		}
		fmt.Fprintf(stderr, "pmd check: %d %s in %s\n", len(es), plural(len(es), "mistake", "mistakes"), file)
		return 1
	}
	m := cfg.Memory()
	const mb = 1 << 20
	fmt.Fprintf(stdout, "%s: configuration valid: %d lcores, %d ports, %d services\n", cfg.File, len(cfg.EAL.Lcores), len(cfg.Ports), len(cfg.Services))
	fmt.Fprintf(stdout, "memory: %d mbufs per lcore pool (%d MiB each, %d MiB for %d lcores) + %d MiB overhead = %d MiB\n",
		cfg.PoolMbufs(), m.PerLcorePool/mb, m.Pools/mb, len(cfg.EAL.Lcores), m.Overhead/mb, (m.Total+mb-1)/mb)
	// The stacks' memory is the Go heap's, not hugepages: a separate
	// figure, at most (every connection open, every buffer made), from
	// the arithmetic TestIdleConnMemory holds to a measured stack.
	tm, n := tcp.ConnMemory(cfg.TCP.Stack(cfg.MSS())), len(cfg.EAL.Lcores)
	mib := func(b int) int { return (b + mb - 1) / mb }
	fmt.Fprintf(stdout, "connections (Go heap): %d per lcore (tcp.max_conns), at most %d MiB per lcore for the table and control blocks (%d bytes per connection), %d MiB for %d lcores\n",
		tm.MaxConns, mib(tm.Conns()), tm.PerConn(), mib(n*tm.Conns()), n)
	fmt.Fprintf(stdout, "buffers (Go heap): %d of %d KiB to send and %d of %d KiB to receive per lcore (tcp.buffers), at most %d MiB per lcore, %d MiB for %d lcores\n",
		cfg.TCP.Buffers, tm.SndBuf>>10, cfg.TCP.Buffers, tm.RcvBuf>>10, mib(tm.Buffers), mib(n*tm.Buffers), n)
	if !cfg.EAL.Hugepages {
		fmt.Fprintln(stdout, "hugepages: off (eal.hugepages = false): runs with --no-huge")
		return 0
	}
	h, _ := config.ReadHugepages("/sys", "/proc/mounts")
	fmt.Fprintf(stdout, "hugepages: %d of %d pages of %d KiB free: enough\n", h.Free, h.Total, h.PageSize>>10)
	return 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
