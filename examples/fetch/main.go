// Command fetch is a client on pmd: net/http's client dials out through
// package stack's DialContext, over connections that live on the polling
// lcores, fetches one URL and prints the body.
//
//	fetch -c conf.toml http://198.18.0.2:8000/
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/pmdstack/pmd/stack"
)

func main() {
	conf := flag.String("c", "conf.toml", "configuration file")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after this long")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: fetch [-c conf.toml] [-timeout 30s] URL")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*conf, flag.Arg(0), *timeout, log); err != nil {
		fmt.Fprintln(os.Stderr, "fetch:", err)
		os.Exit(1)
	}
}

func run(conf, url string, timeout time.Duration, log *slog.Logger) (err error) {
	cfg, err := stack.LoadConfig(conf)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := stack.Start(ctx, cfg, stack.Options{Log: log})
	if err != nil {
		return err
	}
	defer func() {
		if e := st.Stop(context.Background()); err == nil {
			err = e
		}
	}()
	client := &http.Client{Transport: &http.Transport{DialContext: st.DialContext}}
	defer client.CloseIdleConnections() // before Stop: it waits for open connections to end
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintln(os.Stderr, "fetch:", resp.Status)
	n, err := io.Copy(os.Stdout, resp.Body)
	if err != nil {
		return err
	}
	log.Info("fetched", "url", url, "status", resp.StatusCode, "bytes", n)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}
