package tcp

import (
	"fmt"
	"strings"
	"time"
)

// State is a connection state of RFC 9293 section 3.3.2.
type State uint8

// The eleven states (Listen is the Listener itself).
const (
	Closed State = iota
	Listen
	SynSent
	SynReceived
	Established
	FinWait1
	FinWait2
	CloseWait
	Closing
	LastAck
	TimeWait
)

// NumStates is the number of states: Stack.States is indexed by State.
const NumStates = int(TimeWait) + 1

var stateNames = [...]string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
	"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

// String is the name used in logs and counter lines.
func (s State) String() string { return stateNames[s] }

// ParseState is the state String names s, in any case and with '_' for
// '-' ("established", "TIME_WAIT").
func ParseState(s string) (State, bool) {
	s = strings.ToUpper(strings.ReplaceAll(s, "_", "-"))
	for i, n := range stateNames {
		if n == s {
			return State(i), true
		}
	}
	return 0, false
}

// setState moves c to st and keeps the stack's count of connections by
// state (States) with it: a gauge read from outside the lcore costs an
// increment per transition, not a walk of the table.
func (c *Conn) setState(st State) {
	if c.state != Closed {
		c.s.states[c.state]--
	}
	if st != Closed {
		c.s.states[st]++
	}
	c.state = st
}

// synchronized reports whether the state is past the handshake.
func (s State) synchronized() bool { return s >= Established }

// Conn is one connection's control block (RFC 9293 3.3.1). The send
// sequence space:
//
//	   sndUna          sndNxt            sndUna+sndWnd
//	----|-----------------|-------------------|---------
//	acked | sent, unacked | allowed, not sent | not allowed
//
// The send buffer holds the bytes from sndBase (SND.UNA once the SYN is
// acknowledged) to the last byte written; a FIN, once queued, follows them.
// The receive buffer holds bytes the application has not taken, then
// out-of-order data at its offset from RCV.NXT.
//
// A *Conn is handed to the application in its Handler's callbacks. The
// stack reuses the object for a later connection once this one has ended
// and the poll iteration is over; Gen tells the incarnations apart (see
// Handler for the rules).
type Conn struct {
	// Within each group the fields run from the widest type to the
	// narrowest: the object is most of an idle connection's memory (see
	// ConnMemory), and padding between mixed widths cost 64 bytes of it.
	s        *Stack
	gen      uint64 // incarnation of this object: see Gen
	handler  Handler
	listener *Listener // while SYN-RECEIVED from a passive open
	id       FourTuple
	state    State
	active   bool

	// Context and Tag are the application's, untouched by the stack.
	Context any
	Tag     uint64

	// send side
	snd                         ring
	mss                         int // payload bytes per segment
	iss, sndUna, sndNxt, sndMax Seq
	sndWnd, maxSndWnd           uint32
	sndWL1, sndWL2              Seq
	sndBase                     Seq
	sndShift                    uint8
	finQueued, finSent          bool
	noDelay                     bool
	swsOverride                 bool // the override timeout fired: send a short segment
	wantWritable                bool

	// receive side
	irs, rcvNxt Seq
	rcvAdv      Seq // right edge advertised
	lastOOO     Seq // left edge of the range that grew last
	finSeq      Seq
	rcv         ring
	unread      int         // bytes at the start of rcv the application has not taken
	offered     int         // bytes offered to the running Recv
	ooo         []SACKBlock // out-of-order ranges, sorted; nil until the first
	rcvShift    uint8
	finRcvd     bool // a FIN arrived, maybe ahead of data
	readClosed  bool // the application closed: further data gets a reset
	inRecv      bool // the handler's Recv is running
	paused      bool // Pause: nothing is offered until Read

	// options
	tsOK        bool
	sackOK      bool
	wsOK        bool
	tsRecent    uint32
	lastAckSent Seq
	tsRecentAge int64
	sacked      []SACKBlock // the peer's SACK blocks above sndUna (scoreboard); nil until the first

	// RTT (RFC 6298), in nanoseconds
	srtt, rttvar, rto int64
	rttStart          int64
	retries           int
	rttSeq            Seq
	rttTiming         bool

	// congestion control (RFC 5681, 6582, 6675)
	inRecovery     bool
	cwnd, ssthresh uint32
	bytesAcked     uint32
	recover        Seq
	rxtNext        Seq // next hole to retransmit in SACK recovery
	dupAcks        int

	// timers: absolute times, 0 when off
	tRtx, tPersist, tDelack, tKeep, tWait int64
	tWaitSince                            int64 // when TIME-WAIT began
	lastTimeout                           int64 // when the retransmission timer last fired
	lastOOWAck                            int64 // when a bare ACK outside the window was last answered
	wNext, wPrev                          *Conn
	wAt                                   int64
	keepSent                              int
	persistBackoff                        int
	wSlot                                 int32

	// output scheduling
	ackNow     bool
	dirty      bool
	notified   bool // Open was called
	synTimeout bool // our SYN or SYN-ACK was sent again on a timeout
	ackPending int
	nextDirty  *Conn
	lastRecv   int64
	closeErr   error
}

