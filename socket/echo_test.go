package socket

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// serveEcho accepts on ln until it is closed and echoes every connection
// until EOF, then closes it. The returned wait blocks until every goroutine
// it started has returned.
func serveEcho(t testing.TB, ln net.Listener) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("accept: %v", err)
				}
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if _, err := io.Copy(c, c); err != nil {
					t.Errorf("echo: %v", err)
				}
			}()
		}
	}()
	return wg.Wait
}

// echoOnce sends size bytes of stream seed over a new connection to port,
// reading the echo at the same time, then half-closes and checks that
// exactly the same bytes come back before EOF.
func echoOnce(n *Net, addr string, size int, seed uint64, chunk int) error {
	c, err := n.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	werr := make(chan error, 1)
	go func() {
		buf := make([]byte, chunk)
		for off := 0; off < size; {
			k := min(chunk, size-off)
			fill(seed, uint64(off), buf[:k])
			if _, err := c.Write(buf[:k]); err != nil {
				werr <- err
				return
			}
			off += k
		}
		werr <- c.(*Conn).CloseWrite()
	}()
	buf := make([]byte, 32<<10)
	got := 0
	for {
		k, err := c.Read(buf)
		if k > 0 {
			if i := check(seed, uint64(got), buf[:k]); i >= 0 {
				return fmt.Errorf("byte %d differs", got+i)
			}
			got += k
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read after %d bytes: %w", got, err)
		}
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if got != size {
		return fmt.Errorf("%d bytes back, want %d", got, size)
	}
	return nil
}

// TestEcho: many connections in parallel from host B's goroutines to an
// echo server on host A, each with a random amount of data written in
// random chunks while the echo is read; every byte is checked.
func TestEcho(t *testing.T) {
	tests := []struct {
		name   string
		lcores int
		conns  int
		max    int
		opts   []Option
	}{
		{"one-lcore", 1, 48, 200 << 10, nil},
		{"two-lcores", 2, 48, 200 << 10, nil},
		{"small-rings", 1, 16, 300 << 10, []Option{WithBuffers(1<<10, 2<<10)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := hostSpec{lcores: tt.lcores, opts: tt.opts}
			w := newWire(t, spec, spec)
			ln, err := w.a.net.Listen(7)
			if err != nil {
				t.Fatal(err)
			}
			wait := serveEcho(t, ln)
			defer wait()
			defer ln.Close()
			rng := rand.New(rand.NewPCG(uint64(tt.conns), 1))
			var wg sync.WaitGroup
			for i := 0; i < tt.conns; i++ {
				size := rng.IntN(tt.max)
				if i < 3 {
					size = []int{0, 1, 1460}[i]
				}
				chunk := 1 + rng.IntN(20000)
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := echoOnce(w.b.net, "198.18.0.1:7", size, uint64(i), chunk); err != nil {
						t.Errorf("connection %d (%d bytes): %v", i, size, err)
					}
				}()
			}
			wg.Wait()
			if s := w.a.net.Stats(); s != (Stats{}) {
				t.Errorf("server turned connections away: %+v", s)
			}
		})
	}
}

// TestConnLimit: the lcore holds WithConns connections of the Net and no
// more; the count goes down as connections close.
func TestConnLimit(t *testing.T) {
	w := newWire(t, hostSpec{}, hostSpec{opts: []Option{WithConns(2)}})
	ln, err := w.a.net.Listen(7)
	if err != nil {
		t.Fatal(err)
	}
	wait := serveEcho(t, ln)
	defer wait()
	defer ln.Close()
	var cs []net.Conn
	for i := 0; i < 2; i++ {
		c, err := w.b.net.Dial("tcp", "198.18.0.1:7")
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	if _, err := w.b.net.Dial("tcp", "198.18.0.1:7"); err == nil || w.b.net.Stats().ConnLimit != 1 {
		t.Fatalf("third dial: %v, stats %+v", err, w.b.net.Stats())
	}
	for _, c := range cs {
		c.Close()
	}
	// The lcore releases them once their FIN exchange is over.
	var c net.Conn
	ok := waitFor(5*time.Second, func() bool {
		c, err = w.b.net.Dial("tcp", "198.18.0.1:7")
		return err == nil
	})
	if !ok {
		t.Fatalf("no dial after the others closed: %v", err)
	}
	c.Close()
}
