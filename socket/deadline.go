package socket

import (
	"sync"
	"sync/atomic"
	"time"
)

// deadline is one direction's deadline (net.Conn semantics): once it
// passes, pending and later calls fail until it is moved. expired is the
// lock-free check made on every call; ch is what a blocked call waits on,
// closed when the deadline passes, and kept across a change of deadline
// that finds it open, so that a call already waiting sees the new one.
type deadline struct {
	expired atomic.Bool
	mu      sync.Mutex
	timer   *time.Timer
	ch      chan struct{} // nil until a call waits or the deadline passes
	gen     uint64        // bumped by set: a timer of an older setting does nothing
}

var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// set moves the deadline to t (zero: none).
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cancelLocked()
	if d.expired.Load() {
		d.expired.Store(false)
		d.ch = nil // closed: the next wait makes an open one
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		d.fire()
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		if d.gen == gen {
			d.fire()
		}
		d.mu.Unlock()
	})
}

// fire marks the deadline passed and wakes the waiters. d.mu held.
func (d *deadline) fire() {
	d.expired.Store(true)
	if d.ch == nil {
		d.ch = closedChan
	} else {
		close(d.ch)
	}
	d.timer = nil
}

// wait is a channel closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

// stop cancels a pending timer (the connection is closed).
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cancelLocked()
}

// cancelLocked stops the pending timer, if any, and makes a timer that
// already fired harmless (its generation is stale). d.mu is held.
func (d *deadline) cancelLocked() {
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
