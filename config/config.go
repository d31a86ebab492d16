// Package config loads and validates pmd's TOML configuration. It is strict:
// an unknown key, a wrong type or a bad value stops start-up with Errors,
// every mistake at once, each an *Error naming the file, the dotted key
// (with array index) and what is expected.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Idle is what a polling lcore does after engine.idle_after empty polls.
type Idle string

// The idle actions accepted in engine.idle.
const (
	IdlePoll    Idle = "poll"    // keep polling: lowest latency, 100% CPU
	IdleYield   Idle = "yield"   // give the CPU to other runnable threads
	IdleSleep   Idle = "sleep"   // sleep for engine.idle_sleep
	IdleGosched Idle = "gosched" // let the goroutines the lcore woke run (runtime.Gosched)
)

// Proto is the transport protocol of a service.
type Proto string

// The transport protocols accepted in service.proto.
const (
	ProtoTCP Proto = "tcp"
	ProtoUDP Proto = "udp"
)

// Config is a loaded and validated configuration, with defaults applied.
type Config struct {
	EAL      EAL
	Engine   Engine
	ARP      ARP
	TCP      TCP
	RSS      RSS
	Ports    []Port
	Services []Service
	Routes   []Route
	Log      Log
	Metrics  Metrics
	Control  Control
	IP       IP // [ip]: fragment reassembly (frag.go)
	// File is the name the configuration was loaded from; errors found
	// later (CheckHost) name it too.
	File string
	// Env is the environment the configuration was validated against.
	Env Env
}

// EAL is the [eal] table: how DPDK's Environment Abstraction Layer starts.
type EAL struct {
	// Lcores are the CPU ids of the polling lcores, one each.
	Lcores []int
	// Args are extra EAL arguments, passed through after pmd's own.
	Args []string
	// Hugepages is false to run with --no-huge.
	Hugepages bool
	// FilePrefix is DPDK's --file-prefix; "" means "pmd-<pid>".
	FilePrefix string
	// MemoryMB is -m for --no-huge; 0 means computed from Memory().
	MemoryMB int
}

// Engine is the [engine] table: the per-lcore poll loop.
type Engine struct {
	Burst         int           // rx/tx burst size
	Idle          Idle          // action after IdleAfter empty polls
	IdleAfter     int           // empty polls before the idle action
	IdleSleep     time.Duration // sleep length when Idle is IdleSleep
	StatsInterval time.Duration // 0 = never print counters
	Mbufs         int           // mbufs per lcore pool; 0 = PoolMbufs computes it
	MbufCache     int           // per-lcore mempool cache
	ICMPRate      int           // ICMP errors (unreachable) each lcore sends per second
	Drain         time.Duration // on stop, how long open connections may finish; 0: stop at once
}

// ARP is the [arp] table: the neighbour table.
type ARP struct {
	Timeout time.Duration // neighbour entry lifetime
	Entries int           // neighbour table bound
	Retry   time.Duration // request retransmission interval
	Tries   int           // requests before the packets held for a next hop are dropped
	Pending int           // packets held per lcore awaiting resolution
}

// Port is one [[port]] table: a DPDK device and our address on it.
type Port struct {
	// Device is a PCI address or vdev devargs string.
	Device string
	// Address is our host address with the on-link prefix length.
	Address netip.Prefix
	// Addresses are further addresses of ours on the link, each with its
	// network's prefix length (the same network as Address, or another).
	Addresses []netip.Prefix
	// Gateway is the next hop for other networks; the zero Addr if none.
	Gateway netip.Addr
	// Queues is the number of RX/TX queue pairs, resolved to len(lcores).
	Queues          int
	RxDesc          int
	TxDesc          int
	MTU             int
	ChecksumOffload bool
	// TrustedLink: the device is memory shared with another pmd (net_memif,
	// net_ring) that also sets it, so no checksum is computed or verified,
	// as the kernel does on loopback and veth.
	TrustedLink bool
	Promiscuous bool
	// Exception, if set, is the devargs of a kernel interface (net_tap,
	// net_virtio_user) that gets the traffic pmd does not serve, and
	// whose traffic goes out of this port.
	Exception string
	// Pcap, if set, records the port's frames to this file (one file per
	// queue when there are several: name-qN.ext), cut to PcapSnaplen bytes
	// (0: whole frames), up to PcapLimitMB MiB per file.
	Pcap        string
	PcapSnaplen int
	PcapLimitMB int
	PcapStart   bool // recording from start-up; SIGUSR2 switches it

	// Faults, if set, damages the port's traffic ([port.faults]).
	Faults *Faults

	// VLANs are the 802.1Q VLANs the port carries ([[port.vlan]]).
	VLANs []VLAN
	// VLANSoftware strips and inserts VLAN tags in software even where
	// the device could.
	VLANSoftware bool
}

