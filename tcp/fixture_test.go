package tcp

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/pmdstack/pmd/ipv4"
)

// The state-machine tests drive one Stack from the peer's side: the test
// sends segments as the peer (send), the stack's Output records every
// segment it transmits (expect pops and compares them field by field,
// expectNothing checks none is left), and time is a virtual clock that
// the tests step the way an lcore does: Input for each received segment,
// Flush at the end of the poll iteration, Advance on every iteration.
//
// Sequence numbers in the tests are written relative to two bases read off
// the handshake: f.iss, the stack's initial sequence number (from its SYN
// or SYN-ACK: ISNs come from a keyed hash), and f.irs, the peer's, which
// the fixture chooses close to the wrap so that every test crosses it.

var (
	fxLocal  = ipv4.Addr(0x0a000001) // 10.0.0.1: the stack under test
	fxRemote = ipv4.Addr(0x0a000002) // 10.0.0.2: the peer the test plays
)

const (
	fxPort     = 80    // the stack's listening port (passive opens)
	fxPeerPort = 40000 // the peer's port (passive opens)
	fxSrvPort  = 8080  // the peer's listening port (active opens)

	// fxPeerISS is the peer's initial sequence number: 2 KiB before the
	// wrap, so the sequence numbers of most tests cross it.
	fxPeerISS = Seq(0xfffff800)
	// fxPeerTS is the peer's timestamp clock (RFC 7323): a test moves it
	// with f.peerTS.
	fxPeerTS = uint32(0x7f000000)

	// fxStart is the virtual clock at the start of every test: not on a
	// tick of the timing wheel.
	fxStart = int64(time.Hour) + 123457

	// fxStep is the virtual lcore's poll interval.
	fxStep = 100 * time.Microsecond
	// fxSlack is how late a timer may fire: one tick of the timing wheel
	// (2^20 ns) and one poll interval, rounded up.
	fxSlack = 2 * time.Millisecond
)

// fxSeed is the stack's ISN and cookie secret in the tests.
var fxSeed = [16]byte{0x70, 0x6d, 0x64, 0x2d, 0x74, 0x63, 0x70, 0x2d, 0x66, 0x69, 0x78, 0x74, 0x75, 0x72, 0x65, 0x21}

// recSeg is one segment the stack sent, parsed from a private copy of its
// bytes.
type recSeg struct {
	id  FourTuple
	seg Segment
	err error
}

// recOut is an Output that records what the stack sends. It allocates
// only while it grows: its buffers are reused after reset, so a test that
// resets it each round sees no allocation from it.
type recOut struct {
	bufs   [][]byte
	next   int // buffers handed out since reset
	sent   []recSeg
	head   int  // sent[head:] are not expected yet
	refuse bool // Alloc fails: no buffer free
	busy   bool // Alloc fails for a moment: the TX queue is full (Busy)
}

func newRecOut() *recOut {
	o := &recOut{sent: make([]recSeg, 0, 64)}
	for range 64 {
		o.bufs = append(o.bufs, make([]byte, 0, 2048))
	}
	return o
}

func (o *recOut) Busy() bool { return o.busy }

func (o *recOut) Alloc(id *FourTuple, n int) (uintptr, []byte, bool) {
	if o.refuse || o.busy {
		return 0, nil, false
	}
	i := o.next
	o.next++
	if i == len(o.bufs) {
		o.bufs = append(o.bufs, nil)
	}
	if cap(o.bufs[i]) < n {
		o.bufs[i] = make([]byte, n, max(n, 2048))
	}
	// Fill with garbage: EncodeHeader must write every header byte.
	b := o.bufs[i][:n]
	for j := range b {
		b[j] = 0xa5
	}
	return uintptr(i), b, true
}

func (o *recOut) Send(tok uintptr, id *FourTuple, n int) {
	h := Header(o.bufs[tok][:n])
	h.ComputeChecksum(id.Local, id.Remote) // what the link layer does
	r := recSeg{id: *id}
	if err := h.Check(); err != nil {
		r.err = err
	} else if h.Urgent() != 0 || h[tcpOffset]&0x0f != 0 {
		r.err = fmt.Errorf("urgent pointer %d, reserved bits %#x", h.Urgent(), h[tcpOffset]&0x0f)
	} else {
		r.err = ParseSegment(h, &r.seg)
	}
	o.sent = append(o.sent, r)
}

