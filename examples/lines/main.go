// Command lines is a line protocol on pmd's native API: every line a
// client sends comes back reversed; "QUIT" ends the connection. A line
// longer than the service's max_line gets "ERR line too long" and the
// connection is closed.
//
//	[[service]]
//	kind = "lines"
//	port = 7001
//	max_line = 1024     # optional, default 4096
//
// Run it like pmd itself: lines -c conf.toml (as root, with hugepages),
// then from a peer: echo hello | socat - TCP:198.18.0.1:7001
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/pmdstack/pmd/config"
	"github.com/pmdstack/pmd/stack"
	"github.com/pmdstack/pmd/tcp"
)

// options are the service's own keys in its [[service]] table.
type options struct {
	MaxLine int
}

func main() {
	stack.Register("lines", stack.Service[options]{
		Options: func(o *config.Options) options {
			return options{MaxLine: o.Int("max_line", 4096, 1, 1<<20)}
		},
		// One handler per lcore: it runs on that lcore's thread only,
		// so it needs no lock.
		TCP: func(l *stack.Lcore, o options) tcp.Handler { return &reverser{max: o.MaxLine} },
	})
	conf := flag.String("c", "conf.toml", "configuration file")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*conf, log); err != nil {
		fmt.Fprintln(os.Stderr, "lines:", err)
		os.Exit(1)
	}
}

func run(path string, log *slog.Logger) error {
	cfg, err := stack.LoadConfig(path)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	st, err := stack.Start(ctx, cfg, stack.Options{Log: log})
	if err != nil {
		return err
	}
	return st.Wait() // until SIGINT or SIGTERM cancels ctx
}

// reverser answers each complete line. It takes from Recv only whole
// lines: the rest stays in the connection's receive buffer and is offered
// again, whole, with what arrives next.
type reverser struct {
	max  int
	line []byte // scratch for one reversed line
}

func (r *reverser) Open(c *tcp.Conn) {}

func (r *reverser) Recv(c *tcp.Conn, data []byte) int {
	taken := 0
	for {
		rest := data[taken:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if len(rest) > r.max {
				c.Write([]byte("ERR line too long\n"))
				c.Close() // returning len(data), all of it counts as read: an orderly close after the reply
				return len(data)
			}
			return taken // wait for the end of the line
		}
		line := bytes.TrimSuffix(rest[:i], []byte{'\r'})
		if string(line) == "QUIT" {
			c.Close()
			return len(data)
		}
		if c.Writable() < len(line)+1 {
			return taken // no room for the answer: the peer's next acknowledgement offers the rest again
		}
		r.line = append(r.line[:0], line...)
		for a, b := 0, len(r.line)-1; a < b; a, b = a+1, b-1 {
			r.line[a], r.line[b] = r.line[b], r.line[a]
		}
		c.Write(append(r.line, '\n'))
		taken += i + 1
	}
}

// Writable: send space came free after a Write came up short (the stack
// offers declined data again after it in any case).
func (r *reverser) Writable(c *tcp.Conn) {}

func (r *reverser) PeerClosed(c *tcp.Conn) { c.CloseWrite() }

func (r *reverser) Closed(c *tcp.Conn, err error) {}
