package prefetch

import (
	"bytes"
	"testing"
	"unsafe"
)

// Write only hints: it leaves memory as it was, and faults on no address,
// mapped or not, for any length, aligned or not.
func TestWriteChangesNothing(t *testing.T) {
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	want := bytes.Clone(buf)
	for _, c := range []struct{ off, n int }{{0, 0}, {0, -64}, {0, 1}, {3, 63}, {5, 64}, {0, 4096}, {100, 3000}} {
		Write(unsafe.Pointer(&buf[c.off]), c.n)
	}
	if !bytes.Equal(buf, want) {
		t.Fatal("Write changed the memory it was asked about")
	}
	Write(nil, 4096) // page zero: never mapped
}
