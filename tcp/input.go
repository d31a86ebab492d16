package tcp

import (
	"time"

	"github.com/pmdstack/pmd/ipv4"
)

// Input processes one segment from remote to local whose checksum the
// caller has verified. It never fails: a bad segment is counted and
// dropped, or answered with a reset or an ACK as RFC 9293 says. Not from a
// handler callback.
func (s *Stack) Input(local, remote ipv4.Addr, h Header, now int64) {
	if s.depth != 0 {
		reentered()
	}
	s.now = now
	s.C[SegsIn]++
	if h.Check() != nil {
		s.C[DropBadHeader]++
		return
	}
	var seg Segment
	if ParseSegment(h, &seg) != nil {
		s.C[DropBadOptions]++
		return
	}
	id := FourTuple{Local: local, Remote: remote, LocalPort: seg.DstPort, RemotePort: seg.SrcPort}
	if c := s.conns.get(id); c != nil {
		if c.state != TimeWait || !c.timeWaitReusable(&seg) {
			c.input(&seg, now)
			return
		}
		// A new SYN may take over a connection in TIME-WAIT when it is
		// certainly newer (RFC 9293 3.10.7.4, RFC 6191).
		s.C[TimeWaitReused]++
		s.release(c)
	}
	if l := s.listeners[id.LocalPort]; l != nil {
		s.listenInput(l, id, &seg, now)
		return
	}
	s.C[DropNoConn]++
	s.resetFor(&id, &seg)
}

// timeWaitReusable: a plain SYN whose timestamp (or, without timestamps,
// sequence number) is beyond everything the old incarnation used.
func (c *Conn) timeWaitReusable(seg *Segment) bool {
	if seg.Flags&(FlagSYN|FlagACK|FlagRST) != FlagSYN {
		return false
	}
	if c.tsOK && seg.Opts.HasTS {
		return int32(seg.Opts.TSVal-c.tsRecent) > 0
	}
	return seg.Seq.GreaterThan(c.rcvNxt)
}

// resetFor answers a segment that belongs to no connection (RFC 9293
// 3.10.7.1).
func (s *Stack) resetFor(id *FourTuple, seg *Segment) {
	if seg.Flags&FlagRST != 0 {
		return
	}
	if seg.Flags&FlagACK != 0 {
		s.sendControl(id, seg.Ack, 0, FlagRST, 0, nil)
	} else {
		s.sendControl(id, 0, seg.Seq.Add(uint32(seg.Len())), FlagRST|FlagACK, 0, nil)
	}
	s.C[ResetsSent]++
}

// listenInput is the LISTEN state (RFC 9293 3.10.7.2), with SYN cookies
// when the backlog or the table is full (RFC 4987).
func (s *Stack) listenInput(l *Listener, id FourTuple, seg *Segment, now int64) {
	switch {
	case seg.Flags&FlagRST != 0:
		return
	case seg.Flags&FlagACK != 0:
		if seg.Flags&FlagSYN == 0 {
			if mss, ok := s.cookies.Check(id.Local, id.Remote, id.LocalPort, id.RemotePort, seg.Seq-1, seg.Ack-1, now); ok {
				s.C[SynCookiesValid]++
				s.cookieConn(l, id, seg, mss, now)
				return
			}
			s.C[SynCookiesBad]++
		}
		s.C[DropNoConn]++
		s.resetFor(&id, seg)
		return
	case seg.Flags&FlagSYN == 0:
		s.C[DropNoConn]++
		return
	}
	if l.synRcvd >= s.cfg.Backlog || s.conns.len() >= s.cfg.MaxConns || s.refusing(id.Remote, now) {
		if !s.cookieAllowed(id.Remote, now) {
			return
		}
		peerMSS := seg.Opts.MSS
		if peerMSS == 0 {
			peerMSS = 536
		}
		isn := s.cookies.Make(id.Local, id.Remote, id.LocalPort, id.RemotePort, seg.Seq, min(peerMSS, s.cfg.MSS), now)
		opts := Options{MSS: s.cfg.MSS}
		s.sendControl(&id, isn, seg.Seq+1, FlagSYN|FlagACK, uint16(min(s.rcvPool.size, 0xffff)), &opts)
		s.C[SynCookiesSent]++
		return
	}
	c := s.newConn(id, l.Handler)
	if c == nil {
		s.C[DropBacklog]++
		return
	}
	c.listener = l
	l.synRcvd++
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq + 1
	c.iss = s.isn.ISN(id.Local, id.Remote, id.LocalPort, id.RemotePort, now)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss, c.iss
	c.recover = c.iss // RFC 6582 3.2 step 1
	c.negotiate(seg, now)
	c.sndWnd = uint32(seg.Window) // never scaled in a SYN (RFC 7323 2.2)
	c.maxSndWnd = c.sndWnd
	c.sndWL1, c.sndWL2 = seg.Seq, c.iss
	c.setState(SynReceived)
	c.lastRecv = now
	c.sendSYN(now)
	s.C[PassiveOpens]++
}

