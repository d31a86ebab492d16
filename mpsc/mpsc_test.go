package mpsc

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func TestRingSequential(t *testing.T) {
	tests := []struct {
		ask, cap int
	}{
		{0, 2}, {1, 2}, {2, 2}, {3, 4}, {8, 8}, {1000, 1024},
	}
	for _, tt := range tests {
		r := New[int](tt.ask)
		if r.Cap() != tt.cap {
			t.Fatalf("New(%d).Cap() = %d, want %d", tt.ask, r.Cap(), tt.cap)
		}
		// Several laps, so that every slot's sequence wraps.
		next, want := 0, 0
		for lap := 0; lap < 5; lap++ {
			for i := 0; i < tt.cap; i++ {
				if !r.Push(next) {
					t.Fatalf("cap %d: push %d refused with %d queued", tt.cap, next, r.Len())
				}
				next++
			}
			if r.Push(-1) {
				t.Fatalf("cap %d: push accepted on a full ring", tt.cap)
			}
			if r.Len() != tt.cap {
				t.Fatalf("cap %d: Len %d when full", tt.cap, r.Len())
			}
			for i := 0; i < tt.cap; i++ {
				v, ok := r.Pop()
				if !ok || v != want {
					t.Fatalf("cap %d: pop = %d, %v; want %d", tt.cap, v, ok, want)
				}
				want++
			}
			if v, ok := r.Pop(); ok {
				t.Fatalf("cap %d: pop %d from an empty ring", tt.cap, v)
			}
		}
	}
}

// TestRingReleasesValues: a popped pointer is not kept by the ring.
func TestRingReleasesValues(t *testing.T) {
	r := New[*int](4)
	r.Push(new(int))
	r.Pop()
	for i := range r.slots {
		if r.slots[i].val != nil {
			t.Fatalf("slot %d still holds a popped value", i)
		}
	}
}

// TestRingManyProducers: producers push their own numbered values into a
// small ring (so that it is often full) while one consumer pops; every
// value arrives exactly once and each producer's values in order.
func TestRingManyProducers(t *testing.T) {
	tests := []struct {
		name              string
		producers, each   int
		capacity, readers int
	}{
		{"mpsc-small", 8, 10000, 4, 1},
		{"mpsc-large", 16, 5000, 1024, 1},
		{"mpmc", 8, 10000, 16, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New[uint64](tt.capacity)
			var wg sync.WaitGroup
			for p := 0; p < tt.producers; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < tt.each; i++ {
						for !r.Push(uint64(p)<<32 | uint64(i)) {
							runtime.Gosched()
						}
					}
				}()
			}
			total := tt.producers * tt.each
			got := make([][]uint32, tt.readers) // per reader, in pop order
			var popped sync.WaitGroup
			var count atomic.Int64
			for rd := 0; rd < tt.readers; rd++ {
				popped.Add(1)
				go func() {
					defer popped.Done()
					last := make([]int64, tt.producers)
					for i := range last {
						last[i] = -1
					}
					for count.Load() < int64(total) {
						v, ok := r.Pop()
						if !ok {
							runtime.Gosched()
							continue
						}
						p, i := int(v>>32), int64(uint32(v))
						if tt.readers == 1 && i != last[p]+1 {
							t.Errorf("producer %d: value %d after %d", p, i, last[p])
						}
						if i <= last[p] {
							t.Errorf("producer %d: value %d after %d (one reader sees a producer's values in order)", p, i, last[p])
						}
						last[p] = i
						got[rd] = append(got[rd], uint32(v>>32)<<24|uint32(i))
						count.Add(1)
					}
				}()
			}
			wg.Wait()
			popped.Wait()
			seen := make(map[uint32]bool, total)
			for _, g := range got {
				for _, v := range g {
					if seen[v] {
						t.Fatalf("value %#x popped twice", v)
					}
					seen[v] = true
				}
			}
			if len(seen) != total {
				t.Fatalf("%d distinct values popped, want %d", len(seen), total)
			}
			if _, ok := r.Pop(); ok || r.Len() != 0 {
				t.Fatalf("ring not empty at the end: Len %d", r.Len())
			}
		})
	}
}

func TestRingNoAllocations(t *testing.T) {
	r := New[*int](8)
	p := new(int)
	if a := testing.AllocsPerRun(1000, func() {
		r.Push(p)
		r.Pop()
	}); a != 0 {
		t.Fatalf("%v allocations per push and pop", a)
	}
}

func BenchmarkRingPushPop(b *testing.B) {
	r := New[int](1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Push(i)
		r.Pop()
	}
}

// BenchmarkRingContended: every P pushes while one goroutine pops.
func BenchmarkRingContended(b *testing.B) {
	r := New[int](1024)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, ok := r.Pop(); !ok {
				runtime.Gosched()
			}
		}
	}()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for !r.Push(1) {
				runtime.Gosched()
			}
		}
	})
	close(stop)
	<-done
}
