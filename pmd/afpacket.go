package pmd

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ringDrops counts the frames the kernel dropped because an af_packet
// socket's RX ring was full. net_af_packet (DPDK 22.11) does not report
// them: its imissed stays 0 however many frames the kernel throws away
// in front of a busy lcore. The kernel counts them per socket
// (PACKET_STATISTICS, reset on each read), so the port finds the sockets
// the driver opened on its interface and adds what they report to
// rx_missed.
type ringDrops struct {
	mu    sync.Mutex
	fds   []int
	drops uint64
}

// Devarg is the value of key in devargs ("net_af_packet0,iface=pmd0",
// "iface" gives "pmd0"), and whether it is there.
func Devarg(devargs, key string) (string, bool) {
	_, args, _ := strings.Cut(devargs, ",")
	for _, kv := range strings.Split(args, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// afPacketIface is the iface of net_af_packet devargs, "" for other
// devices.
func afPacketIface(devargs string) string {
	if !strings.HasPrefix(devargs, "net_af_packet") {
		return ""
	}
	iface, _ := Devarg(devargs, "iface")
	return iface
}

// WithRingSize gives a net_af_packet device a socket ring of desc frames
// (framecnt) unless its devargs name one: the driver's own default, 512,
// ignores the queue's descriptor count, and a lcore that loses its CPU for
// a few milliseconds (to a flooder on the same CPU) lost a third of all
// frames in front of it. Other devargs are returned as they are.
func WithRingSize(devargs string, desc int) string {
	if _, given := Devarg(devargs, "framecnt"); afPacketIface(devargs) == "" || given || desc <= 0 {
		return devargs
	}
	return devargs + ",framecnt=" + strconv.Itoa(desc)
}

// openRingDrops finds this process's packet sockets bound to iface: the
// ones the driver opened (one per queue pair). pmd opens no other packet
// socket on it.
func openRingDrops(iface string) (*ringDrops, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	inodes, err := packetSocketInodes(ifi.Index)
	if err != nil {
		return nil, err
	}
	dir, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	r := &ringDrops{}
	for _, e := range dir {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		ino, ok := strings.CutPrefix(link, "socket:[")
		if !ok || !inodes[strings.TrimSuffix(ino, "]")] {
			continue
		}
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		r.fds = append(r.fds, fd)
	}
	if len(r.fds) == 0 {
		return nil, fmt.Errorf("no packet socket of this process on %s", iface)
	}
	return r, nil
}

// packetSocketInodes reads /proc/net/packet (this network namespace's
// packet sockets) for the inodes of those bound to the interface index.
func packetSocketInodes(index int) (map[string]bool, error) {
	f, err := os.Open("/proc/net/packet")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	inodes := map[string]bool{}
	s := bufio.NewScanner(f)
	s.Scan() // sk RefCnt Type Proto Iface R Rmem User Inode
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 9 {
			continue
		}
		if i, err := strconv.Atoi(f[4]); err == nil && i == index {
			inodes[f[8]] = true
		}
	}
	return inodes, s.Err()
}

// read adds what the sockets dropped since the last read and returns the
// total.
func (r *ringDrops) read() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, fd := range r.fds {
		if st, err := unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			r.drops += uint64(st.Drops)
		}
	}
	return r.drops
}

// close forgets the sockets: the driver closes them with the port, and
// their numbers may be reused.
func (r *ringDrops) close() {
	r.mu.Lock()
	r.fds = nil
	r.mu.Unlock()
}
