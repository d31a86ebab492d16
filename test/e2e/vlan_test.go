package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pmdstack/pmd/ipv4"
	"github.com/pmdstack/pmd/tcp"
)

// TestVLAN: two 802.1Q VLANs on one veth beside its untagged link,
// [[port.vlan]] 100 and 200 on pmd's side, each with a network of its
// own. This kernel has no 802.1Q sub-interfaces (nor bridges), so the
// kernel's side of each VLAN is a host the test plays on a packet socket
// on the peer's veth, with the tag in the frame: it resolves pmd's
// address on its VLAN (ARP), pings it, has a UDP datagram echoed and a
// TCP connection echo a message, every answer tagged for its VLAN. pmd's
// address of the other VLAN, or of the untagged link, asked on a VLAN is
// not answered (drop_arp_not_ours, drop_ip_not_ours), nor is a VLAN pmd
// does not have (drop_vlan_unknown); the kernel's untagged link goes on
// working (ping, UDP and TCP echo). Once with the device stripping and
// inserting tags (net_af_packet does, with the kernel's help), once with
// both done in software (vlan_software).
func TestVLAN(t *testing.T) {
	tp := newTopo(t, 53)
	vlans := []vlanHost{
		{vid: 100, pmd: mustAddr(t, "198.18.153.1"), local: mustAddr(t, "198.18.153.2")},
		{vid: 200, pmd: mustAddr(t, "198.18.253.1"), local: mustAddr(t, "198.18.253.2")},
	}
	pmdMAC := mustMAC(t, regexp.MustCompile(`link/ether (\S+)`).FindStringSubmatch(run(t, "ip", "-n", tp.pmdNS, "link", "show", tp.pmdIf))[1])
	peerMAC := mustMAC(t, regexp.MustCompile(`link/ether (\S+)`).FindStringSubmatch(run(t, "ip", "-n", tp.peerNS, "link", "show", tp.peerIf))[1])
	for _, software := range []bool{false, true} {
		t.Run(fmt.Sprintf("software=%v", software), func(t *testing.T) {
			ports := fmt.Sprintf("vlan_software = %v", software)
			for _, v := range vlans {
				ports += fmt.Sprintf("\n[[port.vlan]]\nid = %d\naddress = \"%s/24\"", v.vid, v.pmd)
			}
			p := tp.startPMD(setPortKey(tp.conf("[0]", 1, "\n[[service]]\nkind = \"echo\"\nport = 7\n"), ports))
			err := tp.inPeerNS(func() error {
				w, err := openWire(tp.peerIf, peerMAC, pmdMAC)
				if err != nil {
					return err
				}
				defer unix.Close(w.fd)
				for i, v := range vlans {
					if err := w.serve(v, 40000+uint16(i)+uint16(map[bool]int{true: 10}[software])); err != nil {
						return fmt.Errorf("VLAN %d: %w", v.vid, err)
					}
				}
				// The wrong link for an address: no answer.
				other := vlans[1]
				other.vid = 100
				if err := w.silent(other); err != nil {
					return fmt.Errorf("VLAN 200's address on VLAN 100: %w", err)
				}
				if err := w.silent(vlanHost{vid: 0, pmd: vlans[0].pmd, local: mustAddr(t, tp.peerAddr)}); err != nil {
					return fmt.Errorf("VLAN 100's address untagged: %w", err)
				}
				if err := w.silent(vlanHost{vid: 300, pmd: vlans[0].pmd, local: vlans[0].local}); err != nil {
					return fmt.Errorf("VLAN 300: %w", err)
				}
				return nil
			})
			if err != nil {
				out := p.stop(t)
				t.Fatalf("%v; counters: %v", err, finalCounters(t, out, "total"))
			}
			// The untagged link, through the kernel's own stack.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if out, err := tp.peer(ctx, "ping", "-c", "5", "-i", "0.01", "-W", "2", tp.pmdAddr); err != nil || !strings.Contains(out, "5 received") {
				t.Fatalf("ping %s: %v\n%s", tp.pmdAddr, err, out)
			}
			udpEcho(t, tp, 7, 20, 1)
			c, err := tp.dial(7)
			if err != nil {
				t.Fatal(err)
			}
			err = echoKeep(c, 256<<10, 3)
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			out := p.stop(t)
			fc := finalCounters(t, out, "total")
			t.Logf("vlan_rx_packets %d, drop_arp_not_ours %d, drop_ip_not_ours %d, drop_vlan_unknown %d, drop_vlan_insert %d",
				fc["vlan_rx_packets"], fc["drop_arp_not_ours"], fc["drop_ip_not_ours"], fc["drop_vlan_unknown"], fc["drop_vlan_insert"])
			// Per VLAN: ARP, ping, UDP, SYN, data, RST. The silent checks:
			// an ARP request and a ping each, on VLAN 100 (ours, not
			// answered), untagged, and VLAN 300 (unknown).
			if fc["vlan_rx_packets"] < 2*6+2 || fc["drop_arp_not_ours"] < 2 || fc["drop_ip_not_ours"] < 2 || fc["drop_vlan_unknown"] < 2 || fc["drop_vlan_insert"] != 0 {
				t.Errorf("counters: %v", fc)
			}
			want := "strip device, insert device"
			if software {
				want = "strip software, insert software"
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, `msg="port vlan"`) {
					t.Log(line)
					if !strings.Contains(line, `tags="`+want+`"`) {
						t.Errorf("summary: want tags=%q", want)
					}
				}
			}
		})
	}
}

