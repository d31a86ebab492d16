package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pmdstack/pmd/config"
	"github.com/pmdstack/pmd/pmd"
	"github.com/pmdstack/pmd/stack"
)

// The commands that talk to a running pmd through its control socket:
// stats, conns, capture and faults.

// ctlCommands are the commands runCtl serves.
var ctlCommands = []string{"stats", "conns", "capture", "faults"}

// newLogger is the logger [log] asks for, writing to w.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level)) // validated: debug, info, warn, error
	o := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// runCtl runs one control command; args follow its name.
func runCtl(cmd string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pmd "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	file := fs.String("c", "conf.toml", "configuration file (for its [control] socket)")
	sock := fs.String("s", "", "control socket (default: the configuration's [control] socket)")
	var (
		once, asJSON bool
		interval     time.Duration
		count        int
		state        string
		tcpPort      int
		port         int
	)
	switch cmd {
	case "stats":
		fs.BoolVar(&once, "once", false, "print the counters once and exit")
		fs.BoolVar(&asJSON, "json", false, "JSON: with -once one object, else one object per line each interval")
		fs.DurationVar(&interval, "interval", time.Second, "refresh interval")
		fs.IntVar(&count, "count", 0, "stop after this many refreshes (0: until interrupted)")
	case "conns":
		fs.StringVar(&state, "state", "", "only connections in this state (established, time-wait, ...)")
		fs.IntVar(&tcpPort, "port", 0, "only connections with this local or remote TCP port")
		fs.BoolVar(&asJSON, "json", false, "JSON instead of lines")
	case "faults":
		fs.IntVar(&port, "port", 0, "the port's index in the configuration")
	}
	// Flags may come before or after the positional arguments (pmd
	// capture on -c x.toml).
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, usage)
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	path := *sock
	if path == "" {
		cfg, err := stack.LoadConfig(*file)
		if err != nil {
			fmt.Fprintf(stderr, "pmd %s: %v\n", cmd, err)
			return 1
		}
		if path = cfg.Control.Socket; path == "" {
			fmt.Fprintf(stderr, "pmd %s: %s has no control socket ([control] socket = \"\")\n", cmd, *file)
			return 1
		}
	}
	var err error
	switch cmd {
	case "stats":
		if len(pos) > 0 {
			return badArg(stderr, cmd, pos[0])
		}
		err = ctlStats(path, once, asJSON, interval, count, stdout)
	case "conns":
		if len(pos) > 0 {
			return badArg(stderr, cmd, pos[0])
		}
		if tcpPort < 0 || tcpPort > 65535 {
			fmt.Fprintf(stderr, "pmd conns: -port: expected 1..65535, got %d\n", tcpPort)
			return 2
		}
		err = ctlConns(path, state, uint16(tcpPort), asJSON, stdout)
	case "capture":
		req := stack.ControlRequest{Cmd: "capture"}
		switch {
		case len(pos) == 1 && (pos[0] == "on" || pos[0] == "off"):
			on := pos[0] == "on"
			req.On = &on
		case len(pos) == 0:
		default:
			fmt.Fprintf(stderr, "pmd capture: expected on, off or nothing (the state), got %q\n", strings.Join(pos, " "))
			return 2
		}
		var r *stack.ControlReply
		if r, err = stack.Control(path, req); err == nil {
			fmt.Fprintf(stdout, "capture %s (%d files)\n", onOff(r.Capture.On), r.Capture.Files)
		}
	case "faults":
		err = ctlFaults(path, port, pos, stdout)
		if errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "pmd faults: %v\n", err)
			return 2
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "pmd %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func badArg(stderr io.Writer, cmd, arg string) int {
	fmt.Fprintf(stderr, "pmd %s: unexpected argument %q (see pmd --help)\n", cmd, arg)
	return 2
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

var errUsage = errors.New("usage")

// ctlFaults reads a port's fault rates or, given name=value pairs
// (drop=0.01 duplicate=0 reorder= corrupt= direction=rx|tx|both), changes
// the named ones and keeps the others.
func ctlFaults(path string, port int, pairs []string, stdout io.Writer) error {
	r, err := stack.Control(path, stack.ControlRequest{Cmd: "faults", Port: port})
	if err != nil {
		return err
	}
	if len(pairs) > 0 {
		if r.Faults.Rates == nil {
			return fmt.Errorf("port %d has no fault injector: add a [port.faults] table to its [[port]] (rates may be 0) and restart", port)
		}
		f := *r.Faults.Rates
		for _, p := range pairs {
			name, val, ok := strings.Cut(p, "=")
			if !ok {
				return fmt.Errorf("%w: expected name=value (drop, duplicate, reorder, corrupt, direction), got %q", errUsage, p)
			}
			if name == "direction" {
				switch val {
				case "rx", "tx", "both":
					f.RX, f.TX = val != "tx", val != "rx"
				default:
					return fmt.Errorf("%w: direction: expected rx, tx or both, got %q", errUsage, val)
				}
				continue
			}
			dst := map[string]*float64{"drop": &f.Drop, "duplicate": &f.Duplicate, "reorder": &f.Reorder, "corrupt": &f.Corrupt}[name]
			if dst == nil {
				return fmt.Errorf("%w: expected drop, duplicate, reorder, corrupt or direction, got %q", errUsage, name)
			}
			v, err := strconv.ParseFloat(val, 64)
			if err != nil || v < 0 || v > 1 {
				return fmt.Errorf("%w: %s: expected a probability from 0 to 1, got %q", errUsage, name, val)
			}
			*dst = v
		}
		if r, err = stack.Control(path, stack.ControlRequest{Cmd: "faults", Port: port, Faults: &f}); err != nil {
			return err
		}
	}
	if r.Faults.Rates == nil {
		fmt.Fprintf(stdout, "port %d: no fault injector (no [port.faults] table)\n", port)
		return nil
	}
	f := r.Faults.Rates
	dir := map[[2]bool]string{{true, true}: "both", {true, false}: "rx", {false, true}: "tx", {false, false}: "none"}[[2]bool{f.RX, f.TX}]
	fmt.Fprintf(stdout, "port %d: drop=%g duplicate=%g reorder=%g corrupt=%g direction=%s\n", port, f.Drop, f.Duplicate, f.Reorder, f.Corrupt, dir)
	return nil
}

