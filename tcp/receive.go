package tcp

// receive takes the text of an acceptable, trimmed segment (RFC 9293
// 3.10.7.4, seventh step). In-order data goes straight from the packet to
// the handler when nothing is buffered (no copy); what the handler does
// not take, and out-of-order data, goes into the receive buffer. The
// caller checks c.state == Closed after it: a callback may end c.
func (c *Conn) receive(seg *Segment, now int64) {
	data := seg.Payload
	if seg.Seq != c.rcvNxt {
		c.storeOOO(seg.Seq, data)
		c.ackNow = true // a duplicate ACK with SACK tells the sender at once
		c.markDirty()
		return
	}
	c.rcvNxt = c.rcvNxt.Add(uint32(len(data)))
	if c.unread == 0 && len(c.ooo) == 0 && c.handler != nil && !c.paused {
		k := c.callRecv(data)
		if c.state == Closed {
			return
		}
		if k < len(data) && c.readClosed && c.resetUnread() {
			return // closed from Recv without taking everything
		}
		if k < len(data) {
			if !c.ensureRcv() {
				// Nowhere to keep the rest: forget it, the peer
				// retransmits once the window says so.
				c.rcvNxt = c.rcvNxt - Seq(len(data)-k)
				c.ackNow = true
				c.markDirty()
				return
			}
			c.rcv.writeAt(0, data[k:])
			c.unread = len(data) - k
			c.rcv.n = c.unread
			if c.rcvFullDeclined() {
				return
			}
		}
	} else {
		if !c.ensureRcv() {
			c.rcvNxt = seg.Seq
			return
		}
		filled := len(c.ooo) > 0
		c.rcv.writeAt(c.unread, data)
		c.unread += len(data)
		c.mergeOOO()
		c.rcv.n = c.unread
		if filled {
			c.ackNow = true // RFC 5681 4.2: acknowledge a filled gap at once
		}
		c.deliver()
		if c.state == Closed {
			return
		}
	}
	c.ackPending++
	if c.ackPending >= 2 || c.s.cfg.DelayedAck == 0 {
		c.ackNow = true // at least every second full segment (RFC 5681 4.2)
	} else if c.tDelack == 0 {
		c.tDelack = now + int64(c.s.cfg.DelayedAck)
		c.schedule()
	}
	c.markDirty()
}

// ensureRcv gives the connection its receive buffer.
func (c *Conn) ensureRcv() bool {
	if c.rcv.buf != nil {
		return true
	}
	b, ok := c.s.rcvPool.get()
	if !ok {
		c.s.C[DropNoBuffer]++
		return false
	}
	c.rcv = ring{buf: b}
	return true
}

// storeOOO keeps data that arrived ahead of RCV.NXT at its place in the
// buffer and records its range, merged with its neighbours.
func (c *Conn) storeOOO(seq Seq, data []byte) {
	if len(data) == 0 {
		return
	}
	end := seq.Add(uint32(len(data)))
	// Find the insertion point (ranges are sorted and disjoint).
	i := 0
	for i < len(c.ooo) && c.ooo[i].Right.LessThan(seq) {
		i++
	}
	j := i
	for j < len(c.ooo) && c.ooo[j].Left.LessThanEq(end) {
		j++
	}
	if i == j && len(c.ooo) >= c.s.cfg.OOOSegments {
		c.s.C[DropOOOFull]++
		return
	}
	if !c.ensureRcv() {
		return
	}
	if c.ooo == nil {
		c.ooo = c.s.newRanges()
	}
	c.rcv.writeAt(c.unread+int(seq.Sub(c.rcvNxt)), data)
	nb := SACKBlock{Left: seq, Right: end}
	if i < j {
		nb.Left = MinSeq(nb.Left, c.ooo[i].Left)
		nb.Right = MaxSeq(nb.Right, c.ooo[j-1].Right)
		c.ooo[i] = nb
		c.ooo = append(c.ooo[:i+1], c.ooo[j:]...)
	} else {
		c.ooo = append(c.ooo, SACKBlock{})
		copy(c.ooo[i+1:], c.ooo[i:])
		c.ooo[i] = nb
	}
	c.lastOOO = nb.Left
}

// mergeOOO moves ranges that RCV.NXT has reached into the in-order data.
func (c *Conn) mergeOOO() {
	k := 0
	for k < len(c.ooo) && c.ooo[k].Left.LessThanEq(c.rcvNxt) {
		if r := c.ooo[k].Right; r.GreaterThan(c.rcvNxt) {
			c.unread += int(r.Sub(c.rcvNxt))
			c.rcvNxt = r
		}
		k++
	}
	if k > 0 {
		c.ooo = append(c.ooo[:0], c.ooo[k:]...)
	}
}

