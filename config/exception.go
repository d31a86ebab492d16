package config

import (
	"fmt"
	"strings"
)

// exceptionDrivers are the virtual devices that give the kernel an
// interface to take the traffic pmd does not serve (port.exception):
// DPDK's TAP driver and virtio-user (which the kernel serves through
// vhost-net where it has it).
var exceptionDrivers = []string{"net_tap", "net_virtio_user"}

// checkException checks a port's exception device: a TAP or
// virtio-user vdev of its own.
func (d *decoder) checkException(c *Config) {
	for i, p := range c.Ports {
		if p.Exception == "" {
			continue
		}
		key := fmt.Sprintf("port[%d].exception", i)
		name, ok := deviceKey(p.Exception)
		drv := vdevDriver(name)
		switch {
		case !ok:
			d.fail(key, `expected vdev devargs such as "net_tap9,iface=pmdk0", got %q`, p.Exception)
			continue
		case drv != "net_tap" && drv != "net_virtio_user":
			d.fail(key, "%q is not a kernel interface; expected a device of %s, such as \"net_tap9,iface=pmdk0\"", name, strings.Join(exceptionDrivers, " or "))
			continue
		}
		for j, q := range c.Ports {
			if n, _ := deviceKey(q.Device); n == name {
				d.fail(key, "device %s is port[%d].device; the exception path needs a device of its own", name, j)
			}
			if n, _ := deviceKey(q.Exception); j < i && n == name {
				d.fail(key, "device %s is also port[%d].exception", name, j)
			}
		}
	}
}
