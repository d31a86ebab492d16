package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits of values whose range the schema, DPDK or pmd's own structures
// fix. Together they keep the computed pool below maxMbufs; the host
// check then compares the memory they add up to with the host's.
const (
	maxBurst     = 256
	maxMbufCache = 512 // RTE_MEMPOOL_CACHE_MAX_SIZE
	// maxMbufs is 4 Mi mbufs less one (a size where mempools waste least),
	// about 10 GiB per lcore at the default data room: more than ten
	// times what the largest configuration computes (32 ports of 4096 RX
	// and TX descriptors, the largest cache and ARP queue), so a larger
	// figure is a typing mistake, not a need.
	maxMbufs = 1<<22 - 1
	// maxARPEntry: the neighbour table is a sorted array that every lcore
	// reads without locks and that is copied whole on each change, so a
	// new neighbour costs a copy of the table; 65536 covers a /16 on link.
	maxARPEntry = 1 << 16
	// maxPending: every packet held for resolution keeps an mbuf, and
	// PoolMbufs adds them to each lcore's pool.
	maxPending = 65536
	// maxIdleAfter: at tens of nanoseconds per empty poll, 16 Mi polls are
	// about a second of spinning; beyond that idle = "poll" says it.
	maxIdleAfter = 1 << 24
	maxMemoryMB  = 1 << 20 // 1 TiB
	maxPorts     = 32      // RTE_MAX_ETHPORTS of Debian's DPDK
	minDesc      = 64
	maxDesc      = 4096
	minMTU       = 68 // RFC 791: every IPv4 host must handle 68 bytes
	maxMTU       = 9000
)

// validate checks the decoded configuration and collects every mistake;
// a check whose inputs failed is skipped.
func (d *decoder) validate(c *Config) {
	d.validateEAL(c)
	d.validateEngine(c)
	d.validateARP(c)
	d.validatePorts(c)
	d.validateServices(c)
	d.validateTCP(c)
	d.validateRSS(c)
	d.validateIP(c)
	d.validateOps(c)
	d.validateRoutes(c)
	d.validateVLANs(c)
	d.checkException(c)
	if !d.bad(c.sizeKeys()...) {
		d.validateMemory(c)
	}
	d.serviceOptions(c)
}

// sizeKeys are the keys Memory and PoolMbufs are computed from: when one
// of them failed, the figures mean nothing and are not judged.
func (c *Config) sizeKeys() []string {
	keys := []string{"eal.lcores", "eal.memory_mb", "engine.burst", "engine.mbufs", "engine.mbuf_cache", "arp.pending"}
	if len(c.Ports) == 0 {
		keys = append(keys, "port") // missing, or not an array of tables
	}
	for i := range c.Ports {
		for _, k := range []string{"queues", "rx_desc", "tx_desc", "mtu"} {
			keys = append(keys, fmt.Sprintf("port[%d].%s", i, k))
		}
	}
	return keys
}

