package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// floodBin is cmd/flood, built on first use.
var (
	floodOnce sync.Once
	floodBin  string
	floodErr  error
)

func buildFlood(t *testing.T) string {
	t.Helper()
	floodOnce.Do(func() {
		floodBin = filepath.Join(filepath.Dir(pmdBin), "flood")
		out, err := exec.Command("go", "build", "-o", floodBin, "github.com/pmdstack/pmd/cmd/flood").CombinedOutput()
		if err != nil {
			floodErr = fmt.Errorf("building cmd/flood: %v\n%s", err, out)
		}
	})
	if floodErr != nil {
		t.Fatal(floodErr)
	}
	return floodBin
}

// perSecond counts events by the second since start.
type perSecond struct {
	start time.Time
	n     [64]atomic.Int64
}

func (p *perSecond) add() {
	if s := int(time.Since(p.start) / time.Second); s < len(p.n) {
		p.n[s].Add(1)
	}
}

// total is the count over every second.
func (p *perSecond) total() int64 {
	var n int64
	for i := range p.n {
		n += p.n[i].Load()
	}
	return n
}

// window is the median count over seconds [from, to), the lower of the
// middle two for an even count: the median of the two seconds before a
// flood must not be the faster one alone.
func (p *perSecond) window(from, to int) int64 {
	v := make([]int64, 0, to-from)
	for s := from; s < to; s++ {
		v = append(v, p.n[s].Load())
	}
	slices.Sort(v)
	return v[(len(v)-1)/2]
}

// slowest is the lowest count of seconds [from, to).
func (p *perSecond) slowest(from, to int) int64 {
	m := p.n[from].Load()
	for s := from + 1; s < to; s++ {
		m = min(m, p.n[s].Load())
	}
	return m
}

func (p *perSecond) String(upto int) string {
	var b strings.Builder
	for s := 0; s < upto; s++ {
		fmt.Fprintf(&b, " %d", p.n[s].Load())
	}
	return b.String()
}

var memRe = regexp.MustCompile(`scope=memory go_heap_bytes=(\d+) mbufs_in_use=(\d+)`)

// lastMemory is the last memory line pmd logged: Go heap bytes and mbufs
// in use.
func lastMemory(t *testing.T, out string) (heap, mbufs int64) {
	t.Helper()
	m := memRe.FindAllStringSubmatch(out, -1)
	if m == nil {
		t.Fatalf("no memory line in pmd's output:\n%s", out)
	}
	heap, _ = strconv.ParseInt(m[len(m)-1][1], 10, 64)
	mbufs, _ = strconv.ParseInt(m[len(m)-1][2], 10, 64)
	return heap, mbufs
}

