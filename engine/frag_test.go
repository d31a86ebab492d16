package engine

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/frag"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

func fragTestConfig() FragConfig {
	return FragConfig{Config: frag.Config{Timeout: 30 * time.Second, Datagrams: 16, Fragments: 128, Memory: 1 << 20}, TimeExceeded: true}
}

// fragFixture is one lcore with reassembly on, on a port of the given MTU.
type fragFixture struct {
	t   *testing.T
	q   *dev.Mem
	l   *Lcore
	now int64
}

func newFragFixture(t *testing.T, mtu int, caps ipv4.ChecksumCaps) *fragFixture {
	cfg := &Config{
		Ifaces:     []Iface{{Name: "p0", MAC: ourMAC, Prefix: ipv4.Prefix{Addr: ourIP, Bits: 24}, MTU: mtu}},
		UDP:        udpServices,
		ARPRetry:   time.Second,
		ARPTries:   3,
		ARPPending: 4,
		ICMPRate:   100,
		Neigh:      ipv4.NewNeighbours(16, time.Minute),
		Frag:       fragTestConfig(),
	}
	q := dev.NewMem(512, 2048, caps)
	return &fragFixture{t: t, q: q, l: NewLcore(0, cfg, []dev.Queue{q}), now: 1}
}

// run injects the frames and polls until they are all handled, returning
// copies of what was sent.
func (f *fragFixture) run(frames ...[]byte) [][]byte {
	f.t.Helper()
	var out [][]byte
	for len(frames) > 0 {
		k := 0
		for ; k < len(frames) && f.q.Inject(frames[k], dev.RxMeta{}); k++ {
		}
		if k == 0 {
			f.t.Fatal("no buffer to inject into")
		}
		frames = frames[k:]
		for range 1 + (k+31)/32 {
			f.l.Poll(f.now)
			for _, s := range f.q.Sent() {
				out = append(out, bytes.Clone(s))
			}
		}
	}
	for range 2 { // handle, then flush
		f.l.Poll(f.now)
		for _, s := range f.q.Sent() {
			out = append(out, bytes.Clone(s))
		}
	}
	return out
}

// ipPacket builds an IPv4 packet with id and no options.
func ipPacket(src, dst ipv4.Addr, proto uint8, id uint16, payload []byte) ipv4.IPv4 {
	p := make([]byte, ipv4.IPv4MinHeaderLen+len(payload))
	ipv4.IPv4Repr{Src: src, Dst: dst, Protocol: proto, TTL: 64, ID: id, PayloadLen: len(payload)}.Encode(p, ipv4.ChecksumCaps{})
	copy(p[ipv4.IPv4MinHeaderLen:], payload)
	return p
}

// fragmentFrames splits an IPv4 packet into Ethernet frames of fragments
// of at most mtu bytes, the way a sender does.
func fragmentFrames(ip ipv4.IPv4, mtu int) [][]byte {
	payload := ip.Payload()
	step := (mtu - ipv4.IPv4MinHeaderLen) &^ 7
	var out [][]byte
	for off := 0; off < len(payload); off += step {
		end := min(off+step, len(payload))
		p := make([]byte, ipv4.IPv4MinHeaderLen+end-off)
		copy(p, ip[:ipv4.IPv4MinHeaderLen])
		copy(p[ipv4.IPv4MinHeaderLen:], payload[off:end])
		h := ipv4.IPv4(p)
		h.SetTotalLength(uint16(len(p)))
		if end < len(payload) {
			h.SetFlags(ipv4.IPv4MoreFragments)
		}
		h.SetFragmentOffset(uint16(off))
		h.ComputeChecksum()
		out = append(out, ethFrame(ourMAC, peerMAC, ipv4.EtherTypeIPv4, p))
	}
	return out
}

