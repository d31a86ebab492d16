// Command flood sends attack traffic for pmd's reliability tests: a SYN
// flood from random (spoofed) sources and ports, or blind attacks on one
// connection (RFC 5961): resets and SYNs with random sequence numbers, and
// data with unacceptable acknowledgements. It writes whole Ethernet frames
// on a packet socket, in batches, as fast as it can or at a given rate,
// and always stops by itself (-duration, -count). Needs CAP_NET_RAW.
//
//	flood -i peer0 -to 198.18.0.1:7 -kind syn -from 198.18.0.0/24 -duration 5s
//	flood -i peer0 -to 198.18.0.1:7 -kind rst -from 198.18.0.2:41234 -duration 5s
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

const usage = `flood: attack traffic for pmd's tests, on a packet socket.

Usage:
  flood -i IFACE -to IP:PORT -kind KIND -from SRC [-duration D] [-count N] [-rate PPS] [-to-mac MAC]

Kinds:
  syn       SYNs from random addresses of the prefix SRC (an address alone
            is a /32) and random ports, with random sequence numbers
  rst       RSTs on the connection SRC (IP:PORT) -> IP:PORT, random sequence
            numbers (out of window, and now and then inside it)
  synest    SYNs on the connection SRC -> IP:PORT, random sequence numbers
  ack       64 bytes of data on the connection SRC -> IP:PORT with random
            sequence and acknowledgement numbers

It prints the frames sent and the rate, and stops after -duration
(default 5s) or -count frames, whichever comes first. The destination MAC
comes from the kernel's neighbour table (/proc/net/arp) unless -to-mac
gives it: reach the target once first (ping).
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	iface := fs.String("i", "", "interface")
	to := fs.String("to", "", "target IP:PORT")
	toMAC := fs.String("to-mac", "", "target MAC (default: from /proc/net/arp)")
	kind := fs.String("kind", "syn", "syn | rst | synest | ack")
	from := fs.String("from", "", "source prefix (syn) or IP:PORT (rst, synest, ack)")
	duration := fs.Duration("duration", 5*time.Second, "stop after this long")
	count := fs.Uint64("count", 0, "stop after this many frames (0: no limit)")
	rate := fs.Float64("rate", 0, "frames per second (0: as fast as possible)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *iface == "" || *to == "" || *from == "" {
		fs.Usage()
		return errors.New("-i, -to and -from are required")
	}
	if *duration <= 0 || *duration > 10*time.Minute {
		return errors.New("-duration must be within (0, 10m]")
	}
	dst, err := netip.ParseAddrPort(*to)
	if err != nil || !dst.Addr().Is4() {
		return fmt.Errorf("-to %q: want IPv4:PORT", *to)
	}
	ifc, err := net.InterfaceByName(*iface)
	if err != nil {
		return err
	}
	var dmac net.HardwareAddr
	if *toMAC != "" {
		dmac, err = net.ParseMAC(*toMAC)
	} else {
		dmac, err = arpLookup(dst.Addr(), *iface)
	}
	if err != nil {
		return err
	}
	g := &gen{kind: *kind, dst: dst, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15))}
	copy(g.smac[:], ifc.HardwareAddr)
	copy(g.dmac[:], dmac)
	switch *kind {
	case "syn":
		p, err := netip.ParsePrefix(*from)
		if err != nil {
			a, err2 := netip.ParseAddr(*from)
			if err2 != nil {
				return fmt.Errorf("-from %q: want a prefix or an address", *from)
			}
			p = netip.PrefixFrom(a, 32)
		}
		if !p.Addr().Is4() {
			return fmt.Errorf("-from %q: want IPv4", *from)
		}
		g.srcNet, _ = ipv4.AddrFromNetip(p.Masked().Addr())
		g.srcBits = 32 - p.Bits()
	case "rst", "synest", "ack":
		ap, err := netip.ParseAddrPort(*from)
		if err != nil || !ap.Addr().Is4() {
			return fmt.Errorf("-from %q: want IPv4:PORT of the connection's peer", *from)
		}
		g.srcNet, _ = ipv4.AddrFromNetip(ap.Addr())
		g.srcPort = ap.Port()
	default:
		return fmt.Errorf("-kind %q: want syn, rst, synest or ack", *kind)
	}

	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0) // send only: no protocol, nothing received
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	defer unix.Close(fd)
	// Past the queueing discipline: the frames go straight to the device.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index, Protocol: htons(unix.ETH_P_IP)}); err != nil {
		return fmt.Errorf("bind %s: %w", *iface, err)
	}

	const batch = 64
	frames := make([][]byte, batch)
	iov := make([]unix.Iovec, batch)
	msgs := make([]unix.Mmsghdr, batch)
	for i := range frames {
		frames[i] = make([]byte, 60+64)
		iov[i].Base = &frames[i][0]
		msgs[i].Hdr.Iov = &iov[i]
		msgs[i].Hdr.Iovlen = 1
	}
	start := time.Now()
	deadline := start.Add(*duration)
	var sent, failed uint64
	for time.Now().Before(deadline) && (*count == 0 || sent < *count) {
		n := batch
		if *count != 0 && *count-sent < batch {
			n = int(*count - sent)
		}
		if *rate > 0 {
			// Paced: no more than rate frames per second since the start.
			due := start.Add(time.Duration(float64(sent+uint64(n)) / *rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(min(d, time.Until(deadline)))
				if !time.Now().Before(deadline) {
					break
				}
			}
		}
		for i := 0; i < n; i++ {
			l := g.frame(frames[i])
			iov[i].SetLen(l)
		}
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(n), 0, 0, 0)
		if e != 0 {
			if e == unix.ENOBUFS || e == unix.EAGAIN {
				failed += uint64(n)
				continue // the device's queue is full: try again
			}
			return fmt.Errorf("sendmmsg: %w", e)
		}
		sent += uint64(r)
		failed += uint64(n) - uint64(r)
	}
	el := time.Since(start).Seconds()
	fmt.Printf("flood kind=%s sent=%d not_sent=%d seconds=%.2f rate=%.0f\n", *kind, sent, failed, el, float64(sent)/el)
	return nil
}

// gen builds the frames of one kind.
type gen struct {
	kind       string
	dst        netip.AddrPort
	smac, dmac ipv4.MAC
	srcNet     ipv4.Addr
	srcBits    int
	srcPort    uint16
	rng        *rand.Rand
	id         uint16
}

// frame writes the next frame into b and returns its length.
func (g *gen) frame(b []byte) int {
	src, sport := g.srcNet, g.srcPort
	if g.kind == "syn" {
		if g.srcBits > 0 {
			host := ipv4.Addr(g.rng.Uint32()) & (1<<g.srcBits - 1)
			if host == 0 || host == 1<<g.srcBits-1 {
				host = 2 // neither the network nor the broadcast address
			}
			src = g.srcNet | host
		}
		sport = uint16(1024 + g.rng.IntN(65536-1024))
	}
	dst, _ := ipv4.AddrFromNetip(g.dst.Addr())
	seq := tcp.Seq(g.rng.Uint32())
	var ack tcp.Seq
	flags := tcp.FlagSYN
	hlen, payload := 24, 0 // a SYN carries an MSS option
	switch g.kind {
	case "rst":
		flags, hlen = tcp.FlagRST, 20
	case "ack":
		flags, hlen, payload = tcp.FlagACK|tcp.FlagPSH, 20, 64
		ack = tcp.Seq(g.rng.Uint32())
	}
	clear(b)
	eth := ipv4.Ethernet(b)
	eth.SetDst(g.dmac)
	eth.SetSrc(g.smac)
	eth.SetType(ipv4.EtherTypeIPv4)
	g.id++
	ipv4.IPv4Repr{Src: src, Dst: dst, Protocol: ipv4.ProtoTCP, TTL: 64, ID: g.id, DontFragment: true,
		PayloadLen: hlen + payload}.Encode(eth.Payload(), ipv4.ChecksumCaps{})
	h := tcp.Header(eth.Payload()[ipv4.IPv4MinHeaderLen : ipv4.IPv4MinHeaderLen+hlen+payload])
	h.SetSrcPort(sport)
	h.SetDstPort(g.dst.Port())
	h.SetSeq(seq)
	h.SetAck(ack)
	h.SetHeaderLen(hlen)
	h.SetFlags(flags)
	h.SetWindow(64240)
	if hlen == 24 {
		copy(h[20:], []byte{2, 4, 0x05, 0xb4}) // MSS 1460
	}
	h.ComputeChecksum(src, dst)
	return max(60, ipv4.EthernetHeaderLen+ipv4.IPv4MinHeaderLen+hlen+payload)
}

// arpLookup finds addr's MAC in the kernel's neighbour table.
func arpLookup(addr netip.Addr, iface string) (net.HardwareAddr, error) {
	f, err := os.Open("/proc/net/arp")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// IP address, HW type, Flags, HW address, Mask, Device
		fl := strings.Fields(sc.Text())
		if len(fl) == 6 && fl[0] == addr.String() && fl[5] == iface && fl[2] != "0x0" {
			return net.ParseMAC(fl[3])
		}
	}
	return nil, fmt.Errorf("no MAC for %s on %s in /proc/net/arp: reach it first (ping), or give -to-mac", addr, iface)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
