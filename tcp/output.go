package tcp

// tsClock is the timestamp clock: milliseconds (RFC 7323 5.4 allows 1 ms
// to 1 s per tick).
func tsClock(now int64) uint32 { return uint32(now / 1e6) }

// sendControl sends a segment without data outside any connection's
// sequence accounting: resets, SYN-cookie SYN-ACKs. A reset the Output
// is too busy for waits for the next Flush (up to ctlWaitMax of them): it
// may be all its connection leaves behind, and a peer that never gets
// it keeps the connection. A SYN-ACK does not wait: the peer's SYN
// comes again.
func (s *Stack) sendControl(id *FourTuple, seq, ack Seq, flags Flags, wnd uint16, opts *Options) {
	if s.emitControl(id, seq, ack, flags, wnd, opts) {
		return
	}
	if opts == nil && s.out.Busy() && (len(s.ctlWait) < ctlWaitMax || s.stopping) {
		s.blocked = true
		s.C[OutputWaits]++
		s.ctlWait = append(s.ctlWait, ctlSegment{id: *id, seq: seq, ack: ack, flags: flags})
		return
	}
	s.C[DropNoBuffer]++
}

// emitControl builds and sends a control segment; false when the Output
// had no buffer.
func (s *Stack) emitControl(id *FourTuple, seq, ack Seq, flags Flags, wnd uint16, opts *Options) bool {
	seg := Segment{SrcPort: id.LocalPort, DstPort: id.RemotePort, Seq: seq, Ack: ack, Flags: flags, Window: wnd}
	if opts != nil {
		seg.Opts = *opts
	}
	n := seg.HeaderLen()
	// The Output is an interface: handing it a pointer to the caller's
	// tuple would move that to the heap on every call.
	s.ctlID = *id
	tok, b, ok := s.out.Alloc(&s.ctlID, n)
	if !ok {
		return false
	}
	seg.EncodeHeader(b)
	s.out.Send(tok, &s.ctlID, n)
	s.C[SegsOut]++
	return true
}

// ctlSegment is a reset waiting for the Output's room.
type ctlSegment struct {
	id       FourTuple
	seq, ack Seq
	flags    Flags
}

// ctlWaitMax bounds the resets waiting for the Output's room: beyond it
// they are dropped (DropNoBuffer), as the peer's next segment draws
// another. Not when the stack stops (AbortAll): then no next segment
// would find anyone to answer it.
const ctlWaitMax = 4096

// sendWaitingControl sends the resets that waited, oldest first, until the
// Output is busy again.
func (s *Stack) sendWaitingControl() {
	sent := 0
	for _, w := range s.ctlWait {
		if !s.emitControl(&w.id, w.seq, w.ack, w.flags, 0, nil) {
			if s.out.Busy() {
				s.blocked = true
				break
			}
			s.C[DropNoBuffer]++
		}
		sent++
	}
	s.ctlWait = s.ctlWait[:copy(s.ctlWait, s.ctlWait[sent:])]
}

// sendRST resets the connection from its side (ABORT, data after close).
func (c *Conn) sendRST(seq, ack Seq, withAck bool) {
	f := FlagRST
	if withAck {
		f |= FlagACK
	}
	c.s.sendControl(&c.id, seq, ack, f, 0, nil)
	c.s.C[ResetsSent]++
}

// sendSYN sends our SYN (active open) or SYN-ACK and arms the
// retransmission timer.
func (c *Conn) sendSYN(now int64) {
	seg := Segment{SrcPort: c.id.LocalPort, DstPort: c.id.RemotePort, Seq: c.iss, Flags: FlagSYN}
	seg.Window = uint16(min(c.rcvWindow(), 0xffff))
	o := &seg.Opts
	o.MSS = c.s.cfg.MSS
	if c.state == SynReceived {
		seg.Flags |= FlagACK
		seg.Ack = c.rcvNxt
	}
	// Offer everything in a SYN; a SYN-ACK (passive or simultaneous
	// open) answers only what the peer offered (RFC 7323 1.3, 3.2).
	offer := c.state == SynSent
	if offer || c.wsOK {
		o.HasWScale, o.WScale = true, c.rcvShift
	}
	if offer || c.sackOK {
		o.SACKPermitted = true
	}
	if offer || c.tsOK {
		o.HasTS, o.TSVal, o.TSEcr = true, tsClock(now), c.tsRecent
	}
	if !c.transmit(&seg, now) {
		c.tRtx = now + c.rto // no buffer: try again on the timer (a busy device: at the next Flush, see output)
		c.schedule()
		return
	}
	if c.sndNxt == c.iss {
		c.sndNxt = c.iss + 1
	}
	c.sndMax = MaxSeq(c.sndMax, c.iss+1)
	if !c.rttTiming && !c.synTimeout { // Karn: time only the first SYN
		c.rttTiming, c.rttSeq, c.rttStart = true, c.iss, now
	}
	c.tRtx = now + c.rto
	c.schedule()
}

