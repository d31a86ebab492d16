package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// The TOML is decoded into generic maps and walked by hand rather than
// decoded into structs: toml's MetaData.Undecoded and its type errors name
// "port.foo" without saying which [[port]], and pmd's errors must.

// decoder walks the decoded TOML and collects every mistake. It remembers
// the keys that failed so that nothing depending on them is checked
// again: one mistake gives one error, not a cascade (a wrong type leaves
// the default in place, which must not then be judged; a missing table
// must not also report each of its required keys).
type decoder struct {
	file   string
	errs   Errors
	failed map[string]bool
	order  map[string]int // docOrder of the document, nil for a Go value
}

// fail records a mistake in key unless key, a key inside it or the table
// holding it has failed already.
func (d *decoder) fail(key, format string, args ...any) {
	if d.bad(key) {
		return
	}
	if d.failed == nil {
		d.failed = make(map[string]bool)
	}
	d.failed[key] = true
	d.errs = append(d.errs, &Error{File: d.file, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// bad reports whether one of keys, a key inside it or a table or array
// holding it has failed: a check that depends on a key skips itself then.
func (d *decoder) bad(keys ...string) bool {
	for f := range d.failed {
		for _, k := range keys {
			if f == k || within(f, k) || within(k, f) {
				return true
			}
		}
	}
	return false
}

// within reports whether key lies inside the table or array outer:
// "port[0].mtu" inside "port[0]" and inside "port".
func within(key, outer string) bool {
	return len(key) > len(outer) && strings.HasPrefix(key, outer) && (key[len(outer)] == '.' || key[len(outer)] == '[')
}

// err is the mistakes found, nil if none.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	return d.errs
}

// table is one TOML table and its dotted path ("" for the document).
type table struct {
	d    *decoder
	path string
	m    map[string]any
}

func (t table) key(k string) string {
	k = quoteKey(k)
	if t.path == "" {
		return k
	}
	return t.path + "." + k
}

// quoteKey writes a key the way it would be written in TOML.
func quoteKey(k string) string {
	if k == "" {
		return `""`
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return strconv.Quote(k)
		}
	}
	return k
}

// known fails on every key (in sorted order) not in allowed.
func (t table) known(allowed ...string) {
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			t.d.fail(t.key(k), "unknown key (expected one of: %s)", strings.Join(allowed, ", "))
		}
	}
}

// typeName names the TOML type of a decoded value, with an article.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a datetime"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

func (t table) str(k string, dst *string) bool {
	v, ok := t.m[k]
	if !ok {
		return false
	}
	s, ok := v.(string)
	if !ok {
		t.d.fail(t.key(k), "expected a string, got %s", typeName(v))
		return true
	}
	*dst = s
	return true
}

func (t table) integer(k string, dst *int) bool {
	v, ok := t.m[k]
	if !ok {
		return false
	}
	if n, ok := intValue(t.d, t.key(k), v); ok {
		*dst = n
	}
	return true
}

// float reads a number; an integer (0, 1) is one too.
func (t table) float(k string, dst *float64) bool {
	v, ok := t.m[k]
	if !ok {
		return false
	}
	switch n := v.(type) {
	case float64:
		*dst = n
	case int64:
		*dst = float64(n)
	default:
		t.d.fail(t.key(k), "expected a number, got %s", typeName(v))
	}
	return true
}

// intLimit keeps every integer well inside int64 so that the memory
// arithmetic cannot overflow; the per-key ranges are much smaller.
const intLimit = 1 << 40

func intValue(d *decoder, key string, v any) (int, bool) {
	n, ok := v.(int64)
	if !ok {
		d.fail(key, "expected an integer, got %s", typeName(v))
		return 0, false
	}
	if n > intLimit || n < -intLimit {
		d.fail(key, "%d is out of range", n)
		return 0, false
	}
	return int(n), true
}

func (t table) boolean(k string, dst *bool) bool {
	v, ok := t.m[k]
	if !ok {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		t.d.fail(t.key(k), "expected true or false, got %s", typeName(v))
		return true
	}
	*dst = b
	return true
}

