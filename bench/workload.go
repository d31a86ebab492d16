package bench

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Workload names a kind of load.
type Workload string

// The workloads. Each has a server port by default: rr and crr use echo
// (7), stream-up discard (9), stream-down chargen (19), http the http
// service (80).
const (
	RR         Workload = "rr"          // persistent connections, request of Size, response of Size
	CRR        Workload = "crr"         // connect, one request/response of Size, close
	StreamUp   Workload = "stream-up"   // bulk from client to server
	StreamDown Workload = "stream-down" // bulk from server to client
	HTTP       Workload = "http"        // HTTP/1.1 keep-alive GETs
	// Raw is the device's limit without the stack: frames of Size bytes
	// (at least 60) bounced by a reflector (pmd fwd), Conns of them in
	// flight; a transaction is one round trip, two frames, as in rr.
	Raw Workload = "raw"
)

// DefaultPort is the server port a workload uses unless told.
func (w Workload) DefaultPort() uint16 {
	switch w {
	case StreamUp:
		return 9
	case StreamDown:
		return 19
	case HTTP:
		return 80
	}
	return 7
}

// Unit is what the workload's rate counts.
func (w Workload) Unit() string {
	switch w {
	case CRR:
		return "conn/s"
	case StreamUp, StreamDown:
		return "Gbit/s"
	}
	return "txn/s"
}

// HTTPRequest is what the http workload sends.
const HTTPRequest = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"

// Spec is one benchmark run, the same for pmd and the kernel baseline.
type Spec struct {
	Workload Workload
	Server   netip.AddrPort
	Conns    int
	Size     int           // request and response bytes (rr, crr)
	Depth    int           // requests outstanding per connection (rr, http)
	Duration time.Duration // measured
	Warmup   time.Duration // run before measuring, not counted

	// Held connections (pmd bench only, see ScaleFlags).
	Sources  netip.Prefix  // client addresses to open from (all of them owned by the client); invalid: the port's own
	Active   float64       // percent of the connections doing rr or http at a time (a window that moves every second); 0 or 100: all
	OpenRate int           // connections opened per second at most; 0: all at the start
	Think    time.Duration // rr, http: an active connection's pause after a response before its next request
	Reopen   bool          // after the measurement, close every connection at once, then open them all again (see RunReopen)
	server   string
	sources  string
}

// Flags registers the spec's flags on fs.
func (s *Spec) Flags(fs *flag.FlagSet) {
	fs.StringVar((*string)(&s.Workload), "workload", "rr", "rr | crr | stream-up | stream-down | http | raw")
	fs.StringVar(&s.server, "connect", "", "server IPv4:port (the port defaults to the workload's service)")
	fs.IntVar(&s.Conns, "conns", 16, "concurrent connections")
	fs.IntVar(&s.Size, "size", 64, "request and response bytes (rr, crr)")
	fs.IntVar(&s.Depth, "depth", 1, "requests outstanding per connection (rr, http)")
	fs.DurationVar(&s.Duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&s.Warmup, "warmup", 2*time.Second, "time before measuring")
}

// ScaleFlags registers the flags that hold many connections from many
// source addresses: pmd bench has them, the kernel twin does not.
func (s *Spec) ScaleFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.sources, "sources", "", "open connections from every address of this IPv4 network (each one of the port's addresses), one address's source ports after the other; default: the port's address")
	fs.Float64Var(&s.Active, "active", 100, "percent of the connections that do requests at a time (rr, http); the others stay open and idle, and the active window moves on every second")
	fs.IntVar(&s.OpenRate, "open-rate", 0, "connections opened per second at most (0: all at once); with it (or -active) the warm-up starts again once all are open, then the measurement")
	fs.BoolVar(&s.Reopen, "reopen", false, "after the measurement, close every connection at once (this side keeps them in TIME-WAIT: set tcp.tw_reuse), wait until all are closed, then open them all again at -open-rate, and report how long each took")
	fs.DurationVar(&s.Think, "think", 0, "rr, http: an active connection waits this long after a response before its next request (0: at once); each then offers 1/think requests a second, whatever the latency")
}

