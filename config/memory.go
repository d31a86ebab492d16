package config

import (
	"strconv"
	"strings"
)

// Sizes behind Memory, from DPDK 22.11's structures. Measured with
// HugePages_Free before and during a run (--in-memory, net_af_packet): the
// default conf.toml took 6 pages (12 MiB; estimate 26 MiB) and two lcores
// with 65535-mbuf pools took 151 pages (302 MiB; estimate 314 MiB). The
// estimate errs on the safe side.
const (
	// mempoolObjHeader is the mempool's per-object header, rounded up to a
	// cache line.
	mempoolObjHeader = 64
	// mbufStruct is sizeof(struct rte_mbuf): two cache lines.
	mbufStruct = 128
	// mbufHeadroom is RTE_PKTMBUF_HEADROOM.
	mbufHeadroom = 128
	// mbufMinData is the smallest data room: RTE_MBUF_DEFAULT_DATAROOM.
	mbufMinData = 2048
	// ethOverhead is an Ethernet header plus a VLAN tag, added to the MTU.
	ethOverhead = 14 + 4
	// ringSlot is one pointer in the mempool's ring.
	ringSlot = 8
	// cacheSlot is one pointer in a per-lcore mempool cache.
	cacheSlot = 8
	// fixedOverhead is what EAL, ethdev and their memzones take regardless
	// of the configuration.
	fixedOverhead = 16 << 20
	// descSize is the memory per RX or TX descriptor, including the
	// driver's software ring.
	descSize = 64
	// cacheLine rounds the data room.
	cacheLine = 64
	// mebibyte is 1 MiB.
	mebibyte = 1 << 20
)

// Memory is the memory a configuration needs, in bytes.
type Memory struct {
	PerLcorePool uint64 // one lcore's mbuf pool
	Pools        uint64 // PerLcorePool times the number of lcores
	Overhead     uint64 // EAL, ethdev and descriptor rings
	Total        uint64 // Pools + Overhead
}

// PoolMbufs is the number of mbufs in each lcore's pool: engine.mbufs if
// set, else enough to fill every RX and TX ring, four bursts per port in
// flight, the cache, the ARP pending queue and 1024 in the stack (send
// queues, reassembly), rounded up to 2^n-1 where DPDK mempools waste least.
func (c *Config) PoolMbufs() int {
	if c.Engine.Mbufs > 0 {
		return c.Engine.Mbufs
	}
	n := 4*c.Engine.Burst*len(c.Ports) + c.Engine.MbufCache + c.ARP.Pending + 1024
	for _, p := range c.Ports {
		n += p.RxDesc + p.TxDesc
		if p.Exception != "" {
			n += 2*ExceptionDesc + 4*c.Engine.Burst
		}
	}
	m := 1
	for m-1 < n {
		m <<= 1
	}
	return m - 1
}

// ExceptionDesc is the descriptors of each queue of an exception path's
// kernel interface (port.exception), in each direction.
const ExceptionDesc = 512

// MbufDataRoom is the data room of each mbuf: headroom plus the largest
// frame of any port, at least the DPDK default of 2048.
func (c *Config) MbufDataRoom() int {
	mtu := 0
	for _, p := range c.Ports {
		mtu = max(mtu, p.MTU)
	}
	return max(mbufMinData, mtu+ethOverhead) + mbufHeadroom
}

// Memory estimates the memory the configuration needs from DPDK.
func (c *Config) Memory() Memory {
	n := uint64(c.PoolMbufs())
	lcores := uint64(len(c.EAL.Lcores))
	room := uint64(c.MbufDataRoom()+cacheLine-1) / cacheLine * cacheLine
	obj := mempoolObjHeader + mbufStruct + room
	var m Memory
	m.PerLcorePool = n*obj + n*ringSlot + uint64(c.Engine.MbufCache)*lcores*cacheSlot
	m.Pools = m.PerLcorePool * lcores
	m.Overhead = fixedOverhead
	for _, p := range c.Ports {
		m.Overhead += uint64(p.Queues) * uint64(p.RxDesc+p.TxDesc) * descSize
	}
	m.Total = m.Pools + m.Overhead
	return m
}

// mib is b in MiB, rounded up.
func mib(b uint64) uint64 { return (b + mebibyte - 1) / mebibyte }

// EALArgs is the argv for rte_eal_init: prog, the main lcore floating
// over every allowed CPU (the polling lcores are registered threads that
// pmd pins itself), the file prefix, --no-huge and -m when hugepages are
// off, then eal.args.
func (c *Config) EALArgs(prog string, pid int) []string {
	cpus := c.Env.CPUs
	if len(cpus) == 0 {
		cpus = c.EAL.Lcores
	}
	ids := make([]string, len(cpus))
	for i, cpu := range cpus {
		ids[i] = strconv.Itoa(cpu)
	}
	prefix := c.EAL.FilePrefix
	if prefix == "" {
		prefix = "pmd-" + strconv.Itoa(pid)
	}
	args := []string{prog, "--lcores=0@(" + strings.Join(ids, ",") + ")", "--file-prefix=" + prefix}
	if !c.EAL.Hugepages {
		mb := uint64(c.EAL.MemoryMB)
		if mb == 0 {
			mb = mib(c.Memory().Total)
		}
		// -m without hugepages is DPDK's legacy memory mode, which refuses
		// --in-memory; --no-shconf keeps the instance just as private.
		args = append(args, "--no-huge", "-m", strconv.FormatUint(mb, 10), "--no-shconf")
		for _, a := range c.EAL.Args {
			if !hasOpt([]string{a}, "--in-memory") {
				args = append(args, a)
			}
		}
		return args
	}
	return append(args, c.EAL.Args...)
}
