package httpsvc

import "errors"

// MaxHeaderBytes bounds the head of one request: the request line, the
// header fields and the empty line that ends them, plus any empty lines
// before the request line. A longer head is answered with 400 rather than
// 431, so that every failure of the parser has one response.
const MaxHeaderBytes = 8 << 10

// ErrBadRequest is returned by Feed when the request stream is malformed or
// uses something this responder does not support (Transfer-Encoding, a
// version other than HTTP/1.0 and HTTP/1.1, a head above MaxHeaderBytes).
// The caller sends Responder.BadRequest and closes the connection.
var ErrBadRequest = errors.New("httpsvc: bad request")

// Request is what Feed reports about one complete request: all the
// responder needs to choose its answer.
type Request struct {
	// KeepAlive is false when the connection must close after the
	// response: the request said "Connection: close", or it was HTTP/1.0
	// without "Connection: keep-alive" (RFC 9112, Section 9.3).
	KeepAlive bool
	// Head is true for the HEAD method, whose response has no body.
	Head bool
}

// state is where the parser stands in the request stream.
type state uint8

const (
	stStart   state = iota // before the request line; empty lines are skipped
	stStartCR              // CR of an empty line before the request line
	stMethod
	stTarget
	stVersion
	stLineCR    // CR ending the request line or a field line; LF must follow
	stLineStart // start of a field line or of the empty line ending the head
	stName
	stValue
	stEndCR  // CR of the empty line ending the head
	stBody   // skipping Content-Length bytes of body
	stClosed // a request asked to close: the rest of the stream is ignored
	stFailed // malformed stream: every Feed fails
)

// Header fields the parser acts on.
const (
	fieldOther uint8 = iota
	fieldConnection
	fieldContentLength
)

// maxName is long enough for every field name the parser recognises
// ("transfer-encoding"); longer names are only checked for syntax.
const maxName = 17

// maxToken is long enough for every Connection option the parser
// recognises ("keep-alive").
const maxToken = 10

// maxContentLength keeps Content-Length arithmetic far from overflow.
const maxContentLength = 1 << 62

// Reasons for ErrBadRequest, kept in Parser.why for tests and debugging.
const (
	whyHeadTooLarge  = "request head larger than MaxHeaderBytes"
	whyBareCR        = "CR not followed by LF"
	whyMethod        = "invalid method"
	whyTarget        = "invalid request target"
	whyVersion       = "invalid HTTP version"
	whyObsFold       = "line folding or whitespace before field line"
	whyName          = "invalid field name"
	whySpaceColon    = "whitespace between field name and colon"
	whyValue         = "invalid byte in field value"
	whyTE            = "Transfer-Encoding not supported"
	whyContentLength = "invalid Content-Length"
	whyCLMismatch    = "differing Content-Length values"
)

// Parser is the per-connection state of the request parser. The zero value
// is ready for a new connection. It holds a few dozen bytes of fixed-size
// state, never a copy of the request, and no reference to the slices passed
// to Feed.
type Parser struct {
	body  int64 // body bytes still to skip (stBody)
	cl    int64 // Content-Length list element being parsed
	clen  int64 // Content-Length of this request, once haveCL
	hdr   int32 // bytes of this request's head seen so far
	state state
	field uint8 // which field the value being parsed belongs to
	// vstate is the position inside a Content-Length element: 0 before
	// its digits, 1 in them, 2 in whitespace after them.
	vstate uint8
	n      uint8 // length of the current method, target, name or token; saturates
	vpos   uint8 // bytes of "HTTP/1.x" matched

	headSoFar bool // the method matches a prefix of "HEAD"
	head      bool
	http11    bool
	close     bool // "Connection: close" seen
	keepAlive bool // "Connection: keep-alive" seen
	haveCL    bool

	name [maxName]byte  // lower-cased field name
	tok  [maxToken]byte // lower-cased Connection option
	why  string         // reason of the failure, for tests and debugging
}

// Reset makes p ready for a new connection.
func (p *Parser) Reset() { *p = Parser{} }

// Idle reports whether the parser is between requests: no byte of a next
// request (but empty lines) has been fed.
func (p *Parser) Idle() bool { return p.state == stStart || p.state == stStartCR }

