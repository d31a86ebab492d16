package stack

import (
	"github.com/pmdstack/pmd/config"
	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/httpsvc"
	"github.com/pmdstack/pmd/services"
	"github.com/pmdstack/pmd/tcp"
)

// The built-in services register as a program registers its own.
func init() {
	Register("echo", Service[struct{}]{
		TCP: func(*Lcore, struct{}) tcp.Handler { return services.Echo{} },
		UDP: func(*Lcore, struct{}) engine.UDPHandler { return services.UDPEcho{} },
	})
	Register("discard", Service[struct{}]{
		TCP: func(*Lcore, struct{}) tcp.Handler { return services.Discard{} },
		UDP: func(*Lcore, struct{}) engine.UDPHandler { return services.UDPDiscard{} },
	})
	Register("chargen", Service[struct{}]{
		TCP: func(*Lcore, struct{}) tcp.Handler { return services.Chargen{} },
	})
	Register("http", Service[HTTPOptions]{
		Options: httpOptions,
		TCP: func(l *Lcore, o HTTPOptions) tcp.Handler {
			return services.NewHTTP(l.Engine(), httpsvc.NewResponder(o.BodySize))
		},
	})
}

// HTTPOptions are the http service's keys.
type HTTPOptions struct {
	BodySize int // body_size: bytes of the 200 response's body (default 64)
}

// httpHeaderRoom bounds the status line and headers of an http response.
const httpHeaderRoom = 512

func httpOptions(o *config.Options) HTTPOptions {
	h := HTTPOptions{BodySize: o.Int("body_size", 64, 0, 1<<20)}
	if sb := o.Config().TCP.SndBuf; h.BodySize+httpHeaderRoom > sb {
		o.Failf("body_size", "a response of %d bytes plus headers must fit in tcp.snd_buf (%d)", h.BodySize, sb)
	}
	return h
}
