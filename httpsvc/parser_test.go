package httpsvc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// Shorthands for expected requests.
var (
	ka     = Request{KeepAlive: true}
	cl     = Request{}
	headKA = Request{KeepAlive: true, Head: true}
	headCl = Request{Head: true}
)

const wrkGET = "GET / HTTP/1.1\r\nHost: 198.18.0.1:80\r\n\r\n"

// streamCase is a request stream: ok is accepted as a whole, and bad, when
// not empty, starts with the byte that makes the stream malformed.
type streamCase struct {
	name string
	ok   string
	bad  string
	want []Request
	why  string // reason of the failure when bad is not empty
}

func (c streamCase) input() []byte { return []byte(c.ok + c.bad) }

var longName = strings.Repeat("X-Long", 10)

var streamCases = []streamCase{
	// Valid, complete streams.
	{name: "empty"},
	{name: "wrk GET", ok: wrkGET, want: []Request{ka}},
	{name: "no fields", ok: "GET / HTTP/1.1\r\n\r\n", want: []Request{ka}},
	{name: "bare LF", ok: "GET / HTTP/1.1\nHost: x\n\n", want: []Request{ka}},
	{name: "mixed line ends", ok: "GET / HTTP/1.1\r\nHost: x\nA: b\r\n\n", want: []Request{ka}},
	{name: "HTTP/1.0", ok: "GET / HTTP/1.0\r\n\r\n", want: []Request{cl}},
	{name: "HTTP/1.0 keep-alive", ok: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", want: []Request{ka}},
	{name: "HTTP/1.0 Keep-Alive mixed case", ok: "GET / HTTP/1.0\r\nCONNECTION: Keep-Alive\r\n\r\n", want: []Request{ka}},
	{name: "HTTP/1.1 close", ok: "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", want: []Request{cl}},
	{name: "HTTP/1.1 CLOSE", ok: "GET / HTTP/1.1\r\nconnection: CLOSE\r\n\r\n", want: []Request{cl}},
	{name: "close without OWS", ok: "GET / HTTP/1.1\r\nConnection:close\r\n\r\n", want: []Request{cl}},
	{name: "close with tabs", ok: "GET / HTTP/1.1\r\nConnection: \t close \t\r\n\r\n", want: []Request{cl}},
	{name: "close in list", ok: "GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n", want: []Request{cl}},
	{name: "close in empty list elements", ok: "GET / HTTP/1.1\r\nConnection: ,,close,,\r\n\r\n", want: []Request{cl}},
	{name: "close in second field", ok: "GET / HTTP/1.1\r\nConnection: foo\r\nConnection: close\r\n\r\n", want: []Request{cl}},
	{name: "close beats keep-alive", ok: "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", want: []Request{cl}},
	{name: "closed is not close", ok: "GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", want: []Request{ka}},
	{name: "xclose is not close", ok: "GET / HTTP/1.1\r\nConnection: xclose\r\n\r\n", want: []Request{ka}},
	{name: "keep-alives is not keep-alive", ok: "GET / HTTP/1.0\r\nConnection: keep-alives\r\n\r\n", want: []Request{cl}},
	{name: "long option", ok: "GET / HTTP/1.0\r\nConnection: keep-alive-and-more-keep-alive\r\n\r\n", want: []Request{cl}},
	{name: "Connection prefix name", ok: "GET / HTTP/1.1\r\nConnectionx: close\r\n\r\n", want: []Request{ka}},
	{name: "Connection as value", ok: "GET / HTTP/1.1\r\nX: Connection: close\r\n\r\n", want: []Request{ka}},
	{name: "HEAD", ok: "HEAD / HTTP/1.1\r\n\r\n", want: []Request{headKA}},
	{name: "HEAD HTTP/1.0", ok: "HEAD / HTTP/1.0\r\n\r\n", want: []Request{headCl}},
	{name: "HEADX", ok: "HEADX / HTTP/1.1\r\n\r\n", want: []Request{ka}},
	{name: "HEA", ok: "HEA / HTTP/1.1\r\n\r\n", want: []Request{ka}},
	{name: "lower-case head", ok: "head / HTTP/1.1\r\n\r\n", want: []Request{ka}},
	{name: "odd methods", ok: "M-SEARCH * HTTP/1.1\r\n\r\nOPTIONS * HTTP/1.1\r\n\r\nX!#$%&'*+-.^_`|~9 / HTTP/1.1\r\n\r\n", want: []Request{ka, ka, ka}},
	{name: "absolute target", ok: "GET http://198.18.0.1/a?b=c#d HTTP/1.1\r\n\r\n", want: []Request{ka}},
	{name: "obs-text target", ok: "GET /\x80\xff HTTP/1.1\r\n\r\n", want: []Request{ka}},
	{name: "value with obs-text and tabs", ok: "GET / HTTP/1.1\r\nX: a\tb \x80\xff\r\n\r\n", want: []Request{ka}},
	{name: "empty value", ok: "GET / HTTP/1.1\r\nX-Empty:\r\nY:  \r\n\r\n", want: []Request{ka}},
	{name: "long name", ok: "GET / HTTP/1.1\r\n" + longName + ": close\r\n\r\n", want: []Request{ka}},
	{name: "Content-Length prefix name", ok: "GET / HTTP/1.1\r\nContent-Lengthy: abc\r\n\r\n", want: []Request{ka}},
	{name: "Transfer-Encoding prefix name", ok: "GET / HTTP/1.1\r\nTransfer-Encodings: chunked\r\n\r\n", want: []Request{ka}},
	{name: "POST body", ok: "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n", want: []Request{ka, ka}},
	{name: "body looks like a request", ok: "POST / HTTP/1.1\r\nContent-Length: 18\r\n\r\nGET / HTTP/1.1\r\n\r\nHEAD / HTTP/1.1\r\n\r\n", want: []Request{ka, headKA}},
	{name: "body of any bytes", ok: "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n\x00\r\r\xffGET / HTTP/1.1\r\n\r\n", want: []Request{ka, ka}},
	{name: "Content-Length 0", ok: "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\n\r\n", want: []Request{ka, ka}},
	{name: "Content-Length leading zeros", ok: "POST / HTTP/1.1\r\nContent-Length: 003\r\n\r\nabc", want: []Request{ka}},
	{name: "Content-Length trailing OWS", ok: "POST / HTTP/1.1\r\nContent-Length:3 \t\r\n\r\nabc", want: []Request{ka}},
	{name: "Content-Length list", ok: "POST / HTTP/1.1\r\nContent-Length: 3, 3,3\r\n\r\nabc", want: []Request{ka}},
	{name: "Content-Length repeated", ok: "POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc", want: []Request{ka}},
	{name: "HEAD with body", ok: "HEAD / HTTP/1.1\r\nContent-Length: 2\r\n\r\nabHEAD / HTTP/1.0\r\n\r\n", want: []Request{headKA, headCl}},
	{name: "leading empty lines", ok: "\r\n\n\r\nGET / HTTP/1.1\r\n\r\n", want: []Request{ka}},
	{name: "CRLF after body", ok: "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\na\r\nGET / HTTP/1.1\r\n\r\n", want: []Request{ka, ka}},
	{name: "pipelined", ok: wrkGET + "HEAD / HTTP/1.1\r\n\r\n" + wrkGET, want: []Request{ka, headKA, ka}},
	{name: "close ends the stream", ok: "GET / HTTP/1.0\r\n\r\n\x00 junk GET / HTTP/1.1\r\n\r\n", want: []Request{cl}},
	{name: "close after body", ok: "POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc\x01garbage", want: []Request{cl}},
	{name: "head of MaxHeaderBytes", ok: headOfSize(MaxHeaderBytes), want: []Request{ka}},
	{name: "MaxHeaderBytes per request", ok: headOfSize(MaxHeaderBytes) + headOfSize(MaxHeaderBytes), want: []Request{ka, ka}},

	// Valid but incomplete: remembered, no emit.
	{name: "partial request line", ok: "GET / HTT"},
	{name: "partial head", ok: "GET / HTTP/1.1\r\nHost: x\r\n"},
	{name: "partial final CR", ok: "GET / HTTP/1.1\r\n\r"},
	{name: "partial body", ok: "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345"},
	{name: "complete then partial", ok: wrkGET + "GET / HTTP/1.1\r\nHo", want: []Request{ka}},

	// Malformed.
	{name: "HTTP/1.2", ok: "GET / HTTP/1.", bad: "2\r\n\r\n", why: whyVersion},
	{name: "HTTP/2.0", ok: "GET / HTTP/", bad: "2.0\r\n\r\n", why: whyVersion},
	{name: "lower-case version", ok: "GET / ", bad: "http/1.1\r\n\r\n", why: whyVersion},
	{name: "HTTP/1.10", ok: "GET / HTTP/1.1", bad: "0\r\n\r\n", why: whyVersion},
	{name: "space after version", ok: "GET / HTTP/1.1", bad: " \r\n\r\n", why: whyVersion},
	{name: "missing version", ok: "GET /", bad: "\r\n\r\n", why: whyTarget},
	{name: "HTTP/0.9", ok: "GET / ", bad: "\r\n", why: whyVersion},
	{name: "double space", ok: "GET ", bad: " / HTTP/1.1\r\n\r\n", why: whyTarget},
	{name: "leading space", bad: " GET / HTTP/1.1\r\n\r\n", why: whyMethod},
	{name: "leading tab after empty line", ok: "\r\n", bad: "\tGET / HTTP/1.1\r\n\r\n", why: whyMethod},
	{name: "bad method byte", ok: "GE", bad: "(T / HTTP/1.1\r\n\r\n", why: whyMethod},
	{name: "NUL in target", ok: "GET /a", bad: "\x00b HTTP/1.1\r\n\r\n", why: whyTarget},
	{name: "tab in target", ok: "GET /a", bad: "\tb HTTP/1.1\r\n\r\n", why: whyTarget},
	{name: "DEL in target", ok: "GET /a", bad: "\x7f HTTP/1.1\r\n\r\n", why: whyTarget},
	{name: "bare CR before request", ok: "\r", bad: "GET / HTTP/1.1\r\n\r\n", why: whyBareCR},
	{name: "bare CR after request line", ok: "GET / HTTP/1.1\r", bad: "Host: x\r\n\r\n", why: whyBareCR},
	{name: "bare CR in value", ok: "GET / HTTP/1.1\r\nHost: x\r", bad: "y\r\n\r\n", why: whyBareCR},
	{name: "bare CR ending head", ok: "GET / HTTP/1.1\r\n\r", bad: "\r\n", why: whyBareCR},
	{name: "CR in name", ok: "GET / HTTP/1.1\r\nHost", bad: "\r\n\r\n", why: whyName},
	{name: "obs-fold", ok: "GET / HTTP/1.1\r\nX: a\r\n", bad: " b\r\n\r\n", why: whyObsFold},
	{name: "obs-fold tab", ok: "GET / HTTP/1.1\r\nX: a\n", bad: "\tb\n\n", why: whyObsFold},
	{name: "space before first field", ok: "GET / HTTP/1.1\r\n", bad: " Host: x\r\n\r\n", why: whyObsFold},
	{name: "space before colon", ok: "GET / HTTP/1.1\r\nHost", bad: " : x\r\n\r\n", why: whySpaceColon},
	{name: "tab before colon", ok: "GET / HTTP/1.1\r\nHost", bad: "\t: x\r\n\r\n", why: whySpaceColon},
	{name: "Connection space before colon", ok: "GET / HTTP/1.1\r\nConnection", bad: " : close\r\n\r\n", why: whySpaceColon},
	{name: "empty name", ok: "GET / HTTP/1.1\r\n", bad: ": x\r\n\r\n", why: whyName},
	{name: "bad name byte", ok: "GET / HTTP/1.1\r\nHo", bad: "(st: x\r\n\r\n", why: whyName},
	{name: "control byte in value", ok: "GET / HTTP/1.1\r\nX: a", bad: "\x01b\r\n\r\n", why: whyValue},
	{name: "NUL in value", ok: "GET / HTTP/1.1\r\nX: a", bad: "\x00\r\n\r\n", why: whyValue},
	{name: "DEL in Connection", ok: "GET / HTTP/1.1\r\nConnection: clo", bad: "\x7fse\r\n\r\n", why: whyValue},
	{name: "chunked", ok: "POST / HTTP/1.1\r\nTransfer-Encoding", bad: ": chunked\r\n\r\n", why: whyTE},
	{name: "Transfer-Encoding any case", ok: "POST / HTTP/1.1\r\ntransfer-ENCODING", bad: ":identity\r\n\r\n", why: whyTE},
	{name: "Content-Length letters", ok: "POST / HTTP/1.1\r\nContent-Length: ", bad: "abc\r\n\r\n", why: whyContentLength},
	{name: "Content-Length empty", ok: "POST / HTTP/1.1\r\nContent-Length: ", bad: "\r\n\r\n", why: whyContentLength},
	{name: "Content-Length two numbers", ok: "POST / HTTP/1.1\r\nContent-Length: 5 ", bad: "6\r\n\r\n", why: whyContentLength},
	{name: "Content-Length negative", ok: "POST / HTTP/1.1\r\nContent-Length: ", bad: "-1\r\n\r\n", why: whyContentLength},
	{name: "Content-Length plus", ok: "POST / HTTP/1.1\r\nContent-Length: ", bad: "+1\r\n\r\n", why: whyContentLength},
	{name: "Content-Length hex", ok: "POST / HTTP/1.1\r\nContent-Length: 0", bad: "x10\r\n\r\n", why: whyContentLength},
	{name: "Content-Length trailing comma", ok: "POST / HTTP/1.1\r\nContent-Length: 5,", bad: "\r\n\r\n", why: whyContentLength},
	{name: "Content-Length leading comma", ok: "POST / HTTP/1.1\r\nContent-Length: ", bad: ",5\r\n\r\n", why: whyContentLength},
	{name: "Content-Length differing list", ok: "POST / HTTP/1.1\r\nContent-Length: 5, 6", bad: "\r\n\r\n", why: whyCLMismatch},
	{name: "Content-Length differing fields", ok: "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6", bad: "\r\n\r\n", why: whyCLMismatch},
	{name: "Content-Length overflow", ok: "POST / HTTP/1.1\r\nContent-Length: 999999999999999999", bad: "9\r\n\r\n", why: whyContentLength},
	{name: "head above MaxHeaderBytes", ok: headOfSize(MaxHeaderBytes + 1)[:MaxHeaderBytes], bad: "\n", why: whyHeadTooLarge},
	{name: "endless empty lines", ok: strings.Repeat("\r\n", MaxHeaderBytes/2), bad: "\r\n", why: whyHeadTooLarge},
	{name: "long target", ok: "GET /" + strings.Repeat("a", MaxHeaderBytes-5), bad: "a HTTP/1.1\r\n\r\n", why: whyHeadTooLarge},
	{name: "error after requests", ok: wrkGET + "HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n", bad: " x\r\n\r\n", want: []Request{ka, headKA}, why: whyObsFold},
	{name: "error after body", ok: "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", bad: "\x00", want: []Request{ka}, why: whyMethod},
}

// headOfSize returns a GET request whose head is exactly n bytes.
func headOfSize(n int) string {
	const start, end = "GET / HTTP/1.1\r\nX: ", "\r\n\r\n"
	return start + strings.Repeat("v", n-len(start)-len(end)) + end
}

// result is everything observable about feeding a stream.
type result struct {
	reqs  []Request
	n     int    // bytes consumed in total
	err   error  // the first error
	short bool   // a Feed consumed less than given without error
	final Parser // parser state after the last Feed
}

func (r result) String() string {
	return fmt.Sprintf("reqs=%v n=%d err=%v why=%q short=%v state=%d", r.reqs, r.n, r.err, r.final.why, r.short, r.final.state)
}

func equalResults(a, b result) bool {
	return slices.Equal(a.reqs, b.reqs) && a.n == b.n && a.err == b.err && a.short == b.short && a.final == b.final
}

// feedChunks feeds the chunks in order to a new parser whose emit always
// accepts, and stops at the first error.
func feedChunks(chunks [][]byte) result {
	var p Parser
	var r result
	emit := func(req Request) bool {
		r.reqs = append(r.reqs, req)
		return true
	}
	for _, c := range chunks {
		n, err := p.Feed(c, emit)
		r.n += n
		if err != nil {
			r.err = err
			break
		}
		if n != len(c) {
			r.short = true
		}
	}
	r.final = p
	return r
}

// splitAt cuts b at the given offsets, which must be sorted.
func splitAt(b []byte, cuts ...int) [][]byte {
	var chunks [][]byte
	prev := 0
	for _, c := range cuts {
		chunks = append(chunks, b[prev:c])
		prev = c
	}
	return append(chunks, b[prev:])
}

func bytewise(b []byte) [][]byte {
	chunks := make([][]byte, len(b))
	for i := range b {
		chunks[i] = b[i : i+1]
	}
	return chunks
}

func randomSplit(rng *rand.Rand, b []byte) [][]byte {
	var chunks [][]byte
	for len(b) > 0 {
		n := 1 + rng.IntN(min(len(b), 1+rng.IntN(64)))
		chunks = append(chunks, b[:n])
		b = b[n:]
	}
	return chunks
}

func TestFeedStreams(t *testing.T) {
	for _, tc := range streamCases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.input()
			whole := feedChunks([][]byte{in})
			if !slices.Equal(whole.reqs, tc.want) {
				t.Errorf("requests = %v, want %v", whole.reqs, tc.want)
			}
			if tc.bad == "" {
				if whole.err != nil {
					t.Fatalf("error %v (%s) at %d, want none", whole.err, whole.final.why, whole.n)
				}
			} else {
				if whole.err != ErrBadRequest {
					t.Fatalf("error %v, want ErrBadRequest (%s)", whole.err, tc.why)
				}
				if whole.final.why != tc.why {
					t.Errorf("reason %q, want %q", whole.final.why, tc.why)
				}
			}
			if want := len(tc.ok); whole.n != want {
				t.Errorf("consumed %d, want %d", whole.n, want)
			}
			if whole.short {
				t.Errorf("a Feed stopped short without error")
			}

			check := func(how string, chunks [][]byte) {
				t.Helper()
				if got := feedChunks(chunks); !equalResults(got, whole) {
					t.Errorf("%s:\n got %v\nwant %v", how, got, whole)
				}
			}
			check("byte at a time", bytewise(in))
			if len(in) <= 200 {
				for i := 0; i <= len(in); i++ {
					check("split at "+strconv.Itoa(i), splitAt(in, i))
					for j := i; j <= len(in); j++ {
						check(fmt.Sprintf("split at %d,%d", i, j), splitAt(in, i, j))
					}
				}
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(in))))
			for range 50 {
				check("random split", randomSplit(rng, in))
			}
		})
	}
}

