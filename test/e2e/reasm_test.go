package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// reasmSizes are the UDP payloads TestReassembly sends: one frame, the
// edges of two, many, and the largest IPv4 allows.
var reasmSizes = []int{1, 548, 549, 1472, 1473, 2000, 2944, 2945, 9000, 30000, 65000, 65507}

// startTapPMD starts pmd with its port on a TAP device whose kernel side
// is moved into the peer's namespace (as the peer's interface, with the
// peer's address, at mtu), so that pmd receives the frames the kernel
// sends as they are: net_af_packet's sockets have the kernel reassemble
// fragments first.
func (tp *topo) startTapPMD(t *testing.T, mtu int, extra string) *proc {
	tap := "pmdt" + tp.pmdIf[len("pmdv"):]
	conf := strings.Replace(tp.conf("[0]", 1, extra), "net_af_packet0,iface="+tp.pmdIf, "net_tap0,iface="+tap, 1)
	p := tp.startPMD(setPortKey(conf, fmt.Sprintf("mtu = %d", mtu)))
	run(t, "ip", "-n", tp.pmdNS, "link", "set", tap, "netns", tp.peerNS)
	run(t, "ip", "netns", "exec", tp.peerNS, "sysctl", "-qw", "net.ipv6.conf."+tap+".disable_ipv6=1")
	run(t, "ip", "-n", tp.peerNS, "link", "set", tp.peerIf, "down")
	run(t, "ip", "-n", tp.peerNS, "addr", "flush", "dev", tp.peerIf)
	run(t, "ip", "-n", tp.peerNS, "addr", "add", tp.peerAddr+"/24", "dev", tap)
	run(t, "ip", "-n", tp.peerNS, "link", "set", tap, "mtu", strconv.Itoa(mtu), "up")
	return p
}

// dropsOf lists the non-zero drop counters of a final counter line but
// drop_eth_not_ours: the kernel's TAP sends to multicast groups.
func dropsOf(c map[string]uint64) []string {
	var drops []string
	for k, v := range c {
		if strings.HasPrefix(k, "drop_") && k != "drop_eth_not_ours" && v > 0 {
			drops = append(drops, fmt.Sprintf("%s=%d", k, v))
		}
	}
	return drops
}

// TestReassembly: the kernel sends UDP datagrams from 1 to 65,507 bytes
// over a 1500-byte and a 576-byte path; pmd reassembles each, echoes it
// in fragments, and the kernel gets every one back intact.
func TestReassembly(t *testing.T) {
	for _, mtu := range []int{1500, 576} {
		t.Run(strconv.Itoa(mtu), func(t *testing.T) {
			tp := newTopo(t, 48)
			p := tp.startTapPMD(t, mtu, "")
			if err := udpEchoSizes(tp, reasmSizes, uint64(mtu)); err != nil {
				t.Fatal(err)
			}
			c := finalCounters(t, p.stop(t), "total")
			t.Logf("mtu %d: ip_frags_in %d ip_reassembled %d ip_frags_out %d ip_fragmented %d drops %d", mtu, c["ip_frags_in"], c["ip_reassembled"], c["ip_frags_out"], c["ip_fragmented"], c["drops"])
			want := 0
			for _, n := range reasmSizes {
				if 20+8+n > mtu {
					want++
				}
			}
			if drops := dropsOf(c); c["ip_reassembled"] != uint64(want) || c["ip_fragmented"] != uint64(want) || len(drops) > 0 {
				t.Errorf("ip_reassembled %d, ip_fragmented %d, drops %v; want %d datagrams reassembled and echoed in fragments, nothing dropped",
					c["ip_reassembled"], c["ip_fragmented"], drops, want)
			}
		})
	}
}

// fragSender sends hand-made IPv4 fragments of UDP datagrams from the
// peer's namespace through a raw socket.
type fragSender struct {
	fd       int
	src, dst [4]byte
}

func (tp *topo) newFragSender(t *testing.T) *fragSender {
	var fs fragSender
	err := tp.inPeerNS(func() (err error) {
		fs.fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fs.fd) })
	copy(fs.src[:], net.ParseIP(tp.peerAddr).To4())
	copy(fs.dst[:], net.ParseIP(tp.pmdAddr).To4())
	return &fs
}

