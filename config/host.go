package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// defaultPageSize is the hugepage size assumed in advice when the host
// reports none: 2 MiB, the x86-64 and arm64 default.
const defaultPageSize = 2 << 20

// Hugepages is the host's hugepage state for one page size.
type Hugepages struct {
	// PageSize is the page size in bytes (2 MiB if the host has it), 0 if
	// the kernel offers no hugepages at all.
	PageSize uint64
	// Total and Free count pages of PageSize.
	Total, Free uint64
	// Mounted is true if a hugetlbfs of PageSize is mounted.
	Mounted bool
	// MountPoints are all hugetlbfs mount points, of any page size.
	MountPoints []string
}

// ReadHugepages reads the hugepage pools under sysfs (normally "/sys")
// and the hugetlbfs mounts from procMounts (normally "/proc/mounts"). A
// kernel without hugepage support gives a zero Hugepages, not an error.
func ReadHugepages(sysfs, procMounts string) (Hugepages, error) {
	var h Hugepages
	dir := filepath.Join(sysfs, "kernel", "mm", "hugepages")
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return h, fmt.Errorf("hugepages: %w", err)
	}
	var sizes []uint64
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if s, ok2 := strings.CutSuffix(s, "kB"); ok && ok2 {
			if kb, err := strconv.ParseUint(s, 10, 64); err == nil && kb > 0 {
				sizes = append(sizes, kb)
			}
		}
	}
	if len(sizes) > 0 {
		slices.Sort(sizes)
		kb := sizes[0]
		if slices.Contains(sizes, 2048) {
			kb = 2048
		}
		h.PageSize = kb << 10
		sub := filepath.Join(dir, fmt.Sprintf("hugepages-%dkB", kb))
		if h.Total, err = readUint(filepath.Join(sub, "nr_hugepages")); err != nil {
			return h, err
		}
		if h.Free, err = readUint(filepath.Join(sub, "free_hugepages")); err != nil {
			return h, err
		}
	}

	data, err := os.ReadFile(procMounts)
	if err != nil {
		return h, fmt.Errorf("hugepages: %w", err)
	}
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 4 || f[2] != "hugetlbfs" {
			continue
		}
		h.MountPoints = append(h.MountPoints, unescapeMount(f[1]))
		size := uint64(0)
		for o := range strings.SplitSeq(f[3], ",") {
			if v, ok := strings.CutPrefix(o, "pagesize="); ok {
				if size, err = parseSize(v); err != nil {
					return h, fmt.Errorf("hugepages: %s: %q: %w", procMounts, o, err)
				}
			}
		}
		// Without a pagesize option the mount serves the default size.
		if size == 0 || h.PageSize == 0 || size == h.PageSize {
			h.Mounted = true
		}
	}
	return h, nil
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("hugepages: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("hugepages: %s: expected a number, got %q", path, strings.TrimSpace(string(b)))
	}
	return n, nil
}

// parseSize parses the kernel's "2M", "1G", "64K" (or plain bytes).
func parseSize(s string) (uint64, error) {
	shift := 0
	switch {
	case strings.HasSuffix(s, "K"), strings.HasSuffix(s, "k"):
		shift = 10
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		shift = 20
	case strings.HasSuffix(s, "G"), strings.HasSuffix(s, "g"):
		shift = 30
	}
	if shift > 0 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("expected a size such as 2M")
	}
	return n << shift, nil
}

// unescapeMount undoes the octal escapes (\040 for a space) of
// /proc/mounts.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// sizeName writes a page size the way the kernel's pagesize option does.
func sizeName(b uint64) string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return strconv.FormatUint(b>>30, 10) + "G"
	case b >= 1<<20 && b%(1<<20) == 0:
		return strconv.FormatUint(b>>20, 10) + "M"
	}
	return strconv.FormatUint(b>>10, 10) + "K"
}