// Faults is a [port.faults] table: the fault injector's rates, each a
// probability per frame.
type Faults struct {
	Drop, Duplicate, Reorder, Corrupt float64
	Direction                         string // "rx", "tx" or "both"
	Seed                              int
}

// PcapFile is the capture file of queue q of a port with queues queues.
func (p Port) PcapFile(q, queues int) string {
	if queues <= 1 {
		return p.Pcap
	}
	ext := filepath.Ext(p.Pcap)
	return fmt.Sprintf("%s-q%d%s", strings.TrimSuffix(p.Pcap, ext), q, ext)
}

// PCI reports whether the port's device is a PCI address (as opposed to
// a virtual device).
func (p Port) PCI() bool {
	_, ok := pciName(devName(p.Device))
	return ok
}

// Env is what the host allows the process; Parse validates against it.
type Env struct {
	// CPUs are the CPU ids the process may run on (sched_getaffinity).
	CPUs []int
	// Kinds are the service kinds [[service]] may name.
	Kinds Kinds
}

// Error is a configuration error. Key is the dotted key with array
// indexes (port[0].address); Line and Col are set for TOML syntax errors.
type Error struct {
	File string
	Key  string
	Msg  string
	Line int
	Col  int
}

// Error formats the error as "FILE: KEY: MSG", or "FILE:LINE:COL: MSG" for
// syntax errors.
func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
		if e.Col > 0 {
			s += ":" + strconv.Itoa(e.Col)
		}
	}
	if e.Key != "" {
		s += ": " + e.Key
	}
	return s + ": " + e.Msg
}

// Errors are all the mistakes found in a configuration, in the order of
// the document, one *Error each; errors.As finds the first.
type Errors []*Error

// Error writes one mistake a line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the mistakes for errors.As and errors.Is.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Load reads and parses the configuration file at path.
func Load(path string, env Env) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, env)
}

// Parse parses data, named name in errors, applies the defaults and
// validates the result against env. The error is Errors, every mistake of
// the document, or an *Error alone for a syntax error.
func Parse(name string, data []byte, env Env) (*Config, error) {
	c, d, err := parse(name, data, env)
	if err != nil {
		return nil, err
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// Check is what pmd check does: it loads the configuration file at path
// as Load does and runs the host checks of CheckHostAt on every part of it
// that is valid, so that one run reports every mistake, the
// configuration's and the host's, as Errors in the order of the file.
func Check(path string, env Env, sysfs, procfs string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, d, err := parse(path, data, env)
	if err != nil {
		return nil, err
	}
	d.checkHost(c, sysfs, procfs)
	d.sort(d.order)
	if err := d.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// parse decodes and validates data, leaving the mistakes in d, sorted; a
// syntax error, which leaves nothing to decode, is returned alone.
func parse(name string, data []byte, env Env) (*Config, *decoder, error) {
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg := "syntax error: " + pe.Message
			if pe.LastKey != "" {
				msg += " (last key " + pe.LastKey + ")"
			}
			return nil, nil, &Error{File: name, Msg: msg, Line: pe.Position.Line, Col: pe.Position.Col}
		}
		return nil, nil, &Error{File: name, Msg: err.Error()}
	}
	c := &Config{File: name, Env: env.sorted()}
	d := &decoder{file: name, order: docOrder(md, raw)}
	d.decode(c, raw)
	d.validate(c)
	d.sort(d.order)
	return c, d, nil
}

func (e Env) sorted() Env {
	cpus := slices.Clone(e.CPUs)
	slices.Sort(cpus)
	return Env{CPUs: slices.Compact(cpus), Kinds: e.Kinds}
}

// Default is the configuration an empty file would give, before the
// required keys: a base for a configuration written as a Go value. Set
// EAL.Lcores, Ports (Address and Device at least; the other fields as
// Default's port gives them, see DefaultPort) and Services, then Validate.
func Default() *Config {
	c := &Config{File: "(Go value)"}
	d := &decoder{file: c.File}
	d.decode(c, map[string]any{})
	return c
}

// DefaultPort is a [[port]] table with only its required keys set.
func DefaultPort(device string, address netip.Prefix) Port {
	d := &decoder{}
	p := d.port(table{d: d, m: map[string]any{}})
	p.Device, p.Address = device, address
	return p
}

// Validate checks a configuration built as a Go value against env, as
// Parse checks a file, and fills in what validation computes (queues,
// service options). Errors name c.File and the key.
func (c *Config) Validate(env Env) error {
	c.Env = env.sorted()
	d := &decoder{file: c.File}
	for i, p := range c.Ports {
		key := fmt.Sprintf("port[%d]", i)
		d.checkAddress(key+".address", p.Address)
		if p.Gateway.IsValid() && !d.bad(key+".address") {
			d.checkGateway(key+".gateway", p.Gateway, p.Address)
		}
	}
	d.validate(c)
	return d.err()
}