// transmit fills in the ACK fields, window and timestamps of seg, copies
// its payload and sends it. It returns false when no buffer was free.
func (c *Conn) transmit(seg *Segment, now int64) bool {
	if c.state != SynSent {
		seg.Flags |= FlagACK
		seg.Ack = c.rcvNxt
	}
	adv := uint32(seg.Window) // a SYN's window is never scaled
	if seg.Flags&FlagSYN == 0 {
		wnd := c.rcvWindow()
		// Never move the right edge left (RFC 9293 3.8.6.2.2).
		if edge := c.rcvNxt.Add(wnd); edge.LessThan(c.rcvAdv) {
			wnd = c.rcvAdv.Sub(c.rcvNxt)
		}
		seg.Window = uint16(min(wnd>>c.rcvShift, 0xffff))
		adv = uint32(seg.Window) << c.rcvShift
		if c.tsOK {
			seg.Opts.HasTS, seg.Opts.TSVal, seg.Opts.TSEcr = true, tsClock(now), c.tsRecent
		}
		if c.sackOK && len(c.ooo) > 0 {
			seg.Opts.NSACK = c.sackBlocks(seg.Opts.SACK[:MaxSACKBlocks(c.tsOK)])
		}
	}
	hl := seg.HeaderLen()
	n := hl + len(seg.Payload)
	tok, b, ok := c.s.out.Alloc(&c.id, n)
	if !ok {
		if c.s.out.Busy() {
			c.waitOutput()
		} else {
			c.s.C[DropNoBuffer]++
		}
		return false
	}
	seg.EncodeHeader(b)
	copy(b[hl:], seg.Payload)
	c.s.out.Send(tok, &c.id, n)
	c.s.C[SegsOut]++
	if seg.Flags&FlagACK != 0 {
		c.lastAckSent = seg.Ack
		c.ackNow = false
		c.ackPending = 0
		c.tDelack = 0
		if edge := c.rcvNxt.Add(adv); edge.GreaterThan(c.rcvAdv) {
			c.rcvAdv = edge
		}
	}
	return true
}

// output sends what the connection may send now: a SYN or SYN-ACK that
// waited for the device's room, retransmissions in recovery, new data
// within the windows (Nagle and sender SWS avoidance, RFC 9293
// 3.8.6.2.1), the FIN, and an ACK if one is owed.
func (c *Conn) output(now int64) {
	switch c.state {
	case Established, CloseWait, FinWait1, Closing, LastAck:
	case SynSent, SynReceived:
		if c.sndMax == c.iss {
			c.sendSYN(now) // it waited for the device's room: never sent yet
		} else if c.state == SynReceived && c.ackNow {
			c.sendAck(now)
		}
		return
	case FinWait2, TimeWait:
		if c.ackNow {
			c.sendAck(now)
		}
		return
	default:
		return
	}
	sent := false
	if c.inRecovery && c.sackOK {
		sent = c.sackRetransmit(now)
	}
	for {
		end := c.sndBase.Add(uint32(c.snd.n))
		var avail uint32
		if c.sndNxt.LessThan(end) {
			avail = end.Sub(c.sndNxt)
		}
		finDue := c.finQueued && c.sndNxt.LessThanEq(end)
		usable := c.sendRoom()
		mss := c.segMSS()
		n := min(avail, mss, usable)
		if n == 0 {
			if finDue && avail == 0 {
				sent = c.sendData(c.sndNxt, 0, true, now) || sent
			} else if avail > 0 && c.sndWnd == 0 && c.sndUna == c.sndMax {
				c.armPersist(now)
			}
			break
		}
		fin := finDue && c.sndNxt.Add(n) == end
		if n < mss && !fin {
			if n < avail && n < c.maxSndWnd/2 && !c.swsOverride && c.sndNxt == c.sndMax {
				// Sender silly-window avoidance: wait for a wider window,
				// but not forever when nothing is in flight to bring one
				// (RFC 9293 3.8.6.2.1, the override timeout). New data
				// only: what a timeout resends (SND.NXT pulled back below
				// SND.MAX) went out once in that window already, and
				// holding it back would leave nothing to bring the ACK.
				if c.sndUna == c.sndMax {
					c.armPersist(now)
				}
				break
			}
			if n == avail && !c.noDelay && c.sndMax.GreaterThan(c.sndUna) && c.sndNxt == c.sndMax {
				break // Nagle: a short segment of new data waits for the outstanding data's ACK
			}
		}
		if !c.sendData(c.sndNxt, n, fin, now) {
			break
		}
		c.swsOverride = false
		sent = true
		if fin {
			break
		}
	}
	if !sent && !c.dirty && (c.ackNow || c.ackPending > 0 && c.tDelack != 0 && now >= c.tDelack) {
		c.sendAck(now)
	}
}

