// Command framed answers length-prefixed messages on pmd's native API:
// each message, a 4-byte big-endian length and that many bytes, goes back
// whole once all of it has arrived. The end-to-end tests drive it from
// kernel clients.
//
//	[[service]]
//	kind = "framed"
//	port = 7000
//	max_message = 65536   # optional: longer messages reset the connection
package main

import (
	"context"
	"encoding/binary"
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

type options struct{ MaxMessage int }

func main() {
	stack.Register("framed", stack.Service[options]{
		Options: func(o *config.Options) options {
			max := o.Int("max_message", 65536, 1, 16<<20)
			// A message must fit whole in the receive buffer to be
			// answered whole.
			if rb := o.Config().TCP.RcvBuf; max+4 > rb {
				o.Failf("max_message", "%d bytes and the 4-byte length must fit in tcp.rcv_buf (%d)", max, rb)
			}
			return options{MaxMessage: max}
		},
		TCP: func(l *stack.Lcore, o options) tcp.Handler { return framed{max: o.MaxMessage} },
	})
	conf := flag.String("c", "conf.toml", "configuration file")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := stack.LoadConfig(*conf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "framed:", err)
		os.Exit(1)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	st, err := stack.Start(ctx, cfg, stack.Options{Log: log})
	if err == nil {
		err = st.Wait()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "framed:", err)
		os.Exit(1)
	}
}

type framed struct{ max int }

func (framed) Open(*tcp.Conn) {}

// Recv answers every whole message in data and leaves the rest, which the
// stack offers again, whole, when more arrives.
func (f framed) Recv(c *tcp.Conn, data []byte) int {
	taken := 0
	for len(data)-taken >= 4 {
		n := int(binary.BigEndian.Uint32(data[taken:]))
		if n > f.max {
			c.Abort()
			return len(data)
		}
		if len(data)-taken < 4+n {
			break // the rest of the message has not arrived
		}
		if c.Writable() < 4+n {
			break // each acknowledgement of our answers offers the rest again
		}
		c.Write(data[taken : taken+4+n])
		taken += 4 + n
	}
	return taken
}

func (framed) Writable(c *tcp.Conn)    {}
func (framed) PeerClosed(c *tcp.Conn)  { c.CloseWrite() }
func (framed) Closed(*tcp.Conn, error) {}
