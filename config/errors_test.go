package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// keysOf lists the keys err reports, in its order.
func keysOf(t *testing.T, err error) []string {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %T %v is not Errors", err, err)
	}
	keys := make([]string, len(es))
	for i, e := range es {
		keys[i] = e.Key
	}
	return keys
}

// TestEveryMistake: a file with many mistakes reports each one, in the
// order they are written, and errors.As still finds the first.
func TestEveryMistake(t *testing.T) {
	doc := `
foo = 1
[eal]
lcores = [0, 0]
hugepages = "yes"
[engine]
mbufs = 100000000
burst = 0
bursts = 3
[[port]]
device = "net_bogus0,foo"
address = "198.18.0.0/24"
gateway = "198.18.1.1"
mtu = 99999
[tcp]
max_conns = 100000000
snd_buf = 1
colour = "red"
[[service]]
kind = "web"
port = 80
body_size = "big"
`
	_, err := Parse("bad.toml", []byte(doc), testEnv)
	want := []string{"foo", "eal.lcores[1]", "eal.hugepages", "engine.mbufs", "engine.burst", "engine.bursts",
		"port[0].device", "port[0].address", "port[0].mtu", "tcp.max_conns", "tcp.snd_buf", "tcp.colour", "service[0].body_size"}
	if got := keysOf(t, err); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("keys\n got %q\nwant %q\n%v", got, want, err)
	}
	var first *Error
	if !errors.As(err, &first) || first.Key != "foo" {
		t.Errorf("errors.As found %v, want the error of foo", first)
	}
	if n := strings.Count(err.Error(), "\n"); n != len(want)-1 {
		t.Errorf("Error() has %d lines, want one per mistake:\n%s", n+1, err)
	}
	for _, w := range []string{
		"engine.mbufs: expected 0 (computed) to 4194303 (about 10 GiB per lcore",
		`port[0].device: "net_bogus0" names no virtual device driver of DPDK 22.11; expected a name that starts with one of net_af_packet, net_af_xdp,`,
		"tcp.max_conns: expected 1..4194304, got 100000000",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("no %q in\n%s", w, err)
		}
	}
}

// TestNoCascade: a value that failed gives one error, not others that
// follow from it.
func TestNoCascade(t *testing.T) {
	tests := []struct {
		name, doc, key, msg string
	}{
		{"eal not a table", "eal = 1\n" + port0, "eal", "expected a table"},
		{"lcores of the wrong type", "[eal]\nlcores = [\"0\"]\n" + port0 + "queues = 1\n", "eal.lcores[0]", "expected an integer"},
		{"gateway beside a bad address", eal0 + "[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.0/24\"\ngateway = \"10.0.0.1\"\n", "port[0].address", "network address"},
		{"gateway beside an unparsable address", eal0 + "[[port]]\ndevice = \"net_tap0\"\naddress = \"x\"\ngateway = \"10.0.0.1\"\n", "port[0].address", "expected an IPv4 address"},
		{"memory after a bad descriptor count", inPort("rx_desc = 1000\n[engine]\nmbufs = 1000"), "port[0].rx_desc", "power of two"},
		{"memory_mb after bad mbufs", inEAL("hugepages = false\nmemory_mb = 16\n[engine]\nmbufs = \"many\""), "engine.mbufs", "expected an integer"},
		{"max_rto after a bad min_rto", base + "[tcp]\nmin_rto = \"2m\"\nmax_rto = \"1m\"\n", "tcp.min_rto", "expected 1ms..1m0s"},
		{"port_max after a bad port_min", base + "[tcp]\nport_min = 70000\nport_max = 60000\n", "tcp.port_min", "expected 1..65535"},
		{"arp retry after a bad timeout", base + "[arp]\ntimeout = \"1ms\"\nretry = \"2s\"\n", "arp.timeout", "at least 1s"},
		{"option against a bad snd_buf", base + "[tcp]\nsnd_buf = 100\n[[service]]\nkind = \"web\"\nport = 80\n", "tcp.snd_buf", "expected 4096.."},
		{"no ports", eal0 + "[engine]\nmbufs = 100\n", "port", "at least one [[port]]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("bad.toml", []byte(tt.doc), testEnv)
			expectOnly(t, err, "bad.toml", tt.key, tt.msg)
		})
	}
}