// segMSS is the payload that fits in a data segment sent now: the MSS
// less the SACK blocks that ride on it while out-of-order data is held.
// The peer's MSS counts no options, so a sender takes those it adds from
// the data (RFC 9293 3.7.1, RFC 6691); the timestamps are taken off at
// the handshake. Without this a full segment with one SACK block is 12
// bytes over the path's MTU, and a link drops it.
func (c *Conn) segMSS() uint32 {
	mss := uint32(c.mss)
	if c.sackOK && len(c.ooo) > 0 {
		n := min(len(c.ooo), MaxSACKBlocks(c.tsOK))
		mss -= uint32(4 + n*sackBlockLen)
	}
	return mss
}

// sendRoom is how many new bytes the peer's window and the congestion
// window allow at SND.NXT; in SACK recovery the congestion window is
// measured against the pipe (RFC 6675 5).
func (c *Conn) sendRoom() uint32 {
	var wnd, cw uint32
	if lim := c.sndUna.Add(c.sndWnd); lim.GreaterThan(c.sndNxt) {
		wnd = lim.Sub(c.sndNxt)
	}
	if c.inRecovery && c.sackOK {
		if p := c.pipe(); p < c.cwnd {
			cw = c.cwnd - p
		}
	} else if lim := c.sndUna.Add(c.cwnd); lim.GreaterThan(c.sndNxt) {
		cw = lim.Sub(c.sndNxt)
	}
	return min(wnd, cw)
}

// sendData sends n bytes of the send buffer from seq, with FIN if fin,
// advancing SND.NXT and arming the retransmission timer.
func (c *Conn) sendData(seq Seq, n uint32, fin bool, now int64) bool {
	seg := Segment{SrcPort: c.id.LocalPort, DstPort: c.id.RemotePort, Seq: seq, Flags: FlagACK}
	if n > 0 {
		off := int(seq.Sub(c.sndBase))
		a, b := c.snd.peek(off, int(n))
		if len(b) == 0 {
			seg.Payload = a
		} else {
			seg.Payload = c.s.joinScratch(a, b)
		}
		if seq.Add(n) == c.sndBase.Add(uint32(c.snd.n)) {
			seg.Flags |= FlagPSH
		}
	}
	if fin {
		seg.Flags |= FlagFIN
	}
	if !c.transmit(&seg, now) {
		// No buffer: try again on the timer, unless the connection
		// waits on the dirty list for the device's room.
		if c.tRtx == 0 && !c.dirty {
			c.tRtx = now + c.rto
			c.schedule()
		}
		return false
	}
	end := seq.Add(n)
	if fin {
		end++
		c.finSent = true
	}
	if seq.LessThan(c.sndMax) {
		c.s.C[Retransmits]++
	}
	if end.GreaterThan(c.sndNxt) {
		c.sndNxt = end
	}
	if end.GreaterThan(c.sndMax) {
		if !c.rttTiming && seq == c.sndMax && !c.tsOK {
			c.rttTiming, c.rttSeq, c.rttStart = true, seq, now
		}
		c.sndMax = end
	}
	if c.tRtx == 0 {
		c.tRtx = now + c.rto
		c.schedule()
	}
	return true
}

// joinScratch copies a wrapped payload into the stack's scratch buffer.
func (s *Stack) joinScratch(a, b []byte) []byte {
	if cap(s.scratch) < len(a)+len(b) {
		s.scratch = make([]byte, 0, 64<<10)
	}
	p := append(s.scratch[:0], a...)
	return append(p, b...)
}

// sendAck sends a bare ACK. Its sequence number is SND.MAX, not SND.NXT:
// after a retransmission timeout pulls SND.NXT back, the peer may already
// have received beyond it and would find SND.NXT unacceptable, dropping
// the ACK with everything it says.
func (c *Conn) sendAck(now int64) {
	seg := Segment{SrcPort: c.id.LocalPort, DstPort: c.id.RemotePort, Seq: c.sndMax, Flags: FlagACK}
	c.transmit(&seg, now)
}

// sendProbe sends a segment the peer must answer without data of ours
// being consumed: SEQ = SND.UNA-1 (keep-alive, RFC 9293 3.8.4; and the
// zero-window probe).
func (c *Conn) sendProbe(now int64) {
	seg := Segment{SrcPort: c.id.LocalPort, DstPort: c.id.RemotePort, Seq: c.sndUna - 1, Flags: FlagACK}
	c.transmit(&seg, now)
}
