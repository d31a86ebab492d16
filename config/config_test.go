package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pmdstack/pmd/tcp"
)

var testEnv = Env{CPUs: []int{6, 0, 1, 2, 3}, Kinds: testKinds}

// testKinds stand for a program's registry: "echo" on both transports
// without options, "web" on TCP with a body_size that must fit in
// tcp.snd_buf and a mode string.
var testKinds = &kindMap{
	"echo":    {TCP: true, UDP: true},
	"discard": {TCP: true, UDP: true},
	"web": {TCP: true, Options: func(o *Options) any {
		w := webOpts{Body: o.Int("body_size", 64, 0, 1<<20), Mode: o.String("mode", "fast", "fast", "slow")}
		if w.Body+512 > o.Config().TCP.SndBuf {
			o.Failf("body_size", "a response of %d bytes plus headers must fit in tcp.snd_buf (%d)", w.Body, o.Config().TCP.SndBuf)
		}
		return w
	}},
}

type webOpts struct {
	Body int
	Mode string
}

type kindMap map[string]Kind

func (m *kindMap) Kind(name string) (Kind, bool) { k, ok := (*m)[name]; return k, ok }
func (m *kindMap) Names() []string {
	var n []string
	for k := range *m {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// minimal has only the keys of the first block of the schema.
const minimal = `
[eal]
lcores = [0]
args = ["--no-pci", "--in-memory"]
hugepages = true

[[port]]
device = "net_af_packet0,iface=pmd0"
address = "198.18.0.1/24"
gateway = "198.18.0.254"
queues = 1

[[service]]
kind = "echo"
proto = "tcp"
port = 7
`

func TestMinimalDefaults(t *testing.T) {
	c, err := Parse("conf.toml", []byte(minimal), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		EAL: EAL{Lcores: []int{0}, Args: []string{"--no-pci", "--in-memory"}, Hugepages: true},
		Engine: Engine{
			Burst:         32,
			Idle:          IdleSleep,
			IdleAfter:     64,
			IdleSleep:     20 * time.Microsecond,
			StatsInterval: 10 * time.Second,
			MbufCache:     256,
			ICMPRate:      1000,
			Drain:         5 * time.Second,
		},
		ARP:     ARP{Timeout: 60 * time.Second, Entries: 1024, Retry: time.Second, Tries: 3, Pending: 512},
		TCP:     defaultTCP(),
		IP:      defaultIP(),
		RSS:     RSS{Key: "symmetric", RETASize: 128},
		Log:     Log{Level: "info", Format: "text"},
		Control: Control{Socket: DefaultControlSocket},
		Ports: []Port{{
			Device:          "net_af_packet0,iface=pmd0",
			Address:         netip.MustParsePrefix("198.18.0.1/24"),
			Gateway:         netip.MustParseAddr("198.18.0.254"),
			Queues:          1,
			RxDesc:          1024,
			TxDesc:          1024,
			MTU:             1500,
			ChecksumOffload: true,
			PcapLimitMB:     1024,
			PcapStart:       true,
		}},
		Services: []Service{{Kind: "echo", Proto: ProtoTCP, Port: 7}},
		File:     "conf.toml",
		Env:      Env{CPUs: []int{0, 1, 2, 3, 6}, Kinds: testKinds},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
}

const full = `
[log]
level = "debug"
format = "json"

[metrics]
listen = "127.0.0.1:9470"

[control]
socket = "/tmp/pmd-test.sock"

[eal]
lcores = [2, 3]
args = ["--in-memory", "--log-level=lib.eal:debug"]
hugepages = false
file_prefix = "bench"
memory_mb = 512

[engine]
burst = 64
idle = "yield"
idle_after = 8
idle_sleep = "1ms"
stats_interval = "0s"
mbufs = 20000
mbuf_cache = 512

[arp]
timeout = "5m"
entries = 16
retry = "250ms"
pending = 0

[[port]]
device = "0000:3b:00.1,rxq_pkt_len=2"
address = "10.0.0.2/31"
queues = 0
rx_desc = 4096
tx_desc = 64
mtu = 9000
checksum_offload = false
promiscuous = true

[[port]]
device = "net_memif0,role=server,socket=/run/memif.sock,id=0"
address = "198.18.0.7/32"
gateway = "198.18.0.7"
trusted_link = true
pcap = "/tmp/cap.pcap"
pcap_snaplen = 128
pcap_start = false

[port.faults]
drop = 0.25
corrupt = 0
direction = "rx"
seed = 3

[[service]]
kind = "web"
port = 80
body_size = 0

[[service]]
kind = "echo"
proto = "udp"
port = 80

[[service]]
kind = "discard"
proto = "tcp"
port = 9
`

func TestFull(t *testing.T) {
	// The /32 port's gateway equals its address: refused. Give it a /30.
	doc := strings.Replace(full, "198.18.0.7/32", "198.18.0.6/30", 1)
	doc = strings.Replace(doc, `gateway = "198.18.0.7"`, `gateway = "198.18.0.5"`, 1)
	c, err := Parse("full.toml", []byte(doc), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		EAL: EAL{
			Lcores:     []int{2, 3},
			Args:       []string{"--in-memory", "--log-level=lib.eal:debug"},
			FilePrefix: "bench",
			MemoryMB:   512,
		},
		Engine: Engine{
			Burst:     64,
			Idle:      IdleYield,
			IdleAfter: 8,
			IdleSleep: time.Millisecond,
			Mbufs:     20000,
			MbufCache: 512,
			ICMPRate:  1000,
			Drain:     5 * time.Second,
		},
		ARP:     ARP{Timeout: 5 * time.Minute, Entries: 16, Retry: 250 * time.Millisecond, Tries: 3},
		TCP:     defaultTCP(),
		RSS:     RSS{Key: "symmetric", RETASize: 128},
		Log:     Log{Level: "debug", Format: "json"},
		Metrics: Metrics{Listen: "127.0.0.1:9470"},
		Control: Control{Socket: "/tmp/pmd-test.sock"},
		IP:      defaultIP(),
		Ports: []Port{{
			Device:      "0000:3b:00.1,rxq_pkt_len=2",
			Address:     netip.MustParsePrefix("10.0.0.2/31"),
			Queues:      2,
			RxDesc:      4096,
			TxDesc:      64,
			MTU:         9000,
			Promiscuous: true,
			PcapLimitMB: 1024,
			PcapStart:   true,
		}, {
			Device:          "net_memif0,role=server,socket=/run/memif.sock,id=0",
			Address:         netip.MustParsePrefix("198.18.0.6/30"),
			Gateway:         netip.MustParseAddr("198.18.0.5"),
			Queues:          2,
			RxDesc:          1024,
			TxDesc:          1024,
			MTU:             1500,
			ChecksumOffload: true,
			TrustedLink:     true,
			Pcap:            "/tmp/cap.pcap",
			PcapSnaplen:     128,
			PcapLimitMB:     1024,
			Faults:          &Faults{Drop: 0.25, Direction: "rx", Seed: 3},
		}},
		Services: []Service{
			{Kind: "web", Proto: ProtoTCP, Port: 80, Params: map[string]any{"body_size": int64(0)}, Options: webOpts{Body: 0, Mode: "fast"}},
			{Kind: "echo", Proto: ProtoUDP, Port: 80},
			{Kind: "discard", Proto: ProtoTCP, Port: 9},
		},
		File: "full.toml",
		Env:  Env{CPUs: []int{0, 1, 2, 3, 6}, Kinds: testKinds},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
	if !c.Ports[0].PCI() || c.Ports[1].PCI() {
		t.Errorf("PCI() = %v, %v; want true, false", c.Ports[0].PCI(), c.Ports[1].PCI())
	}
}

// TestValid accepts documents near the edges of what is allowed.
func TestValid(t *testing.T) {
	const eal = "[eal]\nlcores = [0]\n"
	tests := []struct {
		name, doc string
	}{
		{"inline port table", `port = [{device = "net_tap0", address = "198.18.0.1/24"}]` + "\n" + eal},
		{"pci short form", eal + "[[port]]\ndevice = \"3b:00.0\"\naddress = \"198.18.0.1/24\"\n"},
		{"devargs list", eal + "[[port]]\ndevice = \"net_null0,representor=[0,1],flag\"\naddress = \"198.18.0.1/24\"\n"},
		{"slash 31 network address", eal + "[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.0/31\"\ngateway = \"198.18.0.1\"\n"},
		{"slash 32", eal + "[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.1/32\"\n"},
		{"two ports one gateway", eal + "[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.1/24\"\n[[port]]\ndevice = \"net_tap1\"\naddress = \"198.18.1.1/24\"\ngateway = \"198.18.1.2\"\n"},
		{"same port number tcp and udp", eal + "[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.1/24\"\n[[service]]\nkind = \"echo\"\nport = 7\n[[service]]\nkind = \"echo\"\nproto = \"udp\"\nport = 7\n"},
		{"idle gosched", eal + "[engine]\nidle = \"gosched\"\n[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.1/24\"\n"},
		{"stats never", eal + "[engine]\nstats_interval = \"0s\"\n[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.1/24\"\n"},
		{"no-huge without memory", "[eal]\nlcores = [0]\nhugepages = false\n[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.1/24\"\n"},
		{"log-level arg", "[eal]\nlcores = [0]\nargs = [\"--log-level=8\", \"-n\", \"4\"]\n[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.1/24\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse("t.toml", []byte(tt.doc), testEnv); err != nil {
				t.Error(err)
			}
		})
	}
}

const (
	eal0  = "[eal]\nlcores = [0]\n"
	port0 = "[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.1/24\"\n"
	base  = eal0 + port0
)

// manyPorts returns n [[port]] tables on distinct devices and networks.
func manyPorts(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[[port]]\ndevice = \"net_tap%d\"\naddress = \"10.%d.0.1/16\"\n", i, i)
	}
	return b.String()
}

