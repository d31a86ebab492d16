package xfer

import (
	"bytes"
	"testing"
	"time"

	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/services"
	"github.com/pmdstack/pmd/tcp"
)

// TestStreamFill: a stream's bytes do not depend on how they are asked
// for.
func TestStreamFill(t *testing.T) {
	s := Stream(42)
	whole := make([]byte, 1000)
	s.Fill(0, whole)
	for _, cut := range []int{1, 7, 8, 9, 500} {
		parts := make([]byte, 1000)
		for off := 0; off < len(parts); off += cut {
			s.Fill(uint64(off), parts[off:min(off+cut, len(parts))])
		}
		if !bytes.Equal(parts, whole) {
			t.Errorf("filled in pieces of %d: differs", cut)
		}
	}
	other := make([]byte, 1000)
	Stream(43).Fill(0, other)
	if bytes.Equal(other, whole) {
		t.Error("two streams are equal")
	}
}

// TestClientAgainstEcho: three connections each send 300 KB to an echo
// server and check them back, in memory.
func TestClientAgainstEcho(t *testing.T) {
	ipA, ipB := ipv4.AddrFrom4([4]byte{198, 18, 0, 1}), ipv4.AddrFrom4([4]byte{198, 18, 0, 2})
	mk := func(mac byte, addr ipv4.Addr, svcs []engine.TCPService) *engine.MemHost {
		return engine.NewMemHost(&engine.Config{
			Ifaces:      []engine.Iface{{Name: "p0", MAC: ipv4.MAC{2, 0, 0, 0, 0, mac}, Prefix: ipv4.Prefix{Addr: addr, Bits: 24}}},
			TCP:         tcp.Config{SndBuf: 64 << 10, RcvBuf: 64 << 10, Buffers: 64},
			TCPServices: svcs,
		}, ipv4.ChecksumCaps{})
	}
	a := mk(0xa, ipA, nil)
	b := mk(0xb, ipB, []engine.TCPService{{Port: 7, New: func(*engine.Lcore) tcp.Handler { return services.Echo{} }}})
	res := &Result{}
	a.L.AddApp(&Client{Job: Job{Local: ipA, Remote: ipB, Port: 7, Conns: 3, Bytes: 300_000, Echo: true, Seed: 1}, Share: 3, Result: res})
	k := &engine.MemLink{A: a, B: b, Now: int64(time.Second)}
	if !k.Run(500000, func() bool { return res.Finished() == 3 }) {
		t.Fatalf("finished %d of 3", res.Finished())
	}
	if res.Completed.Load() != 3 || res.Mismatch.Load() != 0 || res.BytesIn.Load() != 900_000 {
		t.Errorf("completed %d, mismatched %d, %d bytes in", res.Completed.Load(), res.Mismatch.Load(), res.BytesIn.Load())
	}
}