// reset forgets what was recorded and recycles the buffers.
func (o *recOut) reset() {
	o.sent = o.sent[:0]
	o.head = 0
	o.next = 0
}

// unexpected is what the stack sent that the test has not expected yet.
func (o *recOut) unexpected() []recSeg { return o.sent[o.head:] }

// recApp is a Handler that records the events of its connections. Recv
// takes everything unless take limits it (take < 0: everything); onRecv,
// onOpen and onWritable, when set, run instead of the default behaviour.
type recApp struct {
	conn       *Conn // the last connection opened
	opened     int
	got        []byte
	recvCalls  int
	take       int
	peerClosed int
	closed     int
	err        error
	writable   int

	onOpen     func(c *Conn)
	onRecv     func(c *Conn, d []byte) int
	onWritable func(c *Conn)
}

func (a *recApp) Open(c *Conn) {
	a.opened++
	a.conn = c
	if a.onOpen != nil {
		a.onOpen(c)
	}
}

func (a *recApp) Recv(c *Conn, d []byte) int {
	a.recvCalls++
	if a.onRecv != nil {
		return a.onRecv(c, d)
	}
	k := len(d)
	if a.take >= 0 {
		k = min(k, a.take)
	}
	a.got = append(a.got, d[:k]...)
	return k
}

func (a *recApp) Writable(c *Conn) {
	a.writable++
	if a.onWritable != nil {
		a.onWritable(c)
	}
}

func (a *recApp) PeerClosed(c *Conn) { a.peerClosed++ }

func (a *recApp) Closed(c *Conn, err error) {
	a.closed++
	a.err = err
}

// peerOpts is what the peer's SYN (or SYN-ACK) offers.
type peerOpts struct {
	mss   uint16 // 0: no MSS option
	ws    bool   // window scale, shift fxPeerShift
	sack  bool
	ts    bool
	wnd   uint16 // the window field of the SYN; 0 means 65535
	shift uint8  // the shift offered with ws; 0 means fxPeerShift
}

// fxPeerShift is the window scale the peer offers.
const fxPeerShift = 2

var (
	optsNone = peerOpts{mss: 1460}
	optsAll  = peerOpts{mss: 1460, ws: true, sack: true, ts: true}
)

func (o peerOpts) String() string {
	s := fmt.Sprintf("mss=%d", o.mss)
	if o.ws {
		s += ",ws"
	}
	if o.sack {
		s += ",sack"
	}
	if o.ts {
		s += ",ts"
	}
	return s
}

// synOptions are the options of the peer's SYN with TSval tsval.
func (o peerOpts) synOptions(tsval uint32) Options {
	opt := Options{MSS: o.mss, SACKPermitted: o.sack}
	if o.ws {
		opt.HasWScale, opt.WScale = true, o.peerShift()
	}
	if o.ts {
		opt.HasTS, opt.TSVal = true, tsval
	}
	return opt
}

func (o peerOpts) peerShift() uint8 {
	if o.shift != 0 {
		return o.shift
	}
	return fxPeerShift
}

func (o peerOpts) synWindow() uint16 {
	if o.wnd != 0 {
		return o.wnd
	}
	return 65535
}

// fixture is one stack, a peer played by the test, and one connection
// between them under test.
type fixture struct {
	t   *testing.T
	s   *Stack
	out *recOut
	now int64
	app *recApp
	l   *Listener
	c   *Conn     // the connection under test, once it exists
	id  FourTuple // its tuple, from the stack's side

	iss, irs Seq // initial sequence numbers: the stack's and the peer's
	// u and p follow the connection: u is the stack's next sequence
	// number as the peer knows it, p the peer's next sequence number.
	// The state helpers (finWait1 ...) move them; tests may too.
	u, p Seq

	opts    peerOpts      // what the peer offered in its SYN
	tsOK    bool          // timestamps negotiated: send fills them in, expect wants them
	peerTS  uint32        // the peer's TSval, sent when send fills in timestamps
	ourTS   uint32        // the TSval of the last segment the stack sent, the peer's TSecr
	peerWnd uint16        // the window the peer advertises in send's segments
	hsRTT   time.Duration // how long the peer takes to answer our SYN or SYN-ACK
	win     uint16        // the window field the stack advertises with an empty receive buffer

	inBuf []byte // the peer's segment is encoded here
}

