// Package e2e runs pmd through real DPDK against the Linux kernel's own
// stack and tools, in network namespaces it creates and removes. It needs
// root, DPDK and hugepages: run it through scripts/test.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pmdBin is built once by TestMain.
var pmdBin string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		// Skipped, not failed: go test ./... as a user runs what it can.
		fmt.Fprintln(os.Stderr, "SKIP: e2e needs root (network namespaces, hugepages): run scripts/test")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "pmd-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if why := hugepagesMissing(); why != "" {
		noHuge = true
		fmt.Fprintf(os.Stderr, "hugepages: %s: every test runs pmd with eal.hugepages = false (--no-huge)\n", why)
	}
	pmdBin = filepath.Join(dir, "pmd")
	out, err := exec.Command("go", "build", "-o", pmdBin, "github.com/pmdstack/pmd/cmd/pmd").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building pmd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// topo is two namespaces joined by a veth pair: pmd's end (used by
// net_af_packet) and the kernel peer's end, on 198.18.<n>.0/24.
type topo struct {
	t        *testing.T
	pmdNS    string
	peerNS   string
	pmdIf    string
	peerIf   string
	pmdAddr  string
	peerAddr string
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newTopo creates the namespaces and veth pair, removed when t ends.
func newTopo(t *testing.T, subnet int) *topo {
	t.Helper()
	id := strconv.Itoa(os.Getpid() % 100000)
	tp := &topo{
		t:        t,
		pmdNS:    "pmde2e-h" + id,
		peerNS:   "pmde2e-p" + id,
		pmdIf:    "pmdv" + id,
		peerIf:   "peerv" + id,
		pmdAddr:  fmt.Sprintf("198.18.%d.1", subnet),
		peerAddr: fmt.Sprintf("198.18.%d.2", subnet),
	}
	t.Cleanup(tp.down)
	tp.down()
	run(t, "ip", "netns", "add", tp.pmdNS)
	run(t, "ip", "netns", "add", tp.peerNS)
	run(t, "ip", "link", "add", tp.pmdIf, "netns", tp.pmdNS, "type", "veth", "peer", "name", tp.peerIf, "netns", tp.peerNS)
	for _, ns := range []string{tp.pmdNS, tp.peerNS} {
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "netns", "exec", tp.pmdNS, "sysctl", "-qw", "net.ipv6.conf."+tp.pmdIf+".disable_ipv6=1")
	run(t, "ip", "netns", "exec", tp.peerNS, "sysctl", "-qw", "net.ipv6.conf."+tp.peerIf+".disable_ipv6=1")
	run(t, "ip", "-n", tp.pmdNS, "link", "set", tp.pmdIf, "up")
	run(t, "ip", "-n", tp.peerNS, "addr", "add", tp.peerAddr+"/24", "dev", tp.peerIf)
	run(t, "ip", "-n", tp.peerNS, "link", "set", tp.peerIf, "up")
	// The kernel peer must put full checksums on the wire (see DESIGN.md).
	run(t, "ip", "netns", "exec", tp.peerNS, "ethtool", "-K", tp.peerIf, "tx", "off")
	return tp
}

func (tp *topo) down() {
	exec.Command("ip", "netns", "del", tp.pmdNS).Run()
	exec.Command("ip", "netns", "del", tp.peerNS).Run()
}

// peer runs a command in the peer namespace.
func (tp *topo) peer(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", tp.peerNS, name}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// inPeerNS runs fn on an OS thread that has entered the peer namespace;
// sockets fn opens belong to that namespace and can be used from anywhere.
func (tp *topo) inPeerNS(fn func() error) error { return inNS(tp.peerNS, fn) }

// inNS runs fn on an OS thread that has entered namespace ns.
func inNS(ns string, fn func() error) error {
	errc := make(chan error)
	go func() {
		// The thread is not unlocked: it dies with this goroutine rather
		// than return to the runtime in the wrong namespace.
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// conf is a pmd configuration for the topology.
func (tp *topo) conf(lcores string, queues int, extra string) string {
	dev := "net_af_packet0,iface=" + tp.pmdIf
	if queues > 1 {
		dev += ",qpairs=" + strconv.Itoa(queues)
	}
	return fmt.Sprintf(`[eal]
lcores = %s
args = ["--no-pci", "--in-memory"]
hugepages = true

[engine]
idle = "sleep"
stats_interval = "0s"

[[port]]
device = %q
address = "%s/24"
queues = %d

[[service]]
kind = "echo"
proto = "udp"
port = 7

[[service]]
kind = "discard"
proto = "udp"
port = 9
%s`, lcores, dev, tp.pmdAddr, queues, extra)
}

// proc is a running pmd.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	done chan error
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// writeConf writes conf to a file of t's, in its --no-huge form on a host
// without hugepages.
func writeConf(t *testing.T, conf string) string {
	t.Helper()
	if noHuge {
		conf = withoutHugepages(conf)
	}
	return writeConfAsIs(t, conf)
}

func writeConfAsIs(t *testing.T, conf string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "conf.toml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startPMD runs pmd in the pmd namespace and waits until its lcores run.
// It is stopped (by its PID) when t ends if the test has not stopped it.
func (tp *topo) startPMD(conf string) *proc {
	tp.t.Helper()
	return tp.startPMDArgs(conf)
}

// startPMDArgs is startPMD with a subcommand (fwd) and its arguments first.
func (tp *topo) startPMDArgs(conf string, args ...string) *proc {
	tp.t.Helper()
	return tp.startBin(pmdBin, conf, args...)
}

// startBin runs bin, pmd or a program built on package stack, with args
// and -c conf in the pmd namespace and waits until its lcores run.
func (tp *topo) startBin(bin, conf string, args ...string) *proc {
	t := tp.t
	t.Helper()
	args = append(append([]string{"netns", "exec", tp.pmdNS, bin}, args...), "-c", writeConf(t, conf))
	cmd := exec.Command("ip", args...)
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(r)
		once := false
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if !once && (strings.Contains(sc.Text(), "msg=idle") || strings.Contains(sc.Text(), `"msg":"idle"`)) {
				once = true
				close(started)
			}
		}
	}()
	go func() { err := cmd.Wait(); w.Close(); p.done <- err }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("pmd output:\n%s", p.output())
		}
	})
	select {
	case <-started:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("pmd exited during start-up: %v\n%s", err, p.output())
	case <-time.After(30 * time.Second):
		t.Fatalf("pmd did not start within 30 s\n%s", p.output())
	}
	time.Sleep(200 * time.Millisecond) // the lcores' first polls
	return p
}

