package dev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/pmdstack/pmd/ipv4"
)

// frame is a recognisable frame of n bytes: byte i is i+seed.
func frame(n int, seed byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = byte(i) + seed
	}
	return f
}

// pcapRecord is one record read back from a capture.
type pcapRecord struct {
	sec, usec uint32
	orig      int
	data      []byte
}

// readPcap parses a classic pcap file, failing the test on any error.
func readPcap(t *testing.T, b []byte) (snap uint32, recs []pcapRecord) {
	t.Helper()
	le := binary.LittleEndian
	if len(b) < 24 || le.Uint32(b) != 0xa1b2c3d4 || le.Uint16(b[4:]) != 2 || le.Uint16(b[6:]) != 4 || le.Uint32(b[20:]) != 1 {
		t.Fatalf("bad pcap header % x", b[:min(len(b), 24)])
	}
	snap = le.Uint32(b[16:])
	for b = b[24:]; len(b) > 0; {
		if len(b) < 16 {
			t.Fatalf("truncated record header: %d bytes", len(b))
		}
		incl := int(le.Uint32(b[8:]))
		if len(b) < 16+incl {
			t.Fatalf("truncated record: %d of %d bytes", len(b)-16, incl)
		}
		recs = append(recs, pcapRecord{le.Uint32(b), le.Uint32(b[4:]), int(le.Uint32(b[12:])), b[16 : 16+incl]})
		b = b[16+incl:]
	}
	return snap, recs
}