// Holds reports whether the run holds its connections open before it
// measures: the measurement starts once all of them are established.
func (s *Spec) Holds() bool { return s.OpenRate > 0 || s.Active > 0 && s.Active < 100 }

// ActivePer is how many of n connections are active at a time.
func (s *Spec) ActivePer(n int) int {
	if s.Active <= 0 || s.Active >= 100 || n == 0 {
		return n
	}
	return max(1, int(float64(n)*s.Active/100+0.5))
}

// Validate checks the flags after parsing.
func (s *Spec) Validate() error {
	switch s.Workload {
	case RR, CRR, StreamUp, StreamDown, HTTP, Raw:
	default:
		return fmt.Errorf("-workload: expected rr, crr, stream-up, stream-down, http or raw, got %q", s.Workload)
	}
	addr := s.server
	if addr != "" && !strings.Contains(addr, ":") {
		addr = fmt.Sprintf("%s:%d", addr, s.Workload.DefaultPort())
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("-connect: expected IPv4[:port], got %q", s.server)
	}
	s.Server = ap
	switch {
	case s.Conns < 1:
		return fmt.Errorf("-conns: expected at least 1, got %d", s.Conns)
	case s.Size < 1 || s.Size > 1<<20:
		return fmt.Errorf("-size: expected 1..1048576, got %d", s.Size)
	case s.Depth < 1 || s.Depth > 64:
		return fmt.Errorf("-depth: expected 1..64, got %d", s.Depth)
	case s.Duration < time.Second:
		return fmt.Errorf("-duration: expected at least 1s, got %s", s.Duration)
	case s.Active < 0 || s.Active > 100:
		return fmt.Errorf("-active: expected a percentage above 0 and at most 100, got %g", s.Active)
	case s.Active > 0 && s.Active < 100 && s.Workload != RR && s.Workload != HTTP:
		return fmt.Errorf("-active: only rr and http keep idle connections, not %s", s.Workload)
	case s.OpenRate < 0:
		return fmt.Errorf("-open-rate: expected 0 (all at once) or more, got %d", s.OpenRate)
	case s.Think < 0 || s.Think > time.Minute:
		return fmt.Errorf("-think: expected 0..1m, got %s", s.Think)
	case s.Think > 0 && s.Workload != RR && s.Workload != HTTP:
		return fmt.Errorf("-think: only rr and http pause between requests, not %s", s.Workload)
	case s.Reopen && s.Workload != RR && s.Workload != HTTP:
		return fmt.Errorf("-reopen: only rr and http hold their connections, not %s", s.Workload)
	}
	if s.sources != "" {
		p, err := netip.ParsePrefix(s.sources)
		if err != nil || !p.Addr().Is4() || p != p.Masked() {
			return fmt.Errorf("-sources: expected an IPv4 network such as 198.18.0.64/26, got %q", s.sources)
		}
		s.Sources = p
	}
	return nil
}

// Meter is one worker's running totals (an lcore, a goroutine), read by
// the sampler while the worker writes.
type Meter struct {
	Txns   atomic.Uint64 // transactions (rr, http) or connections (crr)
	Bytes  atomic.Uint64 // payload bytes received (stream-down) or taken into the send buffer (stream-up: room frees as ACKs arrive, so over a run this is what was acknowledged, within one buffer)
	Errors atomic.Uint64
	Open   atomic.Uint64 // connections established and not closed
	AllAt  atomic.Int64  // when (Unix ns) all of the worker's connections were first open
	_      [24]byte
}

// Result is a finished run.
type Result struct {
	Impl      string
	Spec      Spec
	Elapsed   time.Duration
	Txns      uint64
	Bytes     uint64
	Errors    uint64
	PerSecond []float64 // the rate in each second of the measured time
	Hist      Hist
	Opened    uint64        // connections open when the measurement began
	OpenTime  time.Duration // from the start until they were (Holds)
	Reopen    *Reopen       // -reopen's phase, after the measurement
}