// cookieConn establishes a connection from a valid SYN-cookie ACK. Only
// the MSS survived the round trip: no window scaling, SACK or timestamps.
func (s *Stack) cookieConn(l *Listener, id FourTuple, seg *Segment, mss uint16, now int64) {
	c := s.newConn(id, l.Handler)
	if c == nil {
		s.C[DropBacklog]++
		return
	}
	c.irs = seg.Seq - 1
	c.rcvNxt = seg.Seq
	c.iss = seg.Ack - 1
	c.sndUna, c.sndNxt, c.sndMax = seg.Ack, seg.Ack, seg.Ack
	c.recover = c.iss // RFC 6582 3.2 step 1
	c.sndBase = seg.Ack
	c.mss = int(mss)
	c.rcvShift, c.sndShift = 0, 0
	c.rcvAdv = c.rcvNxt.Add(uint32(min(s.rcvPool.size, 0xffff)))
	c.sndWnd = uint32(seg.Window)
	c.maxSndWnd = c.sndWnd
	c.sndWL1, c.sndWL2 = seg.Seq, seg.Ack
	c.initCwnd()
	c.setState(Established)
	c.lastRecv = now
	s.C[PassiveOpens]++
	c.open(now)
	if c.state != Closed {
		c.input(seg, now) // the ACK may carry data
	}
}

// negotiate takes the options of the peer's SYN (RFC 9293 3.7.1, RFC
// 7323, RFC 2018).
func (c *Conn) negotiate(seg *Segment, now int64) {
	o := &seg.Opts
	peerMSS := int(o.MSS)
	if peerMSS == 0 {
		peerMSS = 536
	}
	c.mss = min(peerMSS, int(c.s.cfg.MSS))
	c.wsOK = o.HasWScale
	if c.wsOK {
		c.sndShift = o.WScale
	} else {
		c.sndShift, c.rcvShift = 0, 0
	}
	c.tsOK = o.HasTS
	if c.tsOK {
		c.tsRecent = o.TSVal
		c.tsRecentAge = now
		c.mss -= 12
	}
	c.sackOK = o.SACKPermitted
	c.rcvAdv = c.rcvNxt // raised by what our SYN(-ACK) advertises
	c.initCwnd()
}

// initCwnd sets the initial window (RFC 6928: ten segments).
func (c *Conn) initCwnd() { c.cwnd = uint32(10 * c.mss) }

// open reports establishment to the handler.
func (c *Conn) open(now int64) {
	if c.listener != nil {
		c.listener.synRcvd--
		c.listener = nil
	}
	c.notified = true
	// A handshake that needed a retransmission and gave no RTT sample
	// starts the data with an RTO of 3 s, not the backed-off one (RFC
	// 6298 5.7: the initial 1 s may have been too short for this path).
	if c.synTimeout && c.srtt == 0 && c.s.cfg.InitialRTO < synFallbackRTO {
		c.rto = min(max(int64(synFallbackRTO), int64(c.s.cfg.MinRTO)), int64(c.s.cfg.MaxRTO))
	}
	c.armKeepalive(now)
	c.callOpen()
}

// synFallbackRTO is RFC 6298's RTO once a SYN timed out (section 5.7).
const synFallbackRTO = 3 * time.Second

