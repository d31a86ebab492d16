package config

import (
	"reflect"
	"testing"
)

// mustParse parses doc or fails the test.
func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := Parse("t.toml", []byte(doc), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const twoPorts = `
[eal]
lcores = [0, 1]
[engine]
burst = 64
mbuf_cache = 128
[arp]
pending = 0
[[port]]
device = "net_tap0"
address = "198.18.0.1/24"
rx_desc = 512
tx_desc = 256
mtu = 9000
[[port]]
device = "net_tap1"
address = "198.18.1.1/24"
rx_desc = 512
tx_desc = 256
`

func TestMemory(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		mbufs int
		room  int
		mem   Memory
	}{{
		// n = 2048 + 4*32 + 256 + 64 + 1024 = 3520 -> 4095;
		// object = 64 + 128 + 2176 = 2368.
		name:  "defaults",
		doc:   base,
		mbufs: 4095,
		room:  2176,
		mem: Memory{
			PerLcorePool: 4095*2368 + 4095*8 + 256*1*8,
			Pools:        4095*2368 + 4095*8 + 256*1*8,
			Overhead:     16<<20 + 1*2048*64,
			Total:        4095*2368 + 4095*8 + 256*8 + 16<<20 + 2048*64,
		},
	}, {
		// n = 2*768 + 4*64*2 + 128 + 0 + 1024 = 3200 -> 4095;
		// room = 9000+18+128 = 9146 -> 9152; object = 9344.
		name:  "two lcores, two ports, jumbo",
		doc:   twoPorts,
		mbufs: 4095,
		room:  9146,
		mem: Memory{
			PerLcorePool: 4095*9344 + 4095*8 + 128*2*8,
			Pools:        2 * (4095*9344 + 4095*8 + 128*2*8),
			Overhead:     16<<20 + 2*2*768*64,
			Total:        2*(4095*9344+4095*8+128*2*8) + 16<<20 + 2*2*768*64,
		},
	}, {
		name:  "explicit mbufs",
		doc:   inPort("[engine]\nmbufs = 5000"),
		mbufs: 5000,
		room:  2176,
		mem: Memory{
			PerLcorePool: 5000*2368 + 5000*8 + 256*8,
			Pools:        5000*2368 + 5000*8 + 256*8,
			Overhead:     16<<20 + 2048*64,
			Total:        5000*2368 + 5000*8 + 256*8 + 16<<20 + 2048*64,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.doc)
			if got := c.PoolMbufs(); got != tt.mbufs {
				t.Errorf("PoolMbufs() = %d, want %d", got, tt.mbufs)
			}
			if got := c.MbufDataRoom(); got != tt.room {
				t.Errorf("MbufDataRoom() = %d, want %d", got, tt.room)
			}
			if got := c.Memory(); got != tt.mem {
				t.Errorf("Memory() = %+v, want %+v", got, tt.mem)
			}
		})
	}
}

// TestPoolMbufsRounding checks the 2^n-1 rounding at its edges: the
// default single port needs 3456 + arp.pending.
func TestPoolMbufsRounding(t *testing.T) {
	tests := []struct {
		pending, want int
	}{
		{0, 4095},
		{639, 4095},
		{640, 8191},
		{4735, 8191},
		{4736, 16383},
	}
	for _, tt := range tests {
		c := mustParse(t, base)
		c.ARP.Pending = tt.pending
		if got := c.PoolMbufs(); got != tt.want {
			t.Errorf("pending %d: PoolMbufs() = %d, want %d", tt.pending, got, tt.want)
		}
	}
}

func TestEALArgs(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		env  Env
		want []string
	}{{
		name: "hugepages, prefix from pid",
		doc:  minimal,
		env:  testEnv,
		want: []string{"pmd", "--lcores=0@(0,1,2,3,6)", "--file-prefix=pmd-4242", "--no-pci", "--in-memory"},
	}, {
		name: "no-huge, computed memory",
		doc:  "[eal]\nlcores = [1]\nhugepages = false\nargs = [\"--in-memory\"]\n" + port0,
		env:  Env{CPUs: []int{1, 0}},
		// --in-memory is dropped: DPDK refuses it with -m and --no-huge.
		want: []string{"pmd", "--lcores=0@(0,1)", "--file-prefix=pmd-4242", "--no-huge", "-m", "26", "--no-shconf"},
	}, {
		name: "no-huge, configured memory and prefix",
		doc:  "[eal]\nlcores = [0]\nhugepages = false\nmemory_mb = 256\nfile_prefix = \"bench\"\n" + port0,
		env:  Env{CPUs: []int{0}},
		want: []string{"pmd", "--lcores=0@(0)", "--file-prefix=bench", "--no-huge", "-m", "256", "--no-shconf"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.toml", []byte(tt.doc), tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.EALArgs("pmd", 4242); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("EALArgs() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestEALArgsNoEnv falls back to the lcores when the Config was built
// without an Env.
func TestEALArgsNoEnv(t *testing.T) {
	c := &Config{EAL: EAL{Lcores: []int{2, 3}, Hugepages: true, Args: []string{"--no-pci"}}}
	want := []string{"p", "--lcores=0@(2,3)", "--file-prefix=pmd-1", "--no-pci"}
	if got := c.EALArgs("p", 1); !reflect.DeepEqual(got, want) {
		t.Errorf("EALArgs() = %q, want %q", got, want)
	}
}