// inEAL returns base with s added to its [eal] table.
func inEAL(s string) string { return eal0 + s + "\n" + port0 }

// inPort returns base with s added to its [[port]] table.
func inPort(s string) string { return base + s + "\n" }

// service returns base with one [[service]] table holding s.
func service(s string) string { return base + "[[service]]\n" + s + "\n" }

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		key  string
		msg  string
	}{
		// Unknown keys.
		{"unknown top-level key", "foo = 1\n" + base, "foo", "unknown key"},
		{"unknown table", base + "[udp]\nmss = 1460\n", "udp", "unknown key"},
		{"rss key", base + "[rss]\nkey = \"random\"\n", "rss.key", "expected \"symmetric\" or \"microsoft\""},
		{"rss reta size", base + "[rss]\nreta_size = 100\n", "rss.reta_size", "power of two"},
		{"unknown tcp key", base + "[tcp]\nmss = 1460\n", "tcp.mss", "unknown key"},
		{"tcp snd_buf small", base + "[tcp]\nsnd_buf = 100\n", "tcp.snd_buf", "expected 4096.."},
		{"tcp delayed_ack long", base + "[tcp]\ndelayed_ack = \"1s\"\n", "tcp.delayed_ack", "expected 0s..500ms"},
		{"tcp port range", base + "[tcp]\nport_min = 5000\nport_max = 4000\n", "tcp.port_max", "expected 5000..65535"},
		{"tcp rto order", base + "[tcp]\nmin_rto = \"2s\"\nmax_rto = \"1s\"\n", "tcp.max_rto", "expected 2s..10m0s"},
		{"tcp retries type", base + "[tcp]\nretries = \"many\"\n", "tcp.retries", "expected an integer"},
		{"web body over snd_buf", base + "[tcp]\nsnd_buf = 4096\n[[service]]\nkind = \"web\"\nport = 80\nbody_size = 8000\n", "service[0].body_size", "must fit in tcp.snd_buf"},
		{"unknown eal key", inEAL("lcore = [1]"), "eal.lcore", "unknown key"},
		{"unknown empty key", inEAL(`"" = 1`), `eal.""`, "unknown key"},
		{"unknown quoted key", inEAL(`"a.b" = 1`), `eal."a.b"`, "unknown key"},
		{"unknown engine key", base + "[engine]\nbursts = 3\n", "engine.bursts", "unknown key"},
		{"unknown arp key", base + "[arp]\nttl = \"1s\"\n", "arp.ttl", "unknown key"},
		{"unknown port key", base + "[[port]]\ndevice = \"net_tap1\"\naddress = \"198.18.1.1/24\"\nmask = 24\n", "port[1].mask", "unknown key"},
		{"unknown service key", service("kind = \"echo\"\nport = 7\nname = \"x\""), "service[0].name", "unknown key"},

		// Syntax and types.
		{"syntax error", base + "[engine]\nburst = \n", "", "syntax error"},
		{"eal not a table", "eal = 1\n" + port0, "eal", "expected a table"},
		{"port not an array", eal0 + "[port]\ndevice = \"x\"\n", "port", "expected an array of tables"},
		{"port element not a table", "port = [1]\n" + eal0, "port[0]", "expected a table"},
		{"key of eal mistaken for top level", port0 + eal0 + "port = [1]\n", "eal.port", "unknown key"},
		{"lcores not an array", "[eal]\nlcores = 0\n" + port0, "eal.lcores", "expected an array"},
		{"lcores element string", "[eal]\nlcores = [\"0\"]\n" + port0, "eal.lcores[0]", "expected an integer, got a string"},
		{"lcores element huge", "[eal]\nlcores = [99999999999999]\n" + port0, "eal.lcores[0]", "out of range"},
		{"args element integer", inEAL("args = [\"--in-memory\", 1]"), "eal.args[1]", "expected a string, got an integer"},
		{"hugepages string", inEAL(`hugepages = "yes"`), "eal.hugepages", "expected true or false"},
		{"file_prefix integer", inEAL("file_prefix = 1"), "eal.file_prefix", "expected a string"},
		{"burst float", base + "[engine]\nburst = 1.5\n", "engine.burst", "expected an integer, got a float"},
		{"idle_sleep integer", base + "[engine]\nidle_sleep = 20\n", "engine.idle_sleep", "expected a duration string"},
		{"timeout datetime", base + "[arp]\ntimeout = 1979-05-27\n", "arp.timeout", "got a datetime"},
		{"device integer", eal0 + "[[port]]\ndevice = 1\naddress = \"198.18.0.1/24\"\n", "port[0].device", "expected a string"},
		{"mtu string", inPort(`mtu = "1500"`), "port[0].mtu", "expected an integer"},
		{"promiscuous table", inPort("promiscuous = {}"), "port[0].promiscuous", "got a table"},
		{"service port array", service("kind = \"echo\"\nport = [7]"), "service[0].port", "got an array"},

		// [eal].
		{"no eal", port0, "eal.lcores", "required"},
		{"empty lcores", "[eal]\nlcores = []\n" + port0, "eal.lcores", "at least one"},
		{"lcore not allowed", "[eal]\nlcores = [0, 7]\n" + port0, "eal.lcores[1]", "CPU 7 is not in the CPUs this process may use (0-3,6)"},
		{"negative lcore", "[eal]\nlcores = [-1]\n" + port0, "eal.lcores[0]", "not in the CPUs"},
		{"duplicate lcore", "[eal]\nlcores = [0, 1, 0]\n" + port0, "eal.lcores[2]", "listed twice (also eal.lcores[0])"},
		{"file_prefix slash", inEAL(`file_prefix = "a/b"`), "eal.file_prefix", "without '/'"},
		{"memory_mb with hugepages", inEAL("memory_mb = 512"), "eal.memory_mb", "only used with eal.hugepages = false"},
		{"memory_mb negative", inEAL("hugepages = false\nmemory_mb = -1"), "eal.memory_mb", "expected 0 (computed)"},
		{"memory_mb too small", inEAL("hugepages = false\nmemory_mb = 16"), "eal.memory_mb", "16 MiB is less than the 26 MiB"},
		{"arg -l", inEAL(`args = ["--in-memory", "-l"]`), "eal.args[1]", "from eal.lcores"},
		{"arg -l attached", inEAL(`args = ["-l0-3"]`), "eal.args[0]", "from eal.lcores"},
		{"arg --lcores=", inEAL(`args = ["--lcores=0@1"]`), "eal.args[0]", "from eal.lcores"},
		{"arg --lcore abbreviated", inEAL(`args = ["--lcore"]`), "eal.args[0]", "from eal.lcores"},
		{"arg -c", inEAL(`args = ["-c", "0x3"]`), "eal.args[0]", "from eal.lcores"},
		{"arg --main-lcore", inEAL(`args = ["--main-lcore=1"]`), "eal.args[0]", "from eal.lcores"},
		{"arg --vdev", inEAL(`args = ["--vdev=net_tap1"]`), "eal.args[0]", "devices come from [[port]]"},
		{"arg -a", inEAL(`args = ["-a", "0000:01:00.0"]`), "eal.args[0]", "devices come from [[port]]"},
		{"arg --allow", inEAL(`args = ["--allow=0000:01:00.0"]`), "eal.args[0]", "devices come from [[port]]"},
		{"arg -b", inEAL(`args = ["-b0000:01:00.0"]`), "eal.args[0]", "devices come from [[port]]"},
		{"arg --block", inEAL(`args = ["--block", "0000:01:00.0"]`), "eal.args[0]", "devices come from [[port]]"},
		{"arg --file-prefix", inEAL(`args = ["--file-prefix=x"]`), "eal.args[0]", "set eal.file_prefix instead"},
		{"arg --no-huge with hugepages", inEAL(`args = ["--no-huge"]`), "eal.args[0]", "set eal.hugepages = false instead"},
		{"arg --no-huge without hugepages", inEAL("hugepages = false\nargs = [\"--no-huge\"]"), "eal.args[0]", "adds --no-huge itself"},
		{"arg -m without hugepages", inEAL("hugepages = false\nargs = [\"-m\", \"512\"]"), "eal.args[0]", "set eal.memory_mb instead"},
		{"arg --socket-mem without hugepages", inEAL("hugepages = false\nargs = [\"--socket-mem=512\"]"), "eal.args[0]", "set eal.memory_mb instead"},

		// [log], [metrics], [control].
		{"log level", base + "[log]\nlevel = \"verbose\"\n", "log.level", `expected "debug", "info", "warn" or "error", got "verbose"`},
		{"log format", base + "[log]\nformat = \"xml\"\n", "log.format", `expected "text" or "json"`},
		{"log unknown", base + "[log]\nfile = \"x\"\n", "log.file", "unknown key"},
		{"metrics no port", base + "[metrics]\nlisten = \"127.0.0.1\"\n", "metrics.listen", "expected an address and port"},
		{"metrics port 0", base + "[metrics]\nlisten = \"127.0.0.1:0\"\n", "metrics.listen", "other than 0"},
		{"control relative", base + "[control]\nsocket = \"pmd.sock\"\n", "control.socket", "absolute path"},
		// addresses, [[route]].
		{"addresses network", inPort(`addresses = ["198.18.5.0/24"]`), "port[0].addresses[0]", "network address of 198.18.5.0/24"},
		{"addresses twice", inPort(`addresses = ["198.18.0.1/24"]`), "port[0].addresses[0]", "is also port[0].address"},
		{"addresses not a list", inPort(`addresses = "198.18.5.1/24"`), "port[0].addresses", "expected an array"},
		{"route host bits", base + "[[route]]\nprefix = \"10.1.2.3/8\"\nvia = \"198.18.0.9\"\n", "route[0].prefix", "expected the network, 10.0.0.0/8"},
		{"route via off-link", base + "[[route]]\nprefix = \"10.0.0.0/8\"\nvia = \"198.19.0.9\"\n", "route[0].via", "none of the ports' networks"},
		{"route via ours", base + "[[route]]\nprefix = \"10.0.0.0/8\"\nvia = \"198.18.0.1\"\n", "route[0].via", "our own address"},
		{"route twice", base + "[[route]]\nprefix = \"10.0.0.0/8\"\nvia = \"198.18.0.9\"\n[[route]]\nprefix = \"10.0.0.0/8\"\nvia = \"198.18.0.8\"\n", "route[1].prefix", "also route[0]'s"},
		{"route default and gateway", inPort(`gateway = "198.18.0.254"`) + "[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"198.18.0.9\"\n", "route[0].prefix", "port[0].gateway's route already"},
		{"route unknown key", base + "[[route]]\nprefix = \"10.0.0.0/8\"\nvia = \"198.18.0.9\"\nmetric = 1\n", "route[0].metric", "unknown key"},
		{"route no via", base + "[[route]]\nprefix = \"10.0.0.0/8\"\n", "route[0].via", "required"},

		{"control too long", base + "[control]\nsocket = \"/" + strings.Repeat("x", 120) + "\"\n", "control.socket", "at most 107 bytes"},

		// [engine].
		{"burst 0", base + "[engine]\nburst = 0\n", "engine.burst", "expected 1..256, got 0"},
		{"burst 257", base + "[engine]\nburst = 257\n", "engine.burst", "expected 1..256, got 257"},
		{"bad idle", base + "[engine]\nidle = \"spin\"\n", "engine.idle", `expected poll, yield, sleep or gosched, got "spin"`},
		{"idle_after 0", base + "[engine]\nidle_after = 0\n", "engine.idle_after", "expected 1..16777216 empty polls"},
		{"idle_sleep unparsable", base + "[engine]\nidle_sleep = \"20xs\"\n", "engine.idle_sleep", `got "20xs"`},
		{"idle_sleep too short", base + "[engine]\nidle_sleep = \"500ns\"\n", "engine.idle_sleep", "expected 1us..100ms"},
		{"idle_sleep too long", base + "[engine]\nidle_sleep = \"200ms\"\n", "engine.idle_sleep", "expected 1us..100ms"},
		{"stats_interval short", base + "[engine]\nstats_interval = \"50ms\"\n", "engine.stats_interval", "at least 100ms"},
		{"drain negative", base + "[engine]\ndrain = \"-1s\"\n", "engine.drain", "stop at once"},
		{"stats_interval negative", base + "[engine]\nstats_interval = \"-1s\"\n", "engine.stats_interval", "at least 100ms"},
		{"mbufs negative", base + "[engine]\nmbufs = -1\n", "engine.mbufs", "expected 0 (computed)"},
		{"mbufs too small", base + "[engine]\nmbufs = 1000\n", "engine.mbufs", "need at least 1312"},
		{"mbufs below cache threshold", inPort("rx_desc = 64\n[engine]\nmbufs = 700\nmbuf_cache = 512"), "engine.mbufs", "need at least 768"},
		{"mbuf_cache 513", base + "[engine]\nmbuf_cache = 513\n", "engine.mbuf_cache", "expected 0..512"},
		{"mbuf_cache negative", base + "[engine]\nmbuf_cache = -1\n", "engine.mbuf_cache", "expected 0..512"},

		// [arp].
		{"arp timeout short", base + "[arp]\ntimeout = \"500ms\"\n", "arp.timeout", "at least 1s"},
		{"arp timeout unparsable", base + "[arp]\ntimeout = \"1 minute\"\n", "arp.timeout", "expected a duration"},
		{"arp entries 0", base + "[arp]\nentries = 0\n", "arp.entries", "expected 1.."},
		{"arp retry short", base + "[arp]\nretry = \"1ms\"\n", "arp.retry", "expected 10ms up to arp.timeout"},
		{"arp retry above timeout", base + "[arp]\nretry = \"2m\"\n", "arp.retry", "expected 10ms up to arp.timeout (1m0s)"},
		{"arp pending negative", base + "[arp]\npending = -1\n", "arp.pending", "expected 0.."},

		// [[port]].
		{"no ports", eal0, "port", "at least one [[port]]"},
		{"too many ports", eal0 + manyPorts(33), "port[32]", "at most 32 ports"},
		{"missing device", eal0 + "[[port]]\naddress = \"198.18.0.1/24\"\n", "port[0].device", "required"},
		{"missing address", eal0 + "[[port]]\ndevice = \"net_tap0\"\n", "port[0].address", "required"},
		{"bad device space", eal0 + "[[port]]\ndevice = \"net_tap0, iface=x\"\naddress = \"198.18.0.1/24\"\n", "port[0].device", "expected a PCI address"},
		{"bad device empty name", eal0 + "[[port]]\ndevice = \",iface=x\"\naddress = \"198.18.0.1/24\"\n", "port[0].device", "expected a PCI address"},
		{"bad pci device number", eal0 + "[[port]]\ndevice = \"0000:01:20.0\"\naddress = \"198.18.0.1/24\"\n", "port[0].device", "expected a PCI address"},
		{"bad devargs", eal0 + "[[port]]\ndevice = \"net_tap0,=x\"\naddress = \"198.18.0.1/24\"\n", "port[0].device", "expected a PCI address"},
		{"pcap_snaplen too big", inPort("pcap_snaplen = 70000"), "port[0].pcap_snaplen", "expected 0 (whole frames) to 65535"},
		{"pcap_limit_mb 0", inPort("pcap_limit_mb = 0"), "port[0].pcap_limit_mb", "expected 1 to 1048576"},
		{"pcap not a string", inPort("pcap = true"), "port[0].pcap", "expected a string"},
		{"faults rate above 1", inPort("[port.faults]\ndrop = 1.5"), "port[0].faults.drop", "expected a probability from 0 to 1, got 1.5"},
		{"faults rate negative", inPort("[port.faults]\nreorder = -0.1"), "port[0].faults.reorder", "expected a probability"},
		{"faults rate a string", inPort("[port.faults]\ncorrupt = \"1%\""), "port[0].faults.corrupt", "expected a number"},
		{"faults direction", inPort("[port.faults]\ndirection = \"up\""), "port[0].faults.direction", `expected rx, tx or both, got "up"`},
		{"faults unknown key", inPort("[port.faults]\nloss = 0.1"), "port[0].faults.loss", "unknown key"},
		{"faults not a table", inPort("faults = 0.1"), "port[0].faults", "expected a table"},
		{"trusted af_packet", eal0 + "[[port]]\ndevice = \"net_af_packet0,iface=x\"\naddress = \"198.18.0.1/24\"\ntrusted_link = true\n", "port[0].trusted_link", "only net_memif and net_ring"},
		{"trusted pci", eal0 + "[[port]]\ndevice = \"3b:00.0\"\naddress = \"198.18.0.1/24\"\ntrusted_link = true\n", "port[0].trusted_link", "not a memory link"},
		{"same device", base + "[[port]]\ndevice = \"net_tap0,iface=b\"\naddress = \"198.18.1.1/24\"\n", "port[1].device", "already used by port[0]"},
		{"same pci device", eal0 + "[[port]]\ndevice = \"3b:00.0\"\naddress = \"198.18.0.1/24\"\n[[port]]\ndevice = \"0000:3B:00.0\"\naddress = \"198.18.1.1/24\"\n", "port[1].device", "already used by port[0]"},
		{"no-pci with pci device", "[eal]\nlcores = [0]\nargs = [\"--no-pci\"]\n[[port]]\ndevice = \"0000:01:00.0\"\naddress = \"198.18.0.1/24\"\n", "port[0].device", "eal.args contains --no-pci"},
		{"no-pci with short pci device", "[eal]\nlcores = [0]\nargs = [\"--no-pci\"]\n" + port0 + "[[port]]\ndevice = \"01:00.0,x=1\"\naddress = \"198.18.1.1/24\"\n", "port[1].device", "eal.args contains --no-pci"},
		{"address without prefix", eal0 + "[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.1\"\n", "port[0].address", "expected an IPv4 address with prefix length"},
		{"address bad octet", eal0 + "[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.300/24\"\n", "port[0].address", "expected an IPv4 address with prefix length"},
		{"address ipv6", eal0 + "[[port]]\ndevice = \"net_tap0\"\naddress = \"2001:db8::1/64\"\n", "port[0].address", "IPv4 only"},
		{"address network", eal0 + "[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.0/24\"\n", "port[0].address", "network address of 198.18.0.0/24"},
		{"address broadcast", eal0 + "[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.255/24\"\n", "port[0].address", "broadcast address of 198.18.0.0/24"},
		{"address multicast", eal0 + "[[port]]\ndevice = \"net_tap0\"\naddress = \"224.0.0.5/24\"\n", "port[0].address", "not a host address"},
		{"address loopback", eal0 + "[[port]]\ndevice = \"net_tap0\"\naddress = \"127.0.0.1/8\"\n", "port[0].address", "not a host address"},
		{"overlapping prefixes", base + "[[port]]\ndevice = \"net_tap1\"\naddress = \"198.18.0.130/25\"\n", "port[1].address", "overlaps port[0].address 198.18.0.0/24"},
		{"gateway outside prefix", inPort(`gateway = "198.18.1.254"`), "port[0].gateway", "outside the port's prefix 198.18.0.0/24"},
		{"gateway is address", inPort(`gateway = "198.18.0.1"`), "port[0].gateway", "port's own address"},
		{"gateway is broadcast", inPort(`gateway = "198.18.0.255"`), "port[0].gateway", "network or broadcast"},
		{"gateway with prefix", inPort(`gateway = "198.18.0.254/24"`), "port[0].gateway", "without prefix length"},
		{"gateway ipv6", inPort(`gateway = "2001:db8::1"`), "port[0].gateway", "expected an IPv4 address"},
		{"two gateways", eal0 + "[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.1/24\"\ngateway = \"198.18.0.2\"\n[[port]]\ndevice = \"net_tap1\"\naddress = \"198.18.1.1/24\"\ngateway = \"198.18.1.2\"\n", "port[1].gateway", "only one port may have a gateway, and port[0]"},
		{"queues not lcores", inPort("queues = 2"), "port[0].queues", "expected the number of lcores (1), got 2"},
		{"queues negative", inPort("queues = -1"), "port[0].queues", "expected the number of lcores"},
		{"rx_desc not power of two", inPort("rx_desc = 1000"), "port[0].rx_desc", "power of two from 64 to 4096, got 1000"},
		{"rx_desc small", inPort("rx_desc = 32"), "port[0].rx_desc", "power of two from 64 to 4096"},
		{"tx_desc large", inPort("tx_desc = 8192"), "port[0].tx_desc", "power of two from 64 to 4096"},
		{"tx_desc zero", inPort("tx_desc = 0"), "port[0].tx_desc", "power of two from 64 to 4096"},
		{"mtu small", inPort("mtu = 67"), "port[0].mtu", "expected 68..9000, got 67"},
		{"mtu large", inPort("mtu = 9001"), "port[0].mtu", "expected 68..9000, got 9001"},

		// [[service]].
		{"missing kind", service("port = 7"), "service[0].kind", "required"},
		{"missing port", service(`kind = "echo"`), "service[0].port", "required"},
		{"bad kind", service("kind = \"ftp\"\nport = 21"), "service[0].kind", `expected a registered kind (discard, echo, web), got "ftp"`},
		{"bad proto", service("kind = \"echo\"\nproto = \"sctp\"\nport = 7"), "service[0].proto", `expected tcp or udp, got "sctp"`},
		{"web over udp", service("kind = \"web\"\nproto = \"udp\"\nport = 80"), "service[0].proto", "web does not run over udp"},
		{"port 0", service("kind = \"echo\"\nport = 0"), "service[0].port", "expected 1..65535, got 0"},
		{"port 70000", service("kind = \"echo\"\nport = 70000"), "service[0].port", "expected 1..65535, got 70000"},
		{"duplicate service", service("kind = \"echo\"\nport = 7\n[[service]]\nkind = \"discard\"\nproto = \"tcp\"\nport = 7"), "service[1].port", "tcp port 7 is already used by service[0]"},
		{"option of a kind without options", service("kind = \"echo\"\nport = 7\nbody_size = 64"), "service[0].body_size", `unknown key (expected one of: kind, proto, port)`},
		{"option unknown to its kind", service("kind = \"web\"\nport = 80\nbodysize = 64"), "service[0].bodysize", `unknown key (expected one of: kind, proto, port, body_size, mode)`},
		{"option too large", service("kind = \"web\"\nport = 80\nbody_size = 1048577"), "service[0].body_size", "expected 0..1048576"},
		{"option negative", service("kind = \"web\"\nport = 80\nbody_size = -1"), "service[0].body_size", "expected 0..1048576"},
		{"option type", service("kind = \"web\"\nport = 80\nbody_size = \"big\""), "service[0].body_size", "expected an integer, got a string"},
		{"option choice", service("kind = \"web\"\nport = 80\nmode = \"medium\""), "service[0].mode", `expected one of fast, slow, got "medium"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const file = "bad.toml"
			_, err := Parse(file, []byte(tt.doc), testEnv)
			expectOnly(t, err, file, tt.key, tt.msg)
		})
	}
}

// expectOnly checks that err reports the one mistake of a file with one
// mistake: an *Error for file and key saying msg, and nothing else (no
// cascade of errors that follow from it).
func expectOnly(t *testing.T, err error, file, key, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s: %s", key, msg)
	}
	var first *Error
	if !errors.As(err, &first) {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	all := Errors{first}
	errors.As(err, &all)
	if len(all) != 1 {
		t.Errorf("%d errors, want only %s:\n%v", len(all), key, err)
	}
	e := all[0]
	if e.File != file || e.Key != key {
		t.Errorf("File, Key = %q, %q; want %q, %q (%v)", e.File, e.Key, file, key, err)
	}
	if s := e.Error(); !strings.HasPrefix(s, file+":") || !strings.Contains(s, key) || !strings.Contains(s, msg) {
		t.Errorf("error %q: want file %q, key %q and %q in it", s, file, key, msg)
	}
}

func TestSyntaxErrorPosition(t *testing.T) {
	doc := "[eal]\nlcores = [0]\nargs = [\"a\",\n  \"b\" \"c\"]\n"
	_, err := Parse("x.toml", []byte(doc), testEnv)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want *Error", err)
	}
	if e.Line != 4 || e.Col == 0 {
		t.Errorf("Line, Col = %d, %d; want 4, >0", e.Line, e.Col)
	}
	if want := "x.toml:4:"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.toml", Key: "port[0].mtu", Msg: "bad"}, "a.toml: port[0].mtu: bad"},
		{Error{File: "a.toml", Msg: "syntax error: x", Line: 3, Col: 7}, "a.toml:3:7: syntax error: x"},
		{Error{File: "a.toml", Msg: "x", Line: 3}, "a.toml:3: x"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "conf.toml")
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(good, []byte(minimal), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(minimal+"[engine]\nburst = 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(good, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != good {
		t.Errorf("File = %q, want %q", c.File, good)
	}
	if _, err := Load(bad, testEnv); err == nil || !strings.HasPrefix(err.Error(), bad+": engine.burst: ") {
		t.Errorf("Load(bad) = %v, want an error naming %s and engine.burst", err, bad)
	}
	missing := filepath.Join(dir, "missing.toml")
	if _, err := Load(missing, testEnv); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) = %v, want a not-exist error naming the file", err)
	}
}

// TestNoCPUs shows what an empty Env says: no lcore can be used.
func TestNoCPUs(t *testing.T) {
	_, err := Parse("t.toml", []byte(base), Env{Kinds: testKinds})
	if err == nil || !strings.Contains(err.Error(), "eal.lcores[0]: CPU 0 is not in the CPUs this process may use (none)") {
		t.Errorf("got %v", err)
	}
}

func TestHasOpt(t *testing.T) {
	tests := []struct {
		arg   string
		names []string
		want  bool
	}{
		{"--in-memory", []string{"--in-memory"}, true},
		{"--in-mem", []string{"--in-memory"}, true},
		{"--in", []string{"--in-memory"}, false},
		{"--in-memoryx", []string{"--in-memory"}, false},
		{"--lcores=1", []string{"--lcores"}, true},
		{"-l", []string{"-l"}, true},
		{"-l1", []string{"-l"}, true},
		{"--log-level=8", []string{"-l", "--lcores"}, false},
		{"-n", []string{"-l"}, false},
	}
	for _, tt := range tests {
		if got := hasOpt([]string{tt.arg}, tt.names...); got != tt.want {
			t.Errorf("hasOpt(%q, %q) = %v, want %v", tt.arg, tt.names, got, tt.want)
		}
	}
}

// TestGoValue builds the minimal configuration as a Go value: Validate
// gives what Parse gives for the file.
func TestGoValue(t *testing.T) {
	c := Default()
	c.File = "conf.toml"
	c.EAL.Lcores = []int{0}
	c.EAL.Args = []string{"--no-pci", "--in-memory"}
	p := DefaultPort("net_af_packet0,iface=pmd0", netip.MustParsePrefix("198.18.0.1/24"))
	p.Gateway = netip.MustParseAddr("198.18.0.254")
	c.Ports = []Port{p}
	c.Services = []Service{{Kind: "echo", Port: 7}}
	if err := c.Validate(testEnv); err != nil {
		t.Fatal(err)
	}
	want, err := Parse("conf.toml", []byte(minimal), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}

	bad := []struct {
		name    string
		change  func(c *Config)
		wantErr string
	}{
		{"broadcast address", func(c *Config) { c.Ports[0].Address = netip.MustParsePrefix("198.18.0.255/24") }, "port[0].address: 198.18.0.255 is the broadcast address"},
		{"gateway off link", func(c *Config) { c.Ports[0].Gateway = netip.MustParseAddr("198.19.0.1") }, "port[0].gateway: 198.19.0.1 is outside"},
		{"option checked", func(c *Config) {
			c.Services = []Service{{Kind: "web", Port: 80, Params: map[string]any{"body_size": int64(-1)}}}
		}, "service[0].body_size: expected 0..1048576"},
		{"no lcores", func(c *Config) { c.EAL.Lcores = nil }, "eal.lcores: must list at least one CPU"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.EAL.Lcores = []int{0}
			c.Ports = []Port{DefaultPort("net_tap0", netip.MustParsePrefix("198.18.0.1/24"))}
			tt.change(c)
			if err := c.Validate(testEnv); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	w := Default()
	w.EAL.Lcores = []int{0}
	w.Ports = []Port{DefaultPort("net_tap0", netip.MustParsePrefix("198.18.0.1/24"))}
	w.Services = []Service{{Kind: "web", Port: 80, Params: map[string]any{"mode": "slow"}}}
	if err := w.Validate(testEnv); err != nil {
		t.Fatal(err)
	}
	if got := w.Services[0].Options; got != (webOpts{Body: 64, Mode: "slow"}) {
		t.Errorf("Options = %+v", got)
	}
}

// TestTCPStackConfig: [tcp] reaches the stack's configuration whole, with
// its defaults the stack's own, and delayed_ack = "0s" turns delayed ACKs
// off.
func TestTCPStackConfig(t *testing.T) {
	d := tcp.DefaultConfig()
	got := defaultTCP().Stack(int(d.MSS))
	if !reflect.DeepEqual(got, d) {
		t.Errorf("the [tcp] defaults as the stack takes them:\n got %+v\nwant %+v", got, d)
	}
	off := defaultTCP()
	off.DelayedAck = 0
	if c := off.Stack(1460); !c.NoDelayedAck {
		t.Errorf("delayed_ack 0s: %+v", c)
	}
}

// TestRoutes: further addresses and routes parse, and each route finds
// the port whose network holds its next hop.
func TestRoutes(t *testing.T) {
	doc := eal0 + port0 + "addresses = [\"198.18.5.1/24\"]\n" + "[[port]]\ndevice = \"net_tap1\"\naddress = \"198.19.0.1/16\"\n" +
		"[[route]]\nprefix = \"10.0.0.0/8\"\nvia = \"198.19.0.9\"\n[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"198.18.5.9\"\n"
	c, err := Parse("t.toml", []byte(doc), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Ports[0].Addresses) != 1 || c.Ports[0].Addresses[0] != netip.MustParsePrefix("198.18.5.1/24") {
		t.Errorf("addresses %v", c.Ports[0].Addresses)
	}
	want := []Route{
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Via: netip.MustParseAddr("198.19.0.9"), Port: 1},
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("198.18.5.9"), Port: 0},
	}
	if !slices.Equal(c.Routes, want) {
		t.Errorf("routes %+v, want %+v", c.Routes, want)
	}
}
