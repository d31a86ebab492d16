package tcp

const (
	wheelShift = 20 // a tick is 2^20 ns, about 1 ms
	wheelBits  = 10
	wheelSlots = 1 << wheelBits // per level: the inner turn is about 1.07 s, the outer about 18 minutes
	wheelMask  = wheelSlots - 1
	// wheelFireMax bounds the timers one advance fires (see advance).
	wheelFireMax = 1024
	// wheelDescentMax bounds the outer entries one advance brings down
	// to the inner level (see advance).
	wheelDescentMax = 8192
)

// wheel is the lcore's timing wheel: each connection is in at most one
// slot, at its earliest deadline. It has two levels. The inner one holds
// the deadlines of the coming turn (1,024 ticks of about 1 ms), one slot a
// tick; the outer one the later deadlines (keep-alive, TIME-WAIT,
// retransmissions backed off), one slot per 1,024 ticks, and each outer
// slot comes down into the inner level when its period begins. So every
// entry is looked at a bounded number of times before it fires (once in
// each level, or once more per 18 minutes for a deadline beyond the outer
// turn), whatever the number of connections: with one level, an entry a
// minute ahead was passed over once a second until due, and a million of
// them took a third of the lcore. Adding and removing are O(1); a poll
// with no tick elapsed costs one comparison.
type wheel struct {
	inner [wheelSlots]*Conn
	outer [wheelSlots]*Conn
	tick  int64 // last tick processed
	count int
	fired []*Conn
	seen  int // entries advance has looked at, fired or not: what it costs
	// The outer periods begun and not yet all brought down: descFrom to
	// descTo; none when descFrom > descTo.
	descFrom, descTo int64
	refile           []*Conn // entries a descent sends back out, filed after it
}

func (w *wheel) init() { w.fired = make([]*Conn, 0, 256); w.descFrom = 1 }

// descending reports whether outer periods that have begun still hold
// entries to bring down: advance has work even with no tick elapsed.
func (w *wheel) descending() bool { return w.descFrom <= w.descTo }

func (w *wheel) add(c *Conn, at int64) {
	// The first tick that starts at or after at: advance visits a slot
	// once per turn, so an entry must not sit in the tick in which it
	// falls due, or a poll earlier in that tick passes it by for a turn.
	t := (at + 1<<wheelShift - 1) >> wheelShift
	if t <= w.tick {
		t = w.tick + 1
	}
	c.wAt = at
	w.insert(c, t)
	w.count++
}

// insert links c into the slot for tick t (after w.tick): the inner slot
// within the coming turn, else the outer slot of t's period (the last
// one for a deadline beyond the outer turn: it is filed again when that
// slot comes down). wSlot numbers the inner slots 0..1023 and the outer
// ones 1024..2047.
func (w *wheel) insert(c *Conn, t int64) {
	var head **Conn
	if t-w.tick < wheelSlots {
		c.wSlot = int32(t & wheelMask)
		head = &w.inner[c.wSlot]
	} else {
		p := min(t>>wheelBits, w.tick>>wheelBits+wheelSlots-1)
		c.wSlot = int32(wheelSlots + p&wheelMask)
		head = &w.outer[p&wheelMask]
	}
	c.wPrev = nil
	c.wNext = *head
	if c.wNext != nil {
		c.wNext.wPrev = c
	}
	*head = c
}

func (w *wheel) head(slot int32) **Conn {
	if slot >= wheelSlots {
		return &w.outer[slot-wheelSlots]
	}
	return &w.inner[slot]
}

func (w *wheel) remove(c *Conn) {
	if c.wSlot < 0 {
		return
	}
	if c.wPrev != nil {
		c.wPrev.wNext = c.wNext
	} else {
		*w.head(c.wSlot) = c.wNext
	}
	if c.wNext != nil {
		c.wNext.wPrev = c.wPrev
	}
	c.wNext, c.wPrev, c.wSlot = nil, nil, -1
	w.count--
}