// Reopen is what -reopen measured: every connection closed at once, then
// all opened again.
type Reopen struct {
	Closed     uint64        `json:"closed"`          // connections closed
	CloseTime  time.Duration `json:"close_ns"`        // from the close until the last had finished
	TimeWait   int           `json:"time_wait"`       // this side's connections in TIME-WAIT then
	Reopened   uint64        `json:"reopened"`        // connections open again
	ReopenTime time.Duration `json:"reopen_ns"`       // until they were
	Errors     uint64        `json:"reopen_failures"` // during the phase
}

// reopenWait bounds the close: the connections left then count as errors.
const reopenWait = time.Minute

// RunReopen closes and reopens a holding run's connections: it sets
// closing (the workers close all they have), waits until the meters count
// none open or reopenWait passes, reads timeWait, sets reopening (the
// workers open Conns again, at OpenRate), and waits until all are open or
// their number has not grown for holdStall.
func RunReopen(spec Spec, meters []*Meter, closing, reopening *atomic.Bool, timeWait func() int) Reopen {
	sum := func() (open, errs uint64) {
		for _, m := range meters {
			open += m.Open.Load()
			errs += m.Errors.Load()
		}
		return
	}
	open0, errs0 := sum()
	r := Reopen{}
	start := time.Now()
	closing.Store(true)
	for {
		open, _ := sum()
		if open == 0 || time.Since(start) > reopenWait {
			r.Closed = open0 - open
			break
		}
		time.Sleep(time.Millisecond)
	}
	r.CloseTime = time.Since(start)
	time.Sleep(20 * time.Millisecond) // the lcores publish their gauges every 10 ms
	r.TimeWait = timeWait()
	start = time.Now()
	reopening.Store(true)
	last, grew := uint64(0), time.Now()
	for {
		open, _ := sum()
		if open >= uint64(spec.Conns) {
			break
		}
		if open > last {
			last, grew = open, time.Now()
		}
		if time.Since(grew) > holdStall {
			break
		}
		time.Sleep(time.Millisecond)
	}
	r.ReopenTime = time.Since(start)
	var errs uint64
	r.Reopened, errs = sum()
	r.Errors = errs - errs0
	return r
}

// Rate is the run's rate in the workload's unit.
func (r *Result) Rate() float64 {
	s := r.Elapsed.Seconds()
	if s == 0 {
		return 0
	}
	switch r.Spec.Workload {
	case StreamUp, StreamDown:
		return float64(r.Bytes) * 8 / s / 1e9
	}
	return float64(r.Txns) / s
}

// Measure waits out the warm-up, sets measuring, samples the meters every
// second for the duration, then clears measuring. Latencies are recorded
// by the workers only while measuring is set.
func Measure(spec Spec, meters []*Meter, measuring *atomic.Bool, stop <-chan struct{}) Result {
	return MeasureProgress(spec, meters, measuring, stop, nil)
}

// Progress is a running benchmark's state, reported every second.
type Progress struct {
	Elapsed time.Duration // since the start of the warm-up
	Warmup  bool          // still warming up: nothing counts yet
	Rate    float64       // in the last second, in the workload's unit
	Errors  uint64        // since the start of the warm-up
	Open    uint64        // connections established
}

