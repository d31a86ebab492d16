package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// vdevDrivers are the virtual network device drivers of Debian's DPDK
// 22.11: the librte_net_*.so plugins in its pmds-23.0 directory that
// register a vdev (dpdk-pmdinfo.py lists them). The other network plugins
// drive PCI devices, or devices on buses pmd does not use (dpaa, fslmc,
// vmbus). DPDK gives a vdev to the driver whose name starts the device's
// name, so "net_tap0" is net_tap's; this list is the one place pmd names
// them.
var vdevDrivers = []string{
	"net_af_packet", "net_af_xdp", "net_bonding", "net_failsafe", "net_memif",
	"net_null", "net_pcap", "net_ring", "net_softnic", "net_tap", "net_tun",
	"net_vdev_netvsc", "net_vhost", "net_virtio_user",
}

// vdevDriver is the driver DPDK would give the vdev name to, "" if none.
// The longest match wins, as no driver's name starts another's today.
func vdevDriver(name string) string {
	drv := ""
	for _, d := range vdevDrivers {
		if strings.HasPrefix(name, d) && len(d) > len(drv) {
			drv = d
		}
	}
	return drv
}

// pciDrivers are the kernel drivers DPDK can drive a PCI device under: the
// user-space I/O drivers it maps the device through, and Mellanox's own
// drivers, which DPDK's mlx4 and mlx5 drivers share the device with (they
// are bifurcated: the kernel keeps the device and DPDK takes queues).
var pciDrivers = []string{"vfio-pci", "uio_pci_generic", "igb_uio", "mlx4_core", "mlx5_core"}

// checkPCI checks that the PCI device of a port's device string exists
// under sysfs (normally "/sys") and is bound to a driver DPDK can use.
func (d *decoder) checkPCI(key, device, sysfs string) {
	addr, ok := pciName(devName(device))
	if !ok {
		return
	}
	dir := filepath.Join(sysfs, "bus", "pci", "devices", addr)
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			d.fail(key, "no PCI device %s on this host (no %s); `dpdk-devbind.py --status` lists the network devices", addr, dir)
		} else {
			d.fail(key, "PCI device %s: %v", addr, err)
		}
		return
	}
	fix := "run `modprobe vfio-pci` and `dpdk-devbind.py --bind=vfio-pci " + addr + "`"
	link, err := os.Readlink(filepath.Join(dir, "driver"))
	if err != nil {
		d.fail(key, "PCI device %s is bound to no driver, so DPDK cannot reach it: %s", addr, fix)
		return
	}
	drv := filepath.Base(link)
	if !slices.Contains(pciDrivers, drv) {
		d.fail(key, "PCI device %s is bound to the kernel driver %s, which DPDK cannot use (it needs one of %s): %s",
			addr, drv, strings.Join(pciDrivers, ", "), fix)
	}
}