// TestFeedAfterError checks that a failed parser keeps failing without
// consuming anything, and that Reset revives it.
func TestFeedAfterError(t *testing.T) {
	var p Parser
	emits := 0
	emit := func(Request) bool { emits++; return true }
	if _, err := p.Feed([]byte("GET / HTTP/3.0\r\n\r\n"), emit); err != ErrBadRequest {
		t.Fatalf("error %v, want ErrBadRequest", err)
	}
	for _, in := range []string{"", wrkGET} {
		if n, err := p.Feed([]byte(in), emit); n != 0 || err != ErrBadRequest {
			t.Errorf("Feed(%q) after error = %d, %v; want 0, ErrBadRequest", in, n, err)
		}
	}
	p.Reset()
	if n, err := p.Feed([]byte(wrkGET), emit); n != len(wrkGET) || err != nil || emits != 1 {
		t.Errorf("after Reset: %d, %v, %d emits; want %d, nil, 1", n, err, emits, len(wrkGET))
	}
	if p != (Parser{}) {
		t.Errorf("parser after a complete request = %+v, want the zero value", p)
	}
}

func TestKeepAlive(t *testing.T) {
	tests := []struct {
		version    string
		connection string // "" for no Connection field
		want       bool
	}{
		{"HTTP/1.1", "", true},
		{"HTTP/1.1", "keep-alive", true},
		{"HTTP/1.1", "close", false},
		{"HTTP/1.1", "Close", false},
		{"HTTP/1.1", "keep-alive, close", false},
		{"HTTP/1.1", "upgrade", true},
		{"HTTP/1.0", "", false},
		{"HTTP/1.0", "keep-alive", true},
		{"HTTP/1.0", "KEEP-ALIVE", true},
		{"HTTP/1.0", "foo, keep-alive", true},
		{"HTTP/1.0", "close", false},
		{"HTTP/1.0", "close, keep-alive", false},
		{"HTTP/1.0", "upgrade", false},
	}
	for _, tt := range tests {
		for _, method := range []string{"GET", "HEAD", "POST"} {
			name := fmt.Sprintf("%s %s Connection=%q", method, tt.version, tt.connection)
			t.Run(name, func(t *testing.T) {
				in := method + " / " + tt.version + "\r\nHost: h\r\n"
				if tt.connection != "" {
					in += "Connection: " + tt.connection + "\r\n"
				}
				in += "\r\n"
				r := feedChunks([][]byte{[]byte(in)})
				want := []Request{{KeepAlive: tt.want, Head: method == "HEAD"}}
				if r.err != nil || !slices.Equal(r.reqs, want) {
					t.Errorf("got %v, want %v", r, want)
				}
			})
		}
	}
}

