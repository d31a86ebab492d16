package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Service is one [[service]] table: a registered kind of service on a
// port.
type Service struct {
	Kind  string
	Proto Proto // "" in a Go value means tcp
	Port  int
	// Params are the table's other keys, the kind's own, as TOML decodes
	// them (int64, float64, string, bool, []any, map[string]any); a Go
	// value may set them the same way.
	Params map[string]any
	// Options is what the kind's Options function made of Params; set by
	// validation, handed to the service on every lcore.
	Options any
}

// Kinds is the registry of service kinds a configuration may name.
type Kinds interface {
	// Kind returns the kind registered under name.
	Kind(name string) (Kind, bool)
	// Names lists the registered names, sorted, for error messages.
	Names() []string
}

// Kind is what the configuration needs to know of a kind of service.
type Kind struct {
	TCP, UDP bool // the transports it runs over
	// Options reads the kind's own keys of a [[service]] table through o
	// and returns the value its factory receives on every lcore. It runs
	// when the configuration is loaded (pmd check too), after the rest of
	// the configuration is checked, even when that has mistakes (see
	// Options.Config). A key it does not read is an error. nil: the kind
	// has no keys of its own.
	Options func(o *Options) any
}

// Options reads one [[service]] table's own keys for its kind. Errors name
// the file and the key (service[2].body_size); every one is reported.
type Options struct {
	d    *decoder
	t    table
	cfg  *Config
	read map[string]bool
	// partial: the rest of the configuration has mistakes. What a kind
	// concludes from it after Config (consulted) may follow from them
	// alone, so Failf keeps quiet from then on.
	partial, consulted bool
}

// Config is the rest of the configuration: a kind may check its options
// against [tcp] or the ports. When the rest has mistakes of its own (pmd
// check reports every mistake at once), the values are as decoded, and
// Failf reports nothing after Config was called: its conclusions could
// follow from those mistakes alone.
func (o *Options) Config() *Config {
	o.consulted = true
	return o.cfg
}

// Failf reports a problem with key, which need not exist (a missing
// combination of keys, say).
func (o *Options) Failf(key, format string, args ...any) {
	if o.partial && o.consulted {
		return
	}
	o.failf(key, format, args...)
}

// failf reports a problem the option's own value shows, whatever the rest
// of the configuration is.
func (o *Options) failf(key, format string, args ...any) {
	o.d.fail(o.t.key(key), format, args...)
}

func (o *Options) mark(key string) bool {
	o.read[key] = true
	_, ok := o.t.m[key]
	return ok
}

// Has reports whether key is set.
func (o *Options) Has(key string) bool { return o.mark(key) }

// Int reads an integer key in [lo, hi], def when absent.
func (o *Options) Int(key string, def, lo, hi int) int {
	v := def
	if o.mark(key) && o.t.integer(key, &v) && (v < lo || v > hi) {
		o.failf(key, "expected %d..%d, got %d", lo, hi, v)
	}
	return v
}

// Float reads a number in [lo, hi], def when absent.
func (o *Options) Float(key string, def, lo, hi float64) float64 {
	v := def
	if o.mark(key) && o.t.float(key, &v) && (v < lo || v > hi) {
		o.failf(key, "expected %g..%g, got %g", lo, hi, v)
	}
	return v
}

// String reads a string key, def when absent; with allowed given, the
// value must be one of them.
func (o *Options) String(key, def string, allowed ...string) string {
	v := def
	if o.mark(key) && o.t.str(key, &v) && len(allowed) > 0 && !slices.Contains(allowed, v) {
		o.failf(key, "expected one of %s, got %q", strings.Join(allowed, ", "), v)
	}
	return v
}

// Bool reads a boolean key, def when absent.
func (o *Options) Bool(key string, def bool) bool {
	v := def
	if o.mark(key) {
		o.t.boolean(key, &v)
	}
	return v
}

// Duration reads a duration string ("20us", "1s") in [lo, hi], def when
// absent.
func (o *Options) Duration(key string, def, lo, hi time.Duration) time.Duration {
	v := def
	if o.mark(key) && o.t.duration(key, &v) && (v < lo || v > hi) {
		o.failf(key, "expected %s..%s, got %s", lo, hi, v)
	}
	return v
}

// service decodes a [[service]] table: the common keys, and the rest kept
// for the kind.
func (d *decoder) service(t table) Service {
	s := Service{Proto: ProtoTCP}
	if !t.str("kind", &s.Kind) {
		d.fail(t.key("kind"), "required: the name of a registered service kind")
	}
	var v string
	if t.str("proto", &v) {
		s.Proto = Proto(v)
	}
	if !t.integer("port", &s.Port) {
		d.fail(t.key("port"), "required: the port to listen on, 1..65535")
	}
	for k, v := range t.m {
		switch k {
		case "kind", "proto", "port":
		default:
			if s.Params == nil {
				s.Params = make(map[string]any)
			}
			s.Params[k] = v
		}
	}
	return s
}

func (d *decoder) validateServices(c *Config) {
	for i := range c.Services {
		s := &c.Services[i]
		key := func(k string) string { return fmt.Sprintf("service[%d].%s", i, k) }
		if s.Proto == "" {
			s.Proto = ProtoTCP
		}
		var kind Kind
		ok := false
		if c.Env.Kinds != nil {
			kind, ok = c.Env.Kinds.Kind(s.Kind)
		}
		if !ok {
			var names []string
			if c.Env.Kinds != nil {
				names = c.Env.Kinds.Names()
			}
			d.fail(key("kind"), "expected a registered kind (%s), got %q", strings.Join(names, ", "), s.Kind)
			continue
		}
		switch {
		case s.Proto != ProtoTCP && s.Proto != ProtoUDP:
			d.fail(key("proto"), "expected tcp or udp, got %q", s.Proto)
		case s.Proto == ProtoTCP && !kind.TCP || s.Proto == ProtoUDP && !kind.UDP:
			d.fail(key("proto"), "%s does not run over %s", s.Kind, s.Proto)
		}
		if s.Port < 1 || s.Port > 65535 {
			d.fail(key("port"), "expected 1..65535, got %d", s.Port)
		}
		for j, o := range c.Services[:i] {
			if o.Proto == s.Proto && o.Port == s.Port {
				d.fail(key("port"), "%s port %d is already used by service[%d]", s.Proto, s.Port, j)
			}
		}
	}
}

// serviceOptions runs each kind's Options over its table. A service whose
// kind is unknown is skipped; one beside other mistakes is read all the
// same, so that its own mistakes are reported with theirs.
func (d *decoder) serviceOptions(c *Config) {
	partial := len(d.errs) > 0
	for i := range c.Services {
		s := &c.Services[i]
		key := fmt.Sprintf("service[%d]", i)
		s.Options = nil
		if d.bad(key + ".kind") {
			continue
		}
		kind, _ := c.Env.Kinds.Kind(s.Kind)
		t := table{d: d, path: key, m: s.Params}
		if kind.Options == nil {
			t.known("kind", "proto", "port")
			continue
		}
		o := &Options{d: d, t: t, cfg: c, read: make(map[string]bool), partial: partial}
		s.Options = kind.Options(o)
		var known []string
		for k := range o.read {
			known = append(known, k)
		}
		slices.Sort(known)
		t.known(append([]string{"kind", "proto", "port"}, known...)...)
	}
}