// duration reads a Go duration string ("20us", "1s"). Bare integers are
// refused: toml would read them as nanoseconds, which nobody means.
func (t table) duration(k string, dst *time.Duration) bool {
	v, ok := t.m[k]
	if !ok {
		return false
	}
	s, ok := v.(string)
	if !ok {
		t.d.fail(t.key(k), `expected a duration string such as "20us", "100ms" or "1s", got %s`, typeName(v))
		return true
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		t.d.fail(t.key(k), `expected a duration such as "20us", "100ms" or "1s", got %q`, s)
		return true
	}
	*dst = dur
	return true
}

// array returns the elements of an inline array.
func (t table) array(k string) ([]any, bool) {
	v, ok := t.m[k]
	if !ok {
		return nil, false
	}
	a, ok := v.([]any)
	if !ok {
		t.d.fail(t.key(k), "expected an array, got %s", typeName(v))
		return nil, true
	}
	return a, true
}

func (t table) ints(k string, dst *[]int) bool {
	a, ok := t.array(k)
	if !ok {
		return false
	}
	out := make([]int, 0, len(a))
	good := true
	for i, v := range a {
		n, ok := intValue(t.d, fmt.Sprintf("%s[%d]", t.key(k), i), v)
		good = good && ok
		out = append(out, n)
	}
	if good {
		*dst = out
	}
	return true
}

func (t table) strs(k string, dst *[]string) bool {
	a, ok := t.array(k)
	if !ok {
		return false
	}
	out := make([]string, 0, len(a))
	good := true
	for i, v := range a {
		s, ok := v.(string)
		if !ok {
			t.d.fail(fmt.Sprintf("%s[%d]", t.key(k), i), "expected a string, got %s", typeName(v))
			good = false
		}
		out = append(out, s)
	}
	if good {
		*dst = out
	}
	return true
}

// sub returns the table at k, empty if absent.
func (t table) sub(k string) table {
	st := table{d: t.d, path: t.key(k)}
	v, ok := t.m[k]
	if !ok {
		return st
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.d.fail(t.key(k), "expected a table ([%s]), got %s", k, typeName(v))
		return st
	}
	st.m = m
	return st
}

// tables returns the array of tables at k ([[k]] or k = [{...}]).
func (t table) tables(k string) []table {
	v, ok := t.m[k]
	if !ok {
		return nil
	}
	var ms []map[string]any
	switch a := v.(type) {
	case []map[string]any:
		ms = a
	case []any:
		for i, e := range a {
			m, ok := e.(map[string]any)
			if !ok {
				t.d.fail(fmt.Sprintf("%s[%d]", t.key(k), i), "expected a table, got %s", typeName(e))
				return nil
			}
			ms = append(ms, m)
		}
	default:
		t.d.fail(t.key(k), "expected an array of tables ([[%s]]), got %s", k, typeName(v))
		return nil
	}
	out := make([]table, len(ms))
	for i, m := range ms {
		out[i] = table{d: t.d, path: fmt.Sprintf("%s[%d]", t.key(k), i), m: m}
	}
	return out
}

