// Package pmd drives DPDK ports: probing by devargs, queue configuration,
// start/stop, link, MAC, MTU, device statistics and checksum offloads, and
// the burst queues (Queue) that lcores poll. It binds DPDK through cgo.
package pmd

/*
#cgo pkg-config: libdpdk
#cgo CFLAGS: -O2
#include <stdlib.h>
#include <errno.h>
#include <rte_ethdev.h>
#include <rte_dev.h>

static int pmd_link(uint16_t port, uint32_t *speed, int *up, int *duplex)
{
	struct rte_eth_link l;
	int r = rte_eth_link_get_nowait(port, &l);
	if (r != 0)
		return r;
	*speed = l.link_speed;
	*up = l.link_status;
	*duplex = l.link_duplex;
	return 0;
}

static int pmd_configure(uint16_t port, uint16_t nq, uint64_t rxoff, uint64_t txoff, uint32_t mtu,
			 uint8_t *key, uint8_t key_len, uint64_t rss_hf)
{
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	conf.rxmode.offloads = rxoff;
	conf.rxmode.mtu = mtu;
	conf.txmode.offloads = txoff;
	if (rss_hf) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = key;
		conf.rx_adv_conf.rss_conf.rss_key_len = key_len;
		conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
	}
	return rte_eth_dev_configure(port, nq, nq, &conf);
}

// pmd_reta programs the redirection table: entry i of size.
static int pmd_reta(uint16_t port, uint16_t size, const uint16_t *table)
{
	struct rte_eth_rss_reta_entry64 conf[RTE_ETH_RSS_RETA_SIZE_512 / RTE_ETH_RETA_GROUP_SIZE];
	uint16_t i;
	if (size > RTE_ETH_RSS_RETA_SIZE_512)
		return -EINVAL;
	memset(conf, 0, sizeof(conf));
	for (i = 0; i < size; i++) {
		conf[i / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ULL << (i % RTE_ETH_RETA_GROUP_SIZE);
		conf[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] = table[i];
	}
	return rte_eth_dev_rss_reta_update(port, conf, size);
}

static int pmd_rxq_setup(uint16_t port, uint16_t q, uint16_t nb, struct rte_mempool *pool, uint64_t off)
{
	struct rte_eth_dev_info info;
	struct rte_eth_rxconf rxc;
	int r = rte_eth_dev_info_get(port, &info);
	if (r != 0)
		return r;
	rxc = info.default_rxconf;
	rxc.offloads = off;
	return rte_eth_rx_queue_setup(port, q, nb, rte_eth_dev_socket_id(port), &rxc, pool);
}

static int pmd_txq_setup(uint16_t port, uint16_t q, uint16_t nb, uint64_t off)
{
	struct rte_eth_dev_info info;
	struct rte_eth_txconf txc;
	int r = rte_eth_dev_info_get(port, &info);
	if (r != 0)
		return r;
	txc = info.default_txconf;
	txc.offloads = off;
	return rte_eth_tx_queue_setup(port, q, nb, rte_eth_dev_socket_id(port), &txc);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unsafe"

	"github.com/pmdstack/pmd/eal"
	"github.com/pmdstack/pmd/ipv4"
)

// Info is what a device says it can do.
type Info struct {
	Driver             string
	MaxRxQueues        int
	MaxTxQueues        int
	RxDescMin          int
	RxDescMax          int
	TxDescMin          int
	TxDescMax          int
	MinMTU, MaxMTU     int
	RxOffloads         uint64
	TxOffloads         uint64
	RSSOffloads        uint64
	RETASize, KeyBytes int
	Socket             int
}

// Port is a probed DPDK ethdev.
type Port struct {
	ID      uint16
	Devargs string
	Name    string
	MAC     ipv4.MAC
	Info    Info
	Caps    ipv4.ChecksumCaps // offloads in use after Configure
	VLAN    VLANMode          // how VLAN tags are handled, after Configure
	rxoff   uint64
	trusted bool // TrustedLink: Caps claims every checksum, none is done
	txoff   uint64
	queues  []*Queue
	started bool
	rssOn   bool
	rssKey  unsafe.Pointer
	ring    *ringDrops // net_af_packet: the kernel's RX ring drops
	// Notes say what the device could not do as asked, for the start-up
	// summary.
	Notes []string
}

var pciRe = regexp.MustCompile(`^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$`)

// IsPCI reports whether a device string names a PCI address.
func IsPCI(device string) bool {
	name, _, _ := strings.Cut(device, ",")
	return pciRe.MatchString(name)
}

// Open probes the device named by devargs (a PCI address or a vdev string
// such as "net_af_packet0,iface=pmd0") and returns its port.
func Open(devargs string) (*Port, error) {
	name, _, _ := strings.Cut(devargs, ",")
	if IsPCI(devargs) && len(name) == 7 {
		name = "0000:" + name
	}
	cargs := C.CString(devargs)
	defer C.free(unsafe.Pointer(cargs))
	ret := int(C.rte_dev_probe(cargs))
	if ret == -int(C.EEXIST) {
		ret = 0 // probed by EAL already (a PCI device bound to a DPDK driver)
	}
	if err := eal.Errno("rte_dev_probe", ret); err != nil {
		return nil, fmt.Errorf("device %q: %w (is the driver available and the interface present?)", devargs, err)
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var id C.uint16_t
	if err := eal.Errno("rte_eth_dev_get_port_by_name", int(C.rte_eth_dev_get_port_by_name(cname, &id))); err != nil {
		return nil, fmt.Errorf("device %q: no ethdev named %q: %w", devargs, name, err)
	}
	p := &Port{ID: uint16(id), Devargs: devargs, Name: name}
	var info C.struct_rte_eth_dev_info
	if err := eal.Errno("rte_eth_dev_info_get", int(C.rte_eth_dev_info_get(id, &info))); err != nil {
		return nil, fmt.Errorf("device %q: %w", devargs, err)
	}
	p.Info = Info{
		Driver:      C.GoString(info.driver_name),
		MaxRxQueues: int(info.max_rx_queues),
		MaxTxQueues: int(info.max_tx_queues),
		RxDescMin:   int(info.rx_desc_lim.nb_min),
		RxDescMax:   int(info.rx_desc_lim.nb_max),
		TxDescMin:   int(info.tx_desc_lim.nb_min),
		TxDescMax:   int(info.tx_desc_lim.nb_max),
		MinMTU:      int(info.min_mtu),
		MaxMTU:      int(info.max_mtu),
		RxOffloads:  uint64(info.rx_offload_capa),
		TxOffloads:  uint64(info.tx_offload_capa),
		RSSOffloads: uint64(info.flow_type_rss_offloads),
		RETASize:    int(info.reta_size),
		KeyBytes:    int(info.hash_key_size),
		Socket:      int(C.rte_eth_dev_socket_id(id)),
	}
	var mac C.struct_rte_ether_addr
	if err := eal.Errno("rte_eth_macaddr_get", int(C.rte_eth_macaddr_get(id, &mac))); err != nil {
		return nil, fmt.Errorf("device %q: %w", devargs, err)
	}
	for i := range p.MAC {
		p.MAC[i] = byte(mac.addr_bytes[i])
	}
	if iface := afPacketIface(devargs); iface != "" {
		var err error
		if p.ring, err = openRingDrops(iface); err != nil {
			p.Notes = append(p.Notes, fmt.Sprintf("the kernel's RX ring drops are not counted in rx_missed: %v", err))
		}
	}
	return p, nil
}

// RSS asks for receive-side scaling with a key and a redirection table
// (entry i: the queue for hashes whose low bits are i).
type RSS struct {
	Key   []byte
	Table []uint16
}

// Config is how a port is set up.
type Config struct {
	RSS             *RSS // nil: no RSS
	Queues          int
	RxDesc, TxDesc  int
	MTU             int
	Burst           int
	ChecksumOffload bool // use the device's checksum offloads where it has them
	TrustedLink     bool // compute and verify no checksum: the peer is a pmd across shared memory
	Promiscuous     bool
	// VLAN: the port carries 802.1Q VLANs: tags are stripped on receive
	// and inserted on transmit, by the device where it can, else in
	// software. VLANSoftware does both in software even where the device
	// could (to test that path, or around a device that does it wrong).
	VLAN, VLANSoftware bool
	Pools              []*eal.Mempool // one per queue: the pool of the lcore that polls it
}

// VLANMode is how a port handles 802.1Q tags: On for a port with VLANs,
// and which of stripping (receive) and insertion (transmit) the device
// does; the queue does the others in software (and inserts the tags of
// frames sent on a port without VLANs: the exception path's).
type VLANMode struct {
	On, HWStrip, HWInsert bool
}

// String names the mode for the start-up summary.
func (m VLANMode) String() string {
	if !m.On {
		return "none"
	}
	how := func(hw bool) string {
		if hw {
			return "device"
		}
		return "software"
	}
	return "strip " + how(m.HWStrip) + ", insert " + how(m.HWInsert)
}

// ErrQueues is returned (wrapped) when the device cannot give the queues asked for.
var ErrQueues = errors.New("not enough queues")

// Configure sets up queues, descriptors, MTU and offloads; the port must
// not be started.
func (p *Port) Configure(cfg Config) error {
	in := p.Info
	if cfg.Queues < 1 || cfg.Queues > in.MaxRxQueues || cfg.Queues > in.MaxTxQueues {
		return fmt.Errorf("device %q (%s) gives at most %d RX and %d TX queues, %d asked: %w",
			p.Devargs, in.Driver, in.MaxRxQueues, in.MaxTxQueues, cfg.Queues, ErrQueues)
	}
	if len(cfg.Pools) != cfg.Queues {
		return fmt.Errorf("port %d: %d pools for %d queues", p.ID, len(cfg.Pools), cfg.Queues)
	}
	if cfg.Burst < 1 || cfg.Burst > BurstMax {
		return fmt.Errorf("port %d: burst %d outside 1..%d", p.ID, cfg.Burst, BurstMax)
	}
	if (in.MaxMTU != 0 && cfg.MTU > in.MaxMTU) || cfg.MTU < in.MinMTU {
		return fmt.Errorf("device %q: MTU %d outside the device's %d..%d", p.Devargs, cfg.MTU, in.MinMTU, in.MaxMTU)
	}
	p.rxoff, p.txoff, p.Caps = 0, 0, ipv4.ChecksumCaps{}
	p.trusted = cfg.TrustedLink
	switch {
	case cfg.TrustedLink:
		// As if the device computed and verified every checksum: the
		// stack leaves them undone and takes every frame as good.
		p.Caps = ipv4.ChecksumCaps{IPv4Rx: true, UDPRx: true, TCPRx: true, IPv4Tx: true, UDPTx: true, TCPTx: true}
	case cfg.ChecksumOffload:
		has := func(capa, bit uint64) bool { return capa&bit != 0 }
		rx, tx := in.RxOffloads, in.TxOffloads
		p.Caps = ipv4.ChecksumCaps{
			IPv4Rx: has(rx, C.RTE_ETH_RX_OFFLOAD_IPV4_CKSUM),
			UDPRx:  has(rx, C.RTE_ETH_RX_OFFLOAD_UDP_CKSUM),
			TCPRx:  has(rx, C.RTE_ETH_RX_OFFLOAD_TCP_CKSUM),
			IPv4Tx: has(tx, C.RTE_ETH_TX_OFFLOAD_IPV4_CKSUM),
			UDPTx:  has(tx, C.RTE_ETH_TX_OFFLOAD_UDP_CKSUM),
			TCPTx:  has(tx, C.RTE_ETH_TX_OFFLOAD_TCP_CKSUM),
		}
		p.rxoff = rx & (C.RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | C.RTE_ETH_RX_OFFLOAD_UDP_CKSUM | C.RTE_ETH_RX_OFFLOAD_TCP_CKSUM)
		p.txoff = tx & (C.RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | C.RTE_ETH_TX_OFFLOAD_UDP_CKSUM | C.RTE_ETH_TX_OFFLOAD_TCP_CKSUM)
	}
	p.VLAN = VLANMode{On: cfg.VLAN}
	if cfg.VLAN && !cfg.VLANSoftware {
		if in.RxOffloads&C.RTE_ETH_RX_OFFLOAD_VLAN_STRIP != 0 {
			p.rxoff |= C.RTE_ETH_RX_OFFLOAD_VLAN_STRIP
			p.VLAN.HWStrip = true
		}
		if in.TxOffloads&C.RTE_ETH_TX_OFFLOAD_VLAN_INSERT != 0 {
			p.txoff |= C.RTE_ETH_TX_OFFLOAD_VLAN_INSERT
			p.VLAN.HWInsert = true
		}
	}
	id := C.uint16_t(p.ID)
	var hf uint64
	p.Notes = p.Notes[:0]
	if cfg.RSS != nil && cfg.Queues > 1 {
		want := uint64(C.RTE_ETH_RSS_IPV4 | C.RTE_ETH_RSS_NONFRAG_IPV4_TCP | C.RTE_ETH_RSS_NONFRAG_IPV4_UDP)
		hf = in.RSSOffloads & want
		switch {
		case hf == 0:
			p.Notes = append(p.Notes, "no RSS: flows reach their lcores by software steering")
		case hf != want:
			p.Notes = append(p.Notes, fmt.Sprintf("RSS covers only hash functions %#x of %#x: the rest is steered in software", hf, want))
		}
		if hf != 0 && in.KeyBytes != 0 && in.KeyBytes != len(cfg.RSS.Key) {
			p.Notes = append(p.Notes, fmt.Sprintf("RSS key of %d bytes, not %d: the device hashes its own way; steering corrects it", in.KeyBytes, len(cfg.RSS.Key)))
			hf = 0
		}
	}
	var key unsafe.Pointer
	if hf != 0 {
		if p.rssKey != nil {
			C.free(p.rssKey)
		}
		p.rssKey = C.CBytes(cfg.RSS.Key) // the driver may read it until the port closes
		key = p.rssKey
	}
	if err := eal.Errno("rte_eth_dev_configure", int(C.pmd_configure(id, C.uint16_t(cfg.Queues), C.uint64_t(p.rxoff), C.uint64_t(p.txoff), C.uint32_t(cfg.MTU),
		(*C.uint8_t)(key), C.uint8_t(len(cfg.RSS.keyOrNil())), C.uint64_t(hf)))); err != nil {
		return fmt.Errorf("port %d (%s): %w", p.ID, p.Devargs, err)
	}
	p.rssOn = hf != 0
	nrx, ntx := C.uint16_t(cfg.RxDesc), C.uint16_t(cfg.TxDesc)
	if err := eal.Errno("rte_eth_dev_adjust_nb_rx_tx_desc", int(C.rte_eth_dev_adjust_nb_rx_tx_desc(id, &nrx, &ntx))); err != nil {
		return fmt.Errorf("port %d: %w", p.ID, err)
	}
	p.releaseQueues()
	for q := 0; q < cfg.Queues; q++ {
		pool := (*C.struct_rte_mempool)(cfg.Pools[q].Ptr())
		if err := eal.Errno("rte_eth_rx_queue_setup", int(C.pmd_rxq_setup(id, C.uint16_t(q), nrx, pool, C.uint64_t(p.rxoff)))); err != nil {
			return fmt.Errorf("port %d queue %d: %w", p.ID, q, err)
		}
		if err := eal.Errno("rte_eth_tx_queue_setup", int(C.pmd_txq_setup(id, C.uint16_t(q), ntx, C.uint64_t(p.txoff)))); err != nil {
			return fmt.Errorf("port %d queue %d: %w", p.ID, q, err)
		}
		p.queues = append(p.queues, newQueue(p.ID, uint16(q), cfg.Burst, cfg.Pools[q].Ptr(), p.Caps, p.trusted, p.VLAN))
	}
	if cfg.Promiscuous {
		if err := eal.Errno("rte_eth_promiscuous_enable", int(C.rte_eth_promiscuous_enable(id))); err != nil {
			return fmt.Errorf("port %d: %w", p.ID, err)
		}
	}
	return nil
}

// Queue is queue pair i, valid after Configure.
func (p *Port) Queue(i int) *Queue { return p.queues[i] }

func (r *RSS) keyOrNil() []byte {
	if r == nil {
		return nil
	}
	return r.Key
}

// Start starts the device and, with RSS on, programs its redirection
// table from ours (repeated to the device's size, which keeps lookups
// equal when the device's table is at least as large).
func (p *Port) Start(rss *RSS) error {
	if err := eal.Errno("rte_eth_dev_start", int(C.rte_eth_dev_start(C.uint16_t(p.ID)))); err != nil {
		if strings.HasPrefix(p.Devargs, "net_memif") && strings.Contains(p.Devargs, "role=client") {
			return fmt.Errorf("port %d (%s): %w: a net_memif client needs its server running, on the same socket, before it starts", p.ID, p.Devargs, err)
		}
		return fmt.Errorf("port %d (%s): %w", p.ID, p.Devargs, err)
	}
	p.started = true
	if !p.rssOn || rss == nil {
		return nil
	}
	size := p.Info.RETASize
	if size < len(rss.Table) {
		p.Notes = append(p.Notes, fmt.Sprintf("redirection table of %d entries, smaller than pmd's %d: some flows are steered in software", size, len(rss.Table)))
	}
	if size == 0 {
		return nil
	}
	t := (*[512]C.uint16_t)(C.calloc(512, 2))
	defer C.free(unsafe.Pointer(t))
	for i := 0; i < size && i < 512; i++ {
		t[i] = C.uint16_t(rss.Table[i%len(rss.Table)])
	}
	if err := eal.Errno("rte_eth_dev_rss_reta_update", int(C.pmd_reta(C.uint16_t(p.ID), C.uint16_t(size), &t[0]))); err != nil {
		p.Notes = append(p.Notes, fmt.Sprintf("redirection table not programmed (%v): flows are steered in software", err))
	}
	return nil
}

// Stop stops the device and releases the mbufs its queues held; the lcores
// polling it must have stopped.
func (p *Port) Stop() error {
	var err error
	if p.started {
		err = eal.Errno("rte_eth_dev_stop", int(C.rte_eth_dev_stop(C.uint16_t(p.ID))))
		p.started = false
	}
	p.releaseQueues()
	return err
}

// Close stops (if needed) and closes the device.
func (p *Port) Close() error {
	err := p.Stop()
	if p.ring != nil {
		p.ring.close()
	}
	if e := eal.Errno("rte_eth_dev_close", int(C.rte_eth_dev_close(C.uint16_t(p.ID)))); err == nil {
		err = e
	}
	if p.rssKey != nil {
		C.free(p.rssKey)
		p.rssKey = nil
	}
	return err
}

func (p *Port) releaseQueues() {
	for _, q := range p.queues {
		q.release()
	}
	p.queues = nil
}

// Link is the port's link state.
type Link struct {
	Up         bool
	SpeedMbps  uint32
	FullDuplex bool
}

func (l Link) String() string {
	if !l.Up {
		return "down"
	}
	d := "half"
	if l.FullDuplex {
		d = "full"
	}
	return fmt.Sprintf("up %d Mbit/s %s-duplex", l.SpeedMbps, d)
}

// Link reads the link state without waiting.
func (p *Port) Link() (Link, error) {
	var speed C.uint32_t
	var up, duplex C.int
	if err := eal.Errno("rte_eth_link_get_nowait", int(C.pmd_link(C.uint16_t(p.ID), &speed, &up, &duplex))); err != nil {
		return Link{}, err
	}
	return Link{Up: up != 0, SpeedMbps: uint32(speed), FullDuplex: duplex != 0}, nil
}

// StatField is one of Stats' counters by the name the counter lines, the
// metrics, the control socket and telemetry use, with what it counts.
type StatField struct {
	Name string
	Help string
	Get  func(*Stats) uint64
}

// StatFields are Stats' counters (Queues aside), in the order they are
// printed: the one list of their names.
var StatFields = []StatField{
	{"rx_packets", "Packets the device received.", func(s *Stats) uint64 { return s.RxPackets }},
	{"tx_packets", "Packets the device sent.", func(s *Stats) uint64 { return s.TxPackets }},
	{"rx_bytes", "Bytes the device received.", func(s *Stats) uint64 { return s.RxBytes }},
	{"tx_bytes", "Bytes the device sent.", func(s *Stats) uint64 { return s.TxBytes }},
	{"rx_missed", "Packets the device dropped because its RX ring was full (net_af_packet: the kernel's socket ring).", func(s *Stats) uint64 { return s.RxMissed }},
	{"rx_errors", "Erroneous packets the device received.", func(s *Stats) uint64 { return s.RxErrors }},
	{"tx_errors", "Packets the device failed to send.", func(s *Stats) uint64 { return s.TxErrors }},
	{"rx_nombuf", "RX mbuf allocation failures of the device.", func(s *Stats) uint64 { return s.RxNoMbuf }},
}

// Stats are the device's counters (rte_eth_stats).
type Stats struct {
	RxPackets, TxPackets uint64
	RxBytes, TxBytes     uint64
	RxMissed             uint64 // dropped by the device: RX ring full
	RxErrors, TxErrors   uint64
	RxNoMbuf             uint64 // RX mbuf allocation failures
	// Queues are the per-queue counters of the first
	// RTE_ETHDEV_QUEUE_STAT_CNTRS (16) queues, by queue; a driver that
	// does not count per queue leaves them zero.
	Queues []QueueStats
}

// QueueStats are one queue pair's device counters (rte_eth_stats q_*).
type QueueStats struct {
	RxPackets, TxPackets uint64
	RxBytes, TxBytes     uint64
}

// Stats reads the device's counters.
func (p *Port) Stats() (Stats, error) {
	var s C.struct_rte_eth_stats
	if err := eal.Errno("rte_eth_stats_get", int(C.rte_eth_stats_get(C.uint16_t(p.ID), &s))); err != nil {
		return Stats{}, err
	}
	st := Stats{
		RxPackets: uint64(s.ipackets), TxPackets: uint64(s.opackets),
		RxBytes: uint64(s.ibytes), TxBytes: uint64(s.obytes),
		RxMissed: uint64(s.imissed), RxErrors: uint64(s.ierrors), TxErrors: uint64(s.oerrors),
		RxNoMbuf: uint64(s.rx_nombuf),
	}
	if p.ring != nil {
		st.RxMissed += p.ring.read()
	}
	st.Queues = make([]QueueStats, min(len(p.queues), C.RTE_ETHDEV_QUEUE_STAT_CNTRS))
	for i := range st.Queues {
		st.Queues[i] = QueueStats{
			RxPackets: uint64(s.q_ipackets[i]), TxPackets: uint64(s.q_opackets[i]),
			RxBytes: uint64(s.q_ibytes[i]), TxBytes: uint64(s.q_obytes[i]),
		}
	}
	return st, nil
}

// OffloadNames lists the checksum offloads in use, for the start-up summary.
func (p *Port) OffloadNames() string {
	var s []string
	add := func(ok bool, n string) {
		if ok {
			s = append(s, n)
		}
	}
	if p.trusted {
		return "trusted link (no checksums computed or verified)"
	}
	c := p.Caps
	add(c.IPv4Rx, "rx-ipv4")
	add(c.UDPRx, "rx-udp")
	add(c.TCPRx, "rx-tcp")
	add(c.IPv4Tx, "tx-ipv4")
	add(c.UDPTx, "tx-udp")
	add(c.TCPTx, "tx-tcp")
	if len(s) == 0 {
		return "none (checksums in software)"
	}
	return strings.Join(s, ",")
}
