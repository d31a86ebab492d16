package engine

import (
	"sync/atomic"

	"github.com/pmdstack/pmd/tcp"
)

// Gauges are an lcore's levels (not counts of events) as last published,
// every 10 ms and at exit, for metrics read from other goroutines.
type Gauges struct {
	States      [tcp.NumStates]int // TCP connections by state, indexed by tcp.State
	SendBuffers int                // TCP send buffers held by connections
	RecvBuffers int                // TCP receive buffers held by connections
	BufferBytes int                // TCP buffers' memory, made so far (held or pooled)
	ConnBytes   int                // TCP control blocks' and table's memory (tcp.Stack.ConnBytes)
}

// publishedGauges is written by its lcore and read by anyone.
type publishedGauges struct {
	states   [tcp.NumStates]atomic.Int64
	snd, rcv atomic.Int64
	bufBytes atomic.Int64
	conBytes atomic.Int64
}

func (p *publishedGauges) store(s *tcp.Stack) {
	st := s.States()
	for i := range st {
		p.states[i].Store(int64(st[i]))
	}
	snd, rcv := s.Buffers()
	p.snd.Store(int64(snd))
	p.rcv.Store(int64(rcv))
	p.bufBytes.Store(int64(s.BufferBytes()))
	p.conBytes.Store(int64(s.ConnBytes()))
}

// Gauges are the lcore's levels as last published; safe from any
// goroutine.
func (l *Lcore) Gauges() Gauges {
	var g Gauges
	for i := range g.States {
		g.States[i] = int(l.pubGauges.states[i].Load())
	}
	g.SendBuffers = int(l.pubGauges.snd.Load())
	g.RecvBuffers = int(l.pubGauges.rcv.Load())
	g.BufferBytes = int(l.pubGauges.bufBytes.Load())
	g.ConnBytes = int(l.pubGauges.conBytes.Load())
	return g
}
