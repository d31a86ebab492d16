package stack

import (
	"context"
	"errors"
	"fmt"
	"runtime/metrics"
	"strconv"
	"strings"

	"github.com/pmdstack/pmd/config"
	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/pmd"
	"github.com/pmdstack/pmd/tcp"
)

// Counters are the stack's counters as the lcores last published them
// (every 10 ms) and the devices' own.
type Counters struct {
	Lcores []LcoreCounters
	Ports  []pmd.Stats // by port; a port whose device gave no stats is zero
	Memory Memory
	// Neighbours is the number of entries in the neighbour (ARP) table.
	Neighbours int
}

// Memory is what the process holds: the Go heap and the packet buffers.
type Memory struct {
	GoHeap     uint64 // bytes of live heap objects at the last garbage collection (runtime/metrics)
	MbufsInUse int    // mbufs taken from the pools: in rings, queues, buffers (0 after teardown)
	Mbufs      int    // mbufs in all pools
}

// LcoreCounters are one lcore's counters.
type LcoreCounters struct {
	Engine engine.Counters
	TCP    tcp.Counters
	Conns  int // TCP connections in its table, TIME-WAIT included
	// Gauges are its levels: TCP connections by state, TCP buffers held.
	Gauges engine.Gauges
	// Mbufs and MbufsFree are its pool's size and the mbufs in the pool
	// and its caches (0 after teardown).
	Mbufs, MbufsFree int
}

// Total sums the lcores' counters.
func (c Counters) Total() LcoreCounters {
	var t LcoreCounters
	for _, l := range c.Lcores {
		t.Engine.Add(&l.Engine)
		for i := range l.TCP {
			t.TCP[i] += l.TCP[i]
		}
		t.Conns += l.Conns
		for i, n := range l.Gauges.States {
			t.Gauges.States[i] += n
		}
		t.Gauges.SendBuffers += l.Gauges.SendBuffers
		t.Gauges.RecvBuffers += l.Gauges.RecvBuffers
		t.Mbufs += l.Mbufs
		t.MbufsFree += l.MbufsFree
	}
	return t
}

// Counters reads every lcore's and port's counters; safe from any
// goroutine at any time (once the stack has stopped, the lcores' final
// counters, and zero for the closed devices).
func (s *Stack) Counters() Counters {
	var c Counters
	for _, l := range s.lcores {
		tc, n := l.e.TCPCounters()
		c.Lcores = append(c.Lcores, LcoreCounters{Engine: l.e.Counters(), TCP: tc, Conns: n, Gauges: l.e.Gauges()})
	}
	if s.ecfg != nil {
		c.Neighbours = s.ecfg.Neigh.Len()
	}
	s.portsMu.Lock()
	defer s.portsMu.Unlock()
	for _, p := range s.ports {
		var st pmd.Stats
		if !s.portsClosed {
			st, _ = p.Stats()
		}
		c.Ports = append(c.Ports, st)
	}
	if !s.portsClosed { // the pools are freed after the ports close
		for i, p := range s.pools {
			free := p.Available()
			c.Memory.Mbufs += p.N
			c.Memory.MbufsInUse += p.N - free
			if i < len(c.Lcores) { // pool i is lcore i's
				c.Lcores[i].Mbufs, c.Lcores[i].MbufsFree = p.N, free
			}
		}
	}
	c.Memory.GoHeap = goHeap()
	return c
}

// goHeap reads the live heap (what the last garbage collection marked)
// from runtime/metrics, which, unlike runtime.ReadMemStats, does not stop
// the world (and the lcores with it).
func goHeap() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// Listing asks every lcore for its listeners and connections (what
// `kill -USR1` logs, as netstat shows the kernel's): one line each. An
// lcore that does not answer before ctx ends gives an error line.
func (s *Stack) Listing(ctx context.Context) []string {
	var lines []string
	ls, err := s.Connections(ctx)
	for _, l := range ls {
		lines = append(lines, l.Lines()...)
	}
	if err != nil {
		lines = append(lines, err.Error())
	}
	return lines
}

// Connections asks every lcore for its listeners and connections, in
// lcore order. The lcores that answer before ctx ends are returned, with
// an error naming those that did not.
func (s *Stack) Connections(ctx context.Context) ([]*engine.Listing, error) {
	var out []*engine.Listing
	var missing []string
	for _, l := range s.lcores {
		select {
		case ls := <-l.e.RequestListing():
			out = append(out, ls)
		case <-ctx.Done():
			missing = append(missing, strconv.Itoa(l.id))
		case <-s.done:
			return out, errors.New("the stack has stopped")
		}
	}
	if missing != nil {
		return out, fmt.Errorf("lcore %s: no answer: %v", strings.Join(missing, ", "), ctx.Err())
	}
	return out, nil
}

