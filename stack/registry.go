package stack

import (
	"fmt"
	"slices"
	"sync"

	"github.com/pmdstack/pmd/config"
	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/tcp"
)

// Service is a kind of service, registered by name with Register: what
// `kind = "name"` in a [[service]] table starts on every lcore. O is the
// type of its options.
type Service[O any] struct {
	// Options reads the kind's own keys of its [[service]] table (every
	// key but kind, proto and port) when the configuration is loaded,
	// `pmd check` included; a key it does not read is an error. nil: the
	// kind has no keys of its own.
	Options func(o *config.Options) O
	// TCP makes the service's handler for one lcore's listener, on the
	// goroutine that starts the stack, before the lcores run; the lcore
	// then calls the handler on its own thread. nil: not over TCP.
	TCP func(l *Lcore, opts O) tcp.Handler
	// UDP makes the service's datagram handler for one lcore, likewise.
	// nil: not over UDP.
	UDP func(l *Lcore, opts O) engine.UDPHandler
}

// kind is a registered Service with its options' type erased.
type kind struct {
	spec config.Kind
	tcp  func(l *Lcore, opts any) tcp.Handler
	udp  func(l *Lcore, opts any) engine.UDPHandler
}

var registry = struct {
	sync.RWMutex
	m map[string]kind
}{m: make(map[string]kind)}

// Register makes a kind of service known by name, for [[service]] tables
// of configurations loaded or validated afterwards. It panics if the name
// is empty or taken or the service runs over neither TCP nor UDP: a
// program registers its services once, in init or main, before it loads
// its configuration.
func Register[O any](name string, s Service[O]) {
	if name == "" || s.TCP == nil && s.UDP == nil {
		panic(fmt.Sprintf("stack: Register(%q): a name and a TCP or UDP factory are required", name))
	}
	k := kind{spec: config.Kind{TCP: s.TCP != nil, UDP: s.UDP != nil}}
	if s.Options != nil {
		k.spec.Options = func(o *config.Options) any { return s.Options(o) }
	}
	opts := func(v any) O {
		o, _ := v.(O) // nil when the kind has no options: O's zero value
		return o
	}
	if s.TCP != nil {
		k.tcp = func(l *Lcore, v any) tcp.Handler { return s.TCP(l, opts(v)) }
	}
	if s.UDP != nil {
		k.udp = func(l *Lcore, v any) engine.UDPHandler { return s.UDP(l, opts(v)) }
	}
	registry.Lock()
	defer registry.Unlock()
	if _, ok := registry.m[name]; ok {
		panic(fmt.Sprintf("stack: Register(%q): the name is already registered", name))
	}
	registry.m[name] = k
}

// kinds is the registry as the configuration sees it.
type kinds struct{}

// Kinds is the registry of service kinds, for config.Parse and
// Config.Validate (LoadConfig and ParseConfig pass it themselves).
func Kinds() config.Kinds { return kinds{} }

func (kinds) Kind(name string) (config.Kind, bool) {
	registry.RLock()
	defer registry.RUnlock()
	k, ok := registry.m[name]
	return k.spec, ok
}

func (kinds) Names() []string {
	registry.RLock()
	defer registry.RUnlock()
	var names []string
	for n := range registry.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func lookup(name string) kind {
	registry.RLock()
	defer registry.RUnlock()
	return registry.m[name]
}
