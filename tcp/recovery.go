package tcp

import "time"

// rttSample updates SRTT, RTTVAR and RTO from an acknowledgement (RFC
// 6298 2, with timestamps per RFC 7323 4.1; Karn's rule for timed
// segments without them).
func (c *Conn) rttSample(now int64, seg *Segment) {
	var sample int64 = -1
	switch {
	case c.tsOK && seg.Opts.HasTS && seg.Opts.TSEcr != 0:
		if d := int32(tsClock(now) - seg.Opts.TSEcr); d >= 0 {
			sample = int64(d) * int64(time.Millisecond)
		}
	case c.rttTiming && seg.Ack.GreaterThan(c.rttSeq):
		sample = now - c.rttStart
		c.rttTiming = false
	}
	if sample < 0 {
		return
	}
	if c.srtt == 0 {
		c.srtt = max(sample, 1)
		c.rttvar = sample / 2
	} else {
		d := c.srtt - sample
		if d < 0 {
			d = -d
		}
		c.rttvar = (3*c.rttvar + d) / 4
		c.srtt = (7*c.srtt + sample) / 8
	}
	c.rto = c.srtt + max(int64(time.Millisecond), 4*c.rttvar)
	c.rto = min(max(c.rto, int64(c.s.cfg.MinRTO)), int64(c.s.cfg.MaxRTO))
}

// congestionOnAck grows the window on new data acknowledged (RFC 5681
// 3.1, byte counting per RFC 3465) or steps through recovery (RFC 6582).
func (c *Conn) congestionOnAck(acked uint32, seg *Segment, now int64) {
	mss := uint32(c.mss)
	if c.inRecovery {
		if seg.Ack.GreaterThanEq(c.recover) {
			c.inRecovery = false
			c.dupAcks = 0
			c.cwnd = min(c.ssthresh, c.sndMax.Sub(c.sndUna)+mss)
			return
		}
		// Partial ACK: the next hole is lost too.
		if c.cwnd > acked {
			c.cwnd -= acked
		} else {
			c.cwnd = 0
		}
		c.cwnd += mss
		if !c.sackOK {
			c.retransmitFirst(now)
		}
		return
	}
	c.dupAcks = 0
	if c.cwnd < c.ssthresh {
		c.cwnd += min(acked, 2*mss)
	} else {
		c.bytesAcked += acked
		if c.bytesAcked >= c.cwnd {
			c.bytesAcked -= c.cwnd
			c.cwnd += mss
		}
	}
	c.cwnd = min(c.cwnd, 1<<30)
}

// dupAck counts duplicate ACKs; the third starts fast retransmit and
// recovery (RFC 5681 3.2, RFC 6582 3.2; with SACK also when the peer
// reports DupThresh segments above a hole, RFC 6675 5).
func (c *Conn) dupAck(seg *Segment, now int64) {
	c.s.C[DupAcks]++
	c.dupAcks++
	mss := uint32(c.mss)
	if c.inRecovery {
		if !c.sackOK {
			c.cwnd += mss // each duplicate means a segment has left
		}
		c.markDirty()
		return
	}
	if c.dupAcks >= 3 || c.sackOK && c.sackedBytes() >= 3*mss {
		c.enterRecovery(now)
	}
}

// sackLoss starts recovery when the scoreboard shows DupThresh segments
// SACKed above SND.UNA (RFC 6675 5, IsLost), whatever the ACK carried:
// with data flowing both ways the peer's ACKs ride on data segments and
// are never duplicate ACKs in RFC 5681's sense.
func (c *Conn) sackLoss(now int64) {
	if !c.inRecovery && c.sackedBytes() >= 3*uint32(c.mss) {
		c.enterRecovery(now)
	}
}

// enterRecovery is fast retransmit (RFC 5681 3.2 steps 2-4, RFC 6582 3.2:
// once per window of data).
func (c *Conn) enterRecovery(now int64) {
	mss := uint32(c.mss)
	if c.sndUna.LessThan(c.recover) {
		return
	}
	c.s.C[FastRetransmits]++
	c.ssthresh = max(c.sndMax.Sub(c.sndUna)/2, 2*mss)
	c.recover = c.sndMax
	c.inRecovery = true
	c.retransmitFirst(now)
	if c.sackOK {
		c.cwnd = c.ssthresh
		c.rxtNext = c.sndUna.Add(mss)
	} else {
		c.cwnd = c.ssthresh + 3*mss
	}
	c.markDirty()
}