// newFixture makes a stack with cfg (Seed filled in when zero) and a
// listener on fxPort whose handler is f.app.
func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	if cfg.Seed == ([16]byte{}) {
		cfg.Seed = fxSeed
	}
	f := &fixture{
		t:       t,
		out:     newRecOut(),
		now:     fxStart,
		app:     &recApp{take: -1},
		irs:     fxPeerISS,
		peerTS:  fxPeerTS,
		peerWnd: 65535,
		inBuf:   make([]byte, 0, 64<<10),
	}
	f.s = NewStack(cfg, f.out)
	l, err := f.s.Listen(fxPort, f.app)
	if err != nil {
		t.Fatal(err)
	}
	f.l = l
	f.id = FourTuple{Local: fxLocal, Remote: fxRemote, LocalPort: fxPort, RemotePort: fxPeerPort}
	t.Cleanup(func() {
		if !t.Failed() && len(f.out.unexpected()) > 0 {
			t.Errorf("segments sent and not expected at the end of the test:\n%s", f.pending())
		}
	})
	return f
}

// tsNow is the TSval the stack puts in a segment sent now (milliseconds).
func (f *fixture) tsNow() uint32 { return uint32(f.now / int64(time.Millisecond)) }

// rcvSize is the size of the stack's receive buffers (a power of two).
func (f *fixture) rcvSize() int { return f.s.rcvPool.size }

// fill completes a peer segment: ports, and timestamps when negotiated
// and the test gave none (a reset never carries them).
func (f *fixture) fill(seg *Segment) {
	if seg.SrcPort == 0 && seg.DstPort == 0 {
		seg.SrcPort, seg.DstPort = f.id.RemotePort, f.id.LocalPort
	}
	if f.tsOK && !seg.Opts.HasTS && seg.Flags&FlagRST == 0 {
		seg.Opts.HasTS, seg.Opts.TSVal, seg.Opts.TSEcr = true, f.peerTS, f.ourTS
	}
}

// encode writes seg into the fixture's input buffer and returns it as a
// header with a valid checksum.
func (f *fixture) encode(seg *Segment) Header {
	hl := seg.HeaderLen()
	b := f.inBuf[:hl+len(seg.Payload)]
	seg.EncodeHeader(b)
	copy(b[hl:], seg.Payload)
	h := Header(b)
	h.ComputeChecksum(f.id.Remote, f.id.Local)
	return h
}

// send delivers seg from the peer and ends the poll iteration (Flush).
func (f *fixture) send(seg Segment) {
	f.t.Helper()
	f.fill(&seg)
	f.input(f.encode(&seg))
}

// sendFrom is send from another port of the peer.
func (f *fixture) sendFrom(port uint16, seg Segment) {
	f.t.Helper()
	seg.SrcPort, seg.DstPort = port, f.id.LocalPort
	f.fill(&seg)
	f.input(f.encode(&seg))
}

// input delivers a raw segment from the peer, then flushes.
func (f *fixture) input(h Header) {
	f.s.Input(f.id.Local, f.id.Remote, h, f.now)
	f.s.Flush(f.now)
	f.noteTS()
	f.checkStates()
}

// flush ends a poll iteration in which the application acted.
func (f *fixture) flush() {
	f.s.Flush(f.now)
	f.noteTS()
	f.checkStates()
}

// checkStates compares the stack's count of connections by state, kept
// at each transition, with a walk of the table: every step of every
// fixture test checks it.
func (f *fixture) checkStates() {
	f.t.Helper()
	var want [NumStates]int
	f.s.Each(func(c *Conn) { want[c.State()]++ })
	if got := f.s.States(); got != want {
		f.t.Fatalf("States() = %v, the table holds %v", got, want)
	}
}