// TestEveryUnknownKey: each unknown key of a table is reported.
func TestEveryUnknownKey(t *testing.T) {
	_, err := Parse("bad.toml", []byte(base+"[tcp]\nmss = 1\nwindow = 2\n"), testEnv)
	if got := strings.Join(keysOf(t, err), " "); got != "tcp.mss tcp.window" {
		t.Errorf("keys %q, want tcp.mss and tcp.window\n%v", got, err)
	}
}

// TestOptionsBesideMistakes: a service's own mistakes are reported with
// the rest of the file's.
func TestOptionsBesideMistakes(t *testing.T) {
	_, err := Parse("bad.toml", []byte(base+"[engine]\nburst = 0\n[[service]]\nkind = \"web\"\nport = 80\nmode = \"medium\"\nsize = 1\n"), testEnv)
	if got := strings.Join(keysOf(t, err), " "); got != "engine.burst service[0].mode service[0].size" {
		t.Errorf("keys %q\n%v", got, err)
	}
}

func TestVdevDrivers(t *testing.T) {
	for _, dev := range []string{"net_af_packet0,iface=x", "net_tap1", "net_tun0", "net_virtio_user0,path=/dev/vhost-net", "net_memif", "net_ring0", "net_null0", "net_bonding0,mode=1", "net_vdev_netvsc0"} {
		if _, err := Parse("t.toml", []byte(eal0+"[[port]]\ndevice = \""+dev+"\"\naddress = \"198.18.0.1/24\"\n"), testEnv); err != nil {
			t.Errorf("%s: %v", dev, err)
		}
	}
	for _, dev := range []string{"net_bogus0,foo", "eth_foo0", "tap0", "net_x0"} {
		_, err := Parse("t.toml", []byte(eal0+"[[port]]\ndevice = \""+dev+"\"\naddress = \"198.18.0.1/24\"\n"), testEnv)
		expectOnly(t, err, "t.toml", "port[0].device", "names no virtual device driver")
	}
}

