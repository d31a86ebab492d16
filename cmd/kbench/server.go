package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The services and their ports, the same as pmd's (before -base).
const (
	portEcho    = 7
	portDiscard = 9
	portChargen = 19
	portHTTP    = 80
)

// bodyPattern fills HTTP bodies, as pmd's http service does.
const bodyPattern = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"

// ioBufSize is the size of the buffers the TCP services read into and the
// stream workloads write from.
const ioBufSize = 64 << 10

// serverConfig is what kbench server was asked for.
type serverConfig struct {
	Listen netip.Addr
	Cores  int // listeners per service, bound with SO_REUSEPORT
	Base   int // added to every service port
	Body   int // HTTP response body bytes
}

// server is the running set of services. Close stops it.
type server struct {
	services []*service
	https    []*http.Server
	wg       sync.WaitGroup
}

// service is one listener of one TCP service and the connections it
// accepted, so that Close can end them.
type service struct {
	name   string
	ln     net.Listener
	handle func(*net.TCPConn)
	mu     sync.Mutex
	conns  map[*net.TCPConn]struct{}
	closed bool
}

// bufPool recycles the services' read buffers, so that a connection of
// the crr workload costs no 64 KiB allocation.
var bufPool = sync.Pool{New: func() any { b := make([]byte, ioBufSize); return &b }}

// chargenBuf is what chargen sends, over and over: the RFC 864 rotating
// pattern of 72-character lines of the 95 printable ASCII characters,
// a whole number of its 95-line cycles so that the stream is seamless.
var chargenBuf = func() []byte {
	const lineLen, printable = 72, 95
	var b []byte
	for cycles := 0; cycles < 9; cycles++ {
		for line := 0; line < printable; line++ {
			for i := 0; i < lineLen; i++ {
				b = append(b, byte(' '+(line+i)%printable))
			}
			b = append(b, '\r', '\n')
		}
	}
	return b
}()

// reusePort sets SO_REUSEPORT before bind, so that several listeners
// share one port and the kernel spreads connections over them.
func reusePort(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// startServer opens cfg.Cores listeners for each of echo, discard,
// chargen and http and serves them until Close.
func startServer(cfg serverConfig) (*server, error) {
	if cfg.Cores < 1 {
		return nil, fmt.Errorf("-cores: expected at least 1, got %d", cfg.Cores)
	}
	if cfg.Base < 0 || cfg.Base+portHTTP > 65535 {
		return nil, fmt.Errorf("-base: expected 0..%d, got %d", 65535-portHTTP, cfg.Base)
	}
	if cfg.Body < 0 {
		return nil, fmt.Errorf("-body: expected at least 0, got %d", cfg.Body)
	}
	if !cfg.Listen.IsValid() {
		return nil, errors.New("-listen: an IP address is required")
	}
	// No keep-alive probes: they cost a setsockopt per accepted
	// connection and mean nothing over a benchmark's seconds.
	lc := net.ListenConfig{Control: reusePort, KeepAlive: -1}
	s := &server{}
	listen := func(port int) (net.Listener, error) {
		addr := netip.AddrPortFrom(cfg.Listen, uint16(cfg.Base+port)).String()
		return lc.Listen(context.Background(), "tcp", addr)
	}
	tcpServices := []struct {
		name   string
		port   int
		handle func(*net.TCPConn)
	}{
		{"echo", portEcho, serveEcho},
		{"discard", portDiscard, serveDiscard},
		{"chargen", portChargen, serveChargen},
	}
	for _, ts := range tcpServices {
		for range cfg.Cores {
			ln, err := listen(ts.port)
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("%s: %w", ts.name, err)
			}
			svc := &service{name: ts.name, ln: ln, handle: ts.handle, conns: map[*net.TCPConn]struct{}{}}
			s.services = append(s.services, svc)
			s.wg.Go(func() { svc.accept(&s.wg) })
		}
	}
	h := httpHandler(cfg.Body)
	for range cfg.Cores {
		ln, err := listen(portHTTP)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("http: %w", err)
		}
		hs := &http.Server{Handler: h}
		s.https = append(s.https, hs)
		s.wg.Go(func() { hs.Serve(ln) })
	}
	return s, nil
}

// Close stops the listeners, ends every connection and waits for the
// goroutines.
func (s *server) Close() {
	for _, svc := range s.services {
		svc.close()
	}
	for _, hs := range s.https {
		hs.Close()
	}
	s.wg.Wait()
}

func (svc *service) accept(wg *sync.WaitGroup) {
	for {
		c, err := svc.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or an aborted handshake: the
			// service goes on, as a kernel server would.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		tc := c.(*net.TCPConn)
		svc.mu.Lock()
		if svc.closed {
			svc.mu.Unlock()
			tc.Close()
			return
		}
		svc.conns[tc] = struct{}{}
		svc.mu.Unlock()
		wg.Go(func() {
			svc.handle(tc)
			tc.Close()
			svc.mu.Lock()
			delete(svc.conns, tc)
			svc.mu.Unlock()
		})
	}
}

func (svc *service) close() {
	svc.ln.Close()
	svc.mu.Lock()
	svc.closed = true
	for c := range svc.conns {
		c.Close()
	}
	svc.mu.Unlock()
}

// serveEcho copies every byte back (RFC 862) until the peer closes. It
// reads and writes itself rather than io.Copy, which would splice the
// socket to itself through a pipe.
func serveEcho(c *net.TCPConn) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// serveDiscard reads and drops everything (RFC 863).
func serveDiscard(c *net.TCPConn) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// serveChargen sends the pattern until the peer closes (RFC 864). A
// reader notices the close, and discards whatever the peer sends.
func serveChargen(c *net.TCPConn) {
	go func() {
		io.Copy(io.Discard, c)
		c.Close()
	}()
	for {
		if _, err := c.Write(chargenBuf); err != nil {
			return
		}
	}
}

// httpHandler answers every request with 200 and a body of size bytes of
// the pattern, built once. Like pmd's responses it carries no Date.
func httpHandler(size int) http.Handler {
	body := make([]byte, size)
	for i := range body {
		body[i] = bodyPattern[i%len(bodyPattern)]
	}
	contentType := []string{"text/plain"}
	contentLength := []string{strconv.Itoa(size)}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = contentType
		h["Content-Length"] = contentLength
		h["Date"] = nil
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	})
}
