package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParse: any bytes give a configuration that passes validation, or an
// error that names the file; never a panic. A valid configuration's
// derived values (the EAL arguments, the TCP stack's configuration, the
// pool sizes) must be computable too. The seeds are the repository's
// conf.toml and the configurations the tests use (testdata/fuzz/FuzzParse
// holds more).
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../conf.toml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"[eal]\nlcores = [0]\nhugepages = false\n[[port]]\ndevice = \"net_null0\"\naddress = \"198.18.0.1/24\"\n",
		"[eal]\nlcores = [0, 1]\n[engine]\nidle = \"yield\"\ndrain = \"1s\"\n[tcp]\nbacklog = 1\ntw_reuse = true\n[[port]]\ndevice = \"net_tap0\"\naddress = \"198.18.0.1/24\"\nqueues = 2\n[[service]]\nkind = \"echo\"\nproto = \"tcp\"\nport = 7\n",
		"[arp]\npending = 0\n[rss]\nkey = \"symmetric\"\n[[port]]\ndevice = \"0000:3b:00.1\"\naddress = \"10.0.0.2/31\"\ngateway = \"10.0.0.3\"\n[port.faults]\nloss = 0.5\n",
		"[[service]]\nkind = \"web\"\nproto = \"tcp\"\nport = 80\nbody_size = -1\n",
		"x = [1, 2\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				panic(fmt.Sprintf("Parse ran 2 s on %q", data))
			}
		}()
		defer close(done)
		c, err := Parse("fuzz.toml", data, testEnv)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.toml") {
				t.Fatalf("the error does not name the file: %v", err)
			}
			return
		}
		if err := c.Validate(testEnv); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		_ = c.TCP.Stack(c.MSS())
		_ = c.EALArgs("pmd", 1)
		if m := c.Memory(); c.PoolMbufs() <= 0 || m.Total == 0 {
			t.Fatalf("pool of %d mbufs, %+v", c.PoolMbufs(), m)
		}
	})
}
