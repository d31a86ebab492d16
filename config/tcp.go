package config

import (
	"time"

	"github.com/pmdstack/pmd/tcp"
)

// TCP is the [tcp] table: the per-lcore TCP stacks.
type TCP struct {
	MaxConns         int           // connections per lcore, TIME-WAIT included
	Backlog          int           // half-open connections per listener before SYN cookies
	SndBuf           int           // send buffer bytes per connection
	RcvBuf           int           // receive buffer (window) bytes per connection
	Buffers          int           // send and receive buffers per lcore, each
	DelayedAck       time.Duration // 0: acknowledge every segment at once
	TimeWait         time.Duration // 2*MSL
	MinRTO           time.Duration
	MaxRTO           time.Duration
	InitialRTO       time.Duration
	SynRetries       int
	Retries          int
	KeepAlive        time.Duration // idle time before probes; 0: off
	KeepAliveIntvl   time.Duration
	KeepAliveProbes  int
	OOOSegments      int // out-of-order ranges kept per connection
	ChallengeRate    int // challenge ACKs per second per lcore
	CookieSourceRate int // SYN-cookie answers per second per source address; 0: no limit
	PortMin          int // source ports for active opens
	PortMax          int
	TWReuse          bool // active opens may take over TIME-WAIT tuples (with timestamps)
}

// defaultTCP is the [tcp] table's defaults: the stack's own
// (tcp.DefaultConfig), the one place they are written.
func defaultTCP() TCP {
	d := tcp.DefaultConfig()
	return TCP{
		MaxConns: d.MaxConns, Backlog: d.Backlog, SndBuf: d.SndBuf, RcvBuf: d.RcvBuf, Buffers: d.Buffers,
		DelayedAck: d.DelayedAck, TimeWait: d.TimeWait,
		MinRTO: d.MinRTO, MaxRTO: d.MaxRTO, InitialRTO: d.InitialRTO,
		SynRetries: d.SynRetries, Retries: d.DataRetries,
		KeepAlive: d.KeepAlive, KeepAliveIntvl: d.KeepInterval, KeepAliveProbes: d.KeepProbes,
		OOOSegments: d.OOOSegments, ChallengeRate: d.ChallengeRate, PortMin: int(d.PortMin), PortMax: int(d.PortMax),
		TWReuse: d.TWReuse, CookieSourceRate: d.CookieSourceRate,
	}
}

// Stack is the table as the TCP stack takes it, for segments of up to mss
// bytes of payload (Config.MSS); the secret (Seed) is left to the caller.
func (t TCP) Stack(mss int) tcp.Config {
	c := tcp.Config{
		MaxConns: t.MaxConns, Backlog: t.Backlog, SndBuf: t.SndBuf, RcvBuf: t.RcvBuf, Buffers: t.Buffers,
		MSS: uint16(mss), MinRTO: t.MinRTO, MaxRTO: t.MaxRTO, InitialRTO: t.InitialRTO,
		DelayedAck: t.DelayedAck, TimeWait: t.TimeWait, SynRetries: t.SynRetries, DataRetries: t.Retries,
		NoDelayedAck: t.DelayedAck == 0,
		KeepAlive:    t.KeepAlive, KeepInterval: t.KeepAliveIntvl, KeepProbes: t.KeepAliveProbes,
		OOOSegments: t.OOOSegments, ChallengeRate: t.ChallengeRate,
		PortMin: uint16(t.PortMin), PortMax: uint16(t.PortMax), TWReuse: t.TWReuse,
		CookieSourceRate: t.CookieSourceRate,
	}
	if t.CookieSourceRate == 0 {
		c.CookieSourceRate = -1 // no limit (the stack's zero is its default)
	}
	return c
}

