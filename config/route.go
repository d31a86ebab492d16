package config

import (
	"fmt"
	"net/netip"
	"slices"
)

// Route is one [[route]] table: the networks reached through a next hop
// on one of the ports' links. A port's gateway is the route to 0.0.0.0/0.
type Route struct {
	Prefix netip.Prefix // the destination network (host bits zero)
	Via    netip.Addr   // the next hop, inside one port's networks
	// Port is the port whose network (or one of its VLANs') holds Via,
	// found by validation.
	Port int
}

// Prefixes are the port's networks with our address in each: Address
// first, then Addresses.
func (p Port) Prefixes() []netip.Prefix {
	return append([]netip.Prefix{p.Address}, p.Addresses...)
}

// prefixKey is the key of port i's j-th prefix in Prefixes order.
func prefixKey(i, j int) string {
	if j == 0 {
		return fmt.Sprintf("port[%d].address", i)
	}
	return fmt.Sprintf("port[%d].addresses[%d]", i, j-1)
}

// addresses reads a port's further addresses.
func (d *decoder) addresses(t table, p *Port) {
	var ss []string
	if !t.strs("addresses", &ss) || d.bad(t.key("addresses")) {
		return
	}
	for i, s := range ss {
		key := fmt.Sprintf("%s[%d]", t.key("addresses"), i)
		a := d.address(key, s)
		if d.bad(key) {
			continue
		}
		p.Addresses = append(p.Addresses, a)
	}
}

func (d *decoder) decodeRoutes(c *Config, root table) {
	for _, t := range root.tables("route") {
		t.known("prefix", "via")
		var r Route
		var s string
		if !t.str("prefix", &s) {
			d.fail(t.key("prefix"), `required: the destination network, such as "10.0.0.0/8"`)
		} else if p, err := netip.ParsePrefix(s); err != nil || !p.Addr().Is4() {
			d.fail(t.key("prefix"), `expected an IPv4 network with prefix length, such as "10.0.0.0/8", got %q`, s)
		} else if p != p.Masked() {
			d.fail(t.key("prefix"), "%s has host bits set; expected the network, %s", p, p.Masked())
		} else {
			r.Prefix = p
		}
		if !t.str("via", &s) {
			d.fail(t.key("via"), `required: the next hop, an address on one of the ports' networks, such as "198.18.0.254"`)
		} else {
			r.Via = d.gateway(t.key("via"), s)
		}
		c.Routes = append(c.Routes, r)
	}
}

// validateRoutes checks the ports' further addresses against each other
// and the routes against the ports.
func (d *decoder) validateRoutes(c *Config) {
	type owned struct {
		addr netip.Addr
		key  string
	}
	var ours []owned
	for i, p := range c.Ports {
		for j, a := range p.Prefixes() {
			key := prefixKey(i, j)
			if !a.IsValid() || d.bad(key) {
				continue
			}
			for _, o := range ours {
				if o.addr == a.Addr() {
					d.fail(key, "%s is also %s; each address once", a.Addr(), o.key)
				}
			}
			ours = append(ours, owned{a.Addr(), key})
			if j == 0 {
				continue
			}
			for k, q := range c.Ports {
				if k != i && q.Address.IsValid() && q.Address.Masked().Overlaps(a.Masked()) {
					d.fail(key, "%s overlaps port[%d].address %s; a network belongs to one port", a.Masked(), k, q.Address.Masked())
				}
			}
		}
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		key := fmt.Sprintf("route[%d]", i)
		if r.Prefix.IsValid() {
			for j, o := range c.Routes[:i] {
				if o.Prefix == r.Prefix {
					d.fail(key+".prefix", "%s is also route[%d]'s; one next hop per network", r.Prefix, j)
				}
			}
			if r.Prefix.Bits() == 0 {
				for j, p := range c.Ports {
					if p.Gateway.IsValid() {
						d.fail(key+".prefix", "0.0.0.0/0 is port[%d].gateway's route already; keep one of them", j)
					}
				}
			}
		}
		if !r.Via.IsValid() || d.bad(key+".via") {
			continue
		}
		r.Port = -1
		for j, p := range c.Ports {
			if slices.ContainsFunc(p.linkPrefixes(), func(q netip.Prefix) bool { return q.IsValid() && q.Contains(r.Via) }) {
				r.Port = j
				break
			}
		}
		switch {
		case r.Port < 0:
			d.fail(key+".via", "%s is on none of the ports' networks; a next hop must be directly reachable", r.Via)
		case slices.ContainsFunc(ours, func(o owned) bool { return o.addr == r.Via }):
			d.fail(key+".via", "%s is our own address; expected another host", r.Via)
		}
	}
}
