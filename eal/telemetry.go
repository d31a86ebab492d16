package eal

/*
#include <errno.h>
#include <stdlib.h>
#include <rte_eal.h>
#include <rte_telemetry.h>

// pmd_tel_cb is the C side of every command pmd registers (telemetry_cb.c):
// it hands the call to the Go registry.
int pmd_tel_cb(const char *cmd, const char *params, struct rte_tel_data *d);

static int pmd_tel_register(const char *cmd, const char *help)
{
	return rte_telemetry_register_cmd(cmd, pmd_tel_cb, help);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// Limits of DPDK 22.11's telemetry (rte_telemetry.h and the library's own
// output buffer). Past them DPDK refuses an entry or, for the output
// buffer, leaves entries out of the JSON without a word: the builder stays
// within them and says what it left out.
const (
	// TelMaxString is the longest string value or name, in bytes
	// (RTE_TEL_MAX_STRING_LEN less its NUL).
	TelMaxString = C.RTE_TEL_MAX_STRING_LEN - 1
	// TelMaxDictEntries is RTE_TEL_MAX_DICT_ENTRIES.
	TelMaxDictEntries = C.RTE_TEL_MAX_DICT_ENTRIES
	// TelMaxArrayEntries is RTE_TEL_MAX_ARRAY_ENTRIES.
	TelMaxArrayEntries = C.RTE_TEL_MAX_ARRAY_ENTRIES
	// TelMaxOutput is the size of the JSON reply a client reads, the
	// command's name around it included (the greeting's max_output_len).
	TelMaxOutput = 16384
	// telMaxSingleString is the longest reply that is a single string
	// (RTE_TEL_MAX_SINGLE_STRING_LEN less its NUL).
	telMaxSingleString = C.RTE_TEL_MAX_SINGLE_STRING_LEN - 1
	// telMaxCmd is the longest command name the library accepts
	// (MAX_CMD_LEN, 56, less its NUL).
	telMaxCmd = 55
	// telNoteRoom is what a note about left-out entries may take of the
	// output, so that it always fits after the cut.
	telNoteRoom = 2 * (TelMaxString + 8)
)

// TelKind is the kind of the values of a telemetry array: DPDK's arrays
// hold values of one kind.
type TelKind int

// Kinds of array values (enum rte_tel_value_type). DPDK 22.11 refuses a
// dictionary as an array element, so TelArrays holds arrays only.
const (
	TelStrings TelKind = iota
	TelInts
	TelU64s
	TelArrays
)

// telValue is one value of a dictionary or an array.
type telValue struct {
	name string // in a dictionary
	kind int    // one of the val* constants
	s    string
	i    int
	u    uint64
	d    *TelDict
	a    *TelArray
}

const (
	valString = iota
	valInt
	valU64
	valDict
	valArray
)

// TelDict is a telemetry dictionary being built: named values, in the
// order added. Names are cut to TelMaxString bytes and characters DPDK
// refuses in them (anything but letters, digits, '_' and '/') become '_';
// string values longer than TelMaxString end in "...". Entries past
// TelMaxDictEntries, or past the output's size, are left out and a
// "truncated" entry says how many.
type TelDict struct {
	vals    []telValue
	dropped int
	noted   bool // the last value is fit's note
}

// TelArray is a telemetry array being built, of values of one kind; what
// does not fit is left out as in a TelDict, and an array of strings ends
// with a string that says how many.
type TelArray struct {
	kind    TelKind
	vals    []telValue
	dropped int
	noted   bool
}

func (d *TelDict) add(v telValue) {
	if len(d.vals) >= TelMaxDictEntries {
		d.dropped++
		return
	}
	v.name = telName(v.name)
	d.vals = append(d.vals, v)
}

// U64 adds an unsigned value.
func (d *TelDict) U64(name string, v uint64) { d.add(telValue{name: name, kind: valU64, u: v}) }

// Int adds a signed value; DPDK carries it as a C int (32 bits).
func (d *TelDict) Int(name string, v int) { d.add(telValue{name: name, kind: valInt, i: v}) }

// Str adds a string value.
func (d *TelDict) Str(name, v string) { d.add(telValue{name: name, kind: valString, s: v}) }

// Dict adds a dictionary and returns it, to be filled before the reply is
// sent.
func (d *TelDict) Dict(name string) *TelDict {
	sub := &TelDict{}
	d.add(telValue{name: name, kind: valDict, d: sub})
	return sub
}

// Array adds an array of kind and returns it.
func (d *TelDict) Array(name string, kind TelKind) *TelArray {
	sub := &TelArray{kind: kind}
	d.add(telValue{name: name, kind: valArray, a: sub})
	return sub
}

func (a *TelArray) add(kind TelKind, v telValue) {
	if kind != a.kind {
		panic(fmt.Sprintf("eal: telemetry array of kind %d given a value of kind %d", a.kind, kind))
	}
	if len(a.vals) >= TelMaxArrayEntries {
		a.dropped++
		return
	}
	a.vals = append(a.vals, v)
}

// Str adds a string to an array of TelStrings.
func (a *TelArray) Str(v string) { a.add(TelStrings, telValue{kind: valString, s: v}) }

// Int adds a value to an array of TelInts.
func (a *TelArray) Int(v int) { a.add(TelInts, telValue{kind: valInt, i: v}) }

// U64 adds a value to an array of TelU64s.
func (a *TelArray) U64(v uint64) { a.add(TelU64s, telValue{kind: valU64, u: v}) }

// Array adds an array of kind to an array of TelArrays and returns it.
func (a *TelArray) Array(kind TelKind) *TelArray {
	sub := &TelArray{kind: kind}
	a.add(TelArrays, telValue{kind: valArray, a: sub})
	return sub
}

// Len is the number of values kept so far.
func (a *TelArray) Len() int { return len(a.vals) }

// TelReply is the answer to one telemetry command: a dictionary (the
// default), an array or a single string.
type TelReply struct {
	d *TelDict
	a *TelArray
	s *string
}

// Dict makes the reply a dictionary and returns it.
func (r *TelReply) Dict() *TelDict {
	*r = TelReply{d: &TelDict{}}
	return r.d
}

// Array makes the reply an array of kind and returns it.
func (r *TelReply) Array(kind TelKind) *TelArray {
	*r = TelReply{a: &TelArray{kind: kind}}
	return r.a
}

// Str makes the reply a single string (at most 8191 bytes; a longer
// one ends in "...").
func (r *TelReply) Str(s string) {
	s = telCut(telASCII(s), telMaxSingleString)
	*r = TelReply{s: &s}
}

// telName is name as DPDK accepts it in a dictionary.
func telName(name string) string {
	b := []byte(name)
	if len(b) > TelMaxString {
		b = b[:TelMaxString]
	}
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '/') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// telCut cuts s to at most n bytes, on a character boundary, ending in
// "..." when it was cut, so that a reader sees it was.
func telCut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	k := n - 3
	for k > 0 && !utf8.RuneStart(s[k]) {
		k--
	}
	return s[:k] + "..."
}

// telASCII replaces what is not ASCII in s: DPDK 22.11 escapes the bytes
// of a multi-byte character as if they were control characters, and its
// JSON breaks ("125µs" came out as "125\v\rs"). A micro sign, which Go
// prints in durations, becomes 'u'; anything else '?'.
func telASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.Map(func(r rune) rune {
				switch {
				case r < utf8.RuneSelf:
					return r
				case r == '\u00b5' || r == '\u03bc':
					return 'u'
				}
				return '?'
			}, s)
		}
	}
	return s
}

// jsonStringLen is the length of s as a JSON string, quotes included, as
// DPDK escapes it (generously: every control character as \u00XX).
func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			n += 2
		case c < 0x20:
			n += 6
		default:
			n++
		}
	}
	return n
}

func (v *telValue) scalarLen() int {
	switch v.kind {
	case valString:
		return jsonStringLen(v.s)
	case valInt:
		return len(strconv.Itoa(v.i))
	case valU64:
		return len(strconv.FormatUint(v.u, 10))
	}
	return 0
}

// fit cuts the dictionary to at most budget bytes of JSON, replacing what
// it leaves out with a "truncated" entry, and returns its length; -1 if
// not even an empty dictionary fits.
func (d *TelDict) fit(budget int) int {
	if budget < 2 {
		return -1
	}
	if d.noted { // fitted before: count again without the note
		d.vals, d.noted = d.vals[:len(d.vals)-1], false
	}
	n := 2
	cut := len(d.vals)
	for i := range d.vals {
		v := &d.vals[i]
		v.s = telCut(telASCII(v.s), TelMaxString)
		head := jsonStringLen(v.name) + 2 // name, colon, comma
		left := budget - telNoteRoom - n - head
		var l int
		switch v.kind {
		case valDict:
			l = v.d.fit(left)
		case valArray:
			l = v.a.fit(left)
		default:
			l = v.scalarLen()
			if l > left {
				l = -1
			}
		}
		if l < 0 {
			cut = i
			break
		}
		n += head + l
	}
	d.dropped += len(d.vals) - cut
	d.vals = d.vals[:cut]
	if d.dropped > 0 {
		if len(d.vals) == TelMaxDictEntries {
			d.vals = d.vals[:len(d.vals)-1]
			d.dropped++
		}
		note := telValue{name: "truncated", kind: valString,
			s: telCut(fmt.Sprintf("%d entries left out (DPDK telemetry's limits)", d.dropped), TelMaxString)}
		d.vals, d.noted = append(d.vals, note), true
		n += jsonStringLen(note.name) + 2 + note.scalarLen()
	}
	return n
}

// fit is TelDict.fit for an array; an array of strings ends with a note of
// what it left out, other kinds of arrays only lose their tail.
func (a *TelArray) fit(budget int) int {
	if budget < 2 {
		return -1
	}
	if a.noted {
		a.vals, a.noted = a.vals[:len(a.vals)-1], false
	}
	n := 2
	cut := len(a.vals)
	for i := range a.vals {
		v := &a.vals[i]
		v.s = telCut(telASCII(v.s), TelMaxString)
		left := budget - n - 1
		if a.kind == TelStrings {
			left -= telNoteRoom
		}
		var l int
		if v.kind == valArray {
			l = v.a.fit(left)
		} else if l = v.scalarLen(); l > left {
			l = -1
		}
		if l < 0 {
			cut = i
			break
		}
		n += l + 1
	}
	a.dropped += len(a.vals) - cut
	a.vals = a.vals[:cut]
	if a.dropped > 0 && a.kind == TelStrings {
		if len(a.vals) == TelMaxArrayEntries {
			a.vals = a.vals[:len(a.vals)-1]
			a.dropped++
		}
		note := telValue{kind: valString, s: fmt.Sprintf("... %d more left out (DPDK telemetry's limits)", a.dropped)}
		a.vals, a.noted = append(a.vals, note), true
		n += note.scalarLen() + 1
	}
	return n
}

// fit cuts the reply to what a client of cmd can read.
func (r *TelReply) fit(cmd string) {
	budget := TelMaxOutput - jsonStringLen(cmd) - 4 // {"cmd":...} and the NUL
	switch {
	case r.d != nil:
		r.d.fit(budget)
	case r.a != nil:
		r.a.fit(budget)
	case r.s != nil:
		if jsonStringLen(*r.s) > budget {
			// Escapes lengthen it: cut to what surely fits.
			*r.s = telCut(*r.s, budget/6)
		}
	}
}

// telErr is the first error of the C calls that fill a reply; after fit
// none is expected, and one left over is worth a look.
type telErr struct{ err error }

func (e *telErr) check(op string, ret C.int) {
	if ret != 0 && e.err == nil {
		e.err = Errno(op, int(ret))
	}
}

// fill writes the dictionary into d, which has been started as one.
func (t *TelDict) fill(d *C.struct_rte_tel_data, e *telErr) {
	for i := range t.vals {
		v := &t.vals[i]
		name := C.CString(v.name)
		switch v.kind {
		case valString:
			s := C.CString(v.s)
			e.check("rte_tel_data_add_dict_string", C.rte_tel_data_add_dict_string(d, name, s))
			C.free(unsafe.Pointer(s))
		case valInt:
			e.check("rte_tel_data_add_dict_int", C.rte_tel_data_add_dict_int(d, name, C.int(v.i)))
		case valU64:
			e.check("rte_tel_data_add_dict_u64", C.rte_tel_data_add_dict_u64(d, name, C.uint64_t(v.u)))
		case valDict, valArray:
			sub := C.rte_tel_data_alloc()
			if sub == nil {
				e.check("rte_tel_data_alloc", -C.int(C.ENOMEM))
				break
			}
			if v.kind == valDict {
				C.rte_tel_data_start_dict(sub)
				v.d.fill(sub, e)
			} else {
				v.a.fill(sub, e)
			}
			// keep = 0: DPDK frees sub with the reply.
			if ret := C.rte_tel_data_add_dict_container(d, name, sub, 0); ret != 0 {
				e.check("rte_tel_data_add_dict_container", ret)
				C.rte_tel_data_free(sub)
			}
		}
		C.free(unsafe.Pointer(name))
	}
}

// fill starts d as the array and writes its values.
func (t *TelArray) fill(d *C.struct_rte_tel_data, e *telErr) {
	kind := map[TelKind]C.enum_rte_tel_value_type{
		TelStrings: C.RTE_TEL_STRING_VAL, TelInts: C.RTE_TEL_INT_VAL, TelU64s: C.RTE_TEL_U64_VAL, TelArrays: C.RTE_TEL_CONTAINER,
	}[t.kind]
	C.rte_tel_data_start_array(d, kind)
	for i := range t.vals {
		v := &t.vals[i]
		switch t.kind {
		case TelStrings:
			s := C.CString(v.s)
			e.check("rte_tel_data_add_array_string", C.rte_tel_data_add_array_string(d, s))
			C.free(unsafe.Pointer(s))
		case TelInts:
			e.check("rte_tel_data_add_array_int", C.rte_tel_data_add_array_int(d, C.int(v.i)))
		case TelU64s:
			e.check("rte_tel_data_add_array_u64", C.rte_tel_data_add_array_u64(d, C.uint64_t(v.u)))
		case TelArrays:
			sub := C.rte_tel_data_alloc()
			if sub == nil {
				e.check("rte_tel_data_alloc", -C.int(C.ENOMEM))
				continue
			}
			v.a.fill(sub, e)
			if ret := C.rte_tel_data_add_array_container(d, sub, 0); ret != 0 {
				e.check("rte_tel_data_add_array_container", ret)
				C.rte_tel_data_free(sub)
			}
		}
	}
}

// fill writes the reply into d.
func (r *TelReply) fill(d *C.struct_rte_tel_data) error {
	var e telErr
	switch {
	case r.a != nil:
		r.a.fill(d, &e)
	case r.s != nil:
		s := C.CString(*r.s)
		e.check("rte_tel_data_string", C.rte_tel_data_string(d, s))
		C.free(unsafe.Pointer(s))
	default:
		C.rte_tel_data_start_dict(d)
		if r.d != nil {
			r.d.fill(d, &e)
		}
	}
	return e.err
}

// TelHandler answers a telemetry command. params is what the client wrote
// after the command and a comma ("/pmd/lcore,1" gives "1"), "" if nothing.
// It runs on a thread of DPDK's telemetry (one per connected client, so
// possibly on several at once), not on an lcore: it must not touch an
// lcore's state, only what is safe to read from any goroutine. An error
// is answered as {"error": "..."}.
type TelHandler func(params string, r *TelReply) error

var telCmds struct {
	sync.RWMutex
	m map[string]TelHandler
}

// RegisterTelemetry makes cmd ("/pmd/stats": a '/', then letters, digits,
// '_' and '/', at most 55 bytes) a command of DPDK's telemetry socket,
// answered by h, with help as its /help text (at most 127 bytes). DPDK
// keeps a command for the life of the process: registering cmd again
// replaces its handler, so that a program that starts pmd again answers
// from the new one. It works before and after Init.
func RegisterTelemetry(cmd, help string, h TelHandler) error {
	if len(cmd) < 2 || len(cmd) > telMaxCmd || cmd[0] != '/' || telName(cmd) != cmd {
		return fmt.Errorf("telemetry command %q: a '/' then at most %d letters, digits, '_' or '/'", cmd, telMaxCmd-1)
	}
	if len(help) > TelMaxString {
		return fmt.Errorf("telemetry command %s: help longer than %d bytes", cmd, TelMaxString)
	}
	telCmds.Lock()
	defer telCmds.Unlock()
	if _, ok := telCmds.m[cmd]; !ok {
		ccmd, chelp := C.CString(cmd), C.CString(help)
		ret := C.pmd_tel_register(ccmd, chelp)
		// DPDK keeps pointers to neither: it copies both.
		C.free(unsafe.Pointer(ccmd))
		C.free(unsafe.Pointer(chelp))
		if err := Errno("rte_telemetry_register_cmd "+cmd, int(ret)); err != nil {
			return err
		}
	}
	if telCmds.m == nil {
		telCmds.m = map[string]TelHandler{}
	}
	telCmds.m[cmd] = h
	return nil
}

// answer runs cmd's handler and fits its reply; a handler that fails or
// panics is answered with an error, since a panic here, on a thread of
// DPDK's, would end the process.
func answer(cmd, params string) (r TelReply) {
	telCmds.RLock()
	h := telCmds.m[cmd]
	telCmds.RUnlock()
	defer func() {
		if p := recover(); p != nil {
			r = TelReply{}
			r.Dict().Str("error", fmt.Sprintf("pmd: %s: internal error: %v", cmd, p))
		}
		r.fit(cmd)
	}()
	if h == nil {
		r.Dict().Str("error", "pmd: "+cmd+": no handler")
		return r
	}
	if err := h(params, &r); err != nil {
		r = TelReply{}
		r.Dict().Str("error", err.Error())
	}
	return r
}

//export pmdTelemetryCallback
func pmdTelemetryCallback(cmd, params *C.char, d *C.struct_rte_tel_data) C.int {
	var p string
	if params != nil { // DPDK passes NULL when the command has no comma
		p = C.GoString(params)
	}
	c := C.GoString(cmd)
	r := answer(c, p)
	if err := r.fill(d); err != nil {
		// What fit left is within every limit; a refusal means DPDK's
		// limits differ from these, and the reply lacks an entry.
		fmt.Fprintf(os.Stderr, "pmd: telemetry %s: %v\n", c, err)
	}
	return 0
}

// TelemetrySocket is the path of the telemetry socket (protocol v2) this
// process listens on, once Init has run: dpdk_telemetry.v2 in EAL's
// runtime directory (/var/run/dpdk/<file-prefix> for root), with ":N"
// after it when another process already held that name. It is an error if
// the process has none: --no-telemetry, or the runtime directory could not
// be made.
func TelemetrySocket() (string, error) {
	state.Lock()
	up := state.up
	state.Unlock()
	if !up {
		return "", errors.New("eal: not initialised")
	}
	return telemetrySocket()
}

func telemetrySocket() (string, error) {
	dir := C.GoString(C.rte_eal_get_runtime_dir())
	want := filepath.Join(dir, "dpdk_telemetry.v2")
	// The socket is ours if one of our descriptors is the listening
	// socket bound to that path: a name alone could be another process's.
	mine := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return want, fmt.Errorf("telemetry socket: %w", err)
	}
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(l, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	tab, err := os.ReadFile("/proc/self/net/unix")
	if err != nil {
		return want, fmt.Errorf("telemetry socket: %w", err)
	}
	// Num RefCount Protocol Flags Type St Inode Path
	for _, line := range strings.Split(string(tab), "\n") {
		f := strings.Fields(line)
		if len(f) == 8 && mine[f[6]] && (f[7] == want || strings.HasPrefix(f[7], want+":")) {
			return f[7], nil
		}
	}
	return want, fmt.Errorf("telemetry socket: this process listens on no %s (is --no-telemetry in eal.args?)", want)
}

// removeTelemetrySocket removes this process's telemetry socket and, if
// that leaves it empty, EAL's runtime directory. DPDK's telemetry thread
// outlives rte_eal_cleanup and unlinks its socket only from an atexit
// handler, which a Go program never runs (os.Exit does not call exit(3)):
// without this, every run would leave a socket that nothing answers and a
// directory per file prefix (pmd-<pid>) behind.
func removeTelemetrySocket() {
	path, err := telemetrySocket()
	if err != nil {
		return
	}
	os.Remove(path)
	os.Remove(filepath.Dir(path)) // fails, as it should, if anything is left in it
}
