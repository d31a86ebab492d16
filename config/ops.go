package config

import (
	"net/netip"
	"path/filepath"
	"strings"
)

// Log is the [log] table: what pmd writes to standard error.
type Log struct {
	Level  string // "debug", "info", "warn" or "error"
	Format string // "text" (key=value) or "json"
}

// Metrics is the [metrics] table: the Prometheus endpoint.
type Metrics struct {
	// Listen is the address and port the endpoint is served on by the
	// kernel's stack ("127.0.0.1:9470"); "" serves none.
	Listen string
}

// Control is the [control] table: the control socket the pmd stats,
// conns, capture and faults commands talk to.
type Control struct {
	// Socket is the Unix socket's path; "" opens none.
	Socket string
}

// DefaultControlSocket is the control socket when [control] socket is not
// set.
const DefaultControlSocket = "/run/pmd/pmd.sock"

func (d *decoder) decodeOps(c *Config, root table) {
	c.Log = Log{Level: "info", Format: "text"}
	l := root.sub("log")
	l.known("level", "format")
	l.str("level", &c.Log.Level)
	l.str("format", &c.Log.Format)

	m := root.sub("metrics")
	m.known("listen")
	m.str("listen", &c.Metrics.Listen)

	c.Control = Control{Socket: DefaultControlSocket}
	ct := root.sub("control")
	ct.known("socket")
	ct.str("socket", &c.Control.Socket)
}

func (d *decoder) validateOps(c *Config) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		d.fail("log.level", `expected "debug", "info", "warn" or "error", got %q`, c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		d.fail("log.format", `expected "text" or "json", got %q`, c.Log.Format)
	}
	if l := c.Metrics.Listen; l != "" {
		ap, err := netip.ParseAddrPort(l)
		switch {
		case err != nil:
			d.fail("metrics.listen", `expected an address and port such as "127.0.0.1:9470", or "" for none, got %q`, l)
		case ap.Port() == 0:
			d.fail("metrics.listen", "expected a port other than 0, got %q", l)
		}
	}
	if s := c.Control.Socket; s != "" {
		switch {
		case !filepath.IsAbs(s):
			d.fail("control.socket", `expected an absolute path such as %q, or "" for none, got %q`, DefaultControlSocket, s)
		case len(s) > 107: // sun_path holds 108 bytes with the NUL
			d.fail("control.socket", "a Unix socket's path has at most 107 bytes, got %d", len(s))
		case strings.HasSuffix(s, "/"):
			d.fail("control.socket", "expected a file's path, got the directory %q", s)
		}
	}
}
