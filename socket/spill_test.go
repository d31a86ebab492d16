package socket

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/pmdstack/pmd/tcp"
)

// TestDataBeforeFIN: the peer's last data and its FIN arrive while the
// reader's ring is full, so the TCP still holds data when PeerClosed
// comes. Every byte must still reach Read, in order, before io.EOF, also
// when the FIN ends the connection at once (TIME-WAIT frees the TCP's
// buffers: the server had half-closed first).
func TestDataBeforeFIN(t *testing.T) {
	small := tcp.Config{SndBuf: 16 << 10, RcvBuf: 16 << 10}
	w := newWire(t, hostSpec{tcp: small, opts: []Option{WithBuffers(4<<10, 4<<10)}}, hostSpec{tcp: small})
	tests := []struct {
		name      string
		halfClose bool // the server closes its side first
	}{
		{"close-wait", false},
		{"time-wait", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := connPair(t, w, uint16(9100+i))
			if tt.halfClose {
				s.CloseWrite()
				if _, err := c.Read(make([]byte, 1)); err != io.EOF {
					t.Fatalf("client read: %v, want EOF", err)
				}
			}
			data := make([]byte, 18<<10) // more than the ring, less than ring and window
			fill(uint64(i), 0, data)
			if _, err := c.Write(data); err != nil {
				t.Fatal(err)
			}
			c.Close()
			time.Sleep(100 * time.Millisecond) // data and FIN are in
			if tt.halfClose && s.state.Load()&stClosed == 0 {
				t.Fatal("the server's connection is not closed: the test misses TIME-WAIT")
			}
			if s.overflow.Load() == nil {
				t.Fatal("no overflow: the test misses the TCP holding data at the FIN")
			}
			got, err := io.ReadAll(s)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d of %d bytes, %v", len(got), len(data), err)
			}
		})
	}
}

// TestListenConflict: a port the lcore's TCP already serves (here a
// native listener) cannot be listened on: Listen says so once the lcores
// run, Accept does when Listen came before they started.
func TestListenConflict(t *testing.T) {
	w := newIdleWire(t, hostSpec{}, hostSpec{})
	for _, p := range []uint16{9200, 9201} {
		if _, err := w.a.ls[0].TCP().Listen(p, nativeEcho{}); err != nil {
			t.Fatal(err)
		}
	}
	early, err := w.a.net.Listen(9200)
	if err != nil {
		t.Fatalf("Listen before start: %v", err)
	}
	w.start()
	if _, err := early.Accept(); !isInUse(err) {
		t.Fatalf("Accept on a conflicting early listen: %v", err)
	}
	early.Close()
	if _, err := w.a.net.Listen(9201); !isInUse(err) {
		t.Fatalf("Listen on a port in use: %v", err)
	}
	// The port is free for another try afterwards, and the native
	// listener still answers.
	if err := echoOnce(w.b.net, "198.18.0.1:9201", 1000, 5, 100); err != nil {
		t.Fatal(err)
	}
}