// advance takes every connection due at now off the wheel, then calls
// fire for each (fire may add connections again or release others).
func (w *wheel) advance(now int64, fire func(*Conn)) {
	to := now >> wheelShift
	if w.count == 0 {
		w.tick = max(w.tick, to)
		w.descFrom, w.descTo = 1, 0
		return
	}
	if to <= w.tick && !w.descending() {
		return
	}
	w.fired = w.fired[:0]
	from := w.tick + 1
	if to-from >= wheelSlots {
		from = to - wheelSlots + 1 // one full turn visits every slot
	}
	// At most wheelFireMax fire in one advance: deadlines that fell
	// together (a million connections closed at once reach the end of
	// TIME-WAIT in the same millisecond) fire over the next polls instead
	// of holding the lcore for as long as all of them take (0.4 s for a
	// million). done is the last tick whose slot was walked to its end.
	done := max(to, w.tick)
scan:
	for t := from; t <= to; t++ {
		for c := w.inner[t&wheelMask]; c != nil; {
			w.seen++
			next := c.wNext
			if c.wAt <= now {
				if len(w.fired) == wheelFireMax {
					done = t - 1 // this slot again next time
					break scan
				}
				w.remove(c)
				w.fired = append(w.fired, c)
			}
			c = next
		}
	}
	// The outer periods begun up to done come down: what is due fires
	// (within the same bound), the rest goes to the inner level (or,
	// beyond the outer turn, back out). At most wheelDescentMax entries
	// an advance: a million deadlines in one period (TIME-WAIT after a
	// million closed at once) come down over the next polls, not in one
	// poll of tens of milliseconds. Entries still up there when their
	// deadline passes fire when they come down, late by those polls, as
	// the ones the fire bound holds back are.
	if pFrom, pTo := w.tick>>wheelBits+1, done>>wheelBits; pFrom <= pTo {
		if !w.descending() {
			w.descFrom = pFrom
		}
		w.descTo = pTo
		if w.descTo-w.descFrom >= wheelSlots {
			w.descFrom = w.descTo - wheelSlots + 1
		}
	}
	w.tick = done
	budget := wheelDescentMax
descent:
	for ; w.descFrom <= w.descTo; w.descFrom++ {
		head := &w.outer[w.descFrom&wheelMask]
		for *head != nil {
			c := *head
			if budget == 0 || c.wAt <= now && len(w.fired) == wheelFireMax {
				break descent // the rest next time
			}
			budget--
			w.seen++
			w.remove(c)
			if c.wAt <= now {
				c.wSlot = -1
				w.fired = append(w.fired, c)
				continue
			}
			w.count++ // remove counted it off the wheel
			t := (c.wAt + 1<<wheelShift - 1) >> wheelShift
			if t-w.tick >= wheelSlots {
				// Beyond the outer turn: back out, after the walk (it
				// may be this very slot).
				w.refile = append(w.refile, c)
				continue
			}
			w.insert(c, t)
		}
	}
	for i, c := range w.refile {
		w.refile[i] = nil
		w.insert(c, (c.wAt+1<<wheelShift-1)>>wheelShift)
	}
	w.refile = w.refile[:0]
	for i, c := range w.fired {
		w.fired[i] = nil
		fire(c)
	}
}

// next is a lower bound of the earliest deadline, or 0 with no timers.
func (w *wheel) next() int64 {
	if w.count == 0 {
		return 0
	}
	return (w.tick + 1) << wheelShift
}

// schedule makes sure the connection is on the wheel no later than its
// earliest deadline. An entry that is already earlier stays: when it
// fires, onTimer finds what is due and schedules again. So the common
// case, a retransmission or delayed-ACK deadline pushed later by every
// segment, costs a comparison instead of a wheel move per segment.
func (c *Conn) schedule() {
	at := earliest(earliest(c.tRtx, c.tPersist), earliest(earliest(c.tDelack, c.tKeep), c.tWait))
	if at == 0 || c.wSlot >= 0 && c.wAt <= at {
		return
	}
	c.s.wheel.remove(c)
	c.s.wheel.add(c, at)
}

// earliest is the earlier of two timer deadlines, where 0 means unset.
func earliest(a, b int64) int64 {
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}

// onTimer runs the connection's due timers.
func (c *Conn) onTimer(now int64) {
	if c.state == Closed {
		return
	}
	if c.tWait != 0 && now >= c.tWait {
		c.s.release(c) // TIME-WAIT over; the application heard Closed already
		return
	}
	if c.tRtx != 0 && now >= c.tRtx {
		c.tRtx = 0
		c.retransmitTimeout(now)
		if c.state == Closed {
			return
		}
	}
	if c.tPersist != 0 && now >= c.tPersist {
		c.tPersist = 0
		c.persistTimeout(now)
	}
	if c.tDelack != 0 && now >= c.tDelack {
		c.tDelack = 0
		if c.ackPending > 0 {
			c.ackNow = true
			c.markDirty()
		}
	}
	if c.tKeep != 0 && now >= c.tKeep {
		c.tKeep = 0
		c.keepTimeout(now)
		if c.state == Closed {
			return
		}
	}
	c.schedule()
}

