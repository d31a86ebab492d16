package spsc

import "testing"

func TestFullEmpty(t *testing.T) {
	r := New[int](3)
	if r.Cap() != 4 {
		t.Fatalf("cap %d, want 4", r.Cap())
	}
	if _, ok := r.Pop(); ok {
		t.Fatal("pop from empty ring succeeded")
	}
	for i := 0; i < 4; i++ {
		if !r.Push(i) {
			t.Fatalf("push %d refused", i)
		}
	}
	if r.Push(9) {
		t.Fatal("push into full ring succeeded")
	}
	for i := 0; i < 4; i++ {
		if v, ok := r.Pop(); !ok || v != i {
			t.Fatalf("pop = %d,%v want %d", v, ok, i)
		}
	}
	if r.Len() != 0 {
		t.Fatalf("len %d after draining", r.Len())
	}
}

// TestConcurrent runs under -race in CI: every value arrives once, in order.
func TestConcurrent(t *testing.T) {
	const n = 200000
	r := New[uint64](64)
	done := make(chan error)
	go func() {
		var want uint64
		for want < n {
			v, ok := r.Pop()
			if !ok {
				continue
			}
			if v != want {
				done <- errOrder{v, want}
				return
			}
			want++
		}
		done <- nil
	}()
	for i := uint64(0); i < n; {
		if r.Push(i) {
			i++
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type errOrder struct{ got, want uint64 }

func (e errOrder) Error() string { return "out of order" }

func TestNoAlloc(t *testing.T) {
	r := New[[2]uint64](16)
	if a := testing.AllocsPerRun(1000, func() { r.Push([2]uint64{1, 2}); r.Pop() }); a != 0 {
		t.Fatalf("%v allocations per push/pop", a)
	}
}