// TestSYNFlood: a raw-socket SYN flood from the peer's namespace (first
// from random spoofed addresses of the subnet, then from the peer's own
// address with random ports) while kernel clients keep up request and
// response on established connections and open new ones. pmd keeps
// serving, no legitimate connection fails or loses a byte, the rate comes
// back once the flood stops, and the packet buffers are all returned.
//
// The two CPUs are placed so that the figure is pmd's: the flooder runs on
// pmd's CPU (it takes half of pmd's time, none of the clients'), and the
// peer's kernel handles what it receives on the clients' CPU (RPS), not in
// pmd's transmit calls, as a peer on another host would.
func TestSYNFlood(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs: pmd and the flooder on one, the clients on the other")
	}
	flood := buildFlood(t)
	tp := newTopo(t, 15)
	run(t, "ip", "netns", "exec", tp.peerNS, "sh", "-c", "echo 2 > /sys/class/net/"+tp.peerIf+"/queues/rx-0/rps_cpus")
	// The new connections' client closes first, so its TIME-WAIT sockets
	// pile up: some 1,500 a second for the test's 35 s, more than the
	// 28,232 ports of the default range. Without reuse, each connect then
	// walks the range on the clients' CPU (__inet_hash_connect), which
	// took rr to half and crr to a sixth before the later floods even
	// began. The peer's kernel reuses them as a busy client would.
	run(t, "ip", "netns", "exec", tp.peerNS, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1")
	conf := strings.Replace(tp.conf("[0]", 1, tcpServices), `stats_interval = "0s"`, `stats_interval = "500ms"`, 1)
	// The largest ring (net_af_packet's framecnt follows rx_desc): 4,096
	// frames hold the 12 ms a flood sends while the flooder has the CPU.
	// With 1,024 (the default) the kernel dropped 8% of all frames in
	// front of pmd, with 512 (the driver's own default) 31%.
	conf = strings.Replace(conf, "queues = 1\n", "queues = 1\nrx_desc = 4096\n", 1)
	// To compare (README, Under attack): PMD_FLOOD_DEV=",framecnt=512"
	// gives the socket ring net_af_packet's own default instead of the
	// port's rx_desc, PMD_FLOOD_IDLE=poll|yield another idle mode.
	if m := os.Getenv("PMD_FLOOD_DEV"); m != "" {
		conf = strings.Replace(conf, "iface="+tp.pmdIf, "iface="+tp.pmdIf+m, 1)
	}
	if m := os.Getenv("PMD_FLOOD_IDLE"); m != "" {
		conf = strings.Replace(conf, `idle = "sleep"`, `idle = "`+m+`"`, 1)
	}
	p := tp.startPMD(conf)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := tp.peer(ctx, "ping", "-c", "1", "-W", "2", tp.pmdAddr); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	time.Sleep(600 * time.Millisecond)
	heap0, mbufs0 := lastMemory(t, p.output())

	// Memory after each flood: the buffers are back but for those that
	// wait for the spoofed addresses to resolve (the SYN-RECEIVED entries
	// of the first flood keep retransmitting for two minutes: at most
	// arp.pending, 512, are held), and the second flood, as strong as
	// the first, leaves the heap where the first left it: what the first
	// added is the pool of connection objects kept for reuse (bounded by
	// tcp.max_conns), not a leak.
	var heaps []int64
	for _, from := range []string{tp.peerAddr[:strings.LastIndex(tp.peerAddr, ".")] + ".0/24", tp.peerAddr, tp.peerAddr} {
		port0, tcp0 := lastScope(t, p.output(), "port0"), lastTCP(t, p.output())
		t.Run("from "+from, func(t *testing.T) {
			synFlood(t, tp, flood, from)
		})
		time.Sleep(time.Second)
		port, tcp := lastScope(t, p.output(), "port0"), lastTCP(t, p.output())
		rx, missed := port["rx_packets"]-port0["rx_packets"], port["rx_missed"]-port0["rx_missed"]
		t.Logf("pmd took %d frames, the kernel's ring in front of it dropped %d (%.0f%%); SYN cookies sent %d; retransmission timeouts %d",
			rx, missed, 100*float64(missed)/float64(max(rx+missed, 1)), tcp["tcp_syn_cookies_sent"]-tcp0["tcp_syn_cookies_sent"], tcp["tcp_timeouts"]-tcp0["tcp_timeouts"])
		if missed*10 > rx+missed {
			t.Errorf("the ring of rx_desc = 4096 frames dropped %d of %d: is it the driver's 512?", missed, rx+missed)
		}
		heap, mbufs := lastMemory(t, p.output())
		heaps = append(heaps, heap)
		t.Logf("pmd's memory: Go heap %d KiB, %d mbufs in use (before the floods: %d KiB, %d mbufs)", heap>>10, mbufs, heap0>>10, mbufs0)
		if mbufs > mbufs0+512+64 {
			t.Errorf("mbufs in use: %d before the floods, %d after", mbufs0, mbufs)
		}
	}
	if last, prev := heaps[len(heaps)-1], heaps[len(heaps)-2]; last > prev+prev/20 {
		t.Errorf("Go heap %d KiB after the same flood again, %d KiB before it: it grows", last>>10, prev>>10)
	}
	out := p.stop(t)
	tc := finalCounters(t, out, "tcp_total")
	t.Logf("SYN cookies sent %d, validated %d; passive opens %d; resets received %d; retransmission timeouts %d",
		tc["tcp_syn_cookies_sent"], tc["tcp_syn_cookies_valid"], tc["tcp_passive_opens"], tc["tcp_resets_rcvd"], tc["tcp_timeouts"])
	if tc["tcp_syn_cookies_sent"] == 0 {
		t.Errorf("no SYN cookies were sent: the flood did not fill the backlog")
	}
	if tc["tcp_handler_panics"] != 0 {
		t.Errorf("%d handler panics", tc["tcp_handler_panics"])
	}
}

