package e2e

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBlindAttacks (RFC 5961): while three connections carry echo
// transfers, cmd/flood sends at each, as fast as it can for 3 s, what a
// blind attacker would: resets with random sequence numbers (most out of
// the window, dropped; some inside it, answered with a challenge ACK),
// SYNs, and data with random acknowledgement numbers. No connection is
// torn down, every byte comes back intact, and the challenge ACKs keep to
// tcp.challenge_rate.
func TestBlindAttacks(t *testing.T) {
	flood := buildFlood(t)
	tp := newTopo(t, 17)
	const rate = 200
	conf := tp.conf("[0]", 1, tcpServices+fmt.Sprintf("\n[tcp]\nchallenge_rate = %d\n", rate))
	p := tp.startPMD(conf)
	kinds := []string{"rst", "synest", "ack"}
	conns := make([]net.Conn, len(kinds))
	for i := range conns {
		c, err := tp.dial(7)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = echoPaced(c, 250*16<<10, 16<<10, 20*time.Millisecond, uint64(i)) // 4 MiB over about 5 s
		}()
	}
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	outs := make([]string, len(kinds))
	var fwg sync.WaitGroup
	for i, kind := range kinds {
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			from := conns[i].LocalAddr().String()
			out, err := exec.CommandContext(ctx, "ip", "netns", "exec", tp.peerNS, flood,
				"-i", tp.peerIf, "-to", tp.pmdAddr+":7", "-kind", kind, "-from", from, "-duration", "3s").CombinedOutput()
			if err != nil {
				t.Errorf("flood %s: %v\n%s", kind, err, out)
			}
			outs[i] = strings.TrimSpace(string(out))
		}()
	}
	fwg.Wait()
	attack := time.Since(start)
	wg.Wait()
	for _, o := range outs {
		t.Log(o)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("transfer %d (attacked with %s): %v", i, kinds[i], err)
		}
	}
	tc := finalCounters(t, p.stop(t), "tcp_total")
	t.Logf("pmd: resets received %d, challenge ACKs %d (limited %d), out of window %d, bad ACK %d, connections failed %d",
		tc["tcp_resets_rcvd"], tc["tcp_challenge_acks"], tc["tcp_challenge_acks_limited"], tc["tcp_drop_out_of_window"], tc["tcp_drop_bad_ack"], tc["tcp_conns_failed"])
	if tc["tcp_conns_failed"] != 0 {
		t.Errorf("%d connections failed", tc["tcp_conns_failed"])
	}
	// The limit holds per second: the attack spans at most ceil(its
	// length) + 1 of the limiter's seconds.
	if limit := uint64(rate) * uint64(attack/time.Second+2); tc["tcp_challenge_acks"] > limit {
		t.Errorf("%d challenge ACKs in %.1f s, the limit allows %d", tc["tcp_challenge_acks"], attack.Seconds(), limit)
	}
	if tc["tcp_challenge_acks_limited"] == 0 || tc["tcp_resets_rcvd"] == 0 {
		t.Errorf("the attacks were not seen: challenge ACKs limited %d, resets received %d", tc["tcp_challenge_acks_limited"], tc["tcp_resets_rcvd"])
	}
}