// LogStats logs each lcore's counters, their total and each port's device
// counters, with msg as the message. Only non-zero counters are printed.
func (s *Stack) LogStats(msg string) {
	c := s.Counters()
	s.logStats(msg, &c)
}

func (s *Stack) logStats(msg string, c *Counters) {
	for i, l := range c.Lcores {
		s.log.Info(msg, counterAttrs("lcore"+strconv.Itoa(i), &l.Engine)...)
	}
	t := c.Total()
	s.log.Info(msg, counterAttrs("total", &t.Engine)...)
	for i, l := range c.Lcores {
		s.log.Info(msg, tcpAttrs("tcp"+strconv.Itoa(i), &l.TCP, l.Conns)...)
	}
	s.log.Info(msg, tcpAttrs("tcp_total", &t.TCP, t.Conns)...)
	for i, st := range c.Ports {
		attrs := []any{"scope", "port" + strconv.Itoa(i)}
		for _, f := range pmd.StatFields {
			attrs = append(attrs, f.Name, f.Get(&st))
		}
		s.log.Info(msg, attrs...)
	}
	s.log.Info(msg, "scope", "memory", "go_heap_bytes", c.Memory.GoHeap, "mbufs_in_use", c.Memory.MbufsInUse, "mbufs", c.Memory.Mbufs)
}

func counterAttrs(scope string, c *engine.Counters) []any {
	attrs := []any{"scope", scope, "drops", c.Drops()}
	for i := engine.Counter(0); i < engine.NumCounters; i++ {
		if c[i] != 0 || i <= engine.TxBytes {
			attrs = append(attrs, i.String(), c[i])
		}
	}
	return attrs
}

func tcpAttrs(scope string, c *tcp.Counters, conns int) []any {
	attrs := []any{"scope", scope, "tcp_conns", conns}
	for i := tcp.Counter(0); i < tcp.NumCounters; i++ {
		if c[i] != 0 {
			attrs = append(attrs, i.String(), c[i])
		}
	}
	return attrs
}

// LinksUp reports whether every port's link is up (a net_memif client's
// comes up once it has met its server, a NIC's once the cable is live).
func (s *Stack) LinksUp() bool {
	for _, p := range s.ports {
		if l, err := p.Link(); err != nil || !l.Up {
			return false
		}
	}
	return true
}

// summary logs what is running, once.
func (s *Stack) summary() {
	cfg := s.cfg
	for i, p := range s.ports {
		pc := cfg.Ports[i]
		link, _ := p.Link()
		s.log.Info("port", "port", i, "device", p.Devargs, "driver", p.Info.Driver, "mac", p.MAC.String(),
			"address", pc.Address.String(), "gateway", gatewayString(pc), "queues", pc.Queues,
			"rx_desc", pc.RxDesc, "tx_desc", pc.TxDesc, "mtu", pc.MTU, "offloads", p.OffloadNames(), "link", link.String())
		if len(pc.Addresses) > 0 {
			s.log.Info("port addresses", "port", i, "addresses", fmt.Sprint(pc.Addresses))
		}
		for _, v := range pc.VLANs {
			s.log.Info("port vlan", "port", i, "vlan", v.ID, "address", v.Address.String(), "addresses", fmt.Sprint(v.Addresses), "tags", p.VLAN.String())
		}
		for _, n := range p.Notes {
			s.log.Info("port note", "port", i, "device", p.Devargs, "note", n)
		}
	}
	for _, r := range cfg.Routes {
		s.log.Info("route", "prefix", r.Prefix.String(), "via", r.Via.String(), "port", r.Port)
	}
	if len(cfg.EAL.Lcores) > 1 {
		s.log.Info("flow ownership", "key", cfg.RSS.Key, "reta_size", cfg.RSS.RETASize, "lcores", len(cfg.EAL.Lcores),
			"steering", "TCP packets arriving on another lcore than their owner's are handed over (steered_out/steered_in)")
	}
	for i, cpu := range cfg.EAL.Lcores {
		var qs []string
		for j := range s.ports {
			qs = append(qs, fmt.Sprintf("port%d/q%d", j, i))
		}
		s.log.Info("lcore map", "lcore", i, "cpu", cpu, "queues", strings.Join(qs, " "), "pool_mbufs", cfg.PoolMbufs())
	}
	for _, sv := range cfg.Services {
		attrs := []any{"kind", sv.Kind, "proto", sv.Proto, "port", sv.Port}
		if sv.Options != nil {
			attrs = append(attrs, "options", fmt.Sprintf("%+v", sv.Options))
		}
		s.log.Info("service", attrs...)
	}
	s.log.Info("idle", "mode", cfg.Engine.Idle, "after", cfg.Engine.IdleAfter, "sleep", cfg.Engine.IdleSleep.String())
}

func gatewayString(p config.Port) string {
	if !p.Gateway.IsValid() {
		return "none"
	}
	return p.Gateway.String()
}