// reassembleSent checks that every frame sent fits the MTU and is a good
// IPv4 packet to the peer, and puts the fragments back together: the
// packets sent whole and the datagrams reassembled, as the peer would see
// them.
func reassembleSent(t *testing.T, frames [][]byte, mtu int, proto uint8) [][]byte {
	t.Helper()
	r := frag.New(frag.Config{Timeout: time.Second, Datagrams: 16, Fragments: 8192, Memory: 4 << 20})
	var got [][]byte
	for _, fr := range frames {
		if len(fr) > ethLen+mtu {
			t.Fatalf("frame of %d bytes over an MTU of %d", len(fr), mtu)
		}
		ip := checkIPReply(t, fr, proto)
		if !ip.IsFragment() {
			got = append(got, bytes.Clone(ip.Payload()))
			continue
		}
		if ip.DontFragment() {
			t.Fatal("a fragment with Don't Fragment")
		}
		if d, ok := r.Add(ip, 0, ipv4.MAC{}, 1); ok {
			got = append(got, bytes.Clone(d.Payload()))
			r.Release(d)
		}
	}
	if r.InProgress() != 0 {
		t.Fatalf("%d datagrams sent incomplete", r.InProgress())
	}
	return got
}

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestFragUDPEcho: UDP echo of datagrams from 1 byte to the largest, sent
// as fragments over 1500- and 576-byte paths in several orders, comes
// back whole, in fragments that fit the port's MTU, with offloads or not.
func TestFragUDPEcho(t *testing.T) {
	for _, mtu := range []int{1500, 576} {
		for _, caps := range []ipv4.ChecksumCaps{{}, {IPv4Tx: true, UDPTx: true}} {
			f := newFragFixture(t, mtu, caps)
			rng := rand.New(rand.NewPCG(uint64(mtu), 3))
			for k, n := range []int{1, 1000, 1473, 3000, 8972, 30000, 65507} {
				data := randomBytes(uint64(n), n)
				req := ipPacket(peerIP, ourIP, ipv4.ProtoUDP, uint16(100+k), udpDatagram(peerIP, ourIP, 4000, 7, data))
				frames := fragmentFrames(req, mtu)
				switch k % 3 {
				case 1:
					rng.Shuffle(len(frames), func(i, j int) { frames[i], frames[j] = frames[j], frames[i] })
				case 2:
					// Reversed, the last fragment twice.
					for i, j := 0, len(frames)-1; i < j; i, j = i+1, j-1 {
						frames[i], frames[j] = frames[j], frames[i]
					}
					frames = append([][]byte{frames[0]}, frames...)
				}
				got := reassembleSent(t, f.run(frames...), mtu, ipv4.ProtoUDP)
				if len(got) != 1 {
					t.Fatalf("mtu %d, %d bytes: %d replies", mtu, n, len(got))
				}
				u := ipv4.UDP(got[0])
				if u.Check() != nil || !u.ChecksumValid(ourIP, peerIP) || u.SrcPort() != 7 || u.DstPort() != 4000 || !bytes.Equal(u.Payload(), data) {
					t.Fatalf("mtu %d, %d bytes: the echo differs (%d bytes back)", mtu, n, len(u))
				}
			}
			f.l.publish()
			c := f.l.c
			if c[IPReassembled] == 0 || c[IPFragmented] == 0 || c[DropFragDuplicate] == 0 || c.Drops() != c[DropFragDuplicate] {
				t.Errorf("mtu %d: reassembled %d fragmented %d duplicates %d drops %d", mtu, c[IPReassembled], c[IPFragmented], c[DropFragDuplicate], c.Drops())
			}
			if n := f.q.InUse(); n != 0 {
				t.Errorf("%d buffers not returned", n)
			}
		}
	}
}

