package config

import (
	"time"

	"github.com/pmdstack/pmd/frag"
)

// IP is the [ip] table: IPv4 fragment reassembly, per lcore.
type IP struct {
	Reassembly       bool          // false drops every fragment (drop_ip_fragment)
	FragTimeout      time.Duration // from a datagram's first fragment to its last
	FragDatagrams    int           // datagrams in progress per lcore; a new one evicts the oldest
	FragFragments    int           // fragments per datagram
	FragMemoryKB     int           // reassembly buffers per lcore, KiB
	FragTimeExceeded bool          // answer a datagram that times out with ICMP time exceeded
}

// defaultIP is the [ip] table's defaults: reassembly's own
// (frag.DefaultConfig), the one place they are written.
func defaultIP() IP {
	d := frag.DefaultConfig()
	return IP{
		Reassembly: true, FragTimeout: d.Timeout, FragDatagrams: d.Datagrams, FragFragments: d.Fragments,
		FragMemoryKB: d.Memory >> 10, FragTimeExceeded: true,
	}
}

// Frag is the table as the reassembler takes it; Datagrams is 0 with
// reassembly off. The headroom and the hash's seed are the engine's.
func (p IP) Frag() frag.Config {
	if !p.Reassembly {
		return frag.Config{}
	}
	return frag.Config{Timeout: p.FragTimeout, Datagrams: p.FragDatagrams, Fragments: p.FragFragments, Memory: p.FragMemoryKB << 10}
}

func (d *decoder) decodeIP(c *Config, root table) {
	c.IP = defaultIP()
	t := root.sub("ip")
	p := &c.IP
	t.known("reassembly", "frag_timeout", "frag_datagrams", "frag_fragments", "frag_memory_kb", "frag_time_exceeded")
	t.boolean("reassembly", &p.Reassembly)
	t.duration("frag_timeout", &p.FragTimeout)
	t.integer("frag_datagrams", &p.FragDatagrams)
	t.integer("frag_fragments", &p.FragFragments)
	t.integer("frag_memory_kb", &p.FragMemoryKB)
	t.boolean("frag_time_exceeded", &p.FragTimeExceeded)
}

func (d *decoder) validateIP(c *Config) {
	p := &c.IP
	intRange := func(key string, v, lo, hi int) {
		if v < lo || v > hi {
			d.fail("ip."+key, "expected %d..%d, got %d", lo, hi, v)
		}
	}
	// RFC 1122 3.3.2 suggests 60 to 120 s; shorter holds less under a
	// flood, longer than its upper bound serves nobody.
	if p.FragTimeout < 100*time.Millisecond || p.FragTimeout > 120*time.Second {
		d.fail("ip.frag_timeout", "expected 100ms..2m0s, got %s", p.FragTimeout)
	}
	intRange("frag_datagrams", p.FragDatagrams, 1, 1<<16)
	// 8-byte fragments of the largest datagram make 8,192.
	intRange("frag_fragments", p.FragFragments, 1, 8192)
	// At least one datagram of the largest size must fit.
	intRange("frag_memory_kb", p.FragMemoryKB, (frag.MinMemory(64)+1023)>>10, 4<<20)
}