// stop sends SIGINT, expects exit status 0 and returns pmd's output.
func (p *proc) stop(t *testing.T) string {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	p.exited(t, 20*time.Second, "SIGINT")
	return p.output()
}

// exited waits at most d for pmd to exit, which it must with status 0
// (after what: for the messages).
func (p *proc) exited(t *testing.T, d time.Duration, after string) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("pmd exited with %v after %s\n%s", err, after, p.output())
		}
	case <-time.After(d):
		t.Fatalf("pmd still runs %v after %s\n%s", d, after, p.output())
	}
}

var kvRe = regexp.MustCompile(`([a-z0-9_]+)=("[^"]*"|\S+)`)

// finalCounters parses the "final" counter line of a scope (total, lcore0,
// port0) from pmd's output.
func finalCounters(t *testing.T, out, scope string) map[string]uint64 {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "msg=final") || !strings.Contains(line, "scope="+scope+" ") {
			continue
		}
		m := map[string]uint64{}
		for _, kv := range kvRe.FindAllStringSubmatch(line, -1) {
			if v, err := strconv.ParseUint(kv[2], 10, 64); err == nil {
				m[kv[1]] = v
			}
		}
		return m
	}
	t.Fatalf("no final counters for %s in pmd's output:\n%s", scope, out)
	return nil
}