// TestFragICMPEcho: a ping of 10,000 bytes in fragments is answered, in
// fragments, with the same data.
func TestFragICMPEcho(t *testing.T) {
	f := newFragFixture(t, 1500, ipv4.ChecksumCaps{})
	data := randomBytes(1, 10000)
	req := ipPacket(peerIP, ourIP, ipv4.ProtoICMP, 9, echoRequest(5, 6, data))
	got := reassembleSent(t, f.run(fragmentFrames(req, 1500)...), 1500, ipv4.ProtoICMP)
	if len(got) != 1 {
		t.Fatalf("%d replies", len(got))
	}
	ic := ipv4.ICMP(got[0])
	if ic.Type() != ipv4.ICMPEchoReply || !ic.ChecksumValid() || ic.Ident() != 5 || ic.Seq() != 6 || !bytes.Equal(ic.Payload(), data) {
		t.Fatalf("reply type %d ident %d seq %d, %d bytes", ic.Type(), ic.Ident(), ic.Seq(), len(ic.Payload()))
	}
}

// TestFragUDPReplyRoom: a service may answer a reassembled datagram with
// a reply longer than the MTU, up to its Room.
func TestFragUDPReplyRoom(t *testing.T) {
	f := newFragFixture(t, 1500, ipv4.ChecksumCaps{})
	data := []byte("0123456789abcdef")
	data = bytes.Repeat(data, 200)
	req := ipPacket(peerIP, ourIP, ipv4.ProtoUDP, 1, udpDatagram(peerIP, ourIP, 4000, 11, data))
	got := reassembleSent(t, f.run(fragmentFrames(req, 1500)...), 1500, ipv4.ProtoUDP)
	if len(got) != 1 || len(ipv4.UDP(got[0]).Payload()) != len(data)+1 {
		t.Fatalf("replies %d", len(got))
	}
}

// TestFragTimeExceeded: a datagram that never completes is given up after
// the timeout; with its fragment 0 it is answered with ICMP time exceeded
// (code 1) quoting that fragment, without it with nothing.
func TestFragTimeExceeded(t *testing.T) {
	f := newFragFixture(t, 1500, ipv4.ChecksumCaps{})
	data := randomBytes(2, 4000)
	frames := fragmentFrames(ipPacket(peerIP, ourIP, ipv4.ProtoUDP, 77, udpDatagram(peerIP, ourIP, 4000, 7, data)), 1500)
	other := fragmentFrames(ipPacket(peerIP, ourIP, ipv4.ProtoUDP, 78, udpDatagram(peerIP, ourIP, 4000, 7, data)), 1500)
	if out := f.run(frames[0], frames[2], other[1]); len(out) != 0 {
		t.Fatalf("sent %d frames for incomplete datagrams", len(out))
	}
	f.now += int64(30*time.Second) - 1
	if out := f.run(); len(out) != 0 {
		t.Fatal("answered before the timeout")
	}
	f.now++
	out := f.run()
	if len(out) != 1 {
		t.Fatalf("sent %d frames at the timeout, want one time exceeded", len(out))
	}
	ic := ipv4.ICMP(checkIPReply(t, out[0], ipv4.ProtoICMP).Payload())
	quote := ipv4.IPv4(frames[0][ethLen:])
	if ic.Type() != ipv4.ICMPTimeExceeded || ic.Code() != 1 || !ic.ChecksumValid() || !bytes.Equal(ic.Payload(), quote[:28]) {
		t.Fatalf("type %d code %d quote %x", ic.Type(), ic.Code(), ic.Payload())
	}
	f.l.publish()
	if c := f.l.c; c[DropFragTimeout] != 2 || c[ICMPTimeExceeded] != 1 || c[IPFragsIn] != 3 {
		t.Errorf("timeouts %d time exceeded %d frags in %d", c[DropFragTimeout], c[ICMPTimeExceeded], c[IPFragsIn])
	}
	if n := f.q.InUse(); n != 0 {
		t.Errorf("%d buffers not returned", n)
	}
}

