package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pmdstack/pmd/frag"
)

func TestIP(t *testing.T) {
	c, err := Parse("conf.toml", []byte(base+"[ip]\nfrag_timeout = \"10s\"\nfrag_datagrams = 32\nfrag_fragments = 200\nfrag_memory_kb = 1024\nfrag_time_exceeded = false\n"), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := frag.Config{Timeout: 10 * time.Second, Datagrams: 32, Fragments: 200, Memory: 1 << 20}
	if got := c.IP.Frag(); got != want || c.IP.FragTimeExceeded {
		t.Errorf("got %+v (time exceeded %v), want %+v", got, c.IP.FragTimeExceeded, want)
	}
	c, err = Parse("conf.toml", []byte(base+"[ip]\nreassembly = false\n"), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.IP.Frag(); got.Datagrams != 0 {
		t.Errorf("reassembly off: %+v", got)
	}
}

func TestIPErrors(t *testing.T) {
	for _, tt := range []struct{ doc, key, msg string }{
		{"[ip]\nfrag_timeout = \"10m\"\n", "ip.frag_timeout", "expected 100ms..2m0s"},
		{"[ip]\nfrag_datagrams = 0\n", "ip.frag_datagrams", "expected 1..65536"},
		{"[ip]\nfrag_fragments = 9000\n", "ip.frag_fragments", "expected 1..8192"},
		{"[ip]\nfrag_memory_kb = 16\n", "ip.frag_memory_kb", "expected 65.."},
		{"[ip]\nmtu = 1500\n", "ip.mtu", "unknown key"},
	} {
		_, err := Parse("bad.toml", []byte(base+tt.doc), testEnv)
		var e *Error
		if !errors.As(err, &e) || e.Key != tt.key || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%q: error %v, want key %s and %q", tt.doc, err, tt.key, tt.msg)
		}
	}
}