// retransmitTimeout is RFC 6298 5.4-5.7 with RFC 5681's loss window.
func (c *Conn) retransmitTimeout(now int64) {
	c.s.C[Timeouts]++
	if c.sndWnd == 0 && c.state.synchronized() {
		// The peer closed its window with our data in flight: nothing
		// may be resent into it. Probe it like the persist timer, and
		// give up only if it stops answering (RFC 1122 4.2.2.17): a
		// peer that answers is doing flow control, not losing data.
		if c.lastRecv > c.lastTimeout {
			c.retries = 0
		} else if c.retries++; c.retries > c.s.cfg.DataRetries {
			c.sendRST(c.sndNxt, 0, false)
			c.s.finish(c, ErrTimeout)
			return
		}
		c.lastTimeout = now
		c.s.C[WindowProbes]++
		c.rto = min(c.rto*2, int64(c.s.cfg.MaxRTO))
		c.sendProbe(now)
		c.tRtx = now + c.rto
		return
	}
	c.lastTimeout = now
	c.retries++
	limit := c.s.cfg.DataRetries
	if c.state == SynSent || c.state == SynReceived {
		limit = c.s.cfg.SynRetries
	}
	if c.retries > limit {
		if c.state.synchronized() {
			c.sendRST(c.sndNxt, 0, false)
		}
		c.s.finish(c, ErrTimeout)
		return
	}
	c.rto = min(c.rto*2, int64(c.s.cfg.MaxRTO))
	c.rttTiming = false // Karn: no sample from a retransmitted segment
	if c.state == SynSent || c.state == SynReceived {
		c.synTimeout = true
		c.sendSYN(now)
		return
	}
	flight := c.sndMax.Sub(c.sndUna)
	c.ssthresh = max(flight/2, uint32(2*c.mss))
	c.cwnd = uint32(c.mss)
	c.bytesAcked = 0
	c.inRecovery = false
	c.dupAcks = 0
	c.recover = c.sndMax
	c.sacked = c.sacked[:0]
	c.sndNxt = c.sndUna
	c.output(now)
	if c.tRtx == 0 && c.sndMax.GreaterThan(c.sndUna) {
		c.tRtx = now + c.rto
	}
}

// armPersist starts probing a zero window (RFC 9293 3.8.6.1), backing off
// like the retransmission timer.
func (c *Conn) armPersist(now int64) {
	if c.tPersist != 0 {
		return
	}
	d := min(c.rto<<min(c.persistBackoff, 16), int64(c.s.cfg.MaxRTO))
	c.tPersist = now + d
	c.schedule()
}

func (c *Conn) persistTimeout(now int64) {
	if c.sndBase.Add(uint32(c.snd.n)) == c.sndNxt {
		c.persistBackoff = 0
		return
	}
	if c.sndWnd != 0 {
		// A small window that silly-window avoidance held data back
		// from: send what it allows now.
		c.persistBackoff = 0
		c.swsOverride = true
		c.markDirty()
		return
	}
	c.s.C[WindowProbes]++
	c.sendProbe(now)
	c.persistBackoff++
	c.armPersist(now)
}

// armKeepalive schedules the next keep-alive check (off unless
// configured).
func (c *Conn) armKeepalive(now int64) {
	if c.s.cfg.KeepAlive > 0 {
		c.tKeep = now + int64(c.s.cfg.KeepAlive)
		c.schedule()
	}
}

func (c *Conn) keepTimeout(now int64) {
	if !c.state.synchronized() || c.state == TimeWait {
		return
	}
	idle := int64(c.s.cfg.KeepAlive)
	if now-c.lastRecv < idle {
		c.tKeep = c.lastRecv + idle
		return
	}
	if c.keepSent >= c.s.cfg.KeepProbes {
		c.sendRST(c.sndNxt, 0, false)
		c.s.finish(c, ErrTimeout)
		return
	}
	c.s.C[KeepaliveProbes]++
	c.sendProbe(now)
	c.keepSent++
	c.tKeep = now + int64(c.s.cfg.KeepInterval)
}