func (d *decoder) validateEAL(c *Config) {
	e := &c.EAL
	if len(e.Lcores) == 0 {
		d.fail("eal.lcores", "must list at least one CPU id, such as [0]")
	}
	for i, cpu := range e.Lcores {
		key := fmt.Sprintf("eal.lcores[%d]", i)
		if j := slices.Index(e.Lcores[:i], cpu); j >= 0 {
			d.fail(key, "CPU %d is listed twice (also eal.lcores[%d]); each lcore needs its own CPU", cpu, j)
		}
		if _, ok := slices.BinarySearch(c.Env.CPUs, cpu); !ok {
			d.fail(key, "CPU %d is not in the CPUs this process may use (%s); expected one of them", cpu, cpuRanges(c.Env.CPUs))
		}
	}
	if strings.ContainsAny(e.FilePrefix, "/ \t\n") {
		d.fail("eal.file_prefix", "expected a name without '/' or spaces (DPDK puts it in a path), got %q", e.FilePrefix)
	}
	switch {
	case e.MemoryMB < 0 || e.MemoryMB > maxMemoryMB:
		d.fail("eal.memory_mb", "expected 0 (computed) to %d, got %d", maxMemoryMB, e.MemoryMB)
	case e.MemoryMB != 0 && e.Hugepages:
		d.fail("eal.memory_mb", "only used with eal.hugepages = false (it is -m for --no-huge); remove it or set eal.hugepages = false")
	}
	for i, a := range e.Args {
		key := fmt.Sprintf("eal.args[%d]", i)
		switch {
		case hasOpt([]string{a}, "-l", "-c", "--lcores", "--main-lcore"):
			d.fail(key, "%q is not allowed: pmd builds the lcore options from eal.lcores", a)
		case hasOpt([]string{a}, "--vdev", "-a", "--allow", "-b", "--block"):
			d.fail(key, "%q is not allowed: devices come from [[port]] device", a)
		case hasOpt([]string{a}, "--file-prefix"):
			d.fail(key, "%q is not allowed: set eal.file_prefix instead", a)
		case hasOpt([]string{a}, "--no-huge") && e.Hugepages:
			d.fail(key, "%q is not allowed: set eal.hugepages = false instead", a)
		case hasOpt([]string{a}, "--no-huge"):
			d.fail(key, "%q is not allowed: pmd adds --no-huge itself when eal.hugepages = false", a)
		case hasOpt([]string{a}, "-m", "--socket-mem") && !e.Hugepages:
			d.fail(key, "%q is not allowed with eal.hugepages = false: pmd passes -m itself; set eal.memory_mb instead", a)
		}
	}
}

// hasOpt reports whether args contain one of the EAL options names, in
// any form getopt accepts: "-l", "-l0-3" (short with value attached),
// "--lcores", "--lcores=..." and unambiguous abbreviations such as
// "--lcore".
func hasOpt(args []string, names ...string) bool {
	for _, a := range args {
		for _, n := range names {
			if strings.HasPrefix(n, "--") {
				o, _, _ := strings.Cut(a, "=")
				if o == n || len(o) >= 5 && strings.HasPrefix(n, o) {
					return true
				}
			} else if strings.HasPrefix(a, n) && !strings.HasPrefix(a, "--") {
				return true
			}
		}
	}
	return false
}

func (d *decoder) validateEngine(c *Config) {
	e := &c.Engine
	if e.Burst < 1 || e.Burst > maxBurst {
		d.fail("engine.burst", "expected 1..%d, got %d", maxBurst, e.Burst)
	}
	if e.ICMPRate < 1 || e.ICMPRate > 1<<20 {
		d.fail("engine.icmp_rate", "expected 1..%d, got %d", 1<<20, e.ICMPRate)
	}
	switch e.Idle {
	case IdlePoll, IdleYield, IdleSleep, IdleGosched:
	default:
		d.fail("engine.idle", "expected poll, yield, sleep or gosched, got %q", e.Idle)
	}
	if e.IdleAfter < 1 || e.IdleAfter > maxIdleAfter {
		d.fail("engine.idle_after", "expected 1..%d empty polls (more is about a second of spinning: set idle = \"poll\" instead), got %d", maxIdleAfter, e.IdleAfter)
	}
	if e.IdleSleep < time.Microsecond || e.IdleSleep > 100*time.Millisecond {
		d.fail("engine.idle_sleep", "expected 1us..100ms, got %s", e.IdleSleep)
	}
	if e.Drain < 0 || e.Drain > 10*time.Minute {
		d.fail("engine.drain", `expected "0s" (stop at once) to 10m, got %s`, e.Drain)
	}
	if e.StatsInterval != 0 && e.StatsInterval < 100*time.Millisecond {
		d.fail("engine.stats_interval", `expected "0s" (never) or at least 100ms, got %s`, e.StatsInterval)
	}
	if e.Mbufs < 0 || e.Mbufs > maxMbufs {
		d.fail("engine.mbufs", "expected 0 (computed) to %d (about 10 GiB per lcore, ten times what the largest configuration computes), got %d", maxMbufs, e.Mbufs)
	}
	if e.MbufCache < 0 || e.MbufCache > maxMbufCache {
		d.fail("engine.mbuf_cache", "expected 0..%d, got %d", maxMbufCache, e.MbufCache)
	}
}

