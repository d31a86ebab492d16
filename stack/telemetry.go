package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pmdstack/pmd/eal"
	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/pmd"
	"github.com/pmdstack/pmd/tcp"
)

// DPDK's telemetry socket answers pmd's own commands next to the ones
// DPDK provides (/ethdev/stats, /eal/heap_info...): `dpdk-telemetry.py -f
// <file-prefix>` lists them under "/". DPDK keeps a command for the life
// of the process, and EAL is initialised once per process, so the
// commands are registered once and answer from the stack that runs now.
var telemetry struct {
	once   sync.Once
	err    error
	cur    atomic.Pointer[Stack]
	listMu sync.Mutex // one listing at a time: a second request would replace the first's
}

// TelemetryListingTimeout bounds how long /pmd/conns waits for the lcores'
// listings.
const TelemetryListingTimeout = 500 * time.Millisecond

// telemetryCommands are pmd's commands, for the /help text and README.
var telemetryCommands = []struct {
	cmd, help string
	h         func(s *Stack, params string, r *eal.TelReply) error
}{
	{"/pmd/stats", "pmd's counters summed over the lcores, and memory. No parameters.", (*Stack).telStats},
	{"/pmd/lcore", "One lcore's counters. Parameters: int lcore_id (0..); none: the list of lcore ids.", (*Stack).telLcore},
	{"/pmd/ports", "The devices' counters, by port. No parameters.", (*Stack).telPorts},
	{"/pmd/conns", "Listeners and connections, one line each (as kill -USR1 logs). No parameters.", (*Stack).telConns},
	{"/pmd/info", "pmd's lcores, ports with their addresses, and services. No parameters.", (*Stack).telInfo},
}

// startTelemetry makes s the stack the telemetry commands answer from,
// registering them on the first call, and logs where the socket is.
// It runs once the lcores poll: the commands read s's lcores and ports,
// which are complete by then and no longer change.
func (s *Stack) startTelemetry() {
	telemetry.once.Do(func() {
		for _, c := range telemetryCommands {
			h := c.h
			err := eal.RegisterTelemetry(c.cmd, c.help, func(params string, r *eal.TelReply) error {
				s := telemetry.cur.Load()
				if s == nil {
					return errors.New("pmd is not running")
				}
				select {
				case <-s.done:
					return errors.New("pmd has stopped")
				default:
				}
				return h(s, params, r)
			})
			telemetry.err = errors.Join(telemetry.err, err)
		}
	})
	telemetry.cur.Store(s)
	if telemetry.err != nil {
		s.log.Warn("telemetry: pmd's commands are missing", "err", telemetry.err)
	}
	path, err := eal.TelemetrySocket()
	if err != nil {
		s.log.Warn("telemetry: no socket", "err", err)
		return
	}
	s.log.Info("telemetry", "socket", path, "client", "dpdk-telemetry.py -f "+s.filePrefix(), "commands", "/pmd/stats /pmd/lcore /pmd/ports /pmd/conns /pmd/info")
}

// filePrefix is the --file-prefix EAL was given: the telemetry client's -f.
func (s *Stack) filePrefix() string {
	for _, a := range s.cfg.EALArgs(s.opts.Program, os.Getpid()) {
		if p, ok := strings.CutPrefix(a, "--file-prefix="); ok {
			return p
		}
	}
	return "rte"
}

// telCounters adds an lcore's (or the total's) counters to d, named as
// the counter lines name them.
func telCounters(d *eal.TelDict, c *LcoreCounters) {
	d.U64("tcp_conns", uint64(c.Conns))
	d.U64("drops", c.Engine.Drops())
	for i := engine.Counter(0); i < engine.NumCounters; i++ {
		d.U64(i.String(), c.Engine[i])
	}
	for i := tcp.Counter(0); i < tcp.NumCounters; i++ {
		d.U64(i.String(), c.TCP[i])
	}
}

func noParams(params string) error {
	if params != "" {
		return fmt.Errorf("no parameters expected, got %q", params)
	}
	return nil
}

func (s *Stack) telStats(params string, r *eal.TelReply) error {
	if err := noParams(params); err != nil {
		return err
	}
	c := s.Counters()
	t := c.Total()
	d := r.Dict()
	d.U64("lcores", uint64(len(c.Lcores)))
	telCounters(d, &t)
	d.U64("go_heap_bytes", c.Memory.GoHeap)
	d.U64("mbufs_in_use", uint64(c.Memory.MbufsInUse))
	d.U64("mbufs", uint64(c.Memory.Mbufs))
	return nil
}

func (s *Stack) telLcore(params string, r *eal.TelReply) error {
	if params == "" {
		a := r.Array(eal.TelInts)
		for i := range s.lcores {
			a.Int(i)
		}
		return nil
	}
	i, err := strconv.Atoi(params)
	if err != nil || i < 0 || i >= len(s.lcores) {
		return fmt.Errorf("lcore %q: want an lcore id, 0..%d", params, len(s.lcores)-1)
	}
	l := s.lcores[i].e
	tc, n := l.TCPCounters()
	c := LcoreCounters{Engine: l.Counters(), TCP: tc, Conns: n}
	d := r.Dict()
	d.U64("lcore", uint64(i))
	d.U64("cpu", uint64(s.cfg.EAL.Lcores[i]))
	telCounters(d, &c)
	return nil
}

func (s *Stack) telPorts(params string, r *eal.TelReply) error {
	if err := noParams(params); err != nil {
		return err
	}
	d := r.Dict()
	for i, st := range s.Counters().Ports {
		telPort(d.Dict("port"+strconv.Itoa(i)), st)
	}
	return nil
}

func telPort(d *eal.TelDict, st pmd.Stats) {
	for _, f := range pmd.StatFields {
		d.U64(f.Name, f.Get(&st))
	}
}

func (s *Stack) telConns(params string, r *eal.TelReply) error {
	if err := noParams(params); err != nil {
		return err
	}
	telemetry.listMu.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), TelemetryListingTimeout)
	lines := s.Listing(ctx)
	cancel()
	telemetry.listMu.Unlock()
	a := r.Array(eal.TelStrings)
	// The reply holds what fits of the listing (a few hundred lines of
	// 16 KiB) and then says how many lines it left out.
	for _, l := range lines {
		a.Str(l)
	}
	return nil
}

func (s *Stack) telInfo(params string, r *eal.TelReply) error {
	if err := noParams(params); err != nil {
		return err
	}
	cfg := s.cfg
	d := r.Dict()
	d.Int("pid", os.Getpid())
	d.Str("file_prefix", s.filePrefix())
	state := "running"
	if s.lcores[0].e.Draining() {
		state = "draining"
	}
	d.Str("state", state)
	cpus := d.Array("lcore_cpus", eal.TelInts)
	for _, cpu := range cfg.EAL.Lcores {
		cpus.Int(cpu)
	}
	ports := d.Dict("ports")
	for i, p := range s.ports {
		pc := cfg.Ports[i]
		pd := ports.Dict("port" + strconv.Itoa(i))
		pd.Str("device", p.Devargs)
		pd.Str("driver", p.Info.Driver)
		pd.Str("mac", p.MAC.String())
		pd.Str("address", pc.Address.String())
		pd.Str("gateway", gatewayString(pc))
		pd.Int("queues", pc.Queues)
		pd.Int("mtu", pc.MTU)
	}
	svcs := d.Array("services", eal.TelStrings)
	for _, sv := range cfg.Services {
		svcs.Str(fmt.Sprintf("%s/%d %s", sv.Proto, sv.Port, sv.Kind))
	}
	return nil
}
