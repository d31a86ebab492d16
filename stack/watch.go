package stack

import (
	"reflect"
	"time"

	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/tcp"
)

// The control goroutine's watch over the counters: the periodic counter
// lines only when something changed, and one warning per episode of
// trouble (a pool run dry, a ring full, a neighbour not answering) instead
// of one per packet or per interval.

// changed reports whether anything but the poll counts differs between two
// readings: an idle pmd's lcores keep polling, and lose their CPU now and
// then (poll_gaps) while they spin before idling; that alone is no news.
func changed(a, b *Counters) bool {
	if len(a.Lcores) != len(b.Lcores) || len(a.Ports) != len(b.Ports) {
		return true
	}
	for i := range a.Lcores {
		x, y := &a.Lcores[i], &b.Lcores[i]
		if x.TCP != y.TCP || x.Conns != y.Conns {
			return true
		}
		for c := engine.Counter(0); c < engine.NumCounters; c++ {
			if c != engine.Polls && c != engine.PollGaps && c != engine.PollGapMicros && x.Engine[c] != y.Engine[c] {
				return true
			}
		}
	}
	for i := range a.Ports {
		if !reflect.DeepEqual(a.Ports[i], b.Ports[i]) {
			return true
		}
	}
	return false
}

// episodeQuiet is how long a counter must stay still for its episode to
// end.
const episodeQuiet = 10 * time.Second

// trouble is a counter whose rise means something is wrong, and what to
// tell the operator when it starts rising.
type trouble struct {
	name string
	read func(t *LcoreCounters) uint64
	msg  string
}

func engineCounter(c engine.Counter) func(*LcoreCounters) uint64 {
	return func(t *LcoreCounters) uint64 { return t.Engine[c] }
}

func tcpCounter(c tcp.Counter) func(*LcoreCounters) uint64 {
	return func(t *LcoreCounters) uint64 { return t.TCP[c] }
}

var troubles = []trouble{
	{engine.DropNoMbuf.String(), engineCounter(engine.DropNoMbuf), "mbuf pool ran dry: packets are dropped (raise engine.mbufs, or look for a peer that does not read)"},
	{engine.DropTxFull.String(), engineCounter(engine.DropTxFull), "TX ring full: packets are dropped (the device sends slower than pmd; raise port.tx_desc)"},
	{engine.DropSteerFull.String(), engineCounter(engine.DropSteerFull), "steering ring full: packets handed between lcores are dropped (the device's RSS disagrees with pmd's, see rss_hash_mismatch)"},
	{engine.DropARPUnresolved.String(), engineCounter(engine.DropARPUnresolved), "a neighbour does not answer ARP: packets for it are dropped (listing: kill -USR1; check the peer and port.gateway)"},
	{engine.DropARPPendingFull.String(), engineCounter(engine.DropARPPendingFull), "too many packets await ARP resolution: dropped (raise arp.pending)"},
	{tcp.TableFull.String(), tcpCounter(tcp.TableFull), "TCP connection table full: new connections are refused (raise tcp.max_conns)"},
	{tcp.DropNoBuffer.String(), tcpCounter(tcp.DropNoBuffer), "TCP buffers exhausted: segments are dropped (raise tcp.buffers)"},
	{tcp.NoPorts.String(), tcpCounter(tcp.NoPorts), "no free local port for new connections (widen tcp.port_min..port_max, or tcp.tw_reuse = true)"},
}

// episodes remembers, per trouble, whether an episode is on, since when
// its counter last rose and what it read when the episode began.
type episodes struct {
	on    []bool
	start []uint64
	last  []uint64
	began []time.Time
	rose  []time.Time
	// poolLow is on while the pools are more than poolLowShare in use.
	poolLow bool
}

// poolLowShare is the share of the mbufs in use above which the pools
// are low: what is left is about one burst per descriptor ring.
const poolLowShare = 0.9

// watch compares the totals with the last reading and logs the episodes
// that begin and end.
func (s *Stack) watch(e *episodes, c *Counters, now time.Time) {
	t := c.Total()
	if m := c.Memory; m.Mbufs > 0 {
		low := float64(m.MbufsInUse) > poolLowShare*float64(m.Mbufs)
		if low && !e.poolLow {
			s.log.Warn("mbuf pools low: more than 90% of the mbufs are in use (raise engine.mbufs, or look for a peer that does not read)",
				"mbufs_in_use", m.MbufsInUse, "mbufs", m.Mbufs, "episode", "begins; this warning is not repeated until it ends")
		} else if !low && e.poolLow {
			s.log.Info("episode over: mbuf pools no longer low", "mbufs_in_use", m.MbufsInUse, "mbufs", m.Mbufs)
		}
		e.poolLow = low
	}
	if e.on == nil {
		e.on = make([]bool, len(troubles))
		e.start = make([]uint64, len(troubles))
		e.last = make([]uint64, len(troubles))
		e.rose = make([]time.Time, len(troubles))
		e.began = make([]time.Time, len(troubles))
		for i, tr := range troubles {
			e.last[i] = tr.read(&t)
		}
		return
	}
	for i, tr := range troubles {
		v := tr.read(&t)
		switch {
		case v > e.last[i]:
			if !e.on[i] {
				e.on[i], e.start[i], e.began[i] = true, e.last[i], now
				s.log.Warn(tr.msg, "counter", tr.name, "rose_by", v-e.last[i], "episode", "begins; this warning is not repeated until it ends")
			}
			e.rose[i] = now
		case e.on[i] && now.Sub(e.rose[i]) >= episodeQuiet:
			e.on[i] = false
			s.log.Info("episode over", "counter", tr.name, "total_in_episode", v-e.start[i], "rising_for", e.rose[i].Sub(e.began[i]).Round(time.Second).String(), "quiet_for", episodeQuiet.String())
		}
		e.last[i] = v
	}
}