func (c *Conn) reset(s *Stack, id FourTuple, h Handler) {
	// The range lists stay with the object (empty): a connection that
	// needed them once keeps its arrays for the next incarnation, one
	// that never did holds none (see newRanges).
	ooo, sacked, gen := c.ooo[:0], c.sacked[:0], c.gen
	*c = Conn{s: s, id: id, handler: h, wSlot: -1, gen: gen + 1}
	c.ooo, c.sacked = ooo, sacked
	c.rto = int64(s.cfg.InitialRTO)
	c.mss = 536
	c.ssthresh = 1 << 30
	c.rcvShift = windowShift(s.rcvPool.size)
}

// newRanges is the array of an ooo or sacked list, made when the
// connection first needs it: most connections never see data out of order
// or a SACK block, and at a million connections per lcore two arrays each
// would cost a quarter of a kilobyte per connection for nothing.
func (s *Stack) newRanges() []SACKBlock { return make([]SACKBlock, 0, s.cfg.OOOSegments) }

// windowShift is the smallest scale that lets a 16-bit field carry size.
func windowShift(size int) uint8 {
	var sh uint8
	for size>>sh > 0xffff && sh < 14 {
		sh++
	}
	return sh
}

// Gen is the generation of the connection object: it changes (grows by
// one) each time the stack reuses the object for a new connection, and is
// never 0. Code that keeps a *Conn beyond the callback that gave it saves
// Gen while the connection is open; c.Gen() equal to the saved value means
// c is still that connection (it may have ended since: State is Closed or
// TimeWait then, and every method is harmless). Anything else means the
// object now serves another connection: do not call it.
func (c *Conn) Gen() uint64 { return c.gen }

// ID is the connection's four-tuple.
func (c *Conn) ID() FourTuple { return c.id }

// State is the connection's state.
func (c *Conn) State() State { return c.state }

// SetNoDelay turns Nagle's algorithm off (true) or on (false, the default).
// On a connection that has ended it has no effect.
func (c *Conn) SetNoDelay(on bool) { c.noDelay = on }

// Writable is how many bytes Write would take now. When it is 0, the
// handler's Writable is called once space frees.
func (c *Conn) Writable() int {
	if c.finQueued || c.state == Closed || c.state == TimeWait {
		return 0
	}
	if c.snd.buf == nil {
		return c.s.sndPool.size
	}
	n := c.snd.free()
	if n == 0 {
		c.wantWritable = true
	}
	return n
}

// Write copies as much of b as fits into the send buffer and returns how
// much; it goes out at the end of the poll iteration. When it comes up
// short, Writable is called once space frees. It returns 0 once the
// connection's side is closed (CloseWrite) or the connection has ended.
func (c *Conn) Write(b []byte) int {
	switch c.state {
	case SynSent, SynReceived, Established, CloseWait:
	default:
		return 0
	}
	if c.finQueued || len(b) == 0 {
		return 0
	}
	if c.snd.buf == nil {
		buf, ok := c.s.sndPool.get()
		if !ok {
			c.s.C[DropNoBuffer]++
			c.wantWritable = true
			return 0
		}
		c.snd = ring{buf: buf}
	}
	n := c.snd.append(b)
	if n < len(b) {
		c.wantWritable = true
	}
	if n > 0 {
		c.markDirty()
	}
	return n
}

// CloseWrite sends FIN after the data written so far (half-close): the
// connection still receives. Before the peer has answered the SYN
// (SYN-SENT) it ends the connection: nothing was sent to close, and
// Closed runs with a nil error before CloseWrite returns. On
// a connection that has ended, or already closed for writing, it does
// nothing.
func (c *Conn) CloseWrite() {
	switch c.state {
	case SynReceived, Established:
		c.setState(FinWait1)
	case CloseWait:
		c.setState(LastAck)
	case SynSent:
		c.s.finish(c, nil)
		return
	default:
		return
	}
	c.finQueued = true
	c.markDirty()
}

// Close is CloseWrite, and the application takes no more data: data that
// still arrives is answered with a reset (RFC 9293 3.10.4 and common
// practice). So is a Close that leaves received data unread, so that the
// peer learns it was lost (RFC 1122 4.2.2.13); called from Recv, Close
// counts what Recv returns as read. On a connection that has ended it
// does nothing.
func (c *Conn) Close() {
	if c.state == Closed || c.state == TimeWait {
		return
	}
	c.readClosed = true
	if c.unread > 0 && !c.inRecv && c.resetUnread() {
		return
	}
	c.CloseWrite()
}

