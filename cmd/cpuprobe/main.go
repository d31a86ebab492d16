// Command cpuprobe measures what this machine's CPUs cost each other,
// without pmd: how long one cache line takes to go from one CPU to the
// other and back, how fast one CPU copies frame-sized blocks within its
// own memory, and how fast frames written on one CPU are copied out on the
// other through a ring (what net_memif and any pair of pollers pay per
// frame). scripts/bench prints it beside its figures, so that a run shows
// the state of the CPUs it met: on a virtual machine the cross-CPU
// figures move with where the host runs the two vCPUs (here a cache
// line's hand-over flips between about 55 and 250 ns from one second to
// the next), which nothing in the guest shows otherwise.
//
//	cpuprobe -a 0 -b 1 -duration 1s
//	cpuprobe -copies=false -duration 200ms
//
// It prints one line: RESULT pingpong_ns=... local_gbit=... cross_gbit=...
// (the time of one hand-over, one way; the copies' rates).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	a := flag.Int("a", 0, "the first CPU")
	b := flag.Int("b", 1, "the second CPU")
	d := flag.Duration("duration", time.Second, "time per measurement (one each)")
	frame := flag.Int("frame", 1514, "bytes per block copied")
	copies := flag.Bool("copies", true, "measure the copies too (false: the cache line's hand-over alone)")
	flag.Parse()
	if *a == *b || *d <= 0 || *frame <= 0 || *frame > 1<<16 {
		fmt.Fprintln(os.Stderr, "cpuprobe: -a and -b must differ; -duration and -frame (at most 64 KiB) above 0")
		os.Exit(2)
	}
	pp, err := pingPong(*a, *b, *d)
	check(err)
	if !*copies {
		fmt.Printf("RESULT pingpong_ns=%.1f cpus=%d,%d\n", pp, *a, *b)
		return
	}
	local, err := localCopy(*a, *frame, *d)
	check(err)
	cross, err := crossCopy(*a, *b, *frame, *d)
	check(err)
	fmt.Printf("RESULT pingpong_ns=%.1f local_gbit=%.1f cross_gbit=%.1f frame=%d cpus=%d,%d\n", pp, local, cross, *frame, *a, *b)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpuprobe:", err)
		os.Exit(1)
	}
}

// pin locks the calling goroutine to its thread and the thread to cpu.
func pin(cpu int) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("CPU %d: %w", cpu, err)
	}
	return nil
}

// line is one cache line of its own.
type line struct {
	_ [64]byte
	v atomic.Uint64
	_ [56]byte
}

// pingPong is the time in ns of one hand-over of a cache line between
// the CPUs: each side waits for the other's count and writes the next.
func pingPong(a, b int, d time.Duration) (float64, error) {
	var l line
	var stop atomic.Bool
	errc := make(chan error, 1)
	go func() {
		if err := pin(b); err != nil {
			errc <- err
			stop.Store(true)
			return
		}
		errc <- nil
		for n := uint64(1); !stop.Load(); n += 2 {
			for l.v.Load() != n {
				if stop.Load() {
					return
				}
			}
			l.v.Store(n + 1)
		}
	}()
	if err := pin(a); err != nil {
		return 0, err
	}
	defer runtime.UnlockOSThread()
	if err := <-errc; err != nil {
		return 0, err
	}
	start := time.Now()
	n := uint64(0)
	for time.Since(start) < d {
		for range 1024 {
			l.v.Store(n + 1)
			for l.v.Load() != n+2 {
			}
			n += 2
		}
	}
	el := time.Since(start)
	stop.Store(true)
	return float64(el.Nanoseconds()) / float64(n), nil
}

// ringBytes is the ring of frames both copies go through: as large as
// net_memif's 1,024 slots of 2 KiB, far beyond one CPU's L2.
const ringBytes = 1024 * 2048

// localCopy is the rate in Gbit/s of copying frame-sized blocks into a
// ring and out of it again, both on CPU a.
func localCopy(a, frame int, d time.Duration) (float64, error) {
	if err := pin(a); err != nil {
		return 0, err
	}
	defer runtime.UnlockOSThread()
	ring := make([]byte, ringBytes)
	src, dst := make([]byte, frame), make([]byte, frame)
	slots := ringBytes / 2048
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		for range 256 {
			s := ring[n%slots*2048:][:frame]
			copy(s, src)
			copy(dst, s)
			n++
		}
	}
	return float64(n) * float64(frame) * 8 / time.Since(start).Seconds() / 1e9, nil
}

// crossCopy is the rate in Gbit/s of frames written into the ring on CPU
// a and copied out of it on CPU b, the slots handed over by two indexes
// (a single-producer single-consumer ring).
func crossCopy(a, b, frame int, d time.Duration) (float64, error) {
	ring := make([]byte, ringBytes)
	slots := uint64(ringBytes / 2048)
	var head, tail line // written by a, by b
	var stop atomic.Bool
	var wg sync.WaitGroup
	var got uint64
	errc := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := pin(b); err != nil {
			errc <- err
			stop.Store(true)
			return
		}
		errc <- nil
		dst := make([]byte, frame)
		t := uint64(0)
		for {
			h := head.v.Load()
			if h == t {
				if stop.Load() {
					got = t
					return
				}
				continue
			}
			for ; t < h; t++ {
				copy(dst, ring[t%slots*2048:][:frame])
			}
			tail.v.Store(t)
		}
	}()
	if err := pin(a); err != nil {
		return 0, err
	}
	defer runtime.UnlockOSThread()
	if err := <-errc; err != nil {
		return 0, err
	}
	src := make([]byte, frame)
	for i := range src {
		src[i] = byte(i)
	}
	start := time.Now()
	h := uint64(0)
	for time.Since(start) < d {
		for range 64 {
			for h-tail.v.Load() >= slots {
			}
			copy(ring[h%slots*2048:][:frame], src)
			h++
			head.v.Store(h)
		}
	}
	stop.Store(true)
	wg.Wait()
	return float64(got) * float64(frame) * 8 / time.Since(start).Seconds() / 1e9, nil
}