// Feed consumes bytes of the request stream b. It calls emit once for each
// complete request, in order, after the last byte of its body. It returns
// how many bytes of b it consumed.
//
// When emit returns false (the caller cannot take another response now),
// Feed stops right after that request; the caller passes the unconsumed
// rest of b again later. Otherwise Feed consumes all of b: a request cut
// short is remembered in p, not in b, and continues with the next call.
//
// A request with KeepAlive false is the last one of the connection
// (RFC 9112, Section 9.6): Feed and later calls consume and ignore whatever
// follows it.
//
// A malformed stream returns ErrBadRequest, with the bytes consumed before
// the offending one; requests before it have been emitted already. The
// caller sends Responder.BadRequest and closes; later calls fail again.
//
// emit should be a func value made once per connection, for example a method
// value stored in the connection's context: a closure built at each call of
// Feed allocates and defeats the allocation-free steady state.
func (p *Parser) Feed(b []byte, emit func(Request) bool) (int, error) {
	if p.state == stFailed {
		return 0, ErrBadRequest
	}
	i := 0
	for i < len(b) {
		switch p.state {
		case stBody:
			n := len(b) - i
			if int64(n) > p.body {
				n = int(p.body)
			}
			p.body -= int64(n)
			i += n
			if p.body > 0 {
				return i, nil
			}
			if !p.finish(emit) {
				return i, nil
			}
			continue
		case stClosed:
			return len(b), nil
		}

		c := b[i]
		i++
		p.hdr++
		if p.hdr > MaxHeaderBytes {
			return i - 1, p.fail(whyHeadTooLarge)
		}

		switch p.state {
		case stStart:
			// RFC 9112, Section 2.2: ignore empty lines before the
			// request line (old clients send CRLF after a body).
			switch c {
			case '\r':
				p.state = stStartCR
				continue
			case '\n':
				continue
			}
			p.state = stMethod
			p.headSoFar = true
			fallthrough

		case stMethod:
			if c == ' ' {
				if p.n == 0 {
					return i - 1, p.fail(whyMethod)
				}
				// Methods are case-sensitive (RFC 9110, Section 9.1).
				p.head = p.headSoFar && p.n == 4
				p.n = 0
				p.state = stTarget
				continue
			}
			if !isTchar(c) {
				return i - 1, p.fail(whyMethod)
			}
			if p.n >= 4 || "HEAD"[p.n] != c {
				p.headSoFar = false
			}
			p.incN()

		case stStartCR:
			if c != '\n' {
				return i - 1, p.fail(whyBareCR)
			}
			p.state = stStart

		case stTarget:
			if c == ' ' {
				if p.n == 0 {
					return i - 1, p.fail(whyTarget)
				}
				p.n = 0
				p.state = stVersion
				continue
			}
			// Any visible byte (and obs-text): the responder does not look
			// at the target, it only has to find where it ends.
			if c < 0x21 || c == 0x7f {
				return i - 1, p.fail(whyTarget)
			}
			p.incN()

		case stVersion:
			const prefix = "HTTP/1."
			switch {
			case int(p.vpos) < len(prefix):
				if c != prefix[p.vpos] {
					return i - 1, p.fail(whyVersion)
				}
			case int(p.vpos) == len(prefix):
				switch c {
				case '1':
					p.http11 = true
				case '0':
				default:
					return i - 1, p.fail(whyVersion)
				}
			default:
				switch c {
				case '\r':
					p.state = stLineCR
				case '\n':
					p.state = stLineStart
				default:
					return i - 1, p.fail(whyVersion)
				}
				continue
			}
			p.vpos++

		case stLineCR:
			if c != '\n' {
				return i - 1, p.fail(whyBareCR)
			}
			p.state = stLineStart

		case stLineStart:
			switch {
			case c == '\r':
				p.state = stEndCR
			case c == '\n':
				if !p.endHead(emit) {
					return i, nil
				}
			case c == ' ' || c == '\t':
				// obs-fold, or whitespace between the request line and
				// the first field: RFC 9112, Sections 2.2 and 5.2 allow
				// rejecting both.
				return i - 1, p.fail(whyObsFold)
			case isTchar(c):
				p.n = 0
				p.addName(c)
				p.state = stName
			default:
				return i - 1, p.fail(whyName)
			}

		case stName:
			switch {
			case isTchar(c):
				p.addName(c)
			case c == ':':
				if err := p.startValue(); err != nil {
					return i - 1, err
				}
			case c == ' ' || c == '\t':
				// RFC 9112, Section 5.1: MUST respond with 400.
				return i - 1, p.fail(whySpaceColon)
			default:
				return i - 1, p.fail(whyName)
			}

		case stValue:
			switch {
			case c == '\r':
				if err := p.endValue(); err != nil {
					return i - 1, err
				}
				p.state = stLineCR
			case c == '\n':
				if err := p.endValue(); err != nil {
					return i - 1, err
				}
				p.state = stLineStart
			case c < 0x20 && c != '\t' || c == 0x7f:
				return i - 1, p.fail(whyValue)
			case p.field == fieldContentLength:
				if err := p.contentLengthByte(c); err != nil {
					return i - 1, err
				}
			case p.field == fieldConnection:
				p.connectionByte(c)
			}

		case stEndCR:
			if c != '\n' {
				return i - 1, p.fail(whyBareCR)
			}
			if !p.endHead(emit) {
				return i, nil
			}
		}
	}
	return i, nil
}

