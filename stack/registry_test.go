package stack

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pmdstack/pmd/config"
	"github.com/pmdstack/pmd/tcp"
)

const doc = `
[eal]
lcores = [0]
[[port]]
device = "net_tap0"
address = "198.18.0.1/24"
`

type greetOpts struct {
	Greeting string
	Times    int
}

type nopHandler struct{}

func (nopHandler) Open(*tcp.Conn)                 {}
func (nopHandler) Recv(_ *tcp.Conn, d []byte) int { return len(d) }
func (nopHandler) Writable(*tcp.Conn)             {}
func (nopHandler) PeerClosed(*tcp.Conn)           {}
func (nopHandler) Closed(*tcp.Conn, error)        {}
func greetTCP(*Lcore, greetOpts) tcp.Handler      { return nopHandler{} }
func greetOptions(o *config.Options) greetOpts {
	return greetOpts{Greeting: o.String("greeting", "hello"), Times: o.Int("times", 1, 1, 10)}
}

func init() {
	Register("test-greet", Service[greetOpts]{Options: greetOptions, TCP: greetTCP})
}

// TestRegisteredKind: a registered kind is valid in [[service]] kind, its
// own keys reach its Options function, and the result is the service's
// Options; its mistakes name the key.
func TestRegisteredKind(t *testing.T) {
	cfg, err := ParseConfig("t.toml", []byte(doc+"[[service]]\nkind = \"test-greet\"\nport = 7\ngreeting = \"hi\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Services[0].Options; got != (greetOpts{Greeting: "hi", Times: 1}) {
		t.Errorf("Options = %#v", got)
	}
	for _, tt := range []struct{ svc, want string }{
		{"kind = \"test-greet\"\nport = 7\ntimes = 11", "t.toml: service[0].times: expected 1..10, got 11"},
		{"kind = \"test-greet\"\nport = 7\ngretting = \"x\"", "t.toml: service[0].gretting: unknown key (expected one of: kind, proto, port, greeting, times)"},
		{"kind = \"test-greet\"\nproto = \"udp\"\nport = 7", "t.toml: service[0].proto: test-greet does not run over udp"},
		{"kind = \"nosuch\"\nport = 7", `t.toml: service[0].kind: expected a registered kind (chargen, discard, echo, http, test-greet), got "nosuch"`},
		{"kind = \"echo\"\nport = 7\nbody_size = 1", "t.toml: service[0].body_size: unknown key (expected one of: kind, proto, port)"},
		{"kind = \"http\"\nport = 80\nbody_size = -1", "t.toml: service[0].body_size: expected 0..1048576, got -1"},
	} {
		_, err := ParseConfig("t.toml", []byte(doc+"[[service]]\n"+tt.svc+"\n"))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q:\n got %v\nwant %s", tt.svc, err, tt.want)
		}
	}
	_, err = ParseConfig("t.toml", []byte(doc+"[tcp]\nsnd_buf = 4096\n[[service]]\nkind = \"http\"\nport = 80\nbody_size = 8000\n"))
	if err == nil || !strings.Contains(err.Error(), "service[0].body_size: a response of 8000 bytes plus headers must fit in tcp.snd_buf (4096)") {
		t.Errorf("http body over snd_buf: %v", err)
	}
	cfg, err = ParseConfig("t.toml", []byte(doc+"[[service]]\nkind = \"http\"\nport = 80\n"))
	if err != nil || cfg.Services[0].Options != (HTTPOptions{BodySize: 64}) {
		t.Errorf("http default options: %+v, %v", cfg, err)
	}
}

// TestRegisterMistakes: a name taken twice, an empty name or a service
// with no factory panic at registration, not at start.
func TestRegisterMistakes(t *testing.T) {
	for name, f := range map[string]func(){
		"taken": func() {
			Register("echo", Service[struct{}]{TCP: func(*Lcore, struct{}) tcp.Handler { return nopHandler{} }})
		},
		"empty name": func() {
			Register("", Service[struct{}]{TCP: func(*Lcore, struct{}) tcp.Handler { return nopHandler{} }})
		},
		"no factory": func() { Register("x", Service[struct{}]{}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestGoValueConfig: a configuration written as a Go value validates like
// the file, options included.
func TestGoValueConfig(t *testing.T) {
	cfg := config.Default()
	cfg.EAL.Lcores = []int{0}
	cfg.Ports = []config.Port{config.DefaultPort("net_tap0", mustPrefix("198.18.0.1/24"))}
	cfg.Services = []config.Service{{Kind: "test-greet", Port: 7, Params: map[string]any{"times": int64(3)}}}
	if err := Validate(cfg); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Services[0].Options; got != (greetOpts{Greeting: "hello", Times: 3}) {
		t.Errorf("Options = %#v", got)
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