// decode fills c from the document, starting from the defaults.
func (d *decoder) decode(c *Config, raw map[string]any) {
	root := table{d: d, m: raw}
	root.known("eal", "engine", "arp", "tcp", "rss", "port", "service", "log", "metrics", "control", "route", "ip")

	c.EAL = EAL{Hugepages: true}
	eal := root.sub("eal")
	eal.known("lcores", "args", "hugepages", "file_prefix", "memory_mb")
	if !eal.ints("lcores", &c.EAL.Lcores) {
		d.fail(eal.key("lcores"), "required: the CPU ids of the polling lcores, such as [0] or [2, 3]")
	}
	eal.strs("args", &c.EAL.Args)
	eal.boolean("hugepages", &c.EAL.Hugepages)
	eal.str("file_prefix", &c.EAL.FilePrefix)
	eal.integer("memory_mb", &c.EAL.MemoryMB)

	c.Engine = Engine{
		Burst:         32,
		Idle:          IdleSleep,
		IdleAfter:     64,
		IdleSleep:     20 * time.Microsecond,
		StatsInterval: 10 * time.Second,
		MbufCache:     256,
		ICMPRate:      1000,
		Drain:         5 * time.Second,
	}
	eng := root.sub("engine")
	eng.known("burst", "idle", "idle_after", "idle_sleep", "stats_interval", "mbufs", "mbuf_cache", "icmp_rate", "drain")
	eng.integer("burst", &c.Engine.Burst)
	var idle string
	if eng.str("idle", &idle) {
		c.Engine.Idle = Idle(idle)
	}
	eng.integer("idle_after", &c.Engine.IdleAfter)
	eng.duration("idle_sleep", &c.Engine.IdleSleep)
	eng.duration("stats_interval", &c.Engine.StatsInterval)
	eng.integer("mbufs", &c.Engine.Mbufs)
	eng.integer("mbuf_cache", &c.Engine.MbufCache)
	eng.integer("icmp_rate", &c.Engine.ICMPRate)
	eng.duration("drain", &c.Engine.Drain)

	c.ARP = ARP{Timeout: 60 * time.Second, Entries: 1024, Retry: time.Second, Tries: 3, Pending: 512}
	arp := root.sub("arp")
	arp.known("timeout", "entries", "retry", "tries", "pending")
	arp.duration("timeout", &c.ARP.Timeout)
	arp.integer("entries", &c.ARP.Entries)
	arp.duration("retry", &c.ARP.Retry)
	arp.integer("tries", &c.ARP.Tries)
	arp.integer("pending", &c.ARP.Pending)

	d.decodeTCP(c, root)
	d.decodeRSS(c, root)
	d.decodeIP(c, root)
	d.decodeOps(c, root)
	d.decodeRoutes(c, root)

	for _, pt := range root.tables("port") {
		c.Ports = append(c.Ports, d.port(pt))
	}
	for _, st := range root.tables("service") {
		c.Services = append(c.Services, d.service(st))
	}
}

func (d *decoder) port(t table) Port {
	p := Port{RxDesc: 1024, TxDesc: 1024, MTU: 1500, ChecksumOffload: true, PcapLimitMB: 1024, PcapStart: true}
	t.known("device", "address", "addresses", "gateway", "exception", "queues", "rx_desc", "tx_desc", "mtu", "checksum_offload", "trusted_link", "promiscuous",
		"pcap", "pcap_snaplen", "pcap_limit_mb", "pcap_start", "faults", "vlan", "vlan_software")
	if !t.str("device", &p.Device) {
		d.fail(t.key("device"), `required: a PCI address ("0000:01:00.0") or vdev devargs ("net_af_packet0,iface=pmd0")`)
	}
	var s string
	addrOK := false
	if !t.str("address", &s) {
		d.fail(t.key("address"), `required: our IPv4 address with prefix length, such as "198.18.0.1/24"`)
	} else if !d.bad(t.key("address")) {
		p.Address = d.address(t.key("address"), s)
		addrOK = !d.bad(t.key("address"))
	}
	d.addresses(t, &p)
	// A gateway is judged against the address, so only against a good one.
	if t.str("gateway", &s) && !d.bad(t.key("gateway")) {
		p.Gateway = d.gateway(t.key("gateway"), s)
		if p.Gateway.IsValid() && addrOK {
			d.checkGateway(t.key("gateway"), p.Gateway, p.Address)
		}
	}
	t.str("exception", &p.Exception)
	t.integer("queues", &p.Queues)
	t.integer("rx_desc", &p.RxDesc)
	t.integer("tx_desc", &p.TxDesc)
	t.integer("mtu", &p.MTU)
	t.boolean("checksum_offload", &p.ChecksumOffload)
	t.boolean("trusted_link", &p.TrustedLink)
	t.boolean("promiscuous", &p.Promiscuous)
	t.str("pcap", &p.Pcap)
	t.integer("pcap_snaplen", &p.PcapSnaplen)
	t.integer("pcap_limit_mb", &p.PcapLimitMB)
	t.boolean("pcap_start", &p.PcapStart)
	if _, ok := t.m["faults"]; ok {
		ft := t.sub("faults")
		ft.known("drop", "duplicate", "reorder", "corrupt", "direction", "seed")
		f := &Faults{Direction: "both", Seed: 1}
		ft.float("drop", &f.Drop)
		ft.float("duplicate", &f.Duplicate)
		ft.float("reorder", &f.Reorder)
		ft.float("corrupt", &f.Corrupt)
		ft.str("direction", &f.Direction)
		ft.integer("seed", &f.Seed)
		p.Faults = f
	}
	d.decodeVLANs(t, &p)
	return p
}