// resetUnread aborts a connection closed with received data unread, in the
// states where a reset reaches the peer; it reports whether it did.
func (c *Conn) resetUnread() bool {
	switch c.state {
	case Established, FinWait1, FinWait2, CloseWait:
		c.s.C[ClosedUnread]++
		c.Abort()
		return true
	}
	return false
}

// Abort resets the connection at once (RFC 9293 3.10.5 ABORT): the reset
// goes out now in SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2 and
// CLOSE-WAIT (in SYN-SENT, CLOSING and LAST-ACK the connection is only
// deleted), and the handler's Closed runs with ErrAborted before Abort
// returns. On a connection that has ended, TIME-WAIT included, it does
// nothing.
func (c *Conn) Abort() { c.abort(ErrAborted) }

// abort is Abort with the error Closed receives.
func (c *Conn) abort(err error) {
	switch c.state {
	case Closed, TimeWait:
		return
	case SynReceived, Established, FinWait1, FinWait2, CloseWait:
		c.sendRST(c.sndNxt, 0, false)
	}
	c.s.finish(c, err)
}

// Unread is how many received bytes the handler has not taken yet. During
// Recv it is len(data): everything unread is offered.
func (c *Conn) Unread() int {
	if c.inRecv {
		return c.offered
	}
	return c.unread
}

// Read offers the buffered received data to the handler's Recv again,
// at once (after it declined some), and ends a Pause. It does nothing
// else from Recv (the data is being offered), with nothing unread, or on
// a connection that has ended. Recv may decline again; with the receive
// buffer full that may abort the connection (see Handler), so Closed may
// run before Read returns.
func (c *Conn) Read() {
	c.paused = false
	c.deliver()
}

// Pause says that the handler declines data because its own consumer is
// not ready (a queue to another thread is full, say), not because it
// waits for more bytes: until the handler calls Read, the stack offers
// nothing to Recv, received data stays in the receive buffer and closes
// the window as it fills, and a full buffer does not abort the connection
// (see Handler). Called from Recv, it applies to what Recv leaves. This is
// flow control: the peer's zero-window probes keep the connection, as
// with a kernel socket nobody reads.
func (c *Conn) Pause() { c.paused = true }

// markDirty queues c for output at the end of the poll iteration
// (Flush), after the connections queued before it.
func (c *Conn) markDirty() {
	if !c.dirty {
		c.s.dirty.pushBack(c)
	}
}

// waitOutput puts c back where Flush took it from, first, after the
// Output refused a segment for a moment: it keeps its turn for the next
// Flush. Outside Flush (a timer, Connect) it joins this iteration's list.
func (c *Conn) waitOutput() {
	s := c.s
	s.blocked = true
	s.C[OutputWaits]++
	if c.dirty {
		return
	}
	if s.serving != nil {
		s.serving.pushFront(c)
	} else {
		s.dirty.pushBack(c)
	}
}

func (c *Conn) freeBuffers() {
	if c.snd.buf != nil {
		c.s.sndPool.put(c.snd.buf)
		c.snd = ring{}
	}
	if c.rcv.buf != nil {
		c.s.rcvPool.put(c.rcv.buf)
		c.rcv = ring{}
	}
}

// rcvWindow is the receive window from RCV.NXT: the buffer's room after
// the unread bytes.
func (c *Conn) rcvWindow() uint32 { return uint32(c.s.rcvPool.size - c.unread) }

// Info is a connection's state for listings.
type Info struct {
	ID         FourTuple
	State      State
	SendQueued int           // bytes written and not yet acknowledged
	Unread     int           // bytes received and not yet taken
	SndWnd     uint32        // the peer's window
	Cwnd       uint32        // congestion window
	SRTT, RTO  time.Duration // smoothed round-trip time, retransmission timeout
}

// Info describes the connection.
func (c *Conn) Info() Info {
	return Info{ID: c.id, State: c.state, SendQueued: c.snd.n, Unread: c.unread, SndWnd: c.sndWnd, Cwnd: c.cwnd,
		SRTT: time.Duration(c.srtt), RTO: time.Duration(c.rto)}
}

// String is the name used in logs and counter lines.
func (i Info) String() string {
	return fmt.Sprintf("%v:%d %v:%d %v send-queued=%d unread=%d snd-wnd=%d cwnd=%d srtt=%v rto=%v",
		i.ID.Local, i.ID.LocalPort, i.ID.Remote, i.ID.RemotePort, i.State, i.SendQueued, i.Unread, i.SndWnd, i.Cwnd, i.SRTT, i.RTO)
}
