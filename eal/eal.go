// Package eal binds DPDK's Environment Abstraction Layer: initialisation and
// cleanup, lcore threads (goroutines locked to pinned OS threads and
// registered with DPDK) and packet mempools. It is the only place, with
// package pmd, where pmd crosses into C.
package eal

/*
#cgo pkg-config: libdpdk
#cgo CFLAGS: -O2
#include <stdlib.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

static int eal_errno(void) { return rte_errno; }
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Error is a failed DPDK call: the operation and DPDK's error code, printed
// with rte_strerror's text.
type Error struct {
	Op   string
	Code int // positive errno-style value; 0: the driver returned -1 and set no rte_errno
}

func (e *Error) Error() string {
	if e.Code == 0 {
		return e.Op + ": failed, and the driver gave no reason (returned -1, rte_errno 0)"
	}
	return fmt.Sprintf("%s: %s (%d)", e.Op, StrError(e.Code), e.Code)
}

// StrError is rte_strerror: the text for a DPDK or errno code.
func StrError(code int) string {
	if code < 0 {
		code = -code
	}
	return C.GoString(C.rte_strerror(C.int(code)))
}

// Errno turns a DPDK return value into an error: a negative value is the
// code itself; -1 means "look at rte_errno".
func Errno(op string, ret int) error {
	if ret >= 0 {
		return nil
	}
	code := -ret
	if ret == -1 {
		code = int(C.eal_errno())
	}
	return &Error{Op: op, Code: code}
}

// LastErrno is rte_errno as an error, for calls that return NULL on failure.
func LastErrno(op string) error {
	return &Error{Op: op, Code: int(C.eal_errno())}
}

var state struct {
	sync.Mutex
	up bool
}

// Init runs rte_eal_init with argv (argv[0] is the program name). EAL pins
// the calling thread to its main lcore's CPU set; Init runs it on a thread
// of its own and restores that thread's affinity afterwards, so that no Go
// thread inherits a pin it did not ask for.
func Init(argv []string) error {
	state.Lock()
	defer state.Unlock()
	if state.up {
		return errors.New("eal: already initialised")
	}
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return fmt.Errorf("eal: sched_getaffinity: %w", err)
	}
	done := make(chan error)
	go func() {
		// This thread is left locked when the goroutine ends, so the Go
		// runtime destroys it instead of reusing a thread EAL touched.
		runtime.LockOSThread()
		cargv := make([]*C.char, len(argv))
		for i, a := range argv {
			cargv[i] = C.CString(a)
		}
		ret := C.rte_eal_init(C.int(len(argv)), (**C.char)(unsafe.Pointer(&cargv[0])))
		// EAL keeps pointers into argv: the strings stay allocated.
		err := Errno("rte_eal_init", int(ret))
		if err == nil {
			err = unix.SchedSetaffinity(0, &all)
		}
		done <- err
	}()
	if err := <-done; err != nil {
		return err
	}
	state.up = true
	return nil
}

// Cleanup releases EAL's resources (rte_eal_cleanup). Ports and mempools
// must be released before.
func Cleanup() error {
	state.Lock()
	defer state.Unlock()
	if !state.up {
		return nil
	}
	state.up = false
	err := Errno("rte_eal_cleanup", int(C.rte_eal_cleanup()))
	removeTelemetrySocket()
	return err
}

// Lcore is a polling thread: a goroutine locked to an OS thread that is
// pinned to one CPU and registered with DPDK, so that it has an lcore id and
// per-lcore mempool caches work.
type Lcore struct {
	CPU  int
	ID   int // DPDK lcore id
	done chan error
}

// StartLcore starts fn on a new lcore pinned to cpu. It returns once the
// thread is pinned and registered; fn runs after that and Wait returns its
// error.
func StartLcore(cpu int, fn func(l *Lcore) error) (*Lcore, error) {
	l := &Lcore{CPU: cpu, done: make(chan error, 1)}
	ready := make(chan error)
	go func() {
		runtime.LockOSThread()
		// Deliberately never unlocked: the thread carries a pin and an
		// lcore registration, and dies with the goroutine.
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			ready <- fmt.Errorf("lcore on cpu %d: sched_setaffinity: %w", cpu, err)
			return
		}
		if C.rte_thread_register() != 0 {
			ready <- fmt.Errorf("lcore on cpu %d: %w", cpu, LastErrno("rte_thread_register"))
			return
		}
		l.ID = int(C.rte_lcore_id())
		ready <- nil
		err := fn(l)
		C.rte_thread_unregister()
		l.done <- err
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return l, nil
}

// Wait blocks until the lcore's function has returned and gives its error.
func (l *Lcore) Wait() error { return <-l.done }