func (d *decoder) validateARP(c *Config) {
	a := &c.ARP
	if a.Timeout < time.Second {
		d.fail("arp.timeout", "expected at least 1s, got %s", a.Timeout)
	}
	if a.Entries < 1 || a.Entries > maxARPEntry {
		d.fail("arp.entries", "expected 1..%d (the table is copied whole on each change), got %d", maxARPEntry, a.Entries)
	}
	if a.Retry < 10*time.Millisecond || a.Retry > a.Timeout && !d.bad("arp.timeout") {
		d.fail("arp.retry", "expected 10ms up to arp.timeout (%s), got %s", a.Timeout, a.Retry)
	}
	if a.Pending < 0 || a.Pending > maxPending {
		d.fail("arp.pending", "expected 0..%d (each held packet keeps an mbuf of the pool), got %d", maxPending, a.Pending)
	}
	if a.Tries < 1 || a.Tries > 20 {
		d.fail("arp.tries", "expected 1..20, got %d", a.Tries)
	}
}

var (
	pciRE  = regexp.MustCompile(`^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$`)
	nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	kvRE   = regexp.MustCompile(`^[A-Za-z0-9_-]+(=.+)?$`)
)

// devName is a device string without its devargs.
func devName(dev string) string {
	name, _, _ := strings.Cut(dev, ",")
	return name
}

// pciName normalizes a PCI address to DDDD:BB:DD.F in lower case.
func pciName(s string) (string, bool) {
	m := pciRE.FindStringSubmatch(s)
	if m == nil {
		return "", false
	}
	if n, _ := strconv.ParseUint(m[3], 16, 8); n > 0x1f {
		return "", false
	}
	dom := m[1]
	if dom == "" {
		dom = "0000"
	}
	return strings.ToLower(dom + ":" + m[2] + ":" + m[3] + "." + m[4]), true
}

// deviceKey checks a device string and returns the name two ports must
// not share.
func deviceKey(dev string) (string, bool) {
	if strings.ContainsAny(dev, " \t\n") {
		return "", false
	}
	parts := splitDevargs(dev)
	name, pci := pciName(parts[0])
	if !pci {
		if !nameRE.MatchString(parts[0]) {
			return "", false
		}
		name = parts[0]
	}
	for _, kv := range parts[1:] {
		if !kvRE.MatchString(kv) {
			return "", false
		}
	}
	return name, true
}