// input processes a segment for an existing connection (RFC 9293
// 3.10.7.3 for SYN-SENT, 3.10.7.4 for the others).
func (c *Conn) input(seg *Segment, now int64) {
	if c.state == SynSent {
		c.synSentInput(seg, now)
		return
	}
	c.lastRecv = now
	c.keepSent = 0

	// PAWS (RFC 7323 5.3): an old timestamp marks an old duplicate.
	if c.tsOK && seg.Opts.HasTS && seg.Flags&FlagRST == 0 && int32(seg.Opts.TSVal-c.tsRecent) < 0 &&
		now-c.tsRecentAge < pawsIdle {
		c.s.C[DropPAWS]++
		c.ackNow = true
		c.markDirty()
		return
	}

	// Simultaneous open (RFC 9293 figure 8, line 6): the peer's SYN-ACK
	// repeats the SYN we hold and acknowledges ours. Its SYN is old; the
	// rest goes through the steps below.
	if c.state == SynReceived && c.active && seg.Flags&(FlagSYN|FlagACK|FlagRST) == FlagSYN|FlagACK && seg.Seq == c.irs {
		seg.Flags &^= FlagSYN
		seg.Seq++
	}

	// First: is the segment acceptable?
	if !c.acceptable(seg) {
		c.s.C[DropOutOfWindow]++
		if seg.Flags&FlagRST == 0 {
			if c.state == SynReceived && seg.Flags&FlagSYN != 0 && seg.Seq == c.irs {
				c.sendSYN(now) // the peer did not see our SYN-ACK
				return
			}
			if c.state == TimeWait && seg.Flags&FlagFIN != 0 && seg.Seq.Add(uint32(len(seg.Payload))) == c.finSeq {
				// The peer's FIN again: our ACK was lost. ACK it and
				// restart the 2*MSL wait (RFC 9293 3.10.7.4, eighth step).
				c.tWait = now + int64(c.s.cfg.TimeWait)
				c.schedule()
			} else if seg.Flags&FlagSYN != 0 {
				// A SYN, whatever its sequence number, gets a challenge
				// ACK, within the stack's rate (RFC 5961 4.2).
				c.challengeAck(now)
				return
			} else if len(seg.Payload) == 0 && seg.Flags&FlagFIN == 0 {
				// A bare ACK outside the window: answered at most once
				// per oowAckEvery, so that two ends that disagree (or
				// an attacker's spoofed ACKs) cannot start an ACK loop.
				// Data outside the window is a retransmission whose
				// ACK was lost: always answered.
				if now-c.lastOOWAck < oowAckEvery {
					c.s.C[OOWAcksLimited]++
					return
				}
				c.lastOOWAck = now
			}
			c.ackNow = true
			c.markDirty()
		}
		return
	}
	// Trimming may cut a SYN or move the sequence number; the RST and
	// SYN checks below look at the segment as it came (RFC 5961).
	syn, seq0 := seg.Flags&FlagSYN != 0, seg.Seq
	c.trim(seg)
	// Remember the peer's timestamp to echo (RFC 7323 4.3).
	if c.tsOK && seg.Opts.HasTS && int32(seg.Opts.TSVal-c.tsRecent) >= 0 && seg.Seq.LessThanEq(c.lastAckSent) {
		c.tsRecent = seg.Opts.TSVal
		c.tsRecentAge = now
	}

	// Second: RST (RFC 5961 3.2: exact match resets, in-window challenges).
	if seg.Flags&FlagRST != 0 {
		c.s.C[ResetsRcvd]++
		if seq0 != c.rcvNxt {
			c.challengeAck(now)
			return
		}
		if c.state == SynReceived && !c.active {
			c.s.noteRefused(c.id.Remote, now)
			c.s.finish(c, nil) // back to LISTEN: nobody heard of it
			return
		}
		if c.state == Closing || c.state == LastAck || c.state == TimeWait {
			c.s.finish(c, nil)
			return
		}
		c.s.finish(c, ErrReset)
		return
	}

	// Fourth: SYN in a synchronized state (RFC 5961 4.2), wherever its
	// sequence number falls.
	if syn {
		c.challengeAck(now)
		return
	}

	// Fifth: ACK.
	if seg.Flags&FlagACK == 0 {
		c.s.C[DropBadAck]++
		return
	}
	if c.state == SynReceived {
		if !seg.Ack.InRange(c.sndUna+1, c.sndNxt+1) {
			c.s.C[DropBadAck]++
			c.s.sendControl(&c.id, seg.Ack, 0, FlagRST, 0, nil)
			c.s.C[ResetsSent]++
			return
		}
		c.setState(Established)
		c.sndWnd = uint32(seg.Window) << c.sndShift
		c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
		c.sndWL1, c.sndWL2 = seg.Seq, seg.Ack
		c.sndBase = c.iss + 1
		c.open(now)
		if c.state == Closed {
			return
		}
	}
	if !c.processAck(seg, now) || c.state == Closed {
		return // (Writable or Recv may have ended c)
	}

	// Seventh: text (urgent data is plain data here: the pointer is
	// ignored, RFC 9293 3.8.5 allows it and RFC 6093 recommends it).
	if len(seg.Payload) > 0 {
		switch c.state {
		case Established, FinWait1, FinWait2:
			if c.readClosed {
				// The application will not read: reset rather than
				// acknowledge data nobody takes.
				c.sendRST(c.sndNxt, 0, false)
				c.s.finish(c, ErrAborted)
				return
			}
			c.receive(seg, now)
			if c.state == Closed {
				return
			}
		}
	}

	// Eighth: FIN.
	if seg.Flags&FlagFIN != 0 {
		c.finRcvd = true
		c.finSeq = seg.Seq.Add(uint32(len(seg.Payload)))
	}
	if c.finRcvd && c.rcvNxt == c.finSeq && c.state != TimeWait && !c.finTaken() {
		c.takeFin(now)
	} else if c.finRcvd && c.state == TimeWait && seg.Flags&FlagFIN != 0 {
		// A retransmitted FIN: acknowledge it and restart the 2*MSL wait.
		c.tWait = now + int64(c.s.cfg.TimeWait)
		c.schedule()
		c.ackNow = true
		c.markDirty()
	}
}

