package config

import (
	"net/netip"
	"slices"
	"strconv"
	"testing"
)

// vlan is a [[port.vlan]] table.
func vlan(id int, addr string) string {
	return "[[port.vlan]]\nid = " + strconv.Itoa(id) + "\naddress = \"" + addr + "\"\n"
}

// TestVLANs: [[port.vlan]] tables parse into the port's VLANs.
func TestVLANs(t *testing.T) {
	doc := base + "vlan_software = true\n" + vlan(100, "198.18.100.1/24") + "addresses = [\"198.18.101.1/24\"]\n" + vlan(200, "198.18.200.1/24")
	c, err := Parse("t.toml", []byte(doc), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Ports[0]
	want := []VLAN{
		{ID: 100, Address: netip.MustParsePrefix("198.18.100.1/24"), Addresses: []netip.Prefix{netip.MustParsePrefix("198.18.101.1/24")}},
		{ID: 200, Address: netip.MustParsePrefix("198.18.200.1/24")},
	}
	if !p.VLANSoftware || !slices.EqualFunc(p.VLANs, want, func(a, b VLAN) bool {
		return a.ID == b.ID && a.Address == b.Address && slices.Equal(a.Addresses, b.Addresses)
	}) {
		t.Errorf("VLANs %+v (software %v), want %+v", p.VLANs, p.VLANSoftware, want)
	}
}

func TestVLANErrors(t *testing.T) {
	tests := []struct {
		name, doc, key, msg string
	}{
		{"id 0", base + vlan(0, "198.18.100.1/24"), "port[0].vlan[0].id", "expected a VLAN id from 1 to 4094"},
		{"id 4095", base + vlan(4095, "198.18.100.1/24"), "port[0].vlan[0].id", "expected a VLAN id from 1 to 4094"},
		{"id twice", base + vlan(100, "198.18.100.1/24") + vlan(100, "198.18.101.1/24"), "port[0].vlan[1].id", "also port[0].vlan[0].id"},
		{"no id", base + "[[port.vlan]]\naddress = \"198.18.100.1/24\"\n", "port[0].vlan[0].id", "required"},
		{"no address", base + "[[port.vlan]]\nid = 5\n", "port[0].vlan[0].address", "required"},
		{"unknown key", base + vlan(100, "198.18.100.1/24") + "mtu = 1400\n", "port[0].vlan[0].mtu", "unknown key"},
		{"port's network", base + vlan(100, "198.18.0.9/24"), "port[0].vlan[0].address", "overlaps port[0].address"},
		{"other VLAN's network", base + vlan(100, "198.18.100.1/24") + vlan(200, "198.18.100.2/24"), "port[0].vlan[1].address", "overlaps port[0].vlan[0].address"},
		{"address twice", base + vlan(100, "198.18.100.1/24") + "addresses = [\"198.18.100.1/24\"]\n", "port[0].vlan[0].addresses[0]", "is also port[0].vlan[0].address"},
		{"network address", base + vlan(100, "198.18.100.0/24"), "port[0].vlan[0].address", "network address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const file = "bad.toml"
			_, err := Parse(file, []byte(tt.doc), testEnv)
			expectOnly(t, err, file, tt.key, tt.msg)
		})
	}
}