func ctlConns(path, state string, tcpPort uint16, asJSON bool, stdout io.Writer) error {
	r, err := stack.Control(path, stack.ControlRequest{Cmd: "conns", State: state, TCPPort: tcpPort})
	if err != nil {
		return err
	}
	if asJSON {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		return e.Encode(r.Conns)
	}
	for _, l := range r.Conns.Lines {
		fmt.Fprintln(stdout, l)
	}
	if r.Conns.Missing != "" {
		return errors.New(r.Conns.Missing)
	}
	return nil
}

// ctlStats prints the counters: once, or a table refreshed every interval
// with each lcore's rates over the last interval and its totals.
func ctlStats(path string, once, asJSON bool, interval time.Duration, count int, stdout io.Writer) error {
	if interval < 100*time.Millisecond {
		return fmt.Errorf("-interval: expected at least 100ms, got %s", interval)
	}
	get := func() (*stack.Snapshot, error) {
		r, err := stack.Control(path, stack.ControlRequest{Cmd: "stats"})
		if err != nil {
			return nil, err
		}
		return r.Stats, nil
	}
	cur, err := get()
	if err != nil {
		return err
	}
	if once {
		if asJSON {
			e := json.NewEncoder(stdout)
			e.SetIndent("", "  ")
			return e.Encode(cur)
		}
		printStats(stdout, nil, cur)
		return nil
	}
	tty := isTerminal(stdout)
	for n := 1; count == 0 || n <= count; n++ {
		time.Sleep(interval)
		next, err := get()
		if err != nil {
			return err
		}
		if asJSON {
			if err := json.NewEncoder(stdout).Encode(next); err != nil {
				return err
			}
		} else {
			if tty {
				fmt.Fprint(stdout, "\x1b[H\x1b[2J")
			} else if n > 1 {
				fmt.Fprintln(stdout)
			}
			printStats(stdout, cur, next)
		}
		cur = next
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// printStats writes one lcore a line: rates over the time from prev to
// cur (none if prev is nil) and totals, then the ports and memory.
func printStats(w io.Writer, prev, cur *stack.Snapshot) {
	dt := 0.0
	if prev != nil {
		dt = cur.Time.Sub(prev.Time).Seconds()
	}
	fmt.Fprintf(w, "pmd up %s, %s\n", (time.Duration(cur.Uptime) * time.Second).String(), cur.Time.Format(time.TimeOnly))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "lcore\trx pkt/s\ttx pkt/s\trx Mbit/s\ttx Mbit/s\tdrops/s\tnew conn/s\tretrans/s\tconns\trx packets\ttx packets\tdrops\t")
	rows := append(append([]stack.LcoreSnapshot{}, cur.Lcores...), cur.Total)
	for i, l := range rows {
		name := strconv.Itoa(l.Lcore)
		var p *stack.LcoreSnapshot // the same row in prev
		if prev != nil && dt > 0 {
			if p = &prev.Total; i < len(prev.Lcores) {
				p = &prev.Lcores[i]
			}
		}
		if l.Lcore < 0 {
			name = "total"
		}
		// rate formats the rate of the sum of counters, scaled.
		rate := func(scale float64, prec int, counters ...string) string {
			if p == nil {
				return "-"
			}
			var d uint64
			for _, c := range counters {
				d += l.Counters[c] - p.Counters[c]
			}
			return strconv.FormatFloat(float64(d)*scale/dt, 'f', prec, 64)
		}
		drops := "-"
		if p != nil {
			drops = strconv.FormatFloat(float64(l.Drops-p.Drops)/dt, 'f', 0, 64)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t\n", name,
			rate(1, 0, "rx_packets"), rate(1, 0, "tx_packets"), rate(8e-6, 1, "rx_bytes"), rate(8e-6, 1, "tx_bytes"),
			drops, rate(1, 0, "tcp_passive_opens", "tcp_active_opens"), rate(1, 0, "tcp_retransmits"),
			l.Conns, l.Counters["rx_packets"], l.Counters["tx_packets"], l.Drops)
	}
	tw.Flush()
	for _, p := range cur.Ports {
		line := fmt.Sprintf("port %d %s:", p.Port, p.Device)
		for _, f := range pmd.StatFields {
			line += fmt.Sprintf(" %s=%d", f.Name, p.Counters[f.Name])
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "memory: go heap %d MiB, mbufs %d of %d in use\n", cur.Memory.GoHeap>>20, cur.Memory.MbufsInUse, cur.Memory.Mbufs)
	if nz := nonZeroDrops(cur.Total.Counters); nz != "" {
		fmt.Fprintf(w, "drops by reason: %s\n", nz)
	}
}

// nonZeroDrops lists the drop counters that are not zero, by name.
func nonZeroDrops(c map[string]uint64) string {
	var out []string
	for name, v := range c {
		if v > 0 && (strings.HasPrefix(name, "drop_") || strings.HasPrefix(name, "tcp_drop_")) {
			out = append(out, name+"="+strconv.FormatUint(v, 10))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
