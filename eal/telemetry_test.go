package eal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestTelCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven ..."},
		{"ab\u00e9\u00e9\u00e9", 6, "ab..."}, // é is two bytes: not cut in half
		{"abc\u00e9\u00e9\u00e9", 8, "abc\u00e9..."},
	} {
		if got := telCut(tc.in, tc.n); got != tc.want {
			t.Errorf("telCut(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestTelASCII(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"srtt=2ms", "srtt=2ms"},
		{"srtt=125\u00b5s", "srtt=125us"},
		{"caf\u00e9 \u4e16", "caf? ?"},
	} {
		if got := telASCII(tc.in); got != tc.want {
			t.Errorf("telASCII(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTelName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"rx_packets", "rx_packets"},
		{"port0/q1", "port0/q1"},
		{"a-b.c d", "a_b_c_d"},
		{"", "_"},
		{strings.Repeat("x", 200), strings.Repeat("x", TelMaxString)},
	} {
		if got := telName(tc.in); got != tc.want {
			t.Errorf("telName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTelFitDictEntries(t *testing.T) {
	var d TelDict
	for i := 0; i < 300; i++ {
		d.U64("k"+strconv.Itoa(i), uint64(i))
	}
	d.fit(TelMaxOutput)
	if len(d.vals) != TelMaxDictEntries {
		t.Fatalf("%d entries kept, want %d", len(d.vals), TelMaxDictEntries)
	}
	last := d.vals[len(d.vals)-1]
	if last.name != "truncated" || !strings.HasPrefix(last.s, "45 entries left out") {
		t.Errorf("last entry %q = %q, want the note of 45 left out", last.name, last.s)
	}
}

func TestTelFitArrayBytes(t *testing.T) {
	var r TelReply
	a := r.Array(TelStrings)
	for i := 0; i < 600; i++ {
		a.Str(fmt.Sprintf("%03d %s", i, strings.Repeat("y", 200)))
	}
	r.fit("/pmd/conns")
	n := a.fit(1 << 30) // already cut: measures
	if max := TelMaxOutput - len(`{"/pmd/conns":}`) - 1; n > max {
		t.Errorf("reply of %d bytes of JSON, more than %d", n, max)
	}
	for _, v := range a.vals[:len(a.vals)-1] {
		if len(v.s) != TelMaxString || !strings.HasSuffix(v.s, "...") {
			t.Fatalf("value %q: not cut to %d bytes with \"...\"", v.s, TelMaxString)
		}
	}
	note := a.vals[len(a.vals)-1].s
	if want := fmt.Sprintf("... %d more left out", 600-len(a.vals)+1); !strings.HasPrefix(note, want) {
		t.Errorf("last value %q, want it to start with %q", note, want)
	}
}

func TestTelArrayKind(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a string added to an array of ints did not panic")
		}
	}()
	var r TelReply
	r.Array(TelInts).Str("x")
}

// TestTelemetrySocket initialises EAL (no hugepages, no devices, no
// polling lcores), registers commands and reads them back through DPDK's
// telemetry socket, as dpdk-telemetry.py does.
func TestTelemetrySocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("EAL's runtime directory under /var/run needs root")
	}
	prefix := "pmd-eal-test-" + strconv.Itoa(os.Getpid())
	if err := Init([]string{"eal.test", "-l", "0", "--no-huge", "-m", "64", "--no-pci", "--no-shconf", "--file-prefix=" + prefix, "--log-level=lib.eal:error"}); err != nil {
		t.Fatal(err)
	}
	path, err := TelemetrySocket()
	defer Cleanup() // on a failure; the test's end calls it too
	if err != nil {
		t.Fatal(err)
	}
	if want := "/var/run/dpdk/" + prefix + "/dpdk_telemetry.v2"; path != want && os.Getenv("RUNTIME_DIRECTORY") == "" {
		t.Errorf("telemetry socket %s, want %s", path, want)
	}
	handlers := map[string]TelHandler{
		"/pmdtest/dict": func(params string, r *TelReply) error {
			d := r.Dict()
			d.U64("big", 1<<63)
			d.Int("neg", -5)
			d.Str("params", params)
			d.Str("quote", `say "hi"\`)
			d.Str("micro", "125\u00b5s")
			in := d.Dict("inner")
			in.U64("x", 1)
			in.Array("list", TelInts).Int(7)
			return nil
		},
		"/pmdtest/long": func(params string, r *TelReply) error {
			a := r.Array(TelStrings)
			for i := 0; i < 1000; i++ {
				a.Str(strconv.Itoa(i) + strings.Repeat(" line", 20))
			}
			return nil
		},
		"/pmdtest/err":   func(string, *TelReply) error { return errors.New("not now") },
		"/pmdtest/panic": func(string, *TelReply) error { panic("boom") },
		"/pmdtest/str":   func(_ string, r *TelReply) error { r.Str("plain"); return nil },
	}
	for cmd, h := range handlers {
		if err := RegisterTelemetry(cmd, "test command", h); err != nil {
			t.Fatal(err)
		}
	}
	if err := RegisterTelemetry("/pmdtest/bad-name", "", handlers["/pmdtest/err"]); err == nil {
		t.Error("a command with '-' was registered")
	}

	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2*TelMaxOutput)
	read := func() map[string]any {
		t.Helper()
		n, err := unix.Read(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(buf[:n]))
		dec.UseNumber() // u64 values beyond float64's precision
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%v in %q", err, buf[:n])
		}
		return m
	}
	if greet := read(); greet["max_output_len"] != json.Number(strconv.Itoa(TelMaxOutput)) {
		t.Errorf("greeting %v: max_output_len is not %d", greet, TelMaxOutput)
	}
	ask := func(cmd string) any {
		t.Helper()
		if _, err := unix.Write(fd, []byte(cmd)); err != nil {
			t.Fatal(err)
		}
		name, _, _ := strings.Cut(cmd, ",")
		return read()[name]
	}

	d, _ := ask("/pmdtest/dict,p1").(map[string]any)
	want := `{"big":9223372036854775808,"inner":{"list":[7],"x":1},"micro":"125us","neg":-5,"params":"p1","quote":"say \"hi\"\\"}`
	if got, _ := json.Marshal(d); string(got) != want {
		t.Errorf("/pmdtest/dict,p1 = %s\nwant %s", got, want)
	}
	if d, _ := ask("/pmdtest/dict").(map[string]any); d["params"] != "" {
		t.Errorf("/pmdtest/dict with no parameter: params %v", d["params"])
	}
	long, _ := ask("/pmdtest/long").([]any)
	if len(long) < 100 || len(long) > TelMaxArrayEntries {
		t.Fatalf("/pmdtest/long: %d lines", len(long))
	}
	if note, _ := long[len(long)-1].(string); !strings.Contains(note, fmt.Sprintf("%d more left out", 1000-len(long)+1)) {
		t.Errorf("/pmdtest/long ends with %q, not a note of what it left out", note)
	}
	for _, c := range []struct{ cmd, err string }{{"/pmdtest/err", "not now"}, {"/pmdtest/panic", "internal error: boom"}} {
		if d, _ := ask(c.cmd).(map[string]any); !strings.Contains(fmt.Sprint(d["error"]), c.err) {
			t.Errorf("%s = %v, want an error with %q", c.cmd, d, c.err)
		}
	}
	if s := ask("/pmdtest/str"); s != "plain" {
		t.Errorf("/pmdtest/str = %v", s)
	}
	help, _ := ask("/help,/pmdtest/str").(map[string]any)
	if help["/pmdtest/str"] != "test command" {
		t.Errorf("/help,/pmdtest/str = %v", help)
	}
	if err := Cleanup(); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Errorf("runtime directory %s left after Cleanup: %v", filepath.Dir(path), err)
	}
	// DPDK's telemetry thread outlives Cleanup: a client still connected
	// is answered.
	if s := ask("/pmdtest/str"); s != "plain" {
		t.Errorf("/pmdtest/str after Cleanup = %v", s)
	}
}
