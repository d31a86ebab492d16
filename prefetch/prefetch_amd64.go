package prefetch

import "unsafe"

//go:noescape
func write(p unsafe.Pointer, n int)