// pipeline returns count requests of several kinds in one buffer, and what
// Feed must report for them.
func pipeline(count int) ([]byte, []Request) {
	var b strings.Builder
	var want []Request
	for i := range count {
		switch i % 4 {
		case 0:
			b.WriteString(wrkGET)
			want = append(want, ka)
		case 1:
			b.WriteString("HEAD /" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: h\r\n\r\n")
			want = append(want, headKA)
		case 2:
			body := strings.Repeat("b", i)
			fmt.Fprintf(&b, "POST /p HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			want = append(want, ka)
		case 3:
			b.WriteString("GET /x HTTP/1.0\r\nUser-Agent: t\r\nConnection: Keep-Alive\r\n\r\n")
			want = append(want, ka)
		}
	}
	return []byte(b.String()), want
}

func TestPipelined100(t *testing.T) {
	in, want := pipeline(100)
	// The last request closes; what follows it is ignored.
	in = append(in, "GET /last HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n"...)
	want = append(want, cl)
	r := feedChunks([][]byte{in})
	if r.err != nil || r.short || r.n != len(in) {
		t.Fatalf("got %v, want %d bytes consumed without error", r, len(in))
	}
	if !slices.Equal(r.reqs, want) {
		t.Fatalf("got %d requests %v\nwant %d %v", len(r.reqs), r.reqs, len(want), want)
	}
	if r.final.state != stClosed {
		t.Errorf("state %d after close, want stClosed", r.final.state)
	}
	rng := rand.New(rand.NewPCG(2, 3))
	for range 20 {
		if got := feedChunks(randomSplit(rng, in)); !equalResults(got, r) {
			t.Fatalf("random split: got %v, want %v", got, r)
		}
	}
}

// TestEmitFalse checks that Feed stops right after a request whose emit
// returned false, and that feeding the rest again resumes where it stopped.
func TestEmitFalse(t *testing.T) {
	in, want := pipeline(40)
	tests := []struct {
		name   string
		accept func(call int) bool // emit's answer for the call-th emit
	}{
		{"always false", func(int) bool { return false }},
		{"every other", func(call int) bool { return call%2 == 0 }},
		{"every third", func(call int) bool { return call%3 != 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parser
			var got []Request
			calls, stops := 0, 0
			emit := func(req Request) bool {
				got = append(got, req)
				calls++
				return tt.accept(calls)
			}
			rest := in
			for len(rest) > 0 {
				before := calls
				n, err := p.Feed(rest, emit)
				if err != nil {
					t.Fatalf("Feed: %v (%s)", err, p.why)
				}
				if n < len(rest) {
					stops++
					if calls == before || tt.accept(calls) {
						t.Fatalf("Feed stopped at %d of %d without a refused emit", n, len(rest))
					}
					// Stopped right after a request: the rest begins
					// with the next one.
					if !isRequestStart(rest[n:]) {
						t.Fatalf("stopped mid-request: rest %q", rest[n:min(len(rest), n+20)])
					}
				}
				if n == 0 {
					t.Fatalf("no progress")
				}
				rest = rest[n:]
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %v\nwant %v", got, want)
			}
			if stops == 0 {
				t.Errorf("Feed never stopped")
			}
		})
	}
}

func isRequestStart(b []byte) bool {
	for _, m := range []string{"GET ", "HEAD ", "POST "} {
		if strings.HasPrefix(string(b), m) {
			return true
		}
	}
	return false
}

// TestEmitFalseAfterBody checks that a refused emit after a body stops with
// the body consumed, and after a close request leaves nothing to retry but
// ignored bytes.
func TestEmitFalseAfterBody(t *testing.T) {
	var p Parser
	var got []Request
	emit := func(req Request) bool { got = append(got, req); return false }
	post := "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
	in := []byte(post + "GET / HTTP/1.1\r\nConnection: close\r\n\r\njunk")
	n, err := p.Feed(in, emit)
	if err != nil || n != len(post) || !slices.Equal(got, []Request{ka}) {
		t.Fatalf("first Feed = %d, %v, %v; want %d, nil, [ka]", n, err, got, len(post))
	}
	in = in[n:]
	n, err = p.Feed(in, emit)
	if err != nil || n != len(in)-len("junk") || !slices.Equal(got, []Request{ka, cl}) {
		t.Fatalf("second Feed = %d, %v, %v", n, err, got)
	}
	n, err = p.Feed(in[n:], emit)
	if err != nil || n != len("junk") || len(got) != 2 {
		t.Fatalf("third Feed = %d, %v, %v; want the junk ignored", n, err, got)
	}
}

// TestBodyAcrossFeeds skips a large body arriving in many pieces.
func TestBodyAcrossFeeds(t *testing.T) {
	const size = 100000
	tests := []struct {
		name  string
		chunk int
	}{
		{"1 byte", 1},
		{"7 bytes", 7},
		{"1000 bytes", 1000},
		{"1448 bytes (MSS)", 1448},
		{"whole", size + 1000},
	}
	head := "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
	in := []byte(head + strings.Repeat("z", size) + wrkGET)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parser
			var got []Request
			emit := func(req Request) bool { got = append(got, req); return true }
			fed := 0
			for fed < len(in) {
				end := min(len(in), fed+tt.chunk)
				n, err := p.Feed(in[fed:end], emit)
				if err != nil || n != end-fed {
					t.Fatalf("Feed at %d = %d, %v", fed, n, err)
				}
				fed = end
				switch {
				case fed < len(head)+size && len(got) != 0:
					t.Fatalf("emitted at %d, before the body ended at %d", fed, len(head)+size)
				case fed >= len(head)+size && len(got) == 0:
					t.Fatalf("no emit at %d, after the body ended", fed)
				}
			}
			if !slices.Equal(got, []Request{ka, ka}) {
				t.Fatalf("got %v, want [ka ka]", got)
			}
		})
	}
}

