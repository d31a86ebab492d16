package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	pmdclock "github.com/pmdstack/pmd/clock"
	"github.com/pmdstack/pmd/config"
	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/eal"
	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/pmd"
	"github.com/pmdstack/pmd/rss"
	"github.com/pmdstack/pmd/tcp"
)

// stack is everything serve sets up, so that it can be torn down in order
// whatever step failed.
type stack struct {
	log    *slog.Logger
	pools  []*eal.Mempool
	ports  []*pmd.Port
	lcores []*engine.Lcore
	eals   []*eal.Lcore
	stop   atomic.Bool
	eal    bool
	// wrappers of device queues (fault injectors, captures), in the order
	// made: closed from the last, once the lcores have stopped
	closers []func() error
	pcaps   []*dev.Pcap // switched by SIGUSR2
}

// job is work that runs on the lcores besides the services: the transfer
// client, the load generator.
type job interface {
	// setup adds the job's apps to the lcores before they start.
	setup(s *stack, ecfg *engine.Config) error
	// done is polled every millisecond: the stack stops when it is true.
	done() bool
}

// controlEvery is how often the control goroutine looks at the neighbour
// table's ages and at the job when nothing wakes it sooner.
const controlEvery = 50 * time.Millisecond

// serve runs the stack until a signal or, with a job, until it is done.
func serve(cfg *config.Config, log *slog.Logger, j job) (err error) {
	if err := checkHost(cfg); err != nil {
		return err
	}
	// Each polling lcore holds a P while it runs Go code: leave room for
	// the runtime, the control loop and the garbage collector.
	if want := runtime.NumCPU() + len(cfg.EAL.Lcores); runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
	s := &stack{log: log}
	defer func() {
		if e := s.teardown(); err == nil {
			err = e
		}
	}()
	args := cfg.EALArgs(os.Args[0], os.Getpid())
	log.Info("eal init", "args", strings.Join(args[1:], " "))
	if err := eal.Init(args); err != nil {
		return fmt.Errorf("EAL: %w (see 'pmd check -c %s')", err, cfg.File)
	}
	s.eal = true
	for i := range cfg.EAL.Lcores {
		p, err := eal.NewPktPool(fmt.Sprintf("pmd_l%d", i), cfg.PoolMbufs(), cfg.Engine.MbufCache, cfg.MbufDataRoom(), -1)
		if err != nil {
			return fmt.Errorf("lcore %d: %w (see 'pmd check -c %s')", i, err, cfg.File)
		}
		s.pools = append(s.pools, p)
	}
	ecfg := &engine.Config{
		UDP:        new([65536]engine.Service),
		Idle:       map[config.Idle]engine.Idle{config.IdlePoll: engine.IdlePoll, config.IdleYield: engine.IdleYield, config.IdleSleep: engine.IdleSleep}[cfg.Engine.Idle],
		IdleAfter:  cfg.Engine.IdleAfter,
		IdleSleep:  cfg.Engine.IdleSleep,
		ARPRetry:   cfg.ARP.Retry,
		ARPTries:   3,
		ARPPending: cfg.ARP.Pending,
		ICMPRate:   1000,
		Neigh:      ipv4.NewNeighbours(cfg.ARP.Entries, cfg.ARP.Timeout),
		Learned:    make(chan struct{}, 1),
	}
	// With several lcores every TCP flow has an owner: the same Toeplitz
	// key and table in the devices (where they do RSS) and in software.
	var prss *pmd.RSS
	if len(cfg.EAL.Lcores) > 1 {
		key := rss.SymmetricKey
		if cfg.RSS.Key == "microsoft" {
			key = rss.MicrosoftKey
		}
		ecfg.Owner = &rss.Owner{H: rss.NewHasher(key), T: rss.NewTable(cfg.RSS.RETASize, len(cfg.EAL.Lcores))}
		prss = &pmd.RSS{Key: key[:], Table: ecfg.Owner.T.Entries}
	}
	for i, pc := range cfg.Ports {
		p, err := openPort(cfg, i, s.pools, prss)
		if p != nil {
			s.ports = append(s.ports, p)
		}
		if err != nil {
			return err
		}
		addr, _ := ipv4.AddrFromNetip(pc.Address.Addr())
		gw, _ := ipv4.AddrFromNetip(pc.Gateway)
		ecfg.Ifaces = append(ecfg.Ifaces, engine.Iface{Name: p.Name, MAC: p.MAC, Prefix: ipv4.Prefix{Addr: addr, Bits: pc.Address.Bits()}, Gateway: gw})
	}
	kinds := map[config.Kind]engine.Service{config.KindEcho: engine.Echo, config.KindDiscard: engine.Discard, config.KindHTTP: engine.HTTP, config.KindChargen: engine.Chargen}
	for _, sv := range cfg.Services {
		if sv.Proto == config.ProtoUDP {
			ecfg.UDP[sv.Port] = kinds[sv.Kind]
		} else {
			ecfg.TCPServices = append(ecfg.TCPServices, engine.TCPService{Port: uint16(sv.Port), Kind: kinds[sv.Kind], BodySize: sv.BodySize})
		}
	}
	ecfg.TCP = tcpConfig(cfg)
	for i := range cfg.EAL.Lcores {
		qs := make([]dev.Queue, len(s.ports))
		for j, p := range s.ports {
			q, err := s.wrapQueue(cfg.Ports[j], j, i, p.Queue(i))
			if err != nil {
				return err
			}
			qs[j] = q
		}
		s.lcores = append(s.lcores, engine.NewLcore(i, ecfg, qs))
	}
	engine.Join(s.lcores)
	for _, p := range s.ports {
		if err := p.Start(prss); err != nil {
			return err
		}
	}
	s.summary(cfg)

	if j != nil {
		if err := j.setup(s, ecfg); err != nil {
			return err
		}
	}

	// Every lcore reads a clock of its own (the time-stamp counter where
	// the kernel trusts it); the control goroutine the monotonic clock
	// they are anchored to.
	epoch := time.Now()
	clock := func() int64 { return int64(time.Since(epoch)) }
	for i, cpu := range cfg.EAL.Lcores {
		l := s.lcores[i]
		ck := pmdclock.New(epoch)
		el, err := eal.StartLcore(cpu, func(*eal.Lcore) error {
			l.Run(&s.stop, ck.Now)
			return nil
		})
		if err != nil {
			return err
		}
		s.eals = append(s.eals, el)
		log.Info("lcore started", "lcore", i, "cpu", cpu, "dpdk_lcore_id", el.ID)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	defer signal.Stop(usr2)
	ctl := &engine.Control{Neigh: ecfg.Neigh, Lcores: s.lcores}
	// The control goroutine shares the CPUs with polling lcores: it runs
	// when an lcore has learned a neighbour, and otherwise wakes rarely
	// (neighbour expiry, the job's end), not a thousand times a second.
	tick := time.NewTicker(controlEvery)
	defer tick.Stop()
	var stats <-chan time.Time
	if cfg.Engine.StatsInterval > 0 {
		t := time.NewTicker(cfg.Engine.StatsInterval)
		defer t.Stop()
		stats = t.C
	}
	hashCheck := time.After(2 * time.Second)
	for {
		select {
		case <-hashCheck:
			s.reportHash()
		case <-usr1:
			s.listConnections()
		case <-usr2:
			s.switchCapture()
		case <-ecfg.Learned:
			ctl.Tick(clock())
		case <-tick.C:
			ctl.Tick(clock())
			if j != nil && j.done() {
				log.Info("job done")
				return nil
			}
		case <-stats:
			s.printStats("stats")
		case v := <-sig:
			log.Info("stopping", "signal", v.String())
			return nil
		}
	}
}

// listConnections logs every lcore's listeners and connections (kill
// -USR1): what netstat shows for the kernel's stack.
func (s *stack) listConnections() {
	for _, l := range s.lcores {
		select {
		case lines := <-l.RequestListing():
			for _, line := range lines {
				s.log.Info("listing", "conn", line)
			}
		case <-time.After(time.Second):
			s.log.Warn("listing: lcore did not answer within a second", "lcore", l.ID)
		}
	}
}

// reportHash says once what the devices' RSS hashes looked like on the
// first packets that carried one.
func (s *stack) reportHash() {
	var match, mismatch uint64
	for _, l := range s.lcores {
		c := l.Counters()
		match += c[engine.RSSHashMatch]
		mismatch += c[engine.RSSHashMismatch]
	}
	switch {
	case match+mismatch == 0:
		return // no device reported a hash
	case mismatch == 0:
		s.log.Info("device RSS hash agrees with pmd's", "packets", match)
	default:
		s.log.Warn("device RSS hash differs from pmd's: flows that land on the wrong lcore are steered to their owner",
			"agree", match, "differ", mismatch)
	}
}

// localFor is the address of the port that routes to remote.
func localFor(s *stack, ecfg *engine.Config, remote ipv4.Addr) (ipv4.Addr, error) {
	port, _, ok := s.lcores[0].Route(remote)
	if !ok {
		return 0, fmt.Errorf("no route to %v: no port's prefix holds it and no gateway is configured", remote)
	}
	return ecfg.Ifaces[port].Prefix.Addr, nil
}

// shares spreads n items over the lcores: lcore i gets share(i) starting
// at first(i).
func shares(n, lcores, i int) (share, first int) {
	for k := 0; k <= i; k++ {
		share = n / lcores
		if k < n%lcores {
			share++
		}
		if k < i {
			first += share
		}
	}
	return share, first
}

// tcpConfig is the [tcp] table for the stacks, with a fresh secret for
// ISNs and SYN cookies.
func tcpConfig(cfg *config.Config) tcp.Config {
	t := cfg.TCP
	c := tcp.Config{
		MaxConns: t.MaxConns, Backlog: t.Backlog, SndBuf: t.SndBuf, RcvBuf: t.RcvBuf, Buffers: t.Buffers,
		MSS: uint16(cfg.MSS()), MinRTO: t.MinRTO, MaxRTO: t.MaxRTO, InitialRTO: t.InitialRTO,
		DelayedAck: t.DelayedAck, TimeWait: t.TimeWait, SynRetries: t.SynRetries, DataRetries: t.Retries,
		KeepAlive: t.KeepAlive, KeepInterval: t.KeepAliveIntvl, KeepProbes: t.KeepAliveProbes,
		OOOSegments: t.OOOSegments, ChallengeRate: t.ChallengeRate,
		PortMin: uint16(t.PortMin), PortMax: uint16(t.PortMax), TWReuse: t.TWReuse,
	}
	if c.DelayedAck == 0 {
		c.DelayedAck = -1 // tcp.Config: negative is "off", zero is "default"
	}
	rand.Read(c.Seed[:])
	return c
}

func openPort(cfg *config.Config, i int, pools []*eal.Mempool, prss *pmd.RSS) (*pmd.Port, error) {
	pc := cfg.Ports[i]
	key := fmt.Sprintf("%s: port[%d]", cfg.File, i)
	p, err := pmd.Open(pc.Device)
	if err != nil {
		return nil, fmt.Errorf("%s.device: %w", key, err)
	}
	err = p.Configure(pmd.Config{
		Queues: pc.Queues, RxDesc: pc.RxDesc, TxDesc: pc.TxDesc, MTU: pc.MTU,
		Burst: cfg.Engine.Burst, ChecksumOffload: pc.ChecksumOffload, TrustedLink: pc.TrustedLink, Promiscuous: pc.Promiscuous,
		Pools: pools, RSS: prss,
	})
	if errors.Is(err, pmd.ErrQueues) {
		return p, fmt.Errorf("%s.queues: %w", key, err)
	}
	if err != nil {
		return p, fmt.Errorf("%s: %w", key, err)
	}
	return p, nil
}

// summary logs what is running, once.
func (s *stack) summary(cfg *config.Config) {
	for i, p := range s.ports {
		pc := cfg.Ports[i]
		link, _ := p.Link()
		s.log.Info("port", "port", i, "device", p.Devargs, "driver", p.Info.Driver, "mac", p.MAC.String(),
			"address", pc.Address.String(), "gateway", gatewayString(pc), "queues", pc.Queues,
			"rx_desc", pc.RxDesc, "tx_desc", pc.TxDesc, "mtu", pc.MTU, "offloads", p.OffloadNames(), "link", link.String())
		for _, n := range p.Notes {
			s.log.Info("port note", "port", i, "device", p.Devargs, "note", n)
		}
	}
	if len(cfg.EAL.Lcores) > 1 {
		s.log.Info("flow ownership", "key", cfg.RSS.Key, "reta_size", cfg.RSS.RETASize, "lcores", len(cfg.EAL.Lcores),
			"steering", "TCP packets arriving on another lcore than their owner's are handed over (steered_out/steered_in)")
	}
	for i, cpu := range cfg.EAL.Lcores {
		var qs []string
		for j := range s.ports {
			qs = append(qs, fmt.Sprintf("port%d/q%d", j, i))
		}
		s.log.Info("lcore map", "lcore", i, "cpu", cpu, "queues", strings.Join(qs, " "), "pool_mbufs", cfg.PoolMbufs())
	}
	for _, sv := range cfg.Services {
		s.log.Info("service", "kind", sv.Kind, "proto", sv.Proto, "port", sv.Port)
	}
	s.log.Info("idle", "mode", cfg.Engine.Idle, "after", cfg.Engine.IdleAfter, "sleep", cfg.Engine.IdleSleep.String())
}

func gatewayString(p config.Port) string {
	if !p.Gateway.IsValid() {
		return "none"
	}
	return p.Gateway.String()
}

// printStats logs each lcore's counters, their total and each port's
// device counters. Only non-zero counters are printed.
func (s *stack) printStats(msg string) {
	var total engine.Counters
	for i, l := range s.lcores {
		c := l.Counters()
		total.Add(&c)
		s.log.Info(msg, counterAttrs("lcore"+strconv.Itoa(i), &c)...)
	}
	s.log.Info(msg, counterAttrs("total", &total)...)
	var ttotal tcp.Counters
	conns := 0
	for i, l := range s.lcores {
		c, n := l.TCPCounters()
		conns += n
		for j := range c {
			ttotal[j] += c[j]
		}
		s.log.Info(msg, tcpAttrs("tcp"+strconv.Itoa(i), &c, n)...)
	}
	s.log.Info(msg, tcpAttrs("tcp_total", &ttotal, conns)...)
	for i, p := range s.ports {
		st, err := p.Stats()
		if err != nil {
			continue
		}
		s.log.Info(msg, "scope", "port"+strconv.Itoa(i), "rx_packets", st.RxPackets, "tx_packets", st.TxPackets,
			"rx_missed", st.RxMissed, "rx_errors", st.RxErrors, "tx_errors", st.TxErrors, "rx_nombuf", st.RxNoMbuf)
	}
}

func counterAttrs(scope string, c *engine.Counters) []any {
	attrs := []any{"scope", scope, "drops", c.Drops()}
	for i := engine.Counter(0); i < engine.NumCounters; i++ {
		if c[i] != 0 || i <= engine.TxBytes {
			attrs = append(attrs, i.String(), c[i])
		}
	}
	return attrs
}

func tcpAttrs(scope string, c *tcp.Counters, conns int) []any {
	attrs := []any{"scope", scope, "tcp_conns", conns}
	for i := tcp.Counter(0); i < tcp.NumCounters; i++ {
		if c[i] != 0 {
			attrs = append(attrs, i.String(), c[i])
		}
	}
	return attrs
}

// wrapQueue puts the port's capture and fault injector, if configured,
// around queue i: the capture next to the device, so that it records the
// wire's side of the faults, as tcpdump on the link would.
func (s *stack) wrapQueue(pc config.Port, port, i int, q dev.Queue) (dev.Queue, error) {
	if pc.Pcap != "" {
		name := pc.PcapFile(i, pc.Queues)
		f, err := os.Create(name)
		if err != nil {
			return nil, fmt.Errorf("port[%d].pcap: %w", port, err)
		}
		pq, err := dev.NewPcap(q, f, pc.PcapSnaplen, int64(pc.PcapLimitMB)<<20, func() int64 { return time.Now().UnixNano() })
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("port[%d].pcap: %w", port, err)
		}
		s.closers = append(s.closers, func() error { return errors.Join(pq.Close(), f.Close()) })
		pq.On.Store(pc.PcapStart)
		s.pcaps = append(s.pcaps, pq)
		s.log.Info("capture", "port", port, "queue", i, "file", name, "snaplen", pc.PcapSnaplen, "limit_mb", pc.PcapLimitMB, "recording", pc.PcapStart)
		q = pq
	}
	if fc := pc.Faults; fc != nil {
		fq := dev.NewFaults(q, dev.FaultConfig{Drop: fc.Drop, Duplicate: fc.Duplicate, Reorder: fc.Reorder, Corrupt: fc.Corrupt,
			RX: fc.Direction != "tx", TX: fc.Direction != "rx", Seed: uint64(fc.Seed) + uint64(i)})
		s.closers = append(s.closers, func() error { fq.Close(); return nil })
		if i == 0 {
			s.log.Warn("fault injection", "port", port, "drop", fc.Drop, "duplicate", fc.Duplicate, "reorder", fc.Reorder, "corrupt", fc.Corrupt, "direction", fc.Direction, "seed", fc.Seed)
		}
		q = fq
	}
	return q, nil
}

// switchCapture turns every port's capture on if any is off, else off
// (SIGUSR2).
func (s *stack) switchCapture() {
	if len(s.pcaps) == 0 {
		s.log.Warn("SIGUSR2 switches captures, and no port has a pcap file")
		return
	}
	on := false
	for _, p := range s.pcaps {
		on = on || !p.On.Load()
	}
	for _, p := range s.pcaps {
		p.On.Store(on)
	}
	s.log.Info("capture switched", "recording", on, "files", len(s.pcaps))
}

// teardown stops what serve started, in reverse order.
func (s *stack) teardown() error {
	s.stop.Store(true)
	for _, l := range s.eals {
		l.Wait()
	}
	for _, l := range s.lcores {
		l.Stopped() // packets steered to an lcore after its last poll
	}
	if len(s.eals) > 0 {
		s.printStats("final")
	}
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range s.ports {
		if err := p.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range s.pools {
		p.Free()
	}
	if s.eal {
		if err := eal.Cleanup(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