// splitDevargs splits at commas outside brackets ("representor=[0,1]").
func splitDevargs(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func isPow2(n int) bool { return n > 0 && n&(n-1) == 0 }

func (d *decoder) validatePorts(c *Config) {
	if len(c.Ports) == 0 {
		d.fail("port", `at least one [[port]] is required, with device and address`)
		return
	}
	if len(c.Ports) > maxPorts {
		d.fail(fmt.Sprintf("port[%d]", maxPorts), "at most %d ports are supported (RTE_MAX_ETHPORTS)", maxPorts)
	}
	noPCI := hasOpt(c.EAL.Args, "--no-pci")
	names := make([]string, len(c.Ports))
	gw := -1
	for i := range c.Ports {
		p := &c.Ports[i]
		key := func(k string) string { return fmt.Sprintf("port[%d].%s", i, k) }
		name, ok := deviceKey(p.Device)
		names[i] = name
		switch {
		case !ok:
			d.fail(key("device"), `expected a PCI address ("0000:01:00.0" or "01:00.0") or vdev devargs ("net_af_packet0,iface=pmd0"), got %q`, p.Device)
		case !p.PCI() && vdevDriver(name) == "":
			d.fail(key("device"), "%q names no virtual device driver of DPDK 22.11; expected a name that starts with one of %s and goes on with a number (net_tap0), or a PCI address", name, strings.Join(vdevDrivers, ", "))
		case p.PCI() && noPCI:
			d.fail(key("device"), "%q is a PCI device but eal.args contains --no-pci; remove --no-pci from eal.args or use a virtual device", p.Device)
		}
		if p.PcapSnaplen < 0 || p.PcapSnaplen > 65535 {
			d.fail(key("pcap_snaplen"), "expected 0 (whole frames) to 65535, got %d", p.PcapSnaplen)
		}
		if p.PcapLimitMB < 1 || p.PcapLimitMB > 1<<20 {
			d.fail(key("pcap_limit_mb"), "expected 1 to 1048576 (MiB per file), got %d", p.PcapLimitMB)
		}
		if f := p.Faults; f != nil {
			for _, r := range []struct {
				k string
				v float64
			}{{"drop", f.Drop}, {"duplicate", f.Duplicate}, {"reorder", f.Reorder}, {"corrupt", f.Corrupt}} {
				if !(r.v >= 0 && r.v <= 1) {
					d.fail(key("faults."+r.k), "expected a probability from 0 to 1, got %g", r.v)
				}
			}
			if f.Direction != "rx" && f.Direction != "tx" && f.Direction != "both" {
				d.fail(key("faults.direction"), "expected rx, tx or both, got %q", f.Direction)
			}
			if f.Seed < 0 {
				d.fail(key("faults.seed"), "expected 0 or more, got %d", f.Seed)
			}
		}
		devOK := ok && !d.bad(key("device"))
		if p.TrustedLink && devOK && !trustable(name) {
			d.fail(key("trusted_link"), "%s is not a memory link between processes; only net_memif and net_ring devices may skip checksums", name)
		}
		if j := slices.Index(names[:i], name); devOK && j >= 0 {
			d.fail(key("device"), "device %s is already used by port[%d]; each port needs its own device", name, j)
		}
		for j := range i {
			if d.bad(key("address"), fmt.Sprintf("port[%d].address", j)) {
				continue // a wrong address overlaps by chance
			}
			if q := c.Ports[j].Address; q.IsValid() && p.Address.IsValid() && q.Masked().Overlaps(p.Address.Masked()) {
				d.fail(key("address"), "%s overlaps port[%d].address %s; each port needs its own network", p.Address.Masked(), j, q.Masked())
			}
		}
		if p.Gateway.IsValid() {
			if gw >= 0 {
				d.fail(key("gateway"), "only one port may have a gateway, and port[%d] already has one", gw)
			}
			gw = i
		}
		n := len(c.EAL.Lcores)
		if p.Queues == 0 {
			p.Queues = n
		}
		if p.Queues != n && !d.bad("eal.lcores") {
			d.fail(key("queues"), "expected the number of lcores (%d), got %d: for now every lcore polls one queue pair on every port; omit it or set 0", n, p.Queues)
		}
		for _, k := range []struct {
			name string
			v    int
		}{{"rx_desc", p.RxDesc}, {"tx_desc", p.TxDesc}} {
			if k.v < minDesc || k.v > maxDesc || !isPow2(k.v) {
				d.fail(key(k.name), "expected a power of two from %d to %d, got %d", minDesc, maxDesc, k.v)
			}
		}
		if p.MTU < minMTU || p.MTU > maxMTU {
			d.fail(key("mtu"), "expected %d..%d, got %d", minMTU, maxMTU, p.MTU)
		}
	}
}

// validateMemory checks the sizes computed from other keys; validate
// calls it only when those keys are valid (sizeKeys).
func (d *decoder) validateMemory(c *Config) {
	e := c.Engine
	if e.Mbufs > 0 {
		rx := 0
		for _, p := range c.Ports {
			rx += p.RxDesc
		}
		need := max(rx+e.MbufCache+e.Burst, (e.MbufCache*3+1)/2)
		if e.Mbufs < need {
			d.fail("engine.mbufs", "%d is too small: the RX rings (%d descriptors), engine.mbuf_cache (%d) and one burst (%d) need at least %d; set 0 to compute it", e.Mbufs, rx, e.MbufCache, e.Burst, need)
		}
	}
	if m := c.EAL.MemoryMB; m > 0 {
		if need := mib(c.Memory().Total); uint64(m) < need {
			d.fail("eal.memory_mb", "%d MiB is less than the %d MiB this configuration needs; raise it or set 0 to compute it", m, need)
		}
	}
}

// cpuRanges formats sorted CPU ids as "0-3,6".
func cpuRanges(cpus []int) string {
	if len(cpus) == 0 {
		return "none"
	}
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}

// trustable reports whether a device is memory between processes on one
// host, where nothing can corrupt a frame on its way: the only devices on
// which trusted_link may switch checksums off.
func trustable(name string) bool {
	return strings.HasPrefix(name, "net_memif") || strings.HasPrefix(name, "net_ring")
}
