// Command kbench is the kernel-socket baseline of pmd's benchmarks: the
// same services as pmd (echo, discard, chargen, http) and the same
// workloads and report as pmd bench (package pmd/bench), on ordinary
// Linux sockets, so that both are measured with one yardstick.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/pmdstack/pmd/bench"
)

const usage = `kbench: pmd's benchmarks on Linux kernel sockets.

Usage:
  kbench server -listen IP [-cores N] [-base N] [-body N]
        serve echo (port 7, RFC 862), discard (9, RFC 863), chargen (19,
        RFC 864) and HTTP/1.1 keep-alive (80, net/http: 200 with a body of
        -body bytes, text/plain) until SIGINT or SIGTERM. Each service has
        -cores listeners on its port (SO_REUSEPORT), each with its own
        accept goroutine; the kernel spreads connections over them.
        -base is added to every port (e.g. 40000: 40007, 40009, ...).
  kbench client -connect IP[:PORT] [-workload W] [-conns N] [-size N]
                [-depth N] [-duration D] [-warmup D]
        run workload W (rr, crr, stream-up, stream-down, http; not raw,
        which is pmd's only) against the server, one goroutine per
        connection, and print the report of pmd bench with impl=kernel.
        Exit 1 if nothing could be measured.
  kbench --help   this text

CPU placement is the caller's: run under taskset, and set GOMAXPROCS.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "server":
		return serverMain(args[1:], stdout, stderr)
	case "client":
		return clientMain(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "kbench: unknown command %q (see kbench --help)\n", args[0])
	return 2
}

// parseFlags parses args into fs; it returns an exit status and false if
// the command should not go on.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (int, bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kbench: unexpected argument %q (see kbench --help)\n", fs.Arg(0))
		return 2, false
	}
	return 0, true
}

// stopSignals returns a channel closed at the first SIGINT or SIGTERM.
func stopSignals() <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	stop := make(chan struct{})
	go func() {
		<-sig
		signal.Stop(sig)
		close(stop)
	}()
	return stop
}

func serverMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kbench server", flag.ContinueOnError)
	listen := fs.String("listen", "", "IP address to serve on")
	var cfg serverConfig
	fs.IntVar(&cfg.Cores, "cores", runtime.NumCPU(), "listeners per service (SO_REUSEPORT)")
	fs.IntVar(&cfg.Base, "base", 0, "added to every service port")
	fs.IntVar(&cfg.Body, "body", len(bodyPattern), "HTTP response body bytes")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *listen != "" {
		a, err := netip.ParseAddr(*listen)
		if err != nil {
			fmt.Fprintf(stderr, "kbench: -listen: expected an IP address, got %q\n", *listen)
			return 2
		}
		cfg.Listen = a.Unmap()
	}
	stop := stopSignals()
	s, err := startServer(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "kbench: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "kbench: serving on %s with %d listeners per service (GOMAXPROCS %d): echo %d, discard %d, chargen %d, http %d (body %d bytes)\n",
		cfg.Listen, cfg.Cores, runtime.GOMAXPROCS(0),
		cfg.Base+portEcho, cfg.Base+portDiscard, cfg.Base+portChargen, cfg.Base+portHTTP, cfg.Body)
	<-stop
	s.Close()
	return 0
}

// parseSpec parses and validates the client's flags.
func parseSpec(args []string, stdout, stderr io.Writer) (bench.Spec, int, bool) {
	var spec bench.Spec
	fs := flag.NewFlagSet("kbench client", flag.ContinueOnError)
	spec.Flags(fs)
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return spec, code, false
	}
	if err := spec.Validate(); err != nil {
		fmt.Fprintf(stderr, "kbench: %v\n", err)
		return spec, 2, false
	}
	switch spec.Workload {
	case bench.RR, bench.CRR, bench.StreamUp, bench.StreamDown, bench.HTTP:
	default:
		// raw bounces frames off a reflector below any stack: pmd only.
		fmt.Fprintf(stderr, "kbench: -workload %s has no kernel-socket form; expected rr, crr, stream-up, stream-down or http\n", spec.Workload)
		return spec, 2, false
	}
	return spec, 0, true
}

func clientMain(args []string, stdout, stderr io.Writer) int {
	spec, code, ok := parseSpec(args, stdout, stderr)
	if !ok {
		return code
	}
	r := runClient(spec, stopSignals())
	r.Print(stdout)
	if r.Txns == 0 && r.Bytes == 0 {
		fmt.Fprintf(stderr, "kbench: nothing measured (%d errors): is the server at %s?\n", r.Errors, spec.Server)
		return 1
	}
	return 0
}
