package socket

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHTTP: net/http's server on host A's listener and its client on host
// B's DialContext: many requests from several goroutines, GETs with
// bodies of their own sizes and POSTs echoed back, over kept-alive
// connections.
func TestHTTP(t *testing.T) {
	w := newWire(t, hostSpec{lcores: 2}, hostSpec{lcores: 2})
	ln, err := w.a.net.Listen(80)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bytes/{n}", func(rw http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		b := make([]byte, n)
		fill(uint64(n), 0, b)
		rw.Write(b)
	})
	mux.HandleFunc("POST /echo", func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body) // HTTP/1 is not full duplex: read, then answer
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		rw.Write(body)
	})
	srv := &http.Server{Handler: mux}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var dials atomic.Int64
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return w.b.net.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 8,
	}
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	const workers, each = 8, 40
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := httpRound(client, g*each+i); err != nil {
					t.Errorf("worker %d request %d: %v", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// The Transport may dial a spare connection while one is on its way
	// back to the idle pool, but not one per request.
	if d := dials.Load(); d > 2*workers {
		t.Errorf("%d connections for %d requests from %d workers: keep-alive did not work", d, workers*each, workers)
	} else {
		t.Logf("%d connections for %d requests", d, workers*each)
	}
	tr.CloseIdleConnections()
	if err := srv.Close(); err != nil {
		t.Error(err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
}

// httpRound makes request i: a GET of a body of its own size, or a POST
// that must come back the same.
func httpRound(client *http.Client, i int) error {
	size := (i * 7919) % (100 << 10)
	if i%3 == 0 {
		body := make([]byte, size)
		fill(uint64(i), 0, body)
		resp, err := client.Post("http://198.18.0.1/echo", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, body) {
			return fmt.Errorf("POST of %d bytes: %d bytes back, equal %v", size, len(got), bytes.Equal(got, body))
		}
		return nil
	}
	resp, err := client.Get("http://198.18.0.1/bytes/" + strconv.Itoa(size))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || len(got) != size || check(uint64(size), 0, got) >= 0 {
		return fmt.Errorf("GET %d bytes: status %d, %d bytes", size, resp.StatusCode, len(got))
	}
	return nil
}

// selfSigned makes a certificate for the name "pmd.test" and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pmd.test"},
		DNSNames:              []string{"pmd.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// TestTLS: crypto/tls over the adapter: an echo server behind
// tls.NewListener, clients that verify its certificate and check every
// byte that comes back, then HTTPS on the same pair.
func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	w := newWire(t, hostSpec{}, hostSpec{})
	ln, err := w.a.net.Listen(443)
	if err != nil {
		t.Fatal(err)
	}
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	wait := serveEcho(t, tln)
	ccfg := &tls.Config{RootCAs: pool, ServerName: "pmd.test"}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := tlsEcho(w.b.net, ccfg, 300<<10+i*1000, uint64(i)); err != nil {
				t.Errorf("connection %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	tln.Close()
	wait()

	// HTTPS: the server's TLS listener, the client's DialTLSContext.
	ln, err = w.a.net.Listen(8443)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "hello %s over %s", r.URL.Path, r.Proto)
	})}
	served := make(chan error, 1)
	go func() {
		served <- srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}))
	}()
	tr := &http.Transport{
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := w.b.net.DialContext(ctx, network, "198.18.0.1:8443")
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, ccfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return tc, nil
		},
	}
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	for i := 0; i < 10; i++ {
		resp, err := client.Get("https://pmd.test/x" + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "hello /x" + strconv.Itoa(i) + " over HTTP/1.1"; err != nil || string(body) != want {
			t.Fatalf("got %q, %v; want %q", body, err, want)
		}
	}
	tr.CloseIdleConnections()
	srv.Close()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
}

// tlsEcho sends size bytes through a TLS connection to the echo server and
// checks what comes back.
func tlsEcho(n *Net, cfg *tls.Config, size int, seed uint64) error {
	raw, err := n.Dial("tcp", "198.18.0.1:443")
	if err != nil {
		return err
	}
	c := tls.Client(raw, cfg)
	defer c.Close()
	if err := c.Handshake(); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if st := c.ConnectionState(); !st.HandshakeComplete || st.PeerCertificates[0].Subject.CommonName != "pmd.test" {
		return fmt.Errorf("handshake state %+v", st)
	}
	werr := make(chan error, 1)
	go func() {
		b := make([]byte, size)
		fill(seed, 0, b)
		_, err := c.Write(b)
		if err == nil {
			err = c.CloseWrite() // close_notify, then the TCP FIN
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("read after %d bytes: %w", len(got), err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if len(got) != size || check(seed, 0, got) >= 0 {
		return fmt.Errorf("%d bytes back of %d, or different", len(got), size)
	}
	return nil
}