func sizeofParser() uintptr { return unsafe.Sizeof(Parser{}) }

func TestParserSize(t *testing.T) {
	// The parser lives in every connection's context: keep it small.
	if n := sizeofParser(); n > 96 {
		t.Errorf("Parser is %d bytes, want at most 96", n)
	}
}

// TestFeedAllocs proves the steady state allocates nothing: a pipelined
// stream parsed and answered into a preallocated send buffer.
func TestFeedAllocs(t *testing.T) {
	in, _ := pipeline(64)
	rsp := NewResponder(128)
	send := make([]byte, 0, 1<<20)
	var p Parser
	emit := func(req Request) bool {
		send = append(send, rsp.Response(req)...)
		return true
	}
	allocs := testing.AllocsPerRun(200, func() {
		send = send[:0]
		if n, err := p.Feed(in, emit); n != len(in) || err != nil {
			panic(fmt.Sprintf("Feed = %d, %v", n, err))
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per pipelined stream, want 0", allocs)
	}
	// Split into pieces too: partial state is kept without allocating.
	allocs = testing.AllocsPerRun(200, func() {
		send = send[:0]
		for i := 0; i < len(in); i += 13 {
			p.Feed(in[i:min(len(in), i+13)], emit)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per split stream, want 0", allocs)
	}
}

func BenchmarkFeed(b *testing.B) {
	rsp := NewResponder(128)
	var sent int
	emit := func(req Request) bool {
		sent += len(rsp.Response(req))
		return true
	}
	run := func(b *testing.B, in []byte, perFeed int) {
		var p Parser
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.Feed(in, emit); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*perFeed)/b.Elapsed().Seconds(), "req/s")
	}
	b.Run("wrk-GET", func(b *testing.B) {
		run(b, []byte(wrkGET), 1)
	})
	b.Run("wrk-GET-pipelined-16", func(b *testing.B) {
		run(b, []byte(strings.Repeat(wrkGET, 16)), 16)
	})
	b.Run("curl-GET", func(b *testing.B) {
		in := "GET /index.html HTTP/1.1\r\nHost: 198.18.0.1\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"
		run(b, []byte(in), 1)
	})
}