// deliver offers the buffered in-order data to the handler, all of it as
// one slice, and announces a window that opened enough (receiver SWS
// avoidance, RFC 9293 3.8.6.2.2). The caller checks c.state == Closed
// after it: Recv may end c.
func (c *Conn) deliver() {
	if c.unread == 0 || c.inRecv || c.handler == nil || c.readClosed || c.paused || c.state == Closed {
		return
	}
	before := c.rcvWindow()
	if c.rcv.head+c.unread > len(c.rcv.buf) {
		c.linearize()
	}
	k := c.callRecv(c.rcv.buf[c.rcv.head : c.rcv.head+c.unread])
	if c.state == Closed {
		return
	}
	c.rcv.discard(k)
	c.unread -= k
	if c.unread > 0 {
		if c.readClosed && c.resetUnread() {
			return // closed from Recv without taking everything
		}
		if c.rcvFullDeclined() {
			return
		}
	}
	if c.unread == 0 && len(c.ooo) == 0 && c.rcv.buf != nil {
		c.s.rcvPool.put(c.rcv.buf)
		c.rcv = ring{}
	}
	after := c.rcvWindow()
	if grew := after - before; grew > 0 && (grew >= uint32(2*c.mss) || before < uint32(c.s.rcvPool.size/2) && after >= uint32(c.s.rcvPool.size/2)) {
		c.ackNow = true
		c.markDirty()
	}
}

// linearize rotates the receive ring so that its head is at index 0: the
// unread bytes, which straddled the end, become one slice. Out-of-order
// data lies beyond them at offsets from the head and moves with them. Only
// the extent holding data is moved, with the smaller of its two pieces
// parked in the stack's scratch buffer: no allocation after the first.
func (c *Conn) linearize() {
	r := &c.rcv
	extent := c.unread
	if n := len(c.ooo); n > 0 {
		extent += int(c.ooo[n-1].Right.Sub(c.rcvNxt))
	}
	extent = min(extent, len(r.buf)) // the window keeps it within anyway
	a := len(r.buf) - r.head         // from head to the end of the buffer
	b := extent - a                  // wrapped to the front
	if a <= b {
		tmp := c.s.rotScratch(a)
		copy(tmp, r.buf[r.head:])
		copy(r.buf[a:a+b], r.buf[:b])
		copy(r.buf, tmp)
	} else {
		tmp := c.s.rotScratch(b)
		copy(tmp, r.buf[:b])
		copy(r.buf[:a], r.buf[r.head:])
		copy(r.buf[a:a+b], tmp)
	}
	r.head = 0
}

// rotScratch is n bytes of scratch for linearize (n is at most half a
// receive buffer).
func (s *Stack) rotScratch(n int) []byte {
	if len(s.rotBuf) < n {
		s.rotBuf = make([]byte, s.rcvPool.size/2)
	}
	return s.rotBuf[:n]
}

// rcvFullDeclined applies the rule for a handler that declined data with
// the receive buffer full (see Handler): nothing more can arrive, so
// unless the stack will offer the data again by itself, the connection is
// aborted with ErrRecvBufferFull. It reports whether it was.
func (c *Conn) rcvFullDeclined() bool {
	if c.unread < c.s.rcvPool.size || c.paused || c.reofferDue() {
		return false
	}
	c.s.C[RecvBufferFull]++
	c.abort(ErrRecvBufferFull)
	return true
}

// reofferDue reports whether the stack will offer the unread data again
// without the handler's help: every acknowledgement of new data does
// (newAck), so it will if the handler waits for Writable or anything the
// connection sent or queued is not yet acknowledged.
func (c *Conn) reofferDue() bool {
	return c.wantWritable || c.snd.n > 0 || c.sndMax.GreaterThan(c.sndUna) || c.finQueued && !c.finSent
}

// sackBlocks fills the SACK option: the most recent range first (RFC 2018
// section 4), then the others.
func (c *Conn) sackBlocks(dst []SACKBlock) int {
	n := 0
	for _, b := range c.ooo {
		if b.Left == c.lastOOO && n < len(dst) {
			dst[n] = b
			n++
		}
	}
	for _, b := range c.ooo {
		if b.Left != c.lastOOO && n < len(dst) {
			dst[n] = b
			n++
		}
	}
	return n
}