// synFlood runs the legitimate load for 11 s with a flood from from in
// seconds 3 to 7, and checks it.
//
// A flood that spoofs the clients' own address with random ports hits the
// ports of new connections too: a SYN of the flood's that reaches pmd
// between a client's SYN and its ACK, on the same port, can make pmd
// refuse that ACK, and the client sees a reset. No stack can tell such a
// SYN from the client's; those resets are counted, not failures, and must
// stay rare (at most 1% of the new connections). After a flood from
// spoofed addresses, the half-open connections it left keep resending
// their SYN-ACKs to addresses that never answer ARP for two minutes
// (tcp.syn_retries). After either flood the rate must be back to half of
// the rate before (here 52% to 149%). Not more: this VM's own speed
// moves rr over veth by a third from one second to the next and stays
// there for seconds (its two CPUs hand a cache line over in about 30 or
// about 165 ns, README, Performance): the second before a flood from the
// clients' address went from 17720 to 25458/s in one CI run, and the four
// after it ran at 16550 to 18432 (68%), with pmd's mbufs back as before.
// A stack that does not recover falls far lower.
func synFlood(t *testing.T, tp *topo, flood, from string) {
	const conns, before, flooding, after = 8, 3, 4, 4
	spoofsClient := !strings.Contains(from, "/")
	total := before + flooding + after
	rr := &perSecond{}
	crr := &perSecond{}
	var rrErrs, crrErrs, crrResets atomic.Int64
	var firstErr atomic.Value
	fail := func(n *atomic.Int64, err error) {
		n.Add(1)
		firstErr.CompareAndSwap(nil, err)
	}
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := tp.dial(7)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		cs[i] = c
	}
	rr.start = time.Now()
	crr.start = rr.start
	end := rr.start.Add(time.Duration(total) * time.Second)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			onClientCPU(t)
			msg := bytes.Repeat([]byte{byte('a' + i)}, 64)
			got := make([]byte, 64)
			for n := 0; time.Now().Before(end); n++ {
				msg[0] = byte(n)
				c.SetDeadline(time.Now().Add(20 * time.Second))
				if _, err := c.Write(msg); err != nil {
					fail(&rrErrs, err)
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					fail(&rrErrs, err)
					return
				}
				if !bytes.Equal(got, msg) {
					fail(&rrErrs, fmt.Errorf("conn %d: echo %q, sent %q", i, got[:8], msg[:8]))
					return
				}
				rr.add()
			}
		}()
	}
	wg.Add(1)
	go func() { // new connections, one at a time
		defer wg.Done()
		onClientCPU(t)
		msg := []byte("hello, pmd\n")
		got := make([]byte, len(msg))
		for time.Now().Before(end) {
			// A SYN lost in the flood is sent again after 1, 3, 7 s: a
			// client waits that long, as the kernel's connect does.
			c, err := tp.dialTimeout(7, 30*time.Second)
			if err != nil {
				fail(&crrErrs, err)
				continue
			}
			c.SetDeadline(time.Now().Add(20 * time.Second))
			_, err = c.Write(msg)
			if err == nil {
				_, err = io.ReadFull(c, got)
			}
			c.Close()
			if errors.Is(err, syscall.ECONNRESET) && spoofsClient {
				// A spoofed SYN from this very port took the
				// tuple between our SYN and our ACK (below).
				crrResets.Add(1)
				continue
			}
			if err != nil || !bytes.Equal(got, msg) {
				fail(&crrErrs, fmt.Errorf("new connection: %v, echo %q", err, got))
				continue
			}
			crr.add()
		}
	}()
	time.Sleep(time.Until(rr.start.Add(before * time.Second)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", tp.peerNS, "taskset", "-c", "0", flood,
		"-i", tp.peerIf, "-to", tp.pmdAddr+":7", "-kind", "syn", "-from", from, "-duration", strconv.Itoa(flooding)+"s")
	fout, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("flood: %v\n%s", err, fout)
	}
	wg.Wait()
	t.Logf("%s", strings.TrimSpace(string(fout)))
	t.Logf("rr per second (%d connections):%s", conns, rr.String(total))
	t.Logf("crr per second:%s", crr.String(total))
	b, d, a := rr.window(1, before), rr.window(before, before+flooding), rr.window(before+flooding+1, total)
	t.Logf("rr median before %d/s, during the flood %d/s (%.1f%%), after %d/s (%.0f%%)",
		b, d, 100*float64(d)/float64(b), a, 100*float64(a)/float64(b))
	if n := rrErrs.Load() + crrErrs.Load(); n != 0 {
		t.Errorf("%d legitimate connections failed (rr %d, crr %d), the first: %v", n, rrErrs.Load(), crrErrs.Load(), firstErr.Load())
	}
	// pmd must serve in every second of the flood. The flooder shares
	// pmd's CPU on this 2-CPU VM, so the rate falls (here to 38-61% of
	// before); it fell to nothing for seconds (CI saw 16406, 60, 0, 0)
	// while the kernel's 512-frame ring dropped a third of all frames in
	// front of pmd, the ARP queue's scan took a quarter of its CPU, and
	// the clients' kernel walked a port range full of TIME-WAIT sockets
	// (README, Under attack).
	if slow := rr.slowest(before, before+flooding); b == 0 || slow*10 < b {
		t.Errorf("rr median %d/s before the flood, %d/s in its slowest second: under a tenth", b, slow)
	}
	// Recovery: the second after the flood is not counted (the flooder's
	// last frames and the peer's backlog drain), the rest is back.
	if n := crrResets.Load(); n > 0 {
		t.Logf("%d new connections reset by collisions with the flood's SYNs, of %d", n, crr.total()+n)
		if n*100 > crr.total()+n {
			t.Errorf("%d of %d new connections reset: more than the flood's collisions explain", n, crr.total()+n)
		}
	}
	if a < b/2 {
		t.Errorf("rr after the flood %d/s, before %d/s: not recovered", a, b)
	}
}

// onClientCPU keeps the calling goroutine on CPU 1, the clients' CPU, away
// from pmd's and the flooder's (CPU 0), for as long as it runs.
func onClientCPU(t *testing.T) {
	runtime.LockOSThread() // the thread ends with the goroutine
	var set unix.CPUSet
	set.Set(1)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Errorf("sched_setaffinity: %v", err)
	}
}
