package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pmdstack/pmd/config"
	"github.com/pmdstack/pmd/stack"
)

// job is work that runs on the lcores besides the services: the transfer
// client, the load generator, the reflector.
type job interface {
	// setup adds the job's apps to the lcores before they start.
	setup(s *stack.Stack) error
	// done is polled every 50 ms: the stack stops when it is true.
	done() bool
}

// serve runs the stack until SIGINT or SIGTERM or, with a job, until it is
// done. The first signal drains (engine.drain: new connections refused,
// open ones may finish), a second one stops at once; a job that is done
// stops at once. SIGUSR1 logs the connections, SIGUSR2 switches the
// captures.
func serve(cfg *config.Config, log *slog.Logger, j job) error {
	stopSig := make(chan os.Signal, 2)
	signal.Notify(stopSig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(stopSig)
	opts := stack.Options{Log: log}
	if j != nil {
		opts.Setup = j.setup
	}
	s, err := stack.Start(context.Background(), cfg, opts)
	if err != nil {
		return err
	}
	usr := make(chan os.Signal, 1)
	signal.Notify(usr, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(usr)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	stopping := false
	for {
		select {
		case <-s.Done():
			return s.Wait()
		case v := <-stopSig:
			if !stopping {
				stopping = true
				log.Info("stopping", "reason", v.String()+" received", "drain", cfg.Engine.Drain, "again", "stops at once")
				go s.Stop(context.Background())
			} else {
				log.Info("stopping at once", "reason", "second "+v.String())
				go s.StopNow()
			}
		case v := <-usr:
			if v == syscall.SIGUSR1 {
				lctx, lcancel := context.WithTimeout(context.Background(), time.Second)
				for _, line := range s.Listing(lctx) {
					log.Info("listing", "conn", line)
				}
				lcancel()
			} else if on, files := s.SwitchCapture(); files == 0 {
				log.Warn("SIGUSR2 switches captures, and no port has a pcap file")
			} else {
				log.Info("capture switched", "recording", on, "files", files)
			}
		case <-tick.C:
			if j != nil && j.done() {
				log.Info("job done")
				return s.StopNow()
			}
		}
	}
}

// shares spreads n items over the lcores: lcore i gets share(i) starting
// at first(i).
func shares(n, lcores, i int) (share, first int) {
	for k := 0; k <= i; k++ {
		share = n / lcores
		if k < n%lcores {
			share++
		}
		if k < i {
			first += share
		}
	}
	return share, first
}
