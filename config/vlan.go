package config

import (
	"fmt"
	"net/netip"
)

// VLAN is one [[port.vlan]] table: an IEEE 802.1Q VLAN carried by the
// port, with addresses of its own. The port's own address stays on the
// untagged link.
type VLAN struct {
	ID      int          // 1..4094
	Address netip.Prefix // our address on the VLAN, with its network
	// Addresses are further addresses of ours on the VLAN.
	Addresses []netip.Prefix
}

// Prefixes are the VLAN's networks with our address in each: Address
// first, then Addresses.
func (v VLAN) Prefixes() []netip.Prefix {
	return append([]netip.Prefix{v.Address}, v.Addresses...)
}

// linkPrefixes are the port's networks and its VLANs'.
func (p Port) linkPrefixes() []netip.Prefix {
	out := p.Prefixes()
	for _, v := range p.VLANs {
		out = append(out, v.Prefixes()...)
	}
	return out
}

// decodeVLANs reads a port's [[port.vlan]] tables and vlan_software.
func (d *decoder) decodeVLANs(t table, p *Port) {
	t.boolean("vlan_software", &p.VLANSoftware)
	for _, vt := range t.tables("vlan") {
		vt.known("id", "address", "addresses")
		var v VLAN
		if !vt.integer("id", &v.ID) {
			d.fail(vt.key("id"), "required: the VLAN id, 1 to 4094")
		}
		var s string
		if !vt.str("address", &s) {
			d.fail(vt.key("address"), `required: our IPv4 address on the VLAN with prefix length, such as "198.18.100.1/24"`)
		} else if !d.bad(vt.key("address")) {
			v.Address = d.address(vt.key("address"), s)
		}
		var ss []string
		if vt.strs("addresses", &ss) && !d.bad(vt.key("addresses")) {
			for i, s := range ss {
				key := fmt.Sprintf("%s[%d]", vt.key("addresses"), i)
				if a := d.address(key, s); !d.bad(key) {
					v.Addresses = append(v.Addresses, a)
				}
			}
		}
		p.VLANs = append(p.VLANs, v)
	}
}

// maxVLANs bounds a port's VLANs: input looks a frame's VLAN up among
// its port's in a short list.
const maxVLANs = 64

// validateVLANs checks every port's VLANs: ids in range and once per
// port, networks of their own (not another VLAN's, nor a port's), each
// address once.
func (d *decoder) validateVLANs(c *Config) {
	type network struct {
		p         netip.Prefix
		key, link string
	}
	var nets []network
	for i, p := range c.Ports {
		for j, a := range p.Prefixes() {
			if key := prefixKey(i, j); a.IsValid() && !d.bad(key) {
				nets = append(nets, network{a, key, fmt.Sprintf("port[%d]", i)})
			}
		}
	}
	for i, p := range c.Ports {
		if len(p.VLANs) > maxVLANs {
			d.fail(fmt.Sprintf("port[%d].vlan", i), "at most %d VLANs per port, got %d", maxVLANs, len(p.VLANs))
		}
		for j, v := range p.VLANs {
			link := fmt.Sprintf("port[%d].vlan[%d]", i, j)
			if key := link + ".id"; !d.bad(key) {
				if v.ID < 1 || v.ID > 4094 {
					d.fail(key, "expected a VLAN id from 1 to 4094 (0 is the untagged link, 4095 reserved), got %d", v.ID)
				}
				for k, o := range p.VLANs[:j] {
					if o.ID == v.ID {
						d.fail(key, "VLAN %d is also port[%d].vlan[%d].id; each VLAN once per port", v.ID, i, k)
					}
				}
			}
			for k, a := range v.Prefixes() {
				key := link + ".address"
				if k > 0 {
					key = fmt.Sprintf("%s.addresses[%d]", link, k-1)
				}
				if !a.IsValid() || d.bad(key) {
					continue
				}
				for _, n := range nets {
					switch {
					case n.p.Addr() == a.Addr():
						d.fail(key, "%s is also %s; each address once", a.Addr(), n.key)
					case n.link != link && n.p.Masked().Overlaps(a.Masked()):
						d.fail(key, "%s overlaps %s %s; each VLAN needs a network of its own", a.Masked(), n.key, n.p.Masked())
					}
				}
				nets = append(nets, network{a, key, link})
			}
		}
	}
}
