package socket

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/pmdstack/pmd/tcp"
)

// ErrNetClosed is what calls return once the Net is closed; it wraps
// net.ErrClosed.
var ErrNetClosed = fmt.Errorf("socket: network closed: %w", net.ErrClosed)

// connError is a TCP error with the errno the kernel would give for it,
// so that errors.Is matches both tcp.ErrReset and syscall.ECONNRESET.
type connError struct {
	err   error
	errno syscall.Errno
}

func (e *connError) Error() string   { return e.err.Error() }
func (e *connError) Unwrap() []error { return []error{e.err, e.errno} }

// Timeout: a connection that timed out (as syscall.ETIMEDOUT says).
func (e *connError) Timeout() bool { return e.errno.Timeout() }

// The errors of the tcp package as the lcores hand them over: made once,
// so that reporting one allocates nothing.
var (
	errReset        = &connError{tcp.ErrReset, syscall.ECONNRESET}
	errRefused      = &connError{tcp.ErrRefused, syscall.ECONNREFUSED}
	errTimedOut     = &connError{tcp.ErrTimeout, syscall.ETIMEDOUT}
	errAborted      = &connError{tcp.ErrAborted, syscall.ECONNABORTED}
	errNoPorts      = &connError{tcp.ErrNoPorts, syscall.EADDRNOTAVAIL}
	errTableFull    = &connError{tcp.ErrTableFull, syscall.ENOBUFS}
	errPortInUse    = &connError{tcp.ErrPortInUse, syscall.EADDRINUSE}
	errNotConnected = &connError{tcp.ErrNotConnected, syscall.ENOTCONN}
	errNoRoute      = &connError{errors.New("socket: no route to host"), syscall.EHOSTUNREACH}
	errConnLimit    = &connError{errors.New("socket: too many connections on this lcore"), syscall.ENOBUFS}
	errBrokenPipe   = &os.SyscallError{Syscall: "write", Err: syscall.EPIPE}
	errDeadline     = os.ErrDeadlineExceeded
)

// mapErr turns a tcp error into its connError.
func mapErr(err error) error {
	switch err {
	case nil:
		return nil
	case tcp.ErrReset:
		return errReset
	case tcp.ErrRefused:
		return errRefused
	case tcp.ErrTimeout:
		return errTimedOut
	case tcp.ErrAborted:
		return errAborted
	case tcp.ErrNoPorts:
		return errNoPorts
	case tcp.ErrTableFull:
		return errTableFull
	case tcp.ErrPortInUse:
		return errPortInUse
	case tcp.ErrNotConnected:
		return errNotConnected
	}
	return err
}
