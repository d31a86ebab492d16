package eal

/*
#include <stdlib.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Mempool is a DPDK packet-buffer pool (rte_pktmbuf_pool_create).
type Mempool struct {
	p    *C.struct_rte_mempool
	Name string
	N    int
}

// NewPktPool creates a pool of n mbufs with a per-lcore cache of cache
// mbufs and dataRoom bytes of buffer each (headroom included), on NUMA
// socket (-1 for any).
func NewPktPool(name string, n, cache, dataRoom, socket int) (*Mempool, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	p := C.rte_pktmbuf_pool_create(cname, C.uint(n), C.uint(cache), 0, C.uint16_t(dataRoom), C.int(socket))
	if p == nil {
		return nil, fmt.Errorf("mempool %s (%d mbufs of %d bytes): %w", name, n, dataRoom, LastErrno("rte_pktmbuf_pool_create"))
	}
	return &Mempool{p: p, Name: name, N: n}, nil
}

// Ptr is the rte_mempool pointer, for package pmd.
func (m *Mempool) Ptr() unsafe.Pointer { return unsafe.Pointer(m.p) }

// Available is the number of mbufs in the pool and its caches.
func (m *Mempool) Available() int { return int(C.rte_mempool_avail_count(m.p)) }

// Free releases the pool; every mbuf must have been returned.
func (m *Mempool) Free() {
	if m.p != nil {
		C.rte_mempool_free(m.p)
		m.p = nil
	}
}
