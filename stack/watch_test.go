package stack

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/pmd"
	"github.com/pmdstack/pmd/tcp"
)

func TestChangedIgnoresPolls(t *testing.T) {
	a := Counters{Lcores: make([]LcoreCounters, 2), Ports: make([]pmd.Stats, 1)}
	b := Counters{Lcores: make([]LcoreCounters, 2), Ports: make([]pmd.Stats, 1)}
	b.Lcores[1].Engine[engine.Polls] = 1000
	b.Lcores[1].Engine[engine.PollGaps] = 2
	b.Lcores[1].Engine[engine.PollGapMicros] = 3000
	b.Memory.GoHeap = 1 << 20
	if changed(&a, &b) {
		t.Error("polls and the heap alone count as a change")
	}
	for _, mod := range []func(c *Counters){
		func(c *Counters) { c.Lcores[1].Engine[engine.RxPackets]++ },
		func(c *Counters) { c.Lcores[0].TCP[tcp.SegsIn]++ },
		func(c *Counters) { c.Lcores[0].Conns++ },
		func(c *Counters) { c.Ports[0].RxMissed++ },
	} {
		c := b
		c.Lcores = append([]LcoreCounters(nil), b.Lcores...)
		c.Ports = append([]pmd.Stats(nil), b.Ports...)
		mod(&c)
		if !changed(&b, &c) {
			t.Errorf("a change not seen: %+v", c)
		}
	}
}

// TestEpisodes: a counter that keeps rising warns once; once it has been
// still for episodeQuiet, the episode ends and a new rise warns again.
func TestEpisodes(t *testing.T) {
	var buf bytes.Buffer
	s := &Stack{log: slog.New(slog.NewTextHandler(&buf, nil))}
	var ep episodes
	c := Counters{Lcores: make([]LcoreCounters, 1), Memory: Memory{Mbufs: 1000}}
	now := time.Unix(1000, 0)
	step := func(noMbuf uint64, inUse int) {
		c.Lcores[0].Engine[engine.DropNoMbuf] = noMbuf
		c.Memory.MbufsInUse = inUse
		s.watch(&ep, &c, now)
		now = now.Add(time.Second)
	}
	step(0, 10)
	for i := 1; i <= 5; i++ {
		step(uint64(i*100), 950)
	}
	if n := strings.Count(buf.String(), "mbuf pool ran dry"); n != 1 {
		t.Errorf("%d warnings for one episode of drop_no_mbuf, want 1:\n%s", n, buf.String())
	}
	if n := strings.Count(buf.String(), "mbuf pools low"); n != 1 {
		t.Errorf("%d warnings for one episode of low pools, want 1:\n%s", n, buf.String())
	}
	for i := 0; i < 11; i++ {
		step(500, 10)
	}
	out := buf.String()
	if !strings.Contains(out, "episode over") || !strings.Contains(out, "total_in_episode=500") || !strings.Contains(out, "no longer low") {
		t.Errorf("the episodes did not end:\n%s", out)
	}
	step(600, 10)
	if n := strings.Count(buf.String(), "mbuf pool ran dry"); n != 2 {
		t.Errorf("a new episode gave %d warnings in all, want 2", n)
	}
}