// pawsIdle: after 24 days idle a timestamp can no longer be trusted (RFC
// 7323 5.5).
const pawsIdle = 24 * 24 * 3600 * int64(1e9)

// finTaken reports whether the peer's FIN has been counted in RCV.NXT.
func (c *Conn) finTaken() bool {
	switch c.state {
	case CloseWait, Closing, LastAck, TimeWait:
		return true
	}
	return false
}

// takeFin consumes the peer's FIN once all data before it has arrived.
func (c *Conn) takeFin(now int64) {
	c.rcvNxt++
	c.ackNow = true
	c.markDirty()
	switch c.state {
	case SynReceived, Established:
		c.setState(CloseWait)
	case FinWait1:
		if c.finAcked() {
			c.finWaitFin(now)
			return
		}
		c.setState(Closing)
	case FinWait2:
		c.finWaitFin(now)
		return
	}
	if c.handler != nil {
		c.callPeerClosed()
	}
}

// finWaitFin takes the peer's FIN after ours was acknowledged: the
// application hears PeerClosed before TIME-WAIT tells it Closed.
func (c *Conn) finWaitFin(now int64) {
	if c.handler != nil {
		c.callPeerClosed()
		if c.state == Closed {
			return
		}
	}
	c.enterTimeWait(now)
}

// acceptable is the acceptance test of RFC 9293 3.10.7.4.
func (c *Conn) acceptable(seg *Segment) bool {
	wnd := c.rcvAdv.Sub(c.rcvNxt)
	if c.rcvAdv.LessThan(c.rcvNxt) {
		wnd = 0
	}
	n := uint32(seg.Len())
	switch {
	case n == 0 && wnd == 0:
		return seg.Seq == c.rcvNxt
	case n == 0:
		return seg.Seq.InWindow(c.rcvNxt, wnd)
	case wnd == 0:
		return false
	default:
		return seg.Seq.InWindow(c.rcvNxt, wnd) || seg.Seq.Add(n-1).InWindow(c.rcvNxt, wnd)
	}
}

// trim cuts an acceptable segment to the receive window: bytes already
// received at the front, bytes beyond the window at the back (RFC 9293
// 3.10.7.4, "segments with higher beginning sequence numbers ...").
func (c *Conn) trim(seg *Segment) {
	if seg.Seq.LessThan(c.rcvNxt) {
		d := c.rcvNxt.Sub(seg.Seq)
		if seg.Flags&FlagSYN != 0 {
			seg.Flags &^= FlagSYN
			seg.Seq++
			d--
		}
		d = min(d, uint32(len(seg.Payload)))
		seg.Payload = seg.Payload[d:]
		seg.Seq = seg.Seq.Add(d)
	}
	right := MaxSeq(c.rcvAdv, c.rcvNxt)
	if end := seg.Seq.Add(uint32(len(seg.Payload))); end.GreaterThan(right) {
		cut := end.Sub(right)
		seg.Payload = seg.Payload[:uint32(len(seg.Payload))-cut]
		seg.Flags &^= FlagFIN
	}
}

