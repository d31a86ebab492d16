package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// fragSizes are the UDP payloads TestFragEcho sends: the edges of one
// frame on each path, and the largest datagram net_af_packet passes whole
// (its 2,048-byte frames less the ring's own header).
var fragSizes = []int{0, 1, 100, 547, 548, 549, 1000, 1471, 1472, 1473, 1700, 1900}

// udpEchoSizes sends a datagram of each size to the echo port, one at a
// time, and checks each reply byte for byte.
func udpEchoSizes(tp *topo, sizes []int, seed uint64) error {
	_, err := udpEchoTo(tp, 7, sizes, rand.New(rand.NewPCG(seed, 1)))
	return err
}

// TestFragEcho: the kernel sends UDP datagrams over a 1500-byte and a
// 576-byte path (both ends' MTU) and pmd echoes each, splitting every
// echo longer than the path into fragments; the kernel gets them back
// intact.
//
// What pmd receives here is not what the kernel sent: DPDK's
// net_af_packet joins its sockets in a fanout group with
// PACKET_FANOUT_FLAG_DEFRAG, so the kernel of pmd's namespace reassembles
// fragments before pmd sees them (up to its own bounds), and a datagram
// longer than the device's 2,048-byte frames arrives truncated and is
// dropped (drop_ip_bad). So this test covers pmd's fragmentation on
// transmit and datagrams up to 1,900 bytes; pmd's reassembly is covered
// by TestReassembly (on net_tap) and the engine's and frag's tests.
func TestFragEcho(t *testing.T) {
	for _, mtu := range []int{1500, 576} {
		t.Run(strconv.Itoa(mtu), func(t *testing.T) {
			tp := newTopo(t, 47)
			run(t, "ip", "-n", tp.pmdNS, "link", "set", tp.pmdIf, "mtu", strconv.Itoa(mtu))
			run(t, "ip", "-n", tp.peerNS, "link", "set", tp.peerIf, "mtu", strconv.Itoa(mtu))
			p := tp.startPMD(setPortKey(tp.conf("[0]", 1, ""), fmt.Sprintf("mtu = %d", mtu)))
			if err := udpEchoSizes(tp, fragSizes, uint64(mtu)); err != nil {
				t.Fatal(err)
			}
			// And pings longer than the path.
			out, err := tp.peer(t.Context(), "ping", "-c", "3", "-i", "0.2", "-W", "2", "-s", "1800", tp.pmdAddr)
			if err != nil {
				t.Fatalf("ping -s 1800: %v\n%s", err, out)
			}
			c := finalCounters(t, p.stop(t), "total")
			t.Logf("mtu %d: ip_frags_in %d ip_reassembled %d ip_frags_out %d ip_fragmented %d drops %d", mtu, c["ip_frags_in"], c["ip_reassembled"], c["ip_frags_out"], c["ip_fragmented"], c["drops"])
			// Over 1500 bytes: 1473, 1700, 1900 and the pings; over 576
			// all from 549 bytes on.
			want := uint64(6)
			if mtu == 576 {
				want = 10
			}
			if c["ip_fragmented"] != want || c["drops"] != 0 {
				t.Errorf("counters %v: want ip_fragmented %d, no drops", c, want)
			}
		})
	}
}

// setPortKey adds a key to the [[port]] table of a configuration made by
// topo.conf.
func setPortKey(conf, kv string) string {
	const at = "queues = "
	i := bytes.Index([]byte(conf), []byte(at))
	j := i + bytes.IndexByte([]byte(conf[i:]), '\n')
	return conf[:j+1] + kv + "\n" + conf[j+1:]
}