// retransmitFirst resends the segment at SND.UNA (or the FIN alone).
func (c *Conn) retransmitFirst(now int64) {
	end := c.sndBase.Add(uint32(c.snd.n))
	n := uint32(0)
	if c.sndUna.LessThan(end) {
		n = min(end.Sub(c.sndUna), c.segMSS())
	}
	fin := c.finSent && c.sndUna.Add(n) == end
	if n == 0 && !fin {
		return
	}
	c.sendData(c.sndUna, n, fin, now)
}

// updateScoreboard merges the peer's SACK blocks that lie in
// (SND.UNA, SND.MAX] into the sorted, disjoint scoreboard.
func (c *Conn) updateScoreboard(seg *Segment) {
	for i := 0; i < seg.Opts.NSACK; i++ {
		b := seg.Opts.SACK[i]
		if !b.Left.LessThan(b.Right) || b.Left.LessThan(c.sndUna) || b.Right.GreaterThan(c.sndMax) {
			continue // a D-SACK, or bogus
		}
		j := 0
		for j < len(c.sacked) && c.sacked[j].Right.LessThan(b.Left) {
			j++
		}
		k := j
		for k < len(c.sacked) && c.sacked[k].Left.LessThanEq(b.Right) {
			k++
		}
		if j < k {
			b.Left = MinSeq(b.Left, c.sacked[j].Left)
			b.Right = MaxSeq(b.Right, c.sacked[k-1].Right)
			c.sacked[j] = b
			c.sacked = append(c.sacked[:j+1], c.sacked[k:]...)
			continue
		}
		if len(c.sacked) >= c.s.cfg.OOOSegments {
			continue // bounded: a lost block only costs a spurious retransmission
		}
		if c.sacked == nil {
			c.sacked = c.s.newRanges()
		}
		c.sacked = append(c.sacked, SACKBlock{})
		copy(c.sacked[j+1:], c.sacked[j:])
		c.sacked[j] = b
	}
}

// pruneScoreboard drops what SND.UNA has passed.
func (c *Conn) pruneScoreboard() {
	k := 0
	for k < len(c.sacked) && c.sacked[k].Right.LessThanEq(c.sndUna) {
		k++
	}
	if k > 0 {
		c.sacked = append(c.sacked[:0], c.sacked[k:]...)
	}
	if len(c.sacked) > 0 && c.sacked[0].Left.LessThan(c.sndUna) {
		c.sacked[0].Left = c.sndUna
	}
}

func (c *Conn) sackedBytes() uint32 {
	var n uint32
	for _, b := range c.sacked {
		n += b.Right.Sub(b.Left)
	}
	return n
}

// pipe estimates the bytes in flight during SACK recovery (RFC 6675 4):
// outstanding bytes, less those SACKed, less the holes below the highest
// SACKed byte not yet retransmitted (deemed lost).
func (c *Conn) pipe() uint32 {
	out := c.sndMax.Sub(c.sndUna) - c.sackedBytes()
	if len(c.sacked) == 0 {
		return out
	}
	high := c.sacked[len(c.sacked)-1].Right
	p := MaxSeq(c.rxtNext, c.sndUna)
	var lost uint32
	for _, b := range c.sacked {
		if b.Left.GreaterThan(p) {
			lost += b.Left.Sub(p)
		}
		p = MaxSeq(p, b.Right)
		if !p.LessThan(high) {
			break
		}
	}
	if lost > out {
		return 0
	}
	return out - lost
}

// sackRetransmit resends the holes below the highest SACKed byte, in
// order, while the pipe leaves room in the window (RFC 6675 5, NextSeg
// rule 1).
func (c *Conn) sackRetransmit(now int64) bool {
	if len(c.sacked) == 0 {
		return false
	}
	high := c.sacked[len(c.sacked)-1].Right
	p := MaxSeq(c.rxtNext, c.sndUna)
	sent := false
	for p.LessThan(high) {
		holeEnd := high
		inside := false
		for _, b := range c.sacked {
			if p.GreaterThanEq(b.Left) && p.LessThan(b.Right) {
				p, inside = b.Right, true
				break
			}
			if b.Left.GreaterThan(p) {
				holeEnd = b.Left
				break
			}
		}
		if inside {
			continue
		}
		n := min(holeEnd.Sub(p), c.segMSS())
		if c.pipe()+n > c.cwnd {
			break
		}
		if !c.sendData(p, n, false, now) {
			break
		}
		p = p.Add(n)
		c.rxtNext = p
		sent = true
	}
	return sent
}