func mustAddr(t *testing.T, s string) ipv4.Addr {
	a, err := ipv4.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustMAC(t *testing.T, s string) ipv4.MAC {
	m, err := ipv4.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// vlanHost is a host on VLAN vid (0: untagged) at local, and pmd's
// address pmd it talks to.
type vlanHost struct {
	vid        uint16
	pmd, local ipv4.Addr
}

// wire is a packet socket on the peer's veth that sends and receives
// frames with their 802.1Q tags.
type wire struct {
	fd       int
	ifindex  int
	us, them ipv4.MAC
	buf, oob []byte
	ipID     uint16
}

func openWire(ifname string, us, them ipv4.MAC) (*wire, error) {
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	proto := int(binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, unix.ETH_P_ALL))) // htons
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto)
	if err != nil {
		return nil, err
	}
	w := &wire{fd: fd, ifindex: ifc.Index, us: us, them: them, buf: make([]byte, 4096), oob: make([]byte, 256)}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifc.Index}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// The kernel takes a received tag out of the frame: it is in the
	// auxiliary data.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		unix.Close(fd)
		return nil, err
	}
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return w, nil
}

// send sends an Ethernet payload of type typ to pmd (or broadcast), tagged
// for vid.
func (w *wire) send(vid uint16, dst ipv4.MAC, typ uint16, payload []byte) error {
	f := append([]byte{}, dst[:]...)
	f = append(f, w.us[:]...)
	if vid != 0 {
		f = binary.BigEndian.AppendUint16(f, 0x8100)
		f = binary.BigEndian.AppendUint16(f, vid)
	}
	f = binary.BigEndian.AppendUint16(f, typ)
	f = append(f, payload...)
	return unix.Sendto(w.fd, f, 0, &unix.SockaddrLinklayer{Ifindex: w.ifindex})
}

