package engine

import (
	"fmt"
	"slices"

	"github.com/pmdstack/pmd/tcp"
)

// maxListed bounds one lcore's part of a listing.
const maxListed = 10000

// Listing is one lcore's listeners and connections, as it saw them in one
// poll.
type Listing struct {
	Lcore     int
	Listening []uint16 // TCP ports, sorted
	Conns     int      // connections in the table, TIME-WAIT included
	// ByState counts the connections by state (index: tcp.State).
	ByState [tcp.NumStates]int
	// Entries are the connections, at most maxListed of them; More is
	// how many were left out.
	Entries []tcp.Info
	More    int
}

// Lines is the listing as text, one line per connection after a heading
// line: what `kill -USR1` logs.
func (ls *Listing) Lines() []string {
	head := fmt.Sprintf("lcore %d: listening on tcp %v; %d connections", ls.Lcore, ls.Listening, ls.Conns)
	if len(ls.Entries)+ls.More > 0 {
		head += "; by state"
		for st, k := range ls.ByState {
			if k > 0 {
				head += fmt.Sprintf(" %v=%d", tcp.State(st), k)
			}
		}
	}
	lines := []string{head}
	for _, e := range ls.Entries {
		lines = append(lines, fmt.Sprintf("lcore %d: %v", ls.Lcore, e))
	}
	if ls.More > 0 {
		lines = append(lines, fmt.Sprintf("lcore %d: ... %d more", ls.Lcore, ls.More))
	}
	return lines
}

// listRequest is one pending RequestListing, linked to the ones before.
type listRequest struct {
	ch   chan *Listing
	next *listRequest
}

// RequestListing asks the lcore for its listeners and connections; the
// answer comes on the channel after its next poll. The lcore builds it on
// its own thread, so nothing of the stack is read from outside. Any number
// of goroutines may ask at once (a signal, the control socket, DPDK's
// telemetry): each gets its own answer.
func (l *Lcore) RequestListing() <-chan *Listing {
	r := &listRequest{ch: make(chan *Listing, 1)}
	for {
		r.next = l.listReq.Load()
		if l.listReq.CompareAndSwap(r.next, r) {
			return r.ch
		}
	}
}

// answerListing runs on the lcore when listings were requested: one walk
// of the table answers them all.
func (l *Lcore) answerListing() {
	r := l.listReq.Swap(nil)
	if r == nil {
		return
	}
	ls := &Listing{Lcore: l.ID, Listening: l.tcp.Listeners(), Conns: l.tcp.Conns()}
	slices.Sort(ls.Listening)
	l.tcp.Each(func(c *tcp.Conn) {
		ls.ByState[c.State()]++
		if len(ls.Entries) < maxListed {
			ls.Entries = append(ls.Entries, c.Info())
		} else {
			ls.More++
		}
	})
	// The requesters only read it.
	for ; r != nil; r = r.next {
		r.ch <- ls
	}
}