// noteTS remembers the stack's latest TSval for the peer to echo.
func (f *fixture) noteTS() {
	for _, r := range f.out.unexpected() {
		if r.seg.Opts.HasTS {
			f.ourTS = r.seg.Opts.TSVal
		}
	}
}

// poll runs the virtual lcore for d: the clock moves by fxStep and Advance
// runs at every step, as it does once per poll iteration.
func (f *fixture) poll(d time.Duration) {
	end := f.now + int64(d)
	for f.now < end {
		f.now = min(f.now+int64(fxStep), end)
		f.s.Advance(f.now)
	}
	f.noteTS()
}

// pollUntilSent runs the virtual lcore until the stack sends something or
// d has passed, and reports how long it ran.
func (f *fixture) pollUntilSent(d time.Duration) time.Duration {
	start := f.now
	end := f.now + int64(d)
	for f.now < end && len(f.out.unexpected()) == 0 {
		f.now = min(f.now+int64(fxStep), end)
		f.s.Advance(f.now)
	}
	f.noteTS()
	return time.Duration(f.now - start)
}

// expectTimer checks that a timer d from now sends want: nothing before d,
// then want within fxSlack. The clock is left at the moment it fired.
func (f *fixture) expectTimer(d time.Duration, want ...Segment) {
	f.t.Helper()
	f.waitTimer(d)
	for _, w := range want {
		f.expect(w)
	}
}

// waitTimer runs the lcore until a timer d from now sends something, and
// checks it did not fire early or late. The test then expects what it
// sent (with timestamps of the moment it fired).
func (f *fixture) waitTimer(d time.Duration) {
	f.t.Helper()
	took := f.pollUntilSent(d + fxSlack)
	if len(f.out.unexpected()) == 0 {
		f.t.Fatalf("nothing sent within %v (timer of %v)", took, d)
	}
	if took < d {
		f.t.Fatalf("timer of %v fired after %v:\n%s", d, took, f.pending())
	}
}

// peek is the first recorded segment not yet expected.
func (f *fixture) peek() Segment {
	f.t.Helper()
	if len(f.out.unexpected()) == 0 {
		f.t.Fatal("expected a segment, none was sent")
	}
	r := f.out.unexpected()[0]
	if r.err != nil {
		f.t.Fatalf("the stack sent a malformed segment: %v", r.err)
	}
	return r.seg
}

// pop removes and returns the first recorded segment.
func (f *fixture) pop() Segment {
	f.t.Helper()
	seg := f.peek()
	if f.out.head++; f.out.head == len(f.out.sent) {
		f.out.reset()
	}
	return seg
}

// expect checks that the next segment the stack sent is want, exactly:
// tuple, flags, sequence and acknowledgment numbers, window, options and
// payload. Ports are filled in when want has none; timestamps when they
// were negotiated and want has none (TSval now, TSecr the peer's TSval),
// except in a reset.
func (f *fixture) expect(want Segment) {
	f.t.Helper()
	if u := f.out.unexpected(); len(u) > 0 && u[0].id != f.id {
		f.t.Errorf("segment sent to %+v, want %+v", u[0].id, f.id)
	}
	got := f.pop()
	if want.SrcPort == 0 && want.DstPort == 0 {
		want.SrcPort, want.DstPort = f.id.LocalPort, f.id.RemotePort
	}
	if f.tsOK && !want.Opts.HasTS && want.Flags&FlagRST == 0 && want.Flags&FlagSYN == 0 {
		want.Opts.HasTS, want.Opts.TSVal, want.Opts.TSEcr = true, f.tsNow(), f.peerTS
	}
	if d := segDiff(&got, &want, f); d != "" {
		f.t.Errorf("sent  %s\nwant  %s\n%s", f.fmtSeg(&got), f.fmtSeg(&want), d)
	}
}

// expectNothing checks that the stack sent nothing not yet expected.
func (f *fixture) expectNothing() {
	f.t.Helper()
	if len(f.out.unexpected()) > 0 {
		f.t.Errorf("expected nothing, the stack sent:\n%s", f.pending())
		f.out.reset()
	}
}

