package stack

import (
	"fmt"
	"net/netip"

	"github.com/pmdstack/pmd/config"
	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/pmd"
)

// vlanIfaces are the engine's interfaces for the ports' VLANs, after
// the ports' own: each shares its port's queues, MAC and MTU.
func vlanIfaces(cfg *config.Config, ports []*pmd.Port) []engine.Iface {
	var out []engine.Iface
	for i, pc := range cfg.Ports {
		for _, v := range pc.VLANs {
			ifc := engine.Iface{
				Name: fmt.Sprintf("%s.%d", ports[i].Name, v.ID), MAC: ports[i].MAC, MTU: pc.MTU,
				Prefix: prefix(v.Address), VLAN: uint16(v.ID), Port: i,
			}
			for _, a := range v.Addresses {
				ifc.Addrs = append(ifc.Addrs, prefix(a))
			}
			out = append(out, ifc)
		}
	}
	return out
}

// ifaceOf is the interface of port whose network holds a route's next
// hop via: the port's untagged link or one of its VLANs.
func ifaceOf(ifaces []engine.Iface, port int, via ipv4.Addr) int {
	for i := range ifaces {
		ifc := &ifaces[i]
		if (i == port || ifc.VLAN != 0 && ifc.Port == port) && ifc.OnLink(via) {
			return i
		}
	}
	return port
}

func prefix(p netip.Prefix) ipv4.Prefix {
	return ipv4.Prefix{Addr: ipv4.AddrFrom4(p.Addr().As4()), Bits: p.Bits()}
}
