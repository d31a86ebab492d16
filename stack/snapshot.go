package stack

import (
	"time"

	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/pmd"
	"github.com/pmdstack/pmd/tcp"
)

// Snapshot is the stack's counters at one moment in a form made for
// programs (the control socket's stats, pmd stats --json): every counter
// by the name the counter lines use, zeros included.
type Snapshot struct {
	Time   time.Time       `json:"time"`
	Uptime float64         `json:"uptime_seconds"`
	Lcores []LcoreSnapshot `json:"lcores"`
	Total  LcoreSnapshot   `json:"total"` // Lcore is -1
	Ports  []PortSnapshot  `json:"ports"`
	Memory MemorySnapshot  `json:"memory"`
}

// LcoreSnapshot is one lcore's counters, or their total.
type LcoreSnapshot struct {
	Lcore int    `json:"lcore"`
	Conns int    `json:"tcp_conns"` // connections in the table, TIME-WAIT included
	Drops uint64 `json:"drops"`     // the engine's drop counters summed
	// Counters are the engine's and TCP's counters by name (rx_packets,
	// drop_no_mbuf, tcp_segs_in, ...).
	Counters map[string]uint64 `json:"counters"`
}

// PortSnapshot is one port's device counters.
type PortSnapshot struct {
	Port   int    `json:"port"`
	Device string `json:"device"`
	// Counters are pmd.StatFields by name (rx_packets, rx_missed, ...).
	Counters map[string]uint64 `json:"counters"`
}

// MemorySnapshot is Memory with the counter lines' names.
type MemorySnapshot struct {
	GoHeap     uint64 `json:"go_heap_bytes"`
	MbufsInUse int    `json:"mbufs_in_use"`
	Mbufs      int    `json:"mbufs"`
	// TCPBuffers is the TCP buffers' share of GoHeap: those made so far,
	// held by connections or pooled (idle connections hold none).
	TCPBuffers uint64 `json:"tcp_buffer_bytes"`
	// TCPConns is the connections' share of GoHeap by the stacks' own
	// accounting: control blocks made and the tables (tcp.Stack.ConnBytes).
	TCPConns uint64 `json:"tcp_conn_bytes"`
}

// Snapshot reads the counters (as Counters does) into a Snapshot.
func (s *Stack) Snapshot() Snapshot {
	c := s.Counters()
	now := time.Now()
	snap := Snapshot{Time: now, Uptime: now.Sub(s.started).Seconds(),
		Memory: MemorySnapshot{GoHeap: c.Memory.GoHeap, MbufsInUse: c.Memory.MbufsInUse, Mbufs: c.Memory.Mbufs}}
	for _, l := range s.lcores {
		g := l.e.Gauges()
		snap.Memory.TCPBuffers += uint64(g.BufferBytes)
		snap.Memory.TCPConns += uint64(g.ConnBytes)
	}
	for i := range c.Lcores {
		snap.Lcores = append(snap.Lcores, lcoreSnapshot(i, &c.Lcores[i]))
	}
	t := c.Total()
	snap.Total = lcoreSnapshot(-1, &t)
	for i, st := range c.Ports {
		ps := PortSnapshot{Port: i, Device: s.cfg.Ports[i].Device, Counters: make(map[string]uint64, len(pmd.StatFields))}
		for _, f := range pmd.StatFields {
			ps.Counters[f.Name] = f.Get(&st)
		}
		snap.Ports = append(snap.Ports, ps)
	}
	return snap
}

func lcoreSnapshot(id int, l *LcoreCounters) LcoreSnapshot {
	m := make(map[string]uint64, int(engine.NumCounters)+int(tcp.NumCounters))
	for i := engine.Counter(0); i < engine.NumCounters; i++ {
		m[i.String()] = l.Engine[i]
	}
	for i := tcp.Counter(0); i < tcp.NumCounters; i++ {
		m[i.String()] = l.TCP[i]
	}
	return LcoreSnapshot{Lcore: id, Conns: l.Conns, Drops: l.Engine.Drops(), Counters: m}
}
