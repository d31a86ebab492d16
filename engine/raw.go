package engine

import (
	"sync/atomic"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/ipv4"
)

// Raw replaces the stack on an lcore with the device's own limit: a
// reflector sends every frame straight back (MAC addresses swapped), a
// generator keeps Window frames of Size bytes in flight and counts those
// that return. Nothing is parsed: this is what the stack's rates are
// compared with.
type Raw struct {
	Reflect  bool
	Window   int
	Size     int
	Received *atomic.Uint64 // frames back at the generator, or reflected
	Lost     atomic.Uint64  // generator: frames given up after a silence
	sent     uint64
	got      uint64
	progress int64 // when a frame last came back
}

// rawSilence is how long a generator waits for frames before counting
// those in flight as lost (the device or the reflector dropped them).
const rawSilence = int64(1e6)

// SetRaw puts the lcore in raw mode; call before Run.
func (l *Lcore) SetRaw(r *Raw) { l.raw = r }

func (l *Lcore) rawPoll(now int64) int {
	r := l.raw
	work := 0
	for _, q := range l.queues {
		n := q.Poll()
		for j := 0; j < n; j++ {
			b, data, _ := q.Packet(j)
			if !r.Reflect {
				q.Free(b)
				continue
			}
			if len(data) >= ethLen {
				eth := ipv4.Ethernet(data)
				src := eth.Src()
				eth.SetSrc(eth.Dst())
				eth.SetDst(src)
			}
			q.Send(b, len(data), 0)
		}
		if n > 0 {
			r.got += uint64(n)
			r.Received.Add(uint64(n))
			r.progress = now
		} else if !r.Reflect && r.sent != r.got && now-r.progress > rawSilence {
			r.Lost.Add(r.sent - r.got)
			r.sent = r.got
			r.progress = now
		}
		work += n
		if !r.Reflect {
			work += r.generate(q)
		}
	}
	return work
}

// generate tops the frames in flight up to the window.
func (r *Raw) generate(q dev.Queue) int {
	n := 0
	for r.sent-r.got < uint64(r.Window) {
		b, data, ok := q.Alloc()
		if !ok {
			break
		}
		data = data[:r.Size]
		ipv4.EthernetRepr{Dst: ipv4.BroadcastMAC, Src: ipv4.MAC{2, 0, 0, 0, 0, 1}, Type: 0x88b5}.Encode(data) // local experimental EtherType
		q.Send(b, r.Size, 0)
		r.sent++
		n++
	}
	return n
}