// recv waits up to d for a frame from pmd matching keep and returns its
// VLAN (0: untagged) and its untagged bytes.
func (w *wire) recv(d time.Duration, keep func(typ uint16, payload []byte) bool) (uint16, ipv4.Ethernet, error) {
	end := time.Now().Add(d)
	seen, fromPMD := 0, 0
	for time.Now().Before(end) {
		n, oobn, _, _, err := unix.Recvmsg(w.fd, w.buf, w.oob, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		f := w.buf[:n]
		seen++
		if n < 14 || !bytes.Equal(f[6:12], w.them[:]) {
			continue
		}
		fromPMD++
		var vid uint16
		cms, _ := unix.ParseSocketControlMessage(w.oob[:oobn])
		for _, cm := range cms {
			// struct tpacket_auxdata: status, len, snaplen (u32), mac,
			// net, vlan_tci, vlan_tpid (u16).
			if cm.Header.Level == unix.SOL_PACKET && cm.Header.Type == unix.PACKET_AUXDATA && len(cm.Data) >= 20 {
				if binary.NativeEndian.Uint32(cm.Data)&unix.TP_STATUS_VLAN_VALID != 0 {
					vid = binary.NativeEndian.Uint16(cm.Data[16:]) & 0xfff
				}
			}
		}
		if binary.BigEndian.Uint16(f[12:]) == 0x8100 && n >= 18 { // left in the frame
			vid = binary.BigEndian.Uint16(f[14:]) & 0xfff
			f = append(f[:12:12], f[16:]...)
		}
		eth := ipv4.Ethernet(f)
		if keep(eth.Type(), eth.Payload()) {
			return vid, eth, nil
		}
	}
	return 0, nil, fmt.Errorf("no answer (%d frames seen, %d from pmd)", seen, fromPMD)
}

func (w *wire) arpRequest(h vlanHost) error {
	a := make([]byte, ipv4.ARPLen)
	ipv4.ARPRepr{Op: ipv4.ARPRequest, SenderMAC: w.us, SenderAddr: h.local, TargetAddr: h.pmd}.Encode(a)
	return w.send(h.vid, ipv4.BroadcastMAC, ipv4.EtherTypeARP, a)
}

func isARPReply(h vlanHost) func(uint16, []byte) bool {
	return func(typ uint16, p []byte) bool {
		a := ipv4.ARP(p)
		return typ == ipv4.EtherTypeARP && a.Check() == nil && a.Op() == ipv4.ARPReply && a.SenderAddr() == h.pmd && a.TargetAddr() == h.local
	}
}

// sendIP sends an IPv4 packet from h.local to h.pmd.
func (w *wire) sendIP(h vlanHost, proto uint8, payload []byte) error {
	p := make([]byte, ipv4.IPv4MinHeaderLen+len(payload))
	w.ipID++
	ipv4.IPv4Repr{Src: h.local, Dst: h.pmd, Protocol: proto, TTL: 64, ID: w.ipID, PayloadLen: len(payload)}.Encode(p, ipv4.ChecksumCaps{})
	copy(p[ipv4.IPv4MinHeaderLen:], payload)
	return w.send(h.vid, w.them, ipv4.EtherTypeIPv4, p)
}

// isIP keeps IPv4 packets from h.pmd to h.local of proto that pass match.
func isIP(h vlanHost, proto uint8, match func(payload []byte) bool) func(uint16, []byte) bool {
	return func(typ uint16, p []byte) bool {
		ip := ipv4.IPv4(p)
		return typ == ipv4.EtherTypeIPv4 && ip.Check() == nil && ip.ChecksumValid() && ip.Src() == h.pmd && ip.Dst() == h.local && ip.Protocol() == proto && match(ip.Payload())
	}
}

func echoRequest(seq uint16) []byte {
	ic := ipv4.ICMP(make([]byte, ipv4.ICMPHeaderLen+8))
	ic.SetType(ipv4.ICMPEchoRequest)
	ic.SetIdent(0x4242)
	ic.SetSeq(seq)
	copy(ic.Payload(), "vlantest")
	ic.ComputeChecksum()
	return ic
}

func isEchoReply(seq uint16) func([]byte) bool {
	return func(p []byte) bool {
		ic := ipv4.ICMP(p)
		return ic.Check() == nil && ic.Type() == ipv4.ICMPEchoReply && ic.Seq() == seq && ic.ChecksumValid()
	}
}

// expect waits for a frame matching keep and checks it came on h's VLAN.
func (w *wire) expect(h vlanHost, what string, keep func(uint16, []byte) bool) (ipv4.Ethernet, error) {
	vid, eth, err := w.recv(2*time.Second, keep)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if vid != h.vid {
		return nil, fmt.Errorf("%s: answered on VLAN %d, not %d", what, vid, h.vid)
	}
	return eth, nil
}

// serve runs ARP, ping, a UDP echo and a TCP echo (from local port sport)
// with pmd's address on h's VLAN.
func (w *wire) serve(h vlanHost, sport uint16) error {
	if err := w.arpRequest(h); err != nil {
		return err
	}
	if _, err := w.expect(h, "ARP", isARPReply(h)); err != nil {
		return err
	}
	if err := w.sendIP(h, ipv4.ProtoICMP, echoRequest(1)); err != nil {
		return err
	}
	if _, err := w.expect(h, "ping", isIP(h, ipv4.ProtoICMP, isEchoReply(1))); err != nil {
		return err
	}
	msg := []byte(fmt.Sprintf("datagram on VLAN %d", h.vid))
	u := make([]byte, ipv4.UDPHeaderLen+len(msg))
	copy(u[ipv4.UDPHeaderLen:], msg)
	ipv4.UDPRepr{SrcPort: sport, DstPort: 7, PayloadLen: len(msg)}.Encode(u, h.local, h.pmd, ipv4.ChecksumCaps{})
	if err := w.sendIP(h, ipv4.ProtoUDP, u); err != nil {
		return err
	}
	if _, err := w.expect(h, "UDP echo", isIP(h, ipv4.ProtoUDP, func(p []byte) bool {
		r := ipv4.UDP(p)
		return r.Check() == nil && r.DstPort() == sport && bytes.Equal(r.Payload(), msg) && r.ChecksumValid(h.pmd, h.local)
	})); err != nil {
		return err
	}
	return w.tcpEcho(h, sport)
}

// tcpEcho opens a connection to pmd's echo (port 7), sends a message,
// expects it back and resets the connection.
func (w *wire) tcpEcho(h vlanHost, sport uint16) error {
	const isn = 1000
	seg := func(seq, ack uint32, flags tcp.Flags, data []byte) error {
		s := tcp.Header(make([]byte, 20+len(data)))
		s.SetSrcPort(sport)
		s.SetDstPort(7)
		s.SetSeq(tcp.Seq(seq))
		s.SetAck(tcp.Seq(ack))
		s.SetHeaderLen(20)
		s.SetFlags(flags)
		s.SetWindow(65535)
		copy(s[20:], data)
		s.ComputeChecksum(h.local, h.pmd)
		return w.sendIP(h, ipv4.ProtoTCP, s)
	}
	fromPMD := func(match func(tcp.Header) bool) func(uint16, []byte) bool {
		return isIP(h, ipv4.ProtoTCP, func(p []byte) bool {
			s := tcp.Header(p)
			return len(s) >= 20 && s.DstPort() == sport && s.ChecksumValid(h.pmd, h.local) && match(s)
		})
	}
	if err := seg(isn, 0, tcp.FlagSYN, nil); err != nil {
		return err
	}
	eth, err := w.expect(h, "SYN-ACK", fromPMD(func(s tcp.Header) bool { return s.Flags()&(tcp.FlagSYN|tcp.FlagACK) == tcp.FlagSYN|tcp.FlagACK }))
	if err != nil {
		return err
	}
	their := uint32(tcp.Header(ipv4.IPv4(eth.Payload()).Payload()).Seq()) + 1
	msg := []byte(fmt.Sprintf("a TCP message on VLAN %d", h.vid))
	if err := seg(isn+1, their, tcp.FlagACK|tcp.FlagPSH, msg); err != nil {
		return err
	}
	if _, err := w.expect(h, "TCP echo", fromPMD(func(s tcp.Header) bool { return bytes.Equal(s.Payload(), msg) })); err != nil {
		return err
	}
	return seg(isn+1+uint32(len(msg)), 0, tcp.FlagRST, nil)
}

// silent asks for pmd's address h.pmd on h's link (ARP, then a ping to
// pmd's MAC) and expects no answer.
func (w *wire) silent(h vlanHost) error {
	if err := w.arpRequest(h); err != nil {
		return err
	}
	if err := w.sendIP(h, ipv4.ProtoICMP, echoRequest(9)); err != nil {
		return err
	}
	answer := func(typ uint16, p []byte) bool {
		return isARPReply(h)(typ, p) || isIP(h, ipv4.ProtoICMP, isEchoReply(9))(typ, p)
	}
	if vid, _, err := w.recv(500*time.Millisecond, answer); err == nil {
		return fmt.Errorf("answered (on VLAN %d)", vid)
	}
	return nil
}
