package engine

import "github.com/pmdstack/pmd/ipv4"

// SourceAddr is this host's address on the interface that leads to remote
// (the one Route chooses): the local address of a connection to remote.
// It reports false when no interface leads there. Safe from any goroutine:
// it reads only the shared configuration.
func (l *Lcore) SourceAddr(remote ipv4.Addr) (ipv4.Addr, bool) {
	port, hop, ok := l.Route(remote)
	if !ok {
		return 0, false
	}
	return l.cfg.Ifaces[port].AddrFor(hop), true
}