func TestCheckHostAt(t *testing.T) {
	const (
		meminfo = "MemTotal:       24684092 kB\nMemFree:         1000 kB\n"
		pciDev  = "sys/bus/pci/devices/0000:01:00.0/"
		pciConf = "[eal]\nlcores = [0]\nhugepages = false\n[[port]]\ndevice = \"01:00.0\"\naddress = \"198.18.0.1/24\"\n"
	)
	tests := []struct {
		name  string
		doc   string
		files map[string]string
		links map[string]string // symlink → target
		want  []string          // "key: substring"; none means no error
	}{
		{"vdev, no hugepages", inEAL("hugepages = false"), map[string]string{"proc/meminfo": meminfo}, nil, nil},
		{"pci bound to vfio-pci", pciConf, map[string]string{"proc/meminfo": meminfo, pciDev + "vendor": "0x8086\n"},
			map[string]string{pciDev + "driver": "../../../bus/pci/drivers/vfio-pci"}, nil},
		{"pci bound to mlx5_core", pciConf, map[string]string{"proc/meminfo": meminfo, pciDev + "vendor": "0x15b3\n"},
			map[string]string{pciDev + "driver": "../../../bus/pci/drivers/mlx5_core"}, nil},
		{"pci bound to the kernel's driver", pciConf, map[string]string{"proc/meminfo": meminfo, pciDev + "vendor": "0x8086\n"},
			map[string]string{pciDev + "driver": "../../../bus/pci/drivers/ixgbe"},
			[]string{"port[0].device: PCI device 0000:01:00.0 is bound to the kernel driver ixgbe, which DPDK cannot use", "modprobe vfio-pci", "dpdk-devbind.py --bind=vfio-pci 0000:01:00.0"}},
		{"pci without driver", pciConf, map[string]string{"proc/meminfo": meminfo, pciDev + "vendor": "0x8086\n"}, nil,
			[]string{"port[0].device: PCI device 0000:01:00.0 is bound to no driver", "dpdk-devbind.py --bind=vfio-pci 0000:01:00.0"}},
		{"pci missing", pciConf, map[string]string{"proc/meminfo": meminfo}, nil,
			[]string{"port[0].device: no PCI device 0000:01:00.0 on this host"}},
		{"more memory than the host has", base + "[engine]\nmbufs = 4194303\n", map[string]string{"proc/meminfo": "MemTotal: 8000000 kB\n"}, nil,
			[]string{"engine.mbufs: this configuration needs 9", "but the host has 7812 MiB (7.6 GiB) in all (MemTotal in"}},
		{"memory_mb above the host", inEAL("hugepages = false\nmemory_mb = 30000"), map[string]string{"proc/meminfo": meminfo}, nil,
			[]string{"eal.memory_mb: this configuration needs 30000 MiB (29.3 GiB) of memory but the host has 24105 MiB"}},
		{"hugepages short", base, map[string]string{"proc/meminfo": meminfo, "proc/mounts": hugeMnt,
			"sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages": "1\n", "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages": "1\n"}, nil,
			[]string{"eal.hugepages: this configuration needs 26 MiB"}},
		{"pci and hugepages together", strings.Replace(pciConf, "hugepages = false", "hugepages = true", 1),
			map[string]string{"proc/meminfo": meminfo, "proc/mounts": hugeMnt}, nil,
			[]string{"port[0].device: no PCI device", "eal.hugepages: no hugepages are reserved"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fakeHost(t, tt.files)
			for l, target := range tt.links {
				if err := os.Symlink(target, filepath.Join(dir, l)); err != nil {
					t.Fatal(err)
				}
			}
			c := mustParse(t, tt.doc)
			err := c.CheckHostAt(filepath.Join(dir, "sys"), filepath.Join(dir, "proc"))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("got %v, want Errors", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain %q", err, w)
				}
			}
			if strings.Contains(tt.name, "memory") && strings.Contains(err.Error(), "hugepages") {
				t.Errorf("hugepage advice beyond the host's memory:\n%v", err)
			}
		})
	}
}

// TestCheck: Check reports the configuration's mistakes and the host's
// together, in the order of the file.
func TestCheck(t *testing.T) {
	dir := fakeHost(t, map[string]string{
		"proc/meminfo": "MemTotal: 24684092 kB\n",
		"proc/mounts":  hugeMnt,
		"bad.toml":     "[eal]\nlcores = [0]\nhugepages = false\n[[port]]\ndevice = \"01:00.0\"\naddress = \"198.18.0.1/24\"\n[engine]\nburst = 0\n",
		"good.toml":    inEAL("hugepages = false"),
	})
	sys, proc := filepath.Join(dir, "sys"), filepath.Join(dir, "proc")
	_, err := Check(filepath.Join(dir, "bad.toml"), testEnv, sys, proc)
	if got := strings.Join(keysOf(t, err), " "); got != "port[0].device engine.burst" {
		t.Errorf("keys %q, want port[0].device (host) then engine.burst\n%v", got, err)
	}
	if c, err := Check(filepath.Join(dir, "good.toml"), testEnv, sys, proc); err != nil || c == nil {
		t.Errorf("good.toml: %v, %v", c, err)
	}
}

// TestEveryElement: each wrong element of an array is reported.
func TestEveryElement(t *testing.T) {
	_, err := Parse("bad.toml", []byte("[eal]\nlcores = [\"0\", 1, \"2\"]\nargs = [1, \"x\", true]\n"+port0), testEnv)
	if got := strings.Join(keysOf(t, err), " "); got != "eal.lcores[0] eal.lcores[2] eal.args[0] eal.args[2]" {
		t.Errorf("keys %q\n%v", got, err)
	}
}
