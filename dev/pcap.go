package dev

import (
	"encoding/binary"
	"io"
	"sync/atomic"
)

// Pcap is a queue that records every frame it receives and sends, in the
// classic pcap format (Ethernet link type, microsecond timestamps), then
// behaves as the queue it wraps. Received frames are recorded as the
// device handed them over, sent ones as queued for the device: a checksum
// left to the device's offload is recorded unfilled, as tcpdump shows it
// on a host with offloads. A VLAN tag the device strips or inserts is
// recorded in the frame, where it is on the wire.
//
// Records go to a buffer that reaches the writer when full, at a Poll a
// second after the last write, and at Close, so that a capture costs one
// clock read per poll, one write per buffer and no allocation per packet.
// Frames are stamped with the time of the poll that received them or
// that preceded their sending. A file stops growing at
// its limit; what it skips is counted (QueueStats.PcapSkipped).
type Pcap struct {
	Queue
	// On switches recording; any goroutine may flip it (pmd does on
	// SIGUSR2). While it is off nothing is recorded or counted, and what
	// was buffered is written at the next Poll.
	On      atomic.Bool
	w       io.Writer
	now     func() int64 // wall-clock nanoseconds
	snap    int
	left    int64 // bytes the file may still take
	buf     []byte
	flushed int64 // when buf last went to w
	t       int64 // the last Poll's time: the stamp of what it and the sends after it record
	skipped uint64
	err     error
	tag     []byte // a tagged frame being recorded
}

// PcapBuffer is the size of a Pcap's buffer.
const PcapBuffer = 1 << 20

// pcapHeaderLen and pcapRecordLen are the file header and per-record
// header lengths of the classic pcap format.
const (
	pcapHeaderLen = 24
	pcapRecordLen = 16
)

// NewPcap wraps q: frames go to w, cut to snap bytes (0: whole frames),
// stamped by now (nanoseconds since the Unix epoch), until the file holds
// limit bytes (0: no limit). It writes the file header at once.
func NewPcap(q Queue, w io.Writer, snap int, limit int64, now func() int64) (*Pcap, error) {
	if snap <= 0 || snap > 65535 {
		snap = 65535
	}
	if limit <= 0 {
		limit = 1<<63 - 1
	}
	p := &Pcap{Queue: q, w: w, now: now, snap: snap, left: limit - pcapHeaderLen, buf: make([]byte, 0, PcapBuffer)}
	var h [pcapHeaderLen]byte
	le := binary.LittleEndian
	le.PutUint32(h[0:], 0xa1b2c3d4) // microsecond timestamps
	le.PutUint16(h[4:], 2)          // version 2.4
	le.PutUint16(h[6:], 4)
	le.PutUint32(h[16:], uint32(snap))
	le.PutUint32(h[20:], 1) // LINKTYPE_ETHERNET
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	p.t = now()
	p.flushed = p.t
	p.On.Store(true)
	return p, nil
}

// record appends one frame, with an 802.1Q tag of tci behind its MAC
// addresses unless tci is 0: the device (or the queue) strips and inserts
// tags, and the capture shows the frame as it is on the wire.
func (p *Pcap) record(frame []byte, tci uint16) {
	if tci != 0 {
		p.tag = appendTagged(p.tag[:0], frame, tci)
		frame = p.tag
	}
	n := min(len(frame), p.snap)
	size := int64(pcapRecordLen + n)
	if p.err != nil || size > p.left {
		p.skipped++
		return
	}
	if len(p.buf)+int(size) > cap(p.buf) {
		p.write()
		if p.err != nil {
			p.skipped++
			return
		}
	}
	t := p.t
	var h [pcapRecordLen]byte
	le := binary.LittleEndian
	le.PutUint32(h[0:], uint32(t/1e9))
	le.PutUint32(h[4:], uint32(t%1e9/1e3))
	le.PutUint32(h[8:], uint32(n))
	le.PutUint32(h[12:], uint32(len(frame)))
	p.buf = append(p.buf, h[:]...)
	p.buf = append(p.buf, frame[:n]...)
	p.left -= size
}

// write hands the buffer to the writer. A failed write stops the capture
// (the queue itself goes on).
func (p *Pcap) write() {
	if len(p.buf) > 0 && p.err == nil {
		_, p.err = p.w.Write(p.buf)
	}
	p.buf = p.buf[:0]
	p.flushed = p.t
}

// Poll polls the wrapped queue and records what arrived.
func (p *Pcap) Poll() int {
	n := p.Queue.Poll()
	p.t = p.now()
	on := p.On.Load()
	if len(p.buf) > 0 && (!on || p.t-p.flushed >= 1e9) {
		p.write()
	}
	if !on {
		return n
	}
	for i := 0; i < n; i++ {
		_, data, meta := p.Queue.Packet(i)
		p.record(data, meta.VLAN)
	}
	return n
}

// Send records the frame and queues it.
func (p *Pcap) Send(b Buf, n int, o Offload) {
	if p.On.Load() {
		p.record(p.Queue.Data(b)[:n], o.TCI())
	}
	p.Queue.Send(b, n, o)
}

// Close writes what is buffered and reports the first write error.
func (p *Pcap) Close() error {
	p.write()
	return p.err
}

// Stats adds the capture's own count to the wrapped queue's.
func (p *Pcap) Stats() QueueStats {
	s := p.Queue.Stats()
	s.PcapSkipped += p.skipped
	return s
}