// TestFragOverlapAndOff: overlapping fragments drop their datagram; with
// reassembly off fragments are dropped as before.
func TestFragOverlapAndOff(t *testing.T) {
	f := newFragFixture(t, 1500, ipv4.ChecksumCaps{})
	frames := fragmentFrames(ipPacket(peerIP, ourIP, ipv4.ProtoUDP, 5, udpDatagram(peerIP, ourIP, 4000, 7, make([]byte, 3000))), 1500)
	bad := bytes.Clone(frames[1])
	ip := ipv4.IPv4(bad[ethLen:])
	ip.SetFragmentOffset(ip.FragmentOffset() - 8)
	ip.ComputeChecksum()
	if out := f.run(frames[0], bad, frames[1], frames[2]); len(out) != 0 {
		t.Fatalf("answered an overlapping datagram: %d frames", len(out))
	}
	f.l.publish()
	if f.l.c[DropFragOverlap] != 1 || f.l.c[IPReassembled] != 0 {
		t.Errorf("overlaps %d reassembled %d", f.l.c[DropFragOverlap], f.l.c[IPReassembled])
	}
}

// TestFragSteering: with several lcores and fragments spread over their
// queues at random, every datagram is reassembled on one lcore, and a
// TCP connection whose segments arrive fragmented is served by the lcore
// that owns it.
func TestFragSteering(t *testing.T) {
	cfg := hostConfig(ourMAC, ourIP, []TCPService{{Port: 7, New: newEcho}}, 32<<10, 64)
	cfg.UDP = udpServices
	cfg.Frag = fragTestConfig()
	h := newMultiHostSized(2, ourMAC, ourIP, nil, 5, cfg, 4096)
	now := int64(time.Second)
	cfg.Neigh.Update(peerIP, peerMAC, now)
	var out [][]byte
	for k := range 20 {
		data := randomBytes(uint64(k), 5000+k)
		for _, fr := range fragmentFrames(ipPacket(peerIP, ourIP, ipv4.ProtoUDP, uint16(k), udpDatagram(peerIP, ourIP, 4000, 7, data)), 1500) {
			h.deliver(fr)
		}
	}
	for range 20 {
		out = append(out, h.poll(now)...)
	}
	got := reassembleSent(t, out, 1500, ipv4.ProtoUDP)
	if len(got) != 20 {
		t.Fatalf("%d echoes of 20 datagrams", len(got))
	}
	var steered uint64
	for _, l := range h.ls {
		l.publish()
		steered += l.c[SteeredOut]
		if l.c[IPReassembled] == 0 {
			t.Errorf("lcore %d reassembled nothing: datagrams do not spread", l.ID)
		}
	}
	if steered == 0 {
		t.Error("no fragment steered")
	}

	// TCP: a handshake, then a segment of 2000 bytes in fragments, on
	// each lcore's queue in turn; the echo comes back from the owner.
	seg := func(flags tcp.Flags, seq, ack uint32, data []byte) []byte {
		b := tcp.Header(make([]byte, tcp.HeaderMinLen+len(data)))
		b.SetSrcPort(40000)
		b.SetDstPort(7)
		b.SetSeq(tcp.Seq(seq))
		b.SetAck(tcp.Seq(ack))
		b.SetHeaderLen(tcp.HeaderMinLen)
		b.SetFlags(flags)
		b.SetWindow(65535)
		copy(b[tcp.HeaderMinLen:], data)
		b.ComputeChecksum(peerIP, ourIP)
		return b
	}
	h.qs[0].Inject(ipFrame(peerIP, ourIP, ipv4.ProtoTCP, nil, seg(tcp.FlagSYN, 1000, 0, nil)), dev.RxMeta{})
	var synack tcp.Header
	for range 5 {
		for _, fr := range h.poll(now) {
			if ip := ipv4.IPv4(fr[ethLen:]); ip.Protocol() == ipv4.ProtoTCP {
				synack = tcp.Header(bytes.Clone(ip.Payload()))
			}
		}
	}
	if synack == nil || synack.Flags() != tcp.FlagSYN|tcp.FlagACK {
		t.Fatal("no SYN-ACK")
	}
	iss := uint32(synack.Seq())
	h.qs[1].Inject(ipFrame(peerIP, ourIP, ipv4.ProtoTCP, nil, seg(tcp.FlagACK, 1001, iss+1, nil)), dev.RxMeta{})
	data := randomBytes(9, 2000)
	// An identification that puts the reassembly on the other lcore than
	// the flow's owner: the segment is lent to the owner.
	id := uint16(1)
	for cfg.Owner.Of(peerIP, ourIP, id, ipv4.ProtoTCP) == cfg.Owner.Of(peerIP, ourIP, 40000, 7) {
		id++
	}
	big := ipPacket(peerIP, ourIP, ipv4.ProtoTCP, id, seg(tcp.FlagACK|tcp.FlagPSH, 1001, iss+1, data))
	for i, fr := range fragmentFrames(big, 1500) {
		h.qs[i%2].Inject(fr, dev.RxMeta{})
	}
	var echoed []byte
	for range 10 {
		got := len(echoed)
		for _, fr := range h.poll(now) {
			if ip := ipv4.IPv4(fr[ethLen:]); ip.Protocol() == ipv4.ProtoTCP {
				echoed = append(echoed, tcp.Header(ip.Payload()).Payload()...)
			}
		}
		if len(echoed) > got { // acknowledge, for Nagle's sake
			h.qs[0].Inject(ipFrame(peerIP, ourIP, ipv4.ProtoTCP, nil, seg(tcp.FlagACK, 1001+uint32(len(data)), iss+1+uint32(len(echoed)), nil)), dev.RxMeta{})
		}
		now += int64(time.Millisecond)
	}
	if !bytes.Equal(echoed, data) {
		t.Fatalf("echoed %d bytes of the %d sent in fragments", len(echoed), len(data))
	}
	h.checkOwnership(t)
}

