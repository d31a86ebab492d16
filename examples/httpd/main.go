// Command httpd serves net/http over pmd's TCP through package stack's
// net.Listener: the standard library's server, handlers and crypto/tls,
// unchanged, on connections that live on the polling lcores.
//
//	httpd -c conf.toml -http 8080 -https 8443
//	httpd -kernel 198.18.50.1:8080     (the same server on kernel sockets,
//	                                    for comparison: scripts/bench)
//
// GET / answers "hello from pmd"; GET /bytes?n=N answers N bytes; POST
// /echo answers the request's body. -https serves the same over TLS with a
// certificate made at start (self-signed: curl -k).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pmdstack/pmd/stack"
)

func main() {
	conf := flag.String("c", "conf.toml", "configuration file")
	httpPort := flag.Int("http", 8080, "port for HTTP (0: none)")
	httpsPort := flag.Int("https", 0, "port for HTTPS with a self-signed certificate (0: none)")
	kernel := flag.String("kernel", "", "serve HTTP on this address through the kernel's sockets instead of pmd")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *kernel != "" {
		ln, err := net.Listen("tcp4", *kernel)
		if err == nil {
			log.Info("serving HTTP over kernel sockets", "address", *kernel)
			err = (&http.Server{Handler: handler(), ReadHeaderTimeout: 10 * time.Second}).Serve(ln)
		}
		fmt.Fprintln(os.Stderr, "httpd:", err)
		os.Exit(1)
	}
	if err := run(*conf, *httpPort, *httpsPort, log); err != nil {
		fmt.Fprintln(os.Stderr, "httpd:", err)
		os.Exit(1)
	}
}

func run(conf string, httpPort, httpsPort int, log *slog.Logger) error {
	cfg, err := stack.LoadConfig(conf)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	st, err := stack.Start(ctx, cfg, stack.Options{Log: log})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	if httpPort > 0 {
		ln, err := st.Listen(uint16(httpPort))
		if err != nil {
			return err
		}
		log.Info("serving HTTP over pmd", "port", httpPort)
		go func() { errc <- srv.Serve(ln) }()
	}
	if httpsPort > 0 {
		cert, err := selfSigned()
		if err != nil {
			return err
		}
		ln, err := st.Listen(uint16(httpsPort))
		if err != nil {
			return err
		}
		log.Info("serving HTTPS over pmd", "port", httpsPort)
		go func() {
			errc <- srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}))
		}()
	}
	select {
	case <-st.Done():
	case err := <-errc:
		log.Error("serve", "err", err)
	}
	shut, done := context.WithTimeout(context.Background(), 2*time.Second)
	defer done()
	srv.Shutdown(shut)
	cancel()
	if err := st.Wait(); err != nil {
		return err
	}
	return nil
}

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from pmd\n")
	})
	mux.HandleFunc("GET /bytes", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 || n > 64<<20 {
			http.Error(w, "n: expected 0..67108864", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		chunk := []byte(strings.Repeat("pmd ", 1024))
		for n > 0 {
			k, err := w.Write(chunk[:min(n, len(chunk))])
			if err != nil {
				return
			}
			n -= k
		}
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(w, r.Body); err != nil && !errors.Is(err, net.ErrClosed) {
			return
		}
	})
	return mux
}

// selfSigned makes a certificate for the demo's addresses, valid a day.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pmd httpd"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