// challengeAck answers a suspicious RST, SYN or ACK with an ACK carrying
// our real state, rate-limited (RFC 5961 3.2, 4.2, 5.2, 7).
func (c *Conn) challengeAck(now int64) {
	if !c.s.challengeAllowed(now) {
		return
	}
	c.s.C[ChallengeAcks]++
	c.ackNow = true
	c.markDirty()
}

// synSentInput is RFC 9293 3.10.7.3.
func (c *Conn) synSentInput(seg *Segment, now int64) {
	ackOK := false
	if seg.Flags&FlagACK != 0 {
		if seg.Ack.LessThanEq(c.iss) || seg.Ack.GreaterThan(c.sndMax) {
			if seg.Flags&FlagRST == 0 {
				c.s.sendControl(&c.id, seg.Ack, 0, FlagRST, 0, nil)
				c.s.C[ResetsSent]++
			}
			c.s.C[DropBadAck]++
			return
		}
		ackOK = true
	}
	if seg.Flags&FlagRST != 0 {
		if ackOK {
			c.s.C[ResetsRcvd]++
			c.s.finish(c, ErrRefused)
		}
		return
	}
	if seg.Flags&FlagSYN == 0 {
		return
	}
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq + 1
	c.negotiate(seg, now)
	c.lastRecv = now
	if ackOK {
		c.sndUna = seg.Ack
		c.sndBase = seg.Ack
		c.rttSample(now, seg)
		c.tRtx = 0
		c.retries = 0
		c.setState(Established)
		c.sndWnd = uint32(seg.Window) // never scaled in a SYN (RFC 7323 2.2)
		c.maxSndWnd = c.sndWnd
		c.sndWL1, c.sndWL2 = seg.Seq, seg.Ack
		// The window our SYN offered, for text on the SYN-ACK (RFC 9293 3.10.7.3).
		c.rcvAdv = c.rcvNxt.Add(min(c.rcvWindow(), 0xffff))
		c.ackNow = true
		c.markDirty()
		c.open(now)
		if c.state == Closed {
			return
		}
		seg.Seq++
		seg.Flags &^= FlagSYN
		if len(seg.Payload) > 0 || seg.Flags&FlagFIN != 0 {
			c.trim(seg)
			if len(seg.Payload) > 0 {
				c.receive(seg, now)
			}
			if seg.Flags&FlagFIN != 0 && c.state != Closed {
				c.finRcvd = true
				c.finSeq = seg.Seq.Add(uint32(len(seg.Payload)))
				if c.rcvNxt == c.finSeq {
					c.takeFin(now)
				}
			}
		}
		return
	}
	// Simultaneous open: SYN-RECEIVED, answer with SYN-ACK on our ISS.
	c.setState(SynReceived)
	c.sndWnd = uint32(seg.Window)
	c.sndWL1, c.sndWL2 = seg.Seq, c.iss
	c.sndNxt = c.iss
	c.sendSYN(now)
}

// processAck is the fifth step for synchronized states. It returns false
// when the segment is finished with.
func (c *Conn) processAck(seg *Segment, now int64) bool {
	// RFC 5961 5.2: an ACK outside [SND.UNA - MAX.SND.WND, SND.NXT] is
	// answered with a challenge ACK and dropped.
	if seg.Ack.GreaterThan(c.sndMax) {
		c.s.C[DropBadAck]++
		c.challengeAck(now)
		return false
	}
	if seg.Ack.LessThan(c.sndUna - Seq(c.maxSndWnd)) {
		c.s.C[DropBadAck]++
		c.challengeAck(now)
		return false
	}
	if c.sackOK && seg.Opts.NSACK > 0 {
		c.updateScoreboard(seg)
	}
	wndBefore := c.sndWnd
	// Window update (RFC 9293 3.10.7.4, fifth step).
	if c.sndWL1.LessThan(seg.Seq) || (c.sndWL1 == seg.Seq && c.sndWL2.LessThanEq(seg.Ack)) {
		c.sndWnd = uint32(seg.Window) << c.sndShift
		c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
		c.sndWL1, c.sndWL2 = seg.Seq, seg.Ack
	}
	if seg.Ack.GreaterThan(c.sndUna) {
		c.newAck(seg, now)
		if c.state == Closed {
			return false // ended by Writable or Recv
		}
	} else if seg.Ack == c.sndUna && len(seg.Payload) == 0 && seg.Flags&FlagFIN == 0 &&
		c.sndWnd == wndBefore && c.sndWnd > 0 && c.sndMax.GreaterThan(c.sndUna) {
		// (With the window shut the ACKs answer our probes: no loss.)
		c.dupAck(seg, now)
	}
	if c.sackOK && seg.Opts.NSACK > 0 {
		c.sackLoss(now)
	}
	if wndBefore == 0 && c.sndWnd > 0 && c.tPersist != 0 {
		// The window opened: stop probing (output arms the timer again
		// if silly-window avoidance holds the data back). A timer armed
		// under a small open window is the override timeout: any other
		// ACK, a duplicate say, leaves it running, or nothing would send
		// the data a small window holds back.
		c.tPersist = 0
		c.persistBackoff = 0
	}
	if c.sndWnd > wndBefore {
		c.markDirty()
	}

	switch c.state {
	case FinWait1:
		if c.finAcked() {
			c.setState(FinWait2)
		}
	case Closing:
		if c.finAcked() {
			c.enterTimeWait(now) // Closed runs
			if c.state == Closed {
				return false
			}
		}
	case LastAck:
		if c.finAcked() {
			c.s.finish(c, nil)
			return false
		}
	}
	return true
}

