// Package prefetch asks the CPU for memory ahead of its use, where Go has
// no way to say so.
package prefetch

import "unsafe"

// LineSize is the cache line's size that Write steps by.
const LineSize = 64

// Write asks for the cache lines of [p, p+n) in a state that allows
// writing them (PREFETCHW on amd64; nothing elsewhere), without waiting
// for them. A line another CPU holds then changes hands while the caller
// does other work, instead of at its first store. p need not be valid
// memory: a prefetch never faults. n <= 0 asks for nothing.
func Write(p unsafe.Pointer, n int) { write(p, n) }