// pending lists the recorded segments not yet expected.
func (f *fixture) pending() string {
	var s string
	for _, r := range f.out.unexpected() {
		if r.err != nil {
			s += fmt.Sprintf("  malformed: %v\n", r.err)
			continue
		}
		s += "  " + f.fmtSeg(&r.seg) + "\n"
	}
	return s
}

// segDiff names the fields in which got differs from want.
func segDiff(got, want *Segment, f *fixture) string {
	var d string
	add := func(name string, g, w any) { d += fmt.Sprintf("  %s: sent %v, want %v\n", name, g, w) }
	if got.SrcPort != want.SrcPort || got.DstPort != want.DstPort {
		add("ports", fmt.Sprint(got.SrcPort, "->", got.DstPort), fmt.Sprint(want.SrcPort, "->", want.DstPort))
	}
	if got.Flags != want.Flags {
		add("flags", got.Flags, want.Flags)
	}
	if got.Seq != want.Seq {
		add("seq", f.rel(got.Seq), f.rel(want.Seq))
	}
	if got.Ack != want.Ack {
		add("ack", f.rel(got.Ack), f.rel(want.Ack))
	}
	if got.Window != want.Window {
		add("window", got.Window, want.Window)
	}
	if got.Opts != want.Opts {
		add("options", fmtOpts(&got.Opts), fmtOpts(&want.Opts))
	}
	if !bytes.Equal(got.Payload, want.Payload) {
		add("payload", fmt.Sprintf("%d bytes %.16q", len(got.Payload), got.Payload), fmt.Sprintf("%d bytes %.16q", len(want.Payload), want.Payload))
	}
	return d
}

// rel writes a sequence number relative to the ISN it is nearest to.
func (f *fixture) rel(s Seq) string {
	du, dp := int32(s-f.iss), int32(s-f.irs)
	switch {
	case f.iss != 0 && du >= -1<<20 && du < 1<<24:
		return fmt.Sprintf("iss%+d", du)
	case dp >= -1<<20 && dp < 1<<24:
		return fmt.Sprintf("irs%+d", dp)
	}
	return fmt.Sprintf("%#x", uint32(s))
}

func (f *fixture) fmtSeg(s *Segment) string {
	return fmt.Sprintf("%d->%d %v seq=%s ack=%s win=%d len=%d %s", s.SrcPort, s.DstPort, s.Flags, f.rel(s.Seq), f.rel(s.Ack), s.Window, len(s.Payload), fmtOpts(&s.Opts))
}

func fmtOpts(o *Options) string {
	s := "["
	if o.MSS != 0 {
		s += fmt.Sprintf(" mss=%d", o.MSS)
	}
	if o.HasWScale {
		s += fmt.Sprintf(" ws=%d", o.WScale)
	}
	if o.SACKPermitted {
		s += " sackok"
	}
	if o.HasTS {
		s += fmt.Sprintf(" ts=%d/%d", o.TSVal, o.TSEcr)
	}
	for _, b := range o.SACK[:max(0, min(o.NSACK, len(o.SACK)))] {
		s += fmt.Sprintf(" sack=%d-%d", b.Left, b.Right)
	}
	return s + " ]"
}

// expectState checks the connection's state.
func (f *fixture) expectState(want State) {
	f.t.Helper()
	if got := f.c.State(); got != want {
		f.t.Fatalf("state %v, want %v", got, want)
	}
}

// expectGone checks that the connection left the table.
func (f *fixture) expectGone() {
	f.t.Helper()
	if f.s.Lookup(f.id) != nil || f.s.Conns() != 0 {
		f.t.Fatalf("connection still in the table (%d entries)", f.s.Conns())
	}
}

// counter checks a counter's value.
func (f *fixture) counter(c Counter, want uint64) {
	f.t.Helper()
	if got := f.s.C[c]; got != want {
		f.t.Errorf("%v = %d, want %d", c, got, want)
	}
}

// payload is n bytes of recognisable data starting at offset off of a
// stream.
func payload(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + (off+i)%26)
	}
	return b
}