func (d *decoder) decodeTCP(c *Config, root table) {
	c.TCP = defaultTCP()
	t := root.sub("tcp")
	p := &c.TCP
	t.known("max_conns", "backlog", "snd_buf", "rcv_buf", "buffers", "delayed_ack", "time_wait",
		"min_rto", "max_rto", "initial_rto", "syn_retries", "retries", "keepalive",
		"keepalive_interval", "keepalive_probes", "ooo_segments", "challenge_rate", "port_min", "port_max", "tw_reuse", "syn_cookie_source_rate")
	t.integer("max_conns", &p.MaxConns)
	t.integer("backlog", &p.Backlog)
	t.integer("snd_buf", &p.SndBuf)
	t.integer("rcv_buf", &p.RcvBuf)
	t.integer("buffers", &p.Buffers)
	t.duration("delayed_ack", &p.DelayedAck)
	t.duration("time_wait", &p.TimeWait)
	t.duration("min_rto", &p.MinRTO)
	t.duration("max_rto", &p.MaxRTO)
	t.duration("initial_rto", &p.InitialRTO)
	t.integer("syn_retries", &p.SynRetries)
	t.integer("retries", &p.Retries)
	t.duration("keepalive", &p.KeepAlive)
	t.duration("keepalive_interval", &p.KeepAliveIntvl)
	t.integer("keepalive_probes", &p.KeepAliveProbes)
	t.integer("ooo_segments", &p.OOOSegments)
	t.integer("challenge_rate", &p.ChallengeRate)
	t.integer("port_min", &p.PortMin)
	t.integer("port_max", &p.PortMax)
	t.boolean("tw_reuse", &p.TWReuse)
	t.integer("syn_cookie_source_rate", &p.CookieSourceRate)
}

func (d *decoder) validateTCP(c *Config) {
	p := &c.TCP
	// A range bounded by another key is not judged when that key failed.
	intRange := func(key string, v, lo, hi int, deps ...string) {
		if (v < lo || v > hi) && !d.bad(deps...) {
			d.fail("tcp."+key, "expected %d..%d, got %d", lo, hi, v)
		}
	}
	durRange := func(key string, v, lo, hi time.Duration, deps ...string) {
		if (v < lo || v > hi) && !d.bad(deps...) {
			d.fail("tcp."+key, "expected %s..%s, got %s", lo, hi, v)
		}
	}
	// The connection table is allocated whole when an lcore starts, at
	// twice max_conns slots of 24 bytes: 4 Mi connections make 192 MiB per
	// lcore before any traffic. A half-open connection takes a slot too,
	// so a longer backlog cannot fill, and neither can more buffers than
	// connections hold; each buffer's free list is allocated up front.
	intRange("max_conns", p.MaxConns, 1, maxConns)
	intRange("backlog", p.Backlog, 1, maxConns)
	// Buffers are rounded up to a power of two and allocated as
	// connections need them, up to tcp.buffers of each: 64 MiB holds the
	// bandwidth-delay product of 100 Gbit/s over a 5 ms round trip, more
	// than one connection of a transaction stack needs.
	intRange("snd_buf", p.SndBuf, 4096, maxTCPBuf)
	intRange("rcv_buf", p.RcvBuf, 4096, maxTCPBuf)
	intRange("buffers", p.Buffers, 1, maxConns)
	durRange("delayed_ack", p.DelayedAck, 0, 500*time.Millisecond) // RFC 9293 3.8.6.3: under 0.5 s
	durRange("time_wait", p.TimeWait, time.Millisecond, 10*time.Minute)
	durRange("min_rto", p.MinRTO, time.Millisecond, time.Minute)
	durRange("max_rto", p.MaxRTO, p.MinRTO, 10*time.Minute, "tcp.min_rto")
	durRange("initial_rto", p.InitialRTO, p.MinRTO, p.MaxRTO, "tcp.min_rto", "tcp.max_rto")
	intRange("syn_retries", p.SynRetries, 1, 30)
	intRange("retries", p.Retries, 1, 30)
	durRange("keepalive", p.KeepAlive, 0, 24*time.Hour)
	durRange("keepalive_interval", p.KeepAliveIntvl, time.Second, 24*time.Hour)
	intRange("keepalive_probes", p.KeepAliveProbes, 1, 100)
	intRange("ooo_segments", p.OOOSegments, 1, 256)
	intRange("challenge_rate", p.ChallengeRate, 1, 1<<20)
	intRange("syn_cookie_source_rate", p.CookieSourceRate, 0, 1<<24)
	intRange("port_min", p.PortMin, 1, 65535)
	intRange("port_max", p.PortMax, p.PortMin, 65535, "tcp.port_min")
}

// Bounds of [tcp] sizes; validateTCP says why.
const (
	maxConns  = 1 << 22
	maxTCPBuf = 64 << 20
)

// MSS is the TCP maximum segment size our ports allow: the smallest MTU
// less the IPv4 and TCP headers.
func (c *Config) MSS() int {
	m := 0
	for _, p := range c.Ports {
		if m == 0 || p.MTU < m {
			m = p.MTU
		}
	}
	return max(m-40, 88)
}
