package services

import "github.com/pmdstack/pmd/engine"

// UDPEcho is the echo service over UDP (RFC 862): each datagram goes back
// as it came, answered in its own buffer.
type UDPEcho struct{}

// Datagram implements engine.UDPHandler.
func (UDPEcho) Datagram(d *engine.Datagram) { d.Echo() }

// UDPDiscard is the discard service over UDP (RFC 863).
type UDPDiscard struct{}

// Datagram implements engine.UDPHandler.
func (UDPDiscard) Datagram(*engine.Datagram) {}