// CheckHost compares the memory the configuration needs with the host's
// hugepages and says what to change when they fall short. It returns nil
// when eal.hugepages is false.
func (c *Config) CheckHost(h Hugepages) error {
	if !c.EAL.Hugepages {
		return nil
	}
	need := c.Memory().Total
	ps := h.PageSize
	if ps == 0 {
		ps = defaultPageSize
	}
	sysctl := "/proc/sys/vm/nr_hugepages"
	if ps != defaultPageSize {
		sysctl = fmt.Sprintf("/sys/kernel/mm/hugepages/hugepages-%dkB/nr_hugepages", ps>>10)
	}
	pages := (need + ps - 1) / ps
	var problems []string
	switch free := h.Free * ps; {
	case h.Total == 0:
		problems = append(problems, fmt.Sprintf(
			"no hugepages are reserved but this configuration needs %d MiB (%d pages of %d kB): run `echo %d > %s`",
			mib(need), pages, ps>>10, pages, sysctl))
	case free < need:
		short := (need - free + ps - 1) / ps
		problems = append(problems, fmt.Sprintf(
			"this configuration needs %d MiB (%d pages of %d kB) but only %d MiB (%d pages) are free, short by %d MiB (%d pages): run `echo %d > %s`",
			mib(need), pages, ps>>10, free>>20, h.Free, mib(need-free), short, h.Total+short, sysctl))
	}
	if !h.Mounted && !hasOpt(c.EAL.Args, "--in-memory") {
		opt := ""
		if ps != defaultPageSize {
			opt = "-o pagesize=" + sizeName(ps) + " "
		}
		problems = append(problems, fmt.Sprintf(
			"no hugetlbfs is mounted for %d kB pages: run `mkdir -p /dev/hugepages && mount -t hugetlbfs %snodev /dev/hugepages`, or add \"--in-memory\" to eal.args",
			ps>>10, opt))
	}
	if len(problems) == 0 {
		return nil
	}
	return &Error{File: c.File, Key: "eal.hugepages",
		Msg: strings.Join(problems, "; and ") + "; or set eal.hugepages = false to run without hugepages"}
}

// CheckHostAt runs every host check against the host whose sysfs is
// mounted at sysfs (normally "/sys") and procfs at procfs ("/proc"): each
// PCI device exists and is bound to a driver DPDK can use, the memory the
// configuration needs fits in the host's, and with eal.hugepages in its
// free hugepages (CheckHost). It returns nil or Errors, every problem at
// once.
func (c *Config) CheckHostAt(sysfs, procfs string) error {
	d := &decoder{file: c.File}
	d.checkHost(c, sysfs, procfs)
	return d.err()
}

// checkHost runs the host checks on what of c is valid.
func (d *decoder) checkHost(c *Config, sysfs, procfs string) {
	for i, p := range c.Ports {
		if key := fmt.Sprintf("port[%d].device", i); p.PCI() && !d.bad(key) {
			d.checkPCI(key, p.Device, sysfs)
		}
	}
	if d.bad(c.sizeKeys()...) {
		return
	}
	meminfo := filepath.Join(procfs, "meminfo")
	need, key, lower := c.Memory().Total, "engine.mbufs", "lower engine.mbufs (0 computes it), the MTU, the descriptors or the number of lcores"
	if !c.EAL.Hugepages && c.EAL.MemoryMB > 0 {
		need, key, lower = uint64(c.EAL.MemoryMB)*mebibyte, "eal.memory_mb", "lower eal.memory_mb or set it to 0 to compute it"
	}
	// A host whose meminfo cannot be read is not judged: the check is
	// advice, and DPDK itself finds out.
	if total, err := readMemTotal(meminfo); err == nil && need > total {
		d.fail(key, "this configuration needs %d MiB (%.1f GiB) of memory but the host has %d MiB (%.1f GiB) in all (MemTotal in %s): %s",
			mib(need), float64(need)/(1<<30), total>>20, float64(total)/(1<<30), meminfo, lower)
		return // hugepage advice would ask for more than the host has
	}
	if !c.EAL.Hugepages {
		return
	}
	h, err := ReadHugepages(sysfs, filepath.Join(procfs, "mounts"))
	if err != nil {
		d.fail("eal.hugepages", "%v", err)
		return
	}
	var e *Error
	if errors.As(c.CheckHost(h), &e) {
		d.fail(e.Key, "%s", e.Msg)
	}
}

// readMemTotal reads the host's physical memory, in bytes, from
// /proc/meminfo's MemTotal line.
func readMemTotal(meminfo string) (uint64, error) {
	data, err := os.ReadFile(meminfo)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseUint(f[0], 10, 64); err == nil {
					return kb << 10, nil
				}
			}
			return 0, fmt.Errorf("%s: unexpected %q", meminfo, strings.TrimSpace(line))
		}
	}
	return 0, fmt.Errorf("%s: no MemTotal", meminfo)
}