// address parses and checks a port's address: an IPv4 host address with
// its prefix length.
func (d *decoder) address(key, s string) netip.Prefix {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		d.fail(key, `expected an IPv4 address with prefix length, such as "198.18.0.1/24", got %q`, s)
		return p
	}
	d.checkAddress(key, p)
	return p
}

// checkAddress checks that a port's address is an IPv4 host address.
func (d *decoder) checkAddress(key string, p netip.Prefix) {
	a := p.Addr()
	if !a.Is4() {
		d.fail(key, "expected an IPv4 address with prefix length, got %s: pmd is IPv4 only", p)
		return
	}
	switch {
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		d.fail(key, "%s is not a host address (unspecified, loopback, multicast or broadcast)", a)
	case p.Bits() < 31 && a == p.Masked().Addr():
		d.fail(key, "%s is the network address of %s; expected a host address inside it", a, p.Masked())
	case p.Bits() < 31 && a == broadcast(p):
		d.fail(key, "%s is the broadcast address of %s; expected a host address inside it", a, p.Masked())
	}
}

// gateway parses a port's gateway; checkGateway judges it.
func (d *decoder) gateway(key, s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		d.fail(key, `expected an IPv4 address without prefix length, such as "198.18.0.254", got %q`, s)
		return netip.Addr{}
	}
	return a
}

// checkGateway checks that a port's gateway is another host on its link.
func (d *decoder) checkGateway(key string, a netip.Addr, pfx netip.Prefix) {
	switch {
	case !pfx.Contains(a):
		d.fail(key, "%s is outside the port's prefix %s; the gateway must be directly reachable", a, pfx.Masked())
	case a == pfx.Addr():
		d.fail(key, "%s is the port's own address; expected another host in %s", a, pfx.Masked())
	case pfx.Bits() < 31 && (a == pfx.Masked().Addr() || a == broadcast(pfx)):
		d.fail(key, "%s is the network or broadcast address of %s; expected a host address", a, pfx.Masked())
	}
}

// broadcast is the directed broadcast address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

// docOrder numbers the keys of the document in the order they are
// written, named as errors name them (port[1].mtu). toml's MetaData.Keys
// lists each [[port]] header again for every element but without its
// index, so the index is counted here; the elements of an inline array of
// tables cannot be told apart and all count as the first.
func docOrder(md toml.MetaData, raw map[string]any) map[string]int {
	order := make(map[string]int)
	headers := make(map[string]int) // [[k]] headers seen so far
	for n, k := range md.Keys() {
		path := ""
		m := raw
		for i, seg := range k {
			name := quoteKey(seg)
			if path != "" {
				name = path + "." + name
			}
			path = name
			var v any
			if m != nil {
				v = m[seg]
			}
			m = nil
			switch a := v.(type) {
			case map[string]any:
				m = a
			case []map[string]any:
				if i == len(k)-1 {
					headers[name]++
				}
				idx := max(headers[name]-1, 0)
				path = fmt.Sprintf("%s[%d]", name, idx)
				if idx < len(a) {
					m = a[idx]
				}
			case []any:
				if len(a) > 0 {
					if e, ok := a[0].(map[string]any); ok {
						path, m = name+"[0]", e
					}
				}
			}
		}
		if _, ok := order[path]; !ok {
			order[path] = n
		}
	}
	return order
}

// sort puts the errors in the order of the document: an error goes where
// its key is written or, for a key not written (a required one, a value
// inside an array), where the nearest table or array holding it is.
// Errors about keys the document lacks entirely come last; errors at the
// same place keep the order they were found in.
func (d *decoder) sort(order map[string]int) {
	pos := func(key string) int {
		for key != "" {
			if n, ok := order[key]; ok {
				return n
			}
			i := strings.LastIndexAny(key, ".[")
			if i < 0 {
				break
			}
			key = key[:i]
		}
		return len(order)
	}
	slices.SortStableFunc(d.errs, func(a, b *Error) int { return pos(a.Key) - pos(b.Key) })
}
