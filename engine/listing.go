package engine

import (
	"fmt"
	"slices"

	"github.com/pmdstack/pmd/tcp"
)

// maxListed bounds one lcore's part of a listing.
const maxListed = 10000

// RequestListing asks the lcore for its listeners and connections; the
// answer comes on the channel after its next poll. The lcore builds it on
// its own thread, so nothing of the stack is read from outside.
func (l *Lcore) RequestListing() <-chan []string {
	ch := make(chan []string, 1)
	l.listReq.Store(&ch)
	return ch
}

// answerListing runs on the lcore when a listing was requested.
func (l *Lcore) answerListing() {
	p := l.listReq.Swap(nil)
	if p == nil {
		return
	}
	ports := l.tcp.Listeners()
	slices.Sort(ports)
	var byState [tcp.TimeWait + 1]int
	n := 0
	var conns []string
	l.tcp.Each(func(c *tcp.Conn) {
		byState[c.State()]++
		if n++; n <= maxListed {
			conns = append(conns, fmt.Sprintf("lcore %d: %v", l.ID, c.Info()))
		}
	})
	head := fmt.Sprintf("lcore %d: listening on tcp %v; %d connections", l.ID, ports, l.tcp.Conns())
	if n > 0 {
		head += "; by state"
		for st, k := range byState {
			if k > 0 {
				head += fmt.Sprintf(" %v=%d", tcp.State(st), k)
			}
		}
	}
	lines := append([]string{head}, conns...)
	if n > maxListed {
		lines = append(lines, fmt.Sprintf("lcore %d: ... %d more", l.ID, n-maxListed))
	}
	*p <- lines
}