// MeasureProgress is Measure calling progress (if not nil) every second,
// from the warm-up on.
func MeasureProgress(spec Spec, meters []*Meter, measuring *atomic.Bool, stop <-chan struct{}, progress func(Progress)) Result {
	total := func() (t, b, e uint64) {
		for _, m := range meters {
			t += m.Txns.Load()
			b += m.Bytes.Load()
			e += m.Errors.Load()
		}
		return
	}
	open := func() (n uint64) {
		for _, m := range meters {
			n += m.Open.Load()
		}
		return
	}
	begin := time.Now()
	// rate is the rate since the last reading at (pt, pb).
	rate := func(t, b, pt, pb uint64) float64 {
		switch spec.Workload {
		case StreamUp, StreamDown:
			return float64(b-pb) * 8 / 1e9
		}
		return float64(t - pt)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	warm := time.After(spec.Warmup)
	pt, pb, _ := total()
	// A run that holds its connections warms up until all are open too,
	// or until their number has not grown for holdStall (the missing ones
	// failed: the errors say so).
	var opened time.Duration
	lastOpen, grew := uint64(0), time.Now()
	allOpen := func() bool {
		n := open()
		if n >= uint64(spec.Conns) {
			if opened == 0 {
				opened = time.Since(begin)
			}
			return true
		}
		if n > lastOpen {
			lastOpen, grew = n, time.Now()
		}
		return time.Since(grew) > holdStall
	}
warmup:
	for {
		select {
		case <-tick.C:
			t, b, e := total()
			if progress != nil {
				progress(Progress{Elapsed: time.Since(begin), Warmup: true, Rate: rate(t, b, pt, pb), Errors: e, Open: open()})
			}
			pt, pb = t, b
			// A holding run warms up for Warmup again once all are
			// open: the measurement sees the held state, not the end
			// of the opening.
			if spec.Holds() && allOpen() && time.Since(begin)-opened >= spec.Warmup {
				break warmup
			}
		case <-warm:
			if !spec.Holds() {
				break warmup
			}
		case <-stop:
			break warmup
		}
	}
	if opened == 0 {
		opened = time.Since(begin)
	}
	// The workers tell when their last connection opened; the ticks only
	// bound it.
	var last int64
	for _, m := range meters {
		last = max(last, m.AllAt.Load())
	}
	if last > 0 && len(meters) > 0 && last >= begin.UnixNano() {
		opened = time.Duration(last - begin.UnixNano())
	}
	t0, b0, e0 := total()
	start := time.Now()
	measuring.Store(true)
	r := Result{Spec: spec, Opened: open(), OpenTime: opened}
	pt, pb = t0, b0
	tick.Reset(time.Second)
	end := time.After(spec.Duration)
loop:
	for {
		select {
		case <-tick.C:
			t, b, e := total()
			r.PerSecond = append(r.PerSecond, rate(t, b, pt, pb))
			if progress != nil {
				progress(Progress{Elapsed: time.Since(begin), Rate: r.PerSecond[len(r.PerSecond)-1], Errors: e, Open: open()})
			}
			pt, pb = t, b
		case <-end:
			break loop
		case <-stop:
			break loop
		}
	}
	measuring.Store(false)
	t, b, e := total()
	r.Elapsed = time.Since(start)
	r.Txns, r.Bytes, r.Errors = t-t0, b-b0, e-e0
	return r
}

// holdStall is how long a holding run waits for more connections to open
// before it measures what it has.
const holdStall = 10 * time.Second

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// Summary is a finished run as numbers, for JSON.
type Summary struct {
	Impl      string    `json:"impl"`
	Workload  Workload  `json:"workload"`
	Server    string    `json:"server"`
	Conns     int       `json:"conns"`
	Size      int       `json:"size"`
	Depth     int       `json:"depth"`
	Active    int       `json:"active_conns"` // doing requests at a time
	Reopen    *Reopen   `json:"reopen,omitempty"`
	Opened    uint64    `json:"conns_open"` // when the measurement began
	OpenRate  float64   `json:"open_rate"`  // connections established per second until then
	Seconds   float64   `json:"seconds"`    // measured
	Rate      float64   `json:"rate"`
	Unit      string    `json:"unit"`
	Txns      uint64    `json:"transactions"`
	Bytes     uint64    `json:"bytes"`
	Errors    uint64    `json:"errors"`
	P50us     float64   `json:"p50_us"`
	P99us     float64   `json:"p99_us"`
	P999us    float64   `json:"p999_us"`
	MeanUs    float64   `json:"mean_us"`
	MinSec    float64   `json:"min_sec"`
	MedianSec float64   `json:"median_sec"`
	PerSecond []float64 `json:"per_second"`
}

// Summary is the run's figures: what Print writes.
func (r *Result) Summary() Summary {
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	s := Summary{Impl: r.Impl, Workload: r.Spec.Workload, Server: r.Spec.Server.String(), Conns: r.Spec.Conns, Size: r.Spec.Size, Depth: r.Spec.Depth,
		Seconds: r.Elapsed.Seconds(), Rate: r.Rate(), Unit: r.Spec.Workload.Unit(), Txns: r.Txns, Bytes: r.Bytes, Errors: r.Errors,
		P50us: us(r.Hist.Quantile(0.5)), P99us: us(r.Hist.Quantile(0.99)), P999us: us(r.Hist.Quantile(0.999)), MeanUs: us(r.Hist.Mean()),
		MedianSec: median(r.PerSecond), PerSecond: r.PerSecond,
		Active: r.Spec.ActivePer(r.Spec.Conns), Opened: r.Opened, Reopen: r.Reopen}
	if r.Spec.Holds() && r.OpenTime > 0 {
		s.OpenRate = float64(r.Opened) / r.OpenTime.Seconds()
	}
	if s.PerSecond == nil {
		s.PerSecond = []float64{}
	}
	if len(r.PerSecond) > 0 {
		s.MinSec = slices.Min(r.PerSecond)
	}
	return s
}

// Print writes the human summary as a table, the per-second rates and
// one machine-readable RESULT line.
func (r *Result) Print(w io.Writer) {
	m := r.Summary()
	fmt.Fprintf(w, "%s %s against %s: %d connections, size %d, depth %d, %.1f s measured\n", m.Impl, m.Workload, m.Server, m.Conns, m.Size, m.Depth, m.Seconds)
	if r.Spec.Holds() {
		fmt.Fprintf(w, "held: %d connections open (%.0f/s until all were), %d active at a time\n", m.Opened, m.OpenRate, m.Active)
	}
	if o := r.Reopen; o != nil {
		fmt.Fprintf(w, "reopen: %d closed at once, all finished in %.2f s (%d in TIME-WAIT here then); %d open again in %.2f s (%.0f/s); %d errors\n",
			o.Closed, o.CloseTime.Seconds(), o.TimeWait, o.Reopened, o.ReopenTime.Seconds(), float64(o.Reopened)/o.ReopenTime.Seconds(), o.Errors)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "rate (%s)\tmin/s\tmedian/s\tp50 us\tp99 us\tp99.9 us\tmean us\terrors\t\n", m.Unit)
	if r.Hist.Count() > 0 {
		fmt.Fprintf(tw, "%.4g\t%.4g\t%.4g\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t\n", m.Rate, m.MinSec, m.MedianSec, m.P50us, m.P99us, m.P999us, m.MeanUs, m.Errors)
	} else {
		fmt.Fprintf(tw, "%.4g\t%.4g\t%.4g\t-\t-\t-\t-\t%d\t\n", m.Rate, m.MinSec, m.MedianSec, m.Errors)
	}
	tw.Flush()
	var ps []string
	for _, v := range m.PerSecond {
		ps = append(ps, fmt.Sprintf("%.4g", v))
	}
	fmt.Fprintf(w, "per second (%s): %s\n", map[bool]string{true: "Gbit", false: "count"}[m.Unit == "Gbit/s"], strings.Join(ps, " "))
	fmt.Fprintf(w, "RESULT impl=%s workload=%s conns=%d size=%d depth=%d rate=%.6g unit=%s p50_us=%.2f p99_us=%.2f p999_us=%.2f errors=%d min_sec=%.6g median_sec=%.6g open=%d open_rate=%.6g active=%d",
		m.Impl, m.Workload, m.Conns, m.Size, m.Depth, m.Rate, m.Unit, m.P50us, m.P99us, m.P999us, m.Errors, m.MinSec, m.MedianSec, m.Opened, m.OpenRate, m.Active)
	if o := r.Reopen; o != nil {
		fmt.Fprintf(w, " closed=%d close_s=%.3f time_wait=%d reopened=%d reopen_s=%.3f reopen_failures=%d", o.Closed, o.CloseTime.Seconds(), o.TimeWait, o.Reopened, o.ReopenTime.Seconds(), o.Errors)
	}
	fmt.Fprintln(w)
}
