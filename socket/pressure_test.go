package socket

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pmdstack/pmd/tcp"
)

// TestBackPressure: 32 MiB from host B to a reader on host A that first
// does not read at all, then reads slowly in small pieces. While it does
// not read, the writer blocks once the buffers on the way are full
// (nothing piles up anywhere); then every byte arrives intact.
func TestBackPressure(t *testing.T) {
	const (
		total = 32 << 20
		buf   = 16 << 10 // TCP send and receive buffers
		ring  = 16 << 10 // each direction's ring
	)
	spec := hostSpec{tcp: tcp.Config{SndBuf: buf, RcvBuf: buf}, opts: []Option{WithBuffers(ring, ring)}}
	w := newWire(t, spec, spec)
	ln, err := w.a.net.Listen(9)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := w.b.net.Dial("tcp", "198.18.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var written atomic.Int64
	werr := make(chan error, 1)
	go func() {
		b := make([]byte, 4<<10)
		for off := 0; off < total; off += len(b) {
			fill(7, uint64(off), b)
			n, err := c.Write(b)
			written.Add(int64(n))
			if err != nil {
				werr <- err
				return
			}
		}
		werr <- c.Close()
	}()
	s, ok := <-accepted
	if !ok {
		t.FailNow()
	}
	defer s.Close()

	// Nobody reads: what the writer got rid of is bounded by the rings
	// and the TCP buffers on both sides (and the byte Recv holds back).
	time.Sleep(300 * time.Millisecond)
	bound := int64(ring + buf + buf + ring + 4<<10)
	stalled := written.Load()
	if stalled > bound {
		t.Fatalf("%d bytes written while nobody read, bound %d", stalled, bound)
	}
	if stalled < ring+buf {
		t.Fatalf("only %d bytes written before blocking", stalled)
	}
	select {
	case err := <-werr:
		t.Fatalf("the writer did not block: %v", err)
	default:
	}

	// A slow reader: small reads, a pause now and then.
	b := make([]byte, 3000)
	got := 0
	for {
		n, err := s.Read(b)
		if n > 0 {
			if i := check(7, uint64(got), b[:n]); i >= 0 {
				t.Fatalf("byte %d differs", got+i)
			}
			got += n
			if got%(4<<20) < n {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got, err)
		}
	}
	if got != total {
		t.Fatalf("%d bytes read, want %d", got, total)
	}
	if err := <-werr; err != nil {
		t.Fatalf("writer: %v", err)
	}
	t.Logf("%d bytes written while the reader waited (bound %d)", stalled, bound)
}