func TestPcapRecordsBothDirections(t *testing.T) {
	m := NewMem(16, 2048, ipv4.ChecksumCaps{})
	var out bytes.Buffer
	now := int64(1_700_000_000_123_456_789)
	p, err := NewPcap(m, &out, 0, 0, func() int64 { return now })
	if err != nil {
		t.Fatal(err)
	}
	in1, in2 := frame(60, 1), frame(1514, 2)
	m.Inject(in1, RxMeta{})
	m.Inject(in2, RxMeta{})
	if n := p.Poll(); n != 2 {
		t.Fatalf("Poll = %d, want 2", n)
	}
	for i := range 2 {
		b, _, _ := p.Packet(i)
		p.Free(b)
	}
	b, data, ok := p.Alloc()
	if !ok {
		t.Fatal("Alloc failed")
	}
	sent := frame(99, 3)
	copy(data[:cap(data)], sent)
	p.Send(b, len(sent), 0)
	p.Flush()
	if out.Len() != 24 {
		t.Fatalf("%d bytes written before Close: records should wait in the buffer", out.Len())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	snap, recs := readPcap(t, out.Bytes())
	if snap != 65535 || len(recs) != 3 {
		t.Fatalf("snaplen %d, %d records; want 65535 and 3", snap, len(recs))
	}
	for i, want := range [][]byte{in1, in2, sent} {
		r := recs[i]
		if !bytes.Equal(r.data, want) || r.orig != len(want) {
			t.Errorf("record %d: %d bytes (orig %d), want the %d-byte frame", i, len(r.data), r.orig, len(want))
		}
		if r.sec != 1_700_000_000 || r.usec != 123_456 {
			t.Errorf("record %d stamped %d.%06d, want 1700000000.123456", i, r.sec, r.usec)
		}
	}
	if m.InUse() != 0 {
		t.Errorf("%d buffers not given back", m.InUse())
	}
}

func TestPcapSnaplenAndLimit(t *testing.T) {
	m := NewMem(8, 2048, ipv4.ChecksumCaps{})
	var out bytes.Buffer
	// Room for the header and two 16+100-byte records, not a third.
	p, err := NewPcap(m, &out, 100, 24+2*116+50, func() int64 { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		m.Inject(frame(300, byte(i)), RxMeta{})
	}
	n := p.Poll()
	for i := range n {
		b, _, _ := p.Packet(i)
		p.Free(b)
	}
	p.Close()
	snap, recs := readPcap(t, out.Bytes())
	if snap != 100 || len(recs) != 2 {
		t.Fatalf("snaplen %d, %d records; want 100 and 2", snap, len(recs))
	}
	if r := recs[1]; r.orig != 300 || !bytes.Equal(r.data, frame(300, 1)[:100]) {
		t.Errorf("second record: %d bytes of %d, want the first 100 of 300", len(r.data), r.orig)
	}
	if s := p.Stats(); s.PcapSkipped != 1 {
		t.Errorf("PcapSkipped = %d, want 1", s.PcapSkipped)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(b []byte) (int, error) {
	if w.n++; w.n > 1 {
		return 0, errors.New("disk full")
	}
	return len(b), nil
}

func TestPcapWriteErrorStopsCaptureNotTraffic(t *testing.T) {
	m := NewMem(8, 2048, ipv4.ChecksumCaps{})
	p, err := NewPcap(m, &failWriter{}, 0, 0, func() int64 { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	m.Inject(frame(64, 0), RxMeta{})
	if p.Poll() != 1 {
		t.Fatal("the frame did not come through")
	}
	b, _, _ := p.Packet(0)
	p.Free(b)
	if err := p.Close(); err == nil || err.Error() != "disk full" {
		t.Fatalf("Close = %v, want the write error", err)
	}
	m.Inject(frame(64, 0), RxMeta{})
	if p.Poll() != 1 {
		t.Fatal("traffic stopped with the capture")
	}
	b, _, _ = p.Packet(0)
	p.Free(b)
	if s := p.Stats(); s.PcapSkipped != 1 {
		t.Errorf("PcapSkipped = %d, want 1", s.PcapSkipped)
	}
}

func TestPcapNoAllocations(t *testing.T) {
	m := NewMem(8, 2048, ipv4.ChecksumCaps{})
	var out bytes.Buffer
	out.Grow(64 << 20)
	p, _ := NewPcap(m, &out, 0, 0, func() int64 { return 0 })
	f := frame(128, 0)
	allocs := testing.AllocsPerRun(1000, func() {
		m.Inject(f, RxMeta{})
		p.Poll()
		b, _, _ := p.Packet(0)
		p.Send(b, len(f), 0)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per received and sent frame, want 0", allocs)
	}
}

// faultRun pushes n distinct frames through a Faults queue over Mem in
// bursts and returns what came out, in order, by seed byte.
func faultRun(t *testing.T, c FaultConfig, n int) (got []byte, f *Faults, m *Mem) {
	t.Helper()
	m = NewMem(64, 2048, ipv4.ChecksumCaps{})
	f = NewFaults(m, c)
	for i := 0; i < n; {
		for j := 0; j < 8 && i < n; j++ {
			if !m.Inject(frame(100, byte(i)), RxMeta{IPCksum: ipv4.RxCksumGood, L4Cksum: ipv4.RxCksumGood}) {
				t.Fatal("pool dry: frames leak")
			}
			i++
		}
		got = drain(f, got)
	}
	for range 2 { // what the last poll held back
		got = drain(f, got)
	}
	return got, f, m
}

func drain(f *Faults, got []byte) []byte {
	k := f.Poll()
	for i := range k {
		b, data, _ := f.Packet(i)
		got = append(got, data[0])
		f.Free(b)
	}
	return got
}

func TestFaultsReceive(t *testing.T) {
	const n = 20000
	t.Run("none", func(t *testing.T) {
		got, _, m := faultRun(t, FaultConfig{RX: true, TX: true, Seed: 1}, n)
		if len(got) != n || m.InUse() != 0 {
			t.Fatalf("%d of %d frames, %d buffers held", len(got), n, m.InUse())
		}
		for i, g := range got {
			if g != byte(i) {
				t.Fatalf("frame %d out of order", i)
			}
		}
	})
	t.Run("drop", func(t *testing.T) {
		got, f, m := faultRun(t, FaultConfig{Drop: 0.1, RX: true, Seed: 1}, n)
		s := f.Stats()
		if len(got)+int(s.FaultDropped) != n || m.InUse() != 0 {
			t.Fatalf("%d delivered + %d dropped != %d, %d buffers held", len(got), s.FaultDropped, n, m.InUse())
		}
		if s.FaultDropped < n/10*8/10 || s.FaultDropped > n/10*12/10 {
			t.Errorf("dropped %d of %d at rate 0.1", s.FaultDropped, n)
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		got, f, m := faultRun(t, FaultConfig{Duplicate: 0.1, RX: true, Seed: 2}, n)
		s := f.Stats()
		if len(got) != n+int(s.FaultDuplicated) || m.InUse() != 0 {
			t.Fatalf("%d delivered, want %d + %d duplicates; %d buffers held", len(got), n, s.FaultDuplicated, m.InUse())
		}
		if s.FaultDuplicated < n/10*8/10 || s.FaultDuplicated > n/10*12/10 {
			t.Errorf("duplicated %d of %d at rate 0.1", s.FaultDuplicated, n)
		}
	})
	t.Run("reorder", func(t *testing.T) {
		got, f, m := faultRun(t, FaultConfig{Reorder: 0.1, RX: true, Seed: 3}, n)
		s := f.Stats()
		if len(got) != n || m.InUse() != 0 {
			t.Fatalf("%d of %d frames, %d buffers held", len(got), n, m.InUse())
		}
		late := 0
		for i := 1; i < len(got); i++ {
			if got[i] != got[i-1]+1 {
				late++
			}
		}
		if s.FaultReordered < n/10*8/10 || s.FaultReordered > n/10*12/10 || late == 0 {
			t.Errorf("reordered %d of %d at rate 0.1, %d breaks in sequence", s.FaultReordered, n, late)
		}
	})
}

func TestFaultsCorruptOneBitAndWithdrawVerdict(t *testing.T) {
	m := NewMem(8, 2048, ipv4.ChecksumCaps{})
	f := NewFaults(m, FaultConfig{Corrupt: 1, RX: true, Seed: 4})
	for range 100 {
		orig := frame(200, 7)
		m.Inject(orig, RxMeta{IPCksum: ipv4.RxCksumGood, L4Cksum: ipv4.RxCksumGood})
		if f.Poll() != 1 {
			t.Fatal("frame lost")
		}
		b, data, meta := f.Packet(0)
		if meta.IPCksum != ipv4.RxCksumUnknown || meta.L4Cksum != ipv4.RxCksumUnknown {
			t.Fatalf("verdicts %v/%v kept on a corrupted frame: the stack would trust it", meta.IPCksum, meta.L4Cksum)
		}
		flipped := 0
		for i := range data {
			d := data[i] ^ orig[i]
			if d != 0 && i < ipv4.EthernetHeaderLen {
				t.Fatalf("byte %d of the Ethernet header changed", i)
			}
			for ; d != 0; d &= d - 1 {
				flipped++
			}
		}
		if flipped != 1 {
			t.Fatalf("%d bits flipped, want 1", flipped)
		}
		f.Free(b)
	}
}

func TestFaultsTransmit(t *testing.T) {
	send := func(c FaultConfig, n int) ([]byte, *Faults, *Mem) {
		m := NewMem(64, 2048, ipv4.ChecksumCaps{})
		f := NewFaults(m, c)
		var got []byte
		for i := 0; i < n; i++ {
			b, data, ok := f.Alloc()
			if !ok {
				t.Fatal("pool dry: frames leak")
			}
			f.Send(b, copy(data[:100], frame(100, byte(i))), 0)
			if i%8 == 7 || i == n-1 {
				f.Poll()
				for _, s := range m.Sent() {
					got = append(got, s[0])
				}
			}
		}
		f.Poll()
		for _, s := range m.Sent() {
			got = append(got, s[0])
		}
		return got, f, m
	}
	const n = 20000
	got, f, m := send(FaultConfig{Drop: 0.05, Duplicate: 0.05, Reorder: 0.05, Corrupt: 1, TX: true, Seed: 5}, n)
	s := f.Stats()
	if len(got) != n-int(s.FaultDropped)+int(s.FaultDuplicated) || m.InUse() != 0 {
		t.Fatalf("%d sent, want %d - %d dropped + %d duplicated; %d buffers held", len(got), n, s.FaultDropped, s.FaultDuplicated, m.InUse())
	}
	if s.FaultCorrupted != 0 {
		t.Errorf("%d frames corrupted on transmit: corruption is for received frames only", s.FaultCorrupted)
	}
	if s.FaultDropped == 0 || s.FaultDuplicated == 0 || s.FaultReordered == 0 {
		t.Errorf("faults %+v: each kind should have happened", s)
	}
	// RX only: transmit untouched.
	got, f, _ = send(FaultConfig{Drop: 1, RX: true, Seed: 6}, 100)
	if len(got) != 100 || f.Stats().FaultDropped != 0 {
		t.Errorf("RX-only faults touched transmit: %d of 100 sent", len(got))
	}
}

func TestFaultsCloseFreesHeld(t *testing.T) {
	m := NewMem(8, 2048, ipv4.ChecksumCaps{})
	f := NewFaults(m, FaultConfig{Reorder: 1, RX: true, TX: true, Seed: 7})
	m.Inject(frame(64, 0), RxMeta{})
	if f.Poll() != 0 {
		t.Fatal("a frame held back was handed over at once")
	}
	b, _, _ := f.Alloc()
	f.Send(b, 64, 0)
	f.Close()
	if m.InUse() != 0 {
		t.Errorf("%d buffers still held after Close", m.InUse())
	}
}

func TestFaultsSameSeedSameFaults(t *testing.T) {
	c := FaultConfig{Drop: 0.1, Duplicate: 0.1, Reorder: 0.1, RX: true, Seed: 42}
	a, _, _ := faultRun(t, c, 5000)
	b, _, _ := faultRun(t, c, 5000)
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave different faults")
	}
	c.Seed = 43
	if d, _, _ := faultRun(t, c, 5000); bytes.Equal(a, d) {
		t.Error("another seed gave the same faults")
	}
}

func TestFaultThresholds(t *testing.T) {
	for _, c := range []struct {
		p    float64
		want uint64
	}{{0, 0}, {-1, 0}, {1, ^uint64(0)}, {2, ^uint64(0)}, {0.9999999999999999, 1<<64 - 1<<11}, {0.5, 1 << 63}} {
		if got := threshold(c.p); got != c.want {
			t.Errorf("threshold(%v) = %#x, want %#x", c.p, got, c.want)
		}
	}
}

func TestPcapSwitch(t *testing.T) {
	m := NewMem(8, 2048, ipv4.ChecksumCaps{})
	var out bytes.Buffer
	p, _ := NewPcap(m, &out, 0, 0, func() int64 { return 0 })
	round := func(seed byte) {
		m.Inject(frame(80, seed), RxMeta{})
		p.Poll()
		b, _, _ := p.Packet(0)
		p.Send(b, 80, 0)
	}
	round(1)
	p.On.Store(false)
	round(2) // this poll writes what the first round buffered
	if _, recs := readPcap(t, out.Bytes()); len(recs) != 2 {
		t.Fatalf("%d records written when the capture was switched off, want the first round's 2", len(recs))
	}
	round(3)
	p.On.Store(true)
	round(4)
	p.Close()
	_, recs := readPcap(t, out.Bytes())
	if len(recs) != 4 || recs[0].data[0] != 1 || recs[2].data[0] != 4 {
		t.Fatalf("%d records; want the 2 frames of round 1 and the 2 of round 4", len(recs))
	}
	if p.Stats().PcapSkipped != 0 {
		t.Error("frames not recorded while switched off counted as skipped")
	}
}

// TestFaultsSet: rates changed while the queue runs take effect at once
// and read back as set.
func TestFaultsSet(t *testing.T) {
	f := NewFaults(nil, FaultConfig{Drop: 0.25, RX: true})
	want := FaultConfig{Drop: 0, Duplicate: 0.5, Reorder: 1, Corrupt: 0.125, TX: true}
	f.Set(want)
	if got := f.Rates(); got != want {
		t.Errorf("Rates() = %+v, want %+v", got, want)
	}
	if f.hit(&f.drop) || !f.hit(&f.reorder) {
		t.Error("a rate of 0 hit, or a rate of 1 missed")
	}
}