// ackSeg is the peer's bare ACK.
func (f *fixture) ackSeg(seq, ack Seq) Segment {
	return Segment{Flags: FlagACK, Seq: seq, Ack: ack, Window: f.peerWnd}
}

// dataSeg is the peer's data segment (PSH|ACK).
func (f *fixture) dataSeg(seq, ack Seq, data []byte) Segment {
	return Segment{Flags: FlagACK | FlagPSH, Seq: seq, Ack: ack, Window: f.peerWnd, Payload: data}
}

// ourSYNOpts are the options the stack puts in its SYN or SYN-ACK for a
// peer that offered o (everything, on an active open).
func (f *fixture) ourSYNOpts(o peerOpts, active bool) Options {
	mss := f.s.cfg.MSS
	opt := Options{MSS: mss}
	if active || o.ws {
		opt.HasWScale, opt.WScale = true, windowShift(f.rcvSize())
	}
	if active || o.sack {
		opt.SACKPermitted = true
	}
	if active || o.ts {
		opt.HasTS, opt.TSVal = true, f.tsNow()
		if !active {
			opt.TSEcr = f.peerTS
		}
	}
	return opt
}

// negotiated records what the handshake agreed on, for the helpers.
func (f *fixture) negotiated(o peerOpts) {
	f.opts = o
	f.tsOK = o.ts
	if o.ws {
		f.win = uint16(min(f.rcvSize()>>windowShift(f.rcvSize()), 0xffff))
	} else {
		f.win = uint16(min(f.rcvSize(), 0xffff))
	}
}

// synReceived brings a passive open to SYN-RECEIVED: the peer's SYN with
// options o, and the stack's SYN-ACK answering only what o offered.
func (f *fixture) synReceived(o peerOpts) {
	f.t.Helper()
	f.send(Segment{Flags: FlagSYN, Seq: f.irs, Window: o.synWindow(), Opts: o.synOptions(f.peerTS)})
	f.iss = f.peek().Seq
	f.expect(Segment{Flags: FlagSYN | FlagACK, Seq: f.iss, Ack: f.irs + 1, Window: uint16(min(f.rcvSize(), 0xffff)), Opts: f.ourSYNOpts(o, false)})
	f.c = f.s.Lookup(f.id)
	if f.c == nil {
		f.t.Fatal("no connection after the SYN")
	}
	f.expectState(SynReceived)
	f.negotiated(o)
	f.u, f.p = f.iss+1, f.irs+1
}

// passiveOpen is LISTEN -> SYN-RECEIVED -> ESTABLISHED.
func (f *fixture) passiveOpen(o peerOpts) {
	f.t.Helper()
	f.synReceived(o)
	f.poll(f.hsRTT)
	f.send(f.ackSeg(f.p, f.u))
	f.expectNothing()
	f.expectState(Established)
	if f.app.opened != 1 || f.app.conn != f.c {
		f.t.Fatalf("Open called %d times", f.app.opened)
	}
}

// activeOpen is CLOSED -> SYN-SENT -> ESTABLISHED: Connect, the SYN
// offering everything, the peer's SYN-ACK offering o, the stack's ACK.
func (f *fixture) activeOpen(o peerOpts) {
	f.t.Helper()
	f.synSent()
	f.poll(f.hsRTT)
	f.send(Segment{Flags: FlagSYN | FlagACK, Seq: f.irs, Ack: f.iss + 1, Window: o.synWindow(), Opts: f.synAckOpts(o)})
	f.negotiated(o)
	f.u, f.p = f.iss+1, f.irs+1
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.expectState(Established)
	if f.app.opened != 1 {
		f.t.Fatalf("Open called %d times", f.app.opened)
	}
}

// synAckOpts are the options of the peer's SYN-ACK: o, with TSecr echoing
// the stack's SYN.
func (f *fixture) synAckOpts(o peerOpts) Options {
	opt := o.synOptions(f.peerTS)
	if o.ts {
		opt.TSEcr = f.ourTS
	}
	return opt
}