// send sends one fragment: data at byte offset off (a multiple of 8) of
// datagram id, more fragments following if mf.
func (fs *fragSender) send(id uint16, off int, mf bool, data []byte) error {
	p := make([]byte, 20+len(data))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:], id)
	fo := uint16(off / 8)
	if mf {
		fo |= 0x2000
	}
	binary.BigEndian.PutUint16(p[6:], fo)
	p[8], p[9] = 64, unix.IPPROTO_UDP
	copy(p[12:], fs.src[:])
	copy(p[16:], fs.dst[:])
	binary.BigEndian.PutUint16(p[10:], ipChecksum(p[:20]))
	copy(p[20:], data)
	return unix.Sendto(fs.fd, p, 0, &unix.SockaddrInet4{Addr: fs.dst})
}

// TestFragmentAttacks: against pmd's reassembly, from the peer, with a
// one-second reassembly timeout: a duplicate fragment is dropped alone and
// its datagram still completes; overlapping fragments drop the datagram;
// a datagram missing a fragment times out; and a flood of 20,000 first
// fragments with random identifications, never completed, is bounded by
// the datagrams-in-progress limit (the oldest are evicted) while the
// kernel's fragmented echoes are all served.
func TestFragmentAttacks(t *testing.T) {
	tp := newTopo(t, 48)
	p := tp.startTapPMD(t, 1500, "\n[ip]\nfrag_timeout = \"1s\"\nfrag_datagrams = 64\n")
	fs := tp.newFragSender(t)
	// A UDP datagram to the discard port, 1600 bytes: its header (the
	// checksum 0, none) and data.
	udp := make([]byte, 8+1592)
	binary.BigEndian.PutUint16(udp[0:], 4000)
	binary.BigEndian.PutUint16(udp[2:], 9)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// The peer learns pmd's MAC first: the kernel holds packets for an
	// unresolved neighbour in a short queue that drops the oldest.
	if err := udpEchoSizes(tp, []int{10}, 8); err != nil {
		t.Fatal(err)
	}
	// Duplicate: the first fragment twice, then the last.
	must(fs.send(1, 0, true, udp[:800]))
	must(fs.send(1, 0, true, udp[:800]))
	must(fs.send(1, 800, false, udp[800:]))
	// Overlap: the second fragment starts 8 bytes inside the first.
	must(fs.send(2, 0, true, udp[:800]))
	must(fs.send(2, 792, false, udp[792:]))
	// Missing: the last fragment never comes.
	must(fs.send(3, 0, true, udp[:800]))

	time.Sleep(100 * time.Millisecond)

	// The flood, bounded in count and time, beside fragmented echoes:
	// 20,000 identifications, each used once, at about 5,000 a second
	// (faster, the TAP's queue in the kernel overflows and drops the
	// echoes before pmd sees them).
	done := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for i := 0; i < 20000 && time.Now().Before(deadline); i++ {
			if err := fs.send(uint16(100+i), 0, true, udp[:1000]); err != nil {
				done <- err
				return
			}
			if i%50 == 49 {
				time.Sleep(10 * time.Millisecond)
			}
		}
		done <- nil
	}()
	if err := udpEchoSizes(tp, []int{3000, 9000, 30000, 3000, 9000, 30000}, 9); err != nil {
		t.Errorf("fragmented echoes during the flood: %v", err)
	}
	must(<-done)
	if err := udpEchoSizes(tp, []int{2000, 65507}, 10); err != nil {
		t.Errorf("fragmented echoes after the flood: %v", err)
	}
	time.Sleep(1500 * time.Millisecond) // the incomplete datagrams time out
	c := finalCounters(t, p.stop(t), "total")
	t.Logf("ip_frags_in %d ip_reassembled %d drop_frag_duplicate %d drop_frag_overlap %d drop_frag_timeout %d drop_frag_full %d drop_frag_memory %d udp_discarded %d",
		c["ip_frags_in"], c["ip_reassembled"], c["drop_frag_duplicate"], c["drop_frag_overlap"], c["drop_frag_timeout"], c["drop_frag_full"], c["drop_frag_memory"], c["udp_discarded"])
	if c["drop_frag_duplicate"] != 1 || c["drop_frag_overlap"] != 1 || c["drop_frag_timeout"] == 0 || c["drop_frag_full"] < 10000 || c["udp_discarded"] < 1 {
		t.Errorf("want one duplicate, one overlap, timeouts, the flood evicted by drop_frag_full and the duplicated datagram discarded")
	}
}
