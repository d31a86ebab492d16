package stack_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/signal"

	"github.com/pmdstack/pmd/config"
	"github.com/pmdstack/pmd/stack"
	"github.com/pmdstack/pmd/tcp"
)

// upper answers every byte in upper case.
type upper struct{}

func (upper) Open(*tcp.Conn) {}
func (upper) Recv(c *tcp.Conn, data []byte) int {
	var b [256]byte
	n := min(len(data), len(b), c.Writable())
	for i := range n {
		b[i] = data[i] &^ 0x20
	}
	return c.Write(b[:n]) // what is not taken is offered again
}
func (upper) Writable(c *tcp.Conn)    { c.Read() }
func (upper) PeerClosed(c *tcp.Conn)  { c.CloseWrite() }
func (upper) Closed(*tcp.Conn, error) {}

// A program registers its service under a name; [[service]] tables then
// name it as they name the built-in ones, with keys of its own.
func ExampleRegister() {
	type opts struct{ Shout bool }
	stack.Register("upper", stack.Service[opts]{
		Options: func(o *config.Options) opts { return opts{Shout: o.Bool("shout", true)} },
		TCP:     func(l *stack.Lcore, o opts) tcp.Handler { return upper{} },
	})
	cfg, err := stack.ParseConfig("conf.toml", []byte(`
[eal]
lcores = [0]
[[port]]
device = "net_tap0"
address = "198.18.0.1/24"
[[service]]
kind = "upper"
port = 7002
shout = false
`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s on port %d: %+v\n", cfg.Services[0].Kind, cfg.Services[0].Port, cfg.Services[0].Options)
	// Output: upper on port 7002: {Shout:false}
}

// A configuration can also be written in Go.
func ExampleValidate() {
	cfg := config.Default()
	cfg.EAL.Lcores = []int{0}
	cfg.Ports = []config.Port{config.DefaultPort("net_af_packet0,iface=pmd0", netip.MustParsePrefix("198.18.0.1/24"))}
	cfg.Services = []config.Service{{Kind: "http", Port: 80, Params: map[string]any{"body_size": int64(1 << 21)}}}
	fmt.Println(stack.Validate(cfg))
	// Output: (Go value): service[0].body_size: expected 0..1048576, got 2097152
}

// Start runs the configuration until the context ends (here, Ctrl-C);
// Counters and Listing read the running stack. It needs root, DPDK and
// hugepages, so this example is compiled, not run.
func ExampleStart() {
	cfg, err := stack.LoadConfig("conf.toml")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	st, err := stack.Start(ctx, cfg, stack.Options{})
	if err != nil {
		log.Fatal(err)
	}
	<-ctx.Done()
	total := st.Counters().Total()
	fmt.Println("connections at exit:", total.Conns)
	if err := st.Wait(); err != nil {
		log.Fatal(err)
	}
}