// synSent is Connect from the stack to the peer's fxSrvPort: CLOSED ->
// SYN-SENT, the SYN offering MSS, window scale, SACK and timestamps.
func (f *fixture) synSent() {
	f.t.Helper()
	f.connect()
	f.flush()
	if f.id.Local != fxLocal || f.id.Remote != fxRemote || f.id.RemotePort != fxSrvPort ||
		f.id.LocalPort < f.s.cfg.PortMin || f.id.LocalPort > f.s.cfg.PortMax {
		f.t.Fatalf("tuple %+v", f.id)
	}
	f.expectSYN()
	f.expectState(SynSent)
	f.u = f.iss + 1
}

// connect opens the fixture's connection to the peer's listening port.
func (f *fixture) connect() {
	f.t.Helper()
	c, err := f.s.Connect(fxLocal, fxRemote, fxSrvPort, f.app, f.now)
	if err != nil {
		f.t.Fatal(err)
	}
	f.c, f.id = c, c.ID()
}

// expectSYN takes the stack's SYN, offering everything, and notes its ISN.
func (f *fixture) expectSYN() {
	f.t.Helper()
	f.iss = f.peek().Seq
	f.expect(Segment{Flags: FlagSYN, Seq: f.iss, Window: uint16(min(f.rcvSize(), 0xffff)), Opts: f.ourSYNOpts(peerOpts{}, true)})
}

// established is a fixture with a passively opened connection with the
// peer's options o.
func established(t *testing.T, cfg Config, o peerOpts) *fixture {
	t.Helper()
	f := newFixture(t, cfg)
	f.passiveOpen(o)
	return f
}

// finWait1: the application closes its side of an ESTABLISHED
// connection (CloseWrite: it still reads); its FIN goes out.
func (f *fixture) finWait1() {
	f.t.Helper()
	f.c.CloseWrite()
	f.flush()
	f.expect(Segment{Flags: FlagFIN | FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.u++
	f.expectState(FinWait1)
}

// finWait2: the peer acknowledges the FIN.
func (f *fixture) finWait2() {
	f.t.Helper()
	f.finWait1()
	f.send(f.ackSeg(f.p, f.u))
	f.expectNothing()
	f.expectState(FinWait2)
}

// timeWait: the peer's FIN in FIN-WAIT-2, acknowledged.
func (f *fixture) timeWait() {
	f.t.Helper()
	f.finWait2()
	f.send(Segment{Flags: FlagFIN | FlagACK, Seq: f.p, Ack: f.u, Window: f.peerWnd})
	f.p++
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.expectState(TimeWait)
}

// closing: the peer's FIN crosses ours in FIN-WAIT-1.
func (f *fixture) closing() {
	f.t.Helper()
	f.finWait1()
	f.send(Segment{Flags: FlagFIN | FlagACK, Seq: f.p, Ack: f.u - 1, Window: f.peerWnd})
	f.p++
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.expectState(Closing)
}

// closeWait: the peer's FIN in ESTABLISHED, acknowledged at once.
func (f *fixture) closeWait() {
	f.t.Helper()
	f.send(Segment{Flags: FlagFIN | FlagACK, Seq: f.p, Ack: f.u, Window: f.peerWnd})
	f.p++
	f.expect(Segment{Flags: FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.expectState(CloseWait)
	if f.app.peerClosed != 1 {
		f.t.Fatalf("PeerClosed called %d times", f.app.peerClosed)
	}
}

// lastAck: the application closes in CLOSE-WAIT; its FIN goes out.
func (f *fixture) lastAck() {
	f.t.Helper()
	f.closeWait()
	f.c.Close()
	f.flush()
	f.expect(Segment{Flags: FlagFIN | FlagACK, Seq: f.u, Ack: f.p, Window: f.win})
	f.u++
	f.expectState(LastAck)
}

// fxOptionSets are the option combinations of the passive-open tests.
var fxOptionSets = []peerOpts{
	{},
	{mss: 1460},
	{mss: 1200, ws: true},
	{mss: 1460, sack: true},
	{mss: 1460, ts: true},
	{mss: 1460, ws: true, sack: true},
	{mss: 1460, ws: true, ts: true},
	{mss: 1460, sack: true, ts: true},
	optsAll,
	{mss: 9000, ws: true, sack: true, ts: true, shift: 14, wnd: 1000},
}
