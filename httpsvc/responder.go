// Package httpsvc is the engine of pmd's built-in "http" service: an
// HTTP/1.1 (RFC 9112) request parser for persistent, pipelined connections
// and a responder whose replies are prebuilt bytes. It allocates nothing per
// request and starts no goroutines, so it can run inside a TCP receive
// callback on a polling lcore.
package httpsvc

import "strconv"

// bodyPattern is repeated to fill response bodies: printable, and easy to
// recognise in a capture.
const bodyPattern = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"

// badRequestBody is the short body of BadRequest, so that a human with curl
// sees why the connection closed.
const badRequestBody = "bad request\n"

var badRequest = []byte("HTTP/1.1 400 Bad Request\r\n" +
	"Server: pmd\r\n" +
	"Content-Type: text/plain\r\n" +
	"Content-Length: " + strconv.Itoa(len(badRequestBody)) + "\r\n" +
	"Connection: close\r\n" +
	"\r\n" +
	badRequestBody)

// Responder holds the prebuilt responses of one service. It is immutable
// after NewResponder, so every connection (and every lcore) may share one.
// The slices it returns must not be modified; their capacity is clipped, so
// an append by the caller copies instead of writing into them.
//
// Responses carry no Date header: the bytes are built once and shared
// read-only, so the responder acts as an origin server without a clock
// (RFC 9110, Section 6.6.1).
type Responder struct {
	keepAlive []byte // full 200 response with "Connection: keep-alive"
	close     []byte // full 200 response with "Connection: close"
	headKA    int    // length of the head (status line and fields) of keepAlive
	headClose int    // length of the head of close
	bodySize  int
}

// NewResponder builds the responses for a body of bodySize bytes of a fixed
// printable pattern. It panics if bodySize is negative: the configuration
// layer validates the size before the service starts.
func NewResponder(bodySize int) *Responder {
	if bodySize < 0 {
		panic("httpsvc: negative body size " + strconv.Itoa(bodySize))
	}
	body := make([]byte, bodySize)
	for i := range body {
		body[i] = bodyPattern[i%len(bodyPattern)]
	}
	r := &Responder{bodySize: bodySize}
	r.keepAlive, r.headKA = buildOK(body, "keep-alive")
	r.close, r.headClose = buildOK(body, "close")
	return r
}

// buildOK returns a 200 response with the given Connection option and the
// length of its head.
func buildOK(body []byte, connection string) ([]byte, int) {
	// "Connection: keep-alive" is redundant for HTTP/1.1 clients but
	// required by HTTP/1.0 clients that asked for keep-alive, and the same
	// bytes serve both.
	head := "HTTP/1.1 200 OK\r\n" +
		"Server: pmd\r\n" +
		"Content-Type: text/plain\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Connection: " + connection + "\r\n" +
		"\r\n"
	b := make([]byte, 0, len(head)+len(body))
	b = append(b, head...)
	b = append(b, body...)
	return b, len(head)
}

// BodySize returns the size of the body of OK responses.
func (r *Responder) BodySize() int { return r.bodySize }

// OK returns the full 200 response: status line, header fields and body.
// With keepAlive false it says "Connection: close" and the caller closes the
// connection after sending it.
func (r *Responder) OK(keepAlive bool) []byte {
	if keepAlive {
		return r.keepAlive[:len(r.keepAlive):len(r.keepAlive)]
	}
	return r.close[:len(r.close):len(r.close)]
}

// OKHead returns the 200 response to a HEAD request: the same header fields
// as OK, Content-Length included, and no body (RFC 9110, Section 9.3.2).
func (r *Responder) OKHead(keepAlive bool) []byte {
	if keepAlive {
		return r.keepAlive[:r.headKA:r.headKA]
	}
	return r.close[:r.headClose:r.headClose]
}

// Response returns the response to req: OK or OKHead.
func (r *Responder) Response(req Request) []byte {
	if req.Head {
		return r.OKHead(req.KeepAlive)
	}
	return r.OK(req.KeepAlive)
}

// BadRequest returns the 400 response sent after Feed reported
// ErrBadRequest. It says "Connection: close"; the caller closes the
// connection after sending it.
func (r *Responder) BadRequest() []byte {
	return badRequest[:len(badRequest):len(badRequest)]
}