// finAcked reports whether our FIN has been acknowledged.
func (c *Conn) finAcked() bool {
	return c.finSent && c.sndUna == c.finSeqOut()+1
}

// finSeqOut is the sequence number of our FIN: right after the data.
func (c *Conn) finSeqOut() Seq { return c.sndBase.Add(uint32(c.snd.n)) }

// newAck handles SND.UNA < SEG.ACK <= SND.MAX.
func (c *Conn) newAck(seg *Segment, now int64) {
	acked := seg.Ack.Sub(c.sndUna)
	c.rttSample(now, seg)
	// Drop acknowledged data from the send buffer; the FIN takes a
	// sequence number but no byte.
	data := min(acked, uint32(c.snd.n))
	if c.sndUna.LessThan(c.sndBase) { // our SYN is acknowledged too
		data = min(seg.Ack.Sub(c.sndBase), uint32(c.snd.n))
	}
	if data > 0 {
		c.snd.discard(int(data))
		c.sndBase = c.sndBase.Add(data)
	}
	c.sndUna = seg.Ack
	if c.sndNxt.LessThan(c.sndUna) {
		c.sndNxt = c.sndUna
	}
	c.retries = 0
	c.markDirty() // the window slid: more may go
	c.congestionOnAck(acked, seg, now)
	c.pruneScoreboard()
	if c.sndUna == c.sndMax {
		c.tRtx = 0
	} else {
		c.tRtx = now + c.rto
	}
	c.schedule()
	if c.snd.n == 0 && c.snd.buf != nil && !c.finQueued {
		c.s.sndPool.put(c.snd.buf)
		c.snd = ring{}
	}
	if c.wantWritable && c.Writable() > 0 {
		c.wantWritable = false
		if c.handler != nil {
			c.callWritable()
			if c.state == Closed {
				return
			}
		}
	}
	if c.unread > 0 {
		c.deliver() // a handler that declined data may take it now
	}
}

// enterTimeWait releases the buffers and waits 2*MSL; the application
// hears Closed now.
func (c *Conn) enterTimeWait(now int64) {
	if c.state != TimeWait {
		c.s.timeWaits++
	}
	c.setState(TimeWait)
	c.tRtx, c.tPersist, c.tKeep, c.tDelack = 0, 0, 0, 0
	c.tWait = now + int64(c.s.cfg.TimeWait)
	c.tWaitSince = now
	c.schedule()
	c.freeBuffers()
	c.notifyClosed(nil)
}

// notifyClosed tells the handler once and detaches it first: Closed is
// the last callback, whatever it does.
func (c *Conn) notifyClosed(err error) {
	h := c.handler
	c.handler = nil
	if h != nil && (c.notified || c.active) {
		if err == nil {
			c.s.C[ConnsClosed]++
		} else {
			c.s.C[ConnsFailed]++
		}
		c.callClosed(h, err)
	}
}

// finish removes c: the handler hears Closed (with err) if it knew of the
// connection.
func (s *Stack) finish(c *Conn, err error) {
	if c.listener != nil {
		c.listener.synRcvd--
		c.listener = nil
	}
	c.setState(Closed)
	c.notifyClosed(err)
	s.release(c)
}