// TestFragFlood: a flood of fragments with random identifications, none
// ever completed, while fragmented echoes are served: the flood evicts
// only datagrams older than the legitimate ones' round trip, memory stays
// within its bound, and the bounds' counters say what was dropped.
func TestFragFlood(t *testing.T) {
	f := newFragFixture(t, 1500, ipv4.ChecksumCaps{})
	rng := rand.New(rand.NewPCG(4, 4))
	served := 0
	for round := range 200 {
		var frames [][]byte
		for range 50 {
			id := uint16(rng.Uint32())
			junk := fragmentFrames(ipPacket(peerIP, ourIP, ipv4.ProtoUDP, id, make([]byte, 3000+rng.IntN(60000))), 1500)
			frames = append(frames, junk[rng.IntN(len(junk)-1)+1]) // never fragment 0: no ICMP back
		}
		data := randomBytes(uint64(round), 3000)
		frames = append(frames, fragmentFrames(ipPacket(peerIP, ourIP, ipv4.ProtoUDP, uint16(round), udpDatagram(peerIP, ourIP, 4000, 7, data)), 1500)...)
		got := reassembleSent(t, f.run(frames...), 1500, ipv4.ProtoUDP)
		if len(got) == 1 && bytes.Equal(ipv4.UDP(got[0]).Payload(), data) {
			served++
		}
		f.now += int64(time.Millisecond)
		if m := f.l.reasm.MemoryUsed(); m > 1<<20 {
			t.Fatalf("reassembly holds %d bytes, over its 1 MiB", m)
		}
	}
	f.l.publish()
	c := f.l.c
	t.Logf("served %d of 200; frags in %d, full %d, memory %d", served, c[IPFragsIn], c[DropFragFull], c[DropFragMemory])
	if served != 200 || c[DropFragFull]+c[DropFragMemory] == 0 {
		t.Errorf("served %d of 200 echoes; drop_frag_full %d drop_frag_memory %d", served, c[DropFragFull], c[DropFragMemory])
	}
	if n := f.q.InUse(); n != 0 {
		t.Errorf("%d buffers not returned", n)
	}
}