func (p *Parser) fail(why string) error {
	p.state = stFailed
	p.why = why
	return ErrBadRequest
}

func (p *Parser) incN() {
	if p.n < 255 {
		p.n++
	}
}

func (p *Parser) addName(c byte) {
	if int(p.n) < len(p.name) {
		p.name[p.n] = lower(c)
	}
	p.incN()
}

// startValue classifies the field whose name ended with a colon.
func (p *Parser) startValue() error {
	p.field = fieldOther
	if int(p.n) <= len(p.name) {
		name := p.name[:p.n]
		switch {
		case string(name) == "connection":
			p.field = fieldConnection
		case string(name) == "content-length":
			p.field = fieldContentLength
		case string(name) == "transfer-encoding":
			// Only chunked would matter, and a benchmark responder has
			// no use for it; RFC 9112, Section 6.1 lets a server refuse
			// what it does not implement (it suggests 501; we keep one
			// failure response).
			return p.fail(whyTE)
		}
	}
	p.n = 0
	p.vstate = 0
	p.cl = 0
	p.state = stValue
	return nil
}

// contentLengthByte parses Content-Length = 1*DIGIT, also as a list of
// identical values ("5, 5"), which RFC 9110, Section 8.6 allows accepting.
func (p *Parser) contentLengthByte(c byte) error {
	switch {
	case c >= '0' && c <= '9':
		if p.vstate == 2 {
			return p.fail(whyContentLength)
		}
		p.vstate = 1
		if p.cl > maxContentLength/10 {
			return p.fail(whyContentLength)
		}
		p.cl = p.cl*10 + int64(c-'0')
		if p.cl > maxContentLength {
			return p.fail(whyContentLength)
		}
	case c == ' ' || c == '\t':
		if p.vstate == 1 {
			p.vstate = 2
		}
	case c == ',':
		return p.endContentLength()
	default:
		return p.fail(whyContentLength)
	}
	return nil
}

// endContentLength records one Content-Length list element.
func (p *Parser) endContentLength() error {
	if p.vstate == 0 {
		return p.fail(whyContentLength)
	}
	if p.haveCL && p.clen != p.cl {
		return p.fail(whyCLMismatch)
	}
	p.haveCL = true
	p.clen = p.cl
	p.cl = 0
	p.vstate = 0
	return nil
}

// connectionByte splits the Connection list into its options.
func (p *Parser) connectionByte(c byte) {
	if c == ' ' || c == '\t' || c == ',' {
		p.endToken()
		return
	}
	if int(p.n) < len(p.tok) {
		p.tok[p.n] = lower(c)
	}
	p.incN()
}

// endToken records a Connection option; options are case-insensitive
// (RFC 9110, Section 7.6.1).
func (p *Parser) endToken() {
	switch {
	case p.n == 5 && string(p.tok[:5]) == "close":
		p.close = true
	case p.n == 10 && string(p.tok[:10]) == "keep-alive":
		p.keepAlive = true
	}
	p.n = 0
}

// endValue ends the field line being parsed.
func (p *Parser) endValue() error {
	switch p.field {
	case fieldContentLength:
		return p.endContentLength()
	case fieldConnection:
		p.endToken()
	}
	return nil
}

// endHead is called after the empty line that ends the head. It reports
// whether Feed may go on.
func (p *Parser) endHead(emit func(Request) bool) bool {
	if p.haveCL && p.clen > 0 {
		p.body = p.clen
		p.state = stBody
		return true
	}
	return p.finish(emit)
}

// finish emits the request that just ended and prepares for the next one.
func (p *Parser) finish(emit func(Request) bool) bool {
	req := Request{
		KeepAlive: !p.close && (p.http11 || p.keepAlive),
		Head:      p.head,
	}
	*p = Parser{}
	if !req.KeepAlive {
		p.state = stClosed
	}
	return emit(req)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// tchar is the token alphabet of RFC 9110, Section 5.6.2.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isTchar(c byte) bool { return tchar[c] }
