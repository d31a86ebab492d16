package httpsvc

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// readResponse parses b with net/http's client parser, an independent
// check that the prebuilt bytes are a well-formed HTTP/1.1 response.
func readResponse(t *testing.T, b []byte, method string) (*http.Response, []byte) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("ReadResponse: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Fatalf("%d bytes after the response", len(rest))
	}
	return resp, body
}

func TestResponderOK(t *testing.T) {
	for _, size := range []int{0, 1, 63, 64, 65, 128, 4096, 100000} {
		r := NewResponder(size)
		if r.BodySize() != size {
			t.Errorf("BodySize() = %d, want %d", r.BodySize(), size)
		}
		for _, keepAlive := range []bool{true, false} {
			tests := []struct {
				name   string
				method string
				b      []byte
			}{
				{"OK", "GET", r.OK(keepAlive)},
				{"Response GET", "GET", r.Response(Request{KeepAlive: keepAlive})},
				{"OKHead", "HEAD", r.OKHead(keepAlive)},
				{"Response HEAD", "HEAD", r.Response(Request{KeepAlive: keepAlive, Head: true})},
			}
			for _, tt := range tests {
				resp, body := readResponse(t, tt.b, tt.method)
				if resp.StatusCode != 200 || resp.ProtoMajor != 1 || resp.ProtoMinor != 1 {
					t.Errorf("size %d %s: status %q %s", size, tt.name, resp.Status, resp.Proto)
				}
				if resp.ContentLength != int64(size) {
					t.Errorf("size %d %s: Content-Length %d", size, tt.name, resp.ContentLength)
				}
				if resp.Close == keepAlive {
					t.Errorf("size %d %s keepAlive=%v: Close=%v", size, tt.name, keepAlive, resp.Close)
				}
				wantConn := "keep-alive"
				if !keepAlive {
					wantConn = "close"
				}
				// net/http folds "Connection: close" into Close: look at
				// the bytes.
				if !bytes.Contains(tt.b, []byte("\r\nConnection: "+wantConn+"\r\n")) {
					t.Errorf("size %d %s: no Connection: %s field", size, tt.name, wantConn)
				}
				if cap(tt.b) != len(tt.b) {
					t.Errorf("size %d %s: capacity %d beyond length %d", size, tt.name, cap(tt.b), len(tt.b))
				}
				if tt.method == "HEAD" {
					if !bytes.HasPrefix(r.OK(keepAlive), tt.b) || len(tt.b) != len(r.OK(keepAlive))-size {
						t.Errorf("size %d %s: not the head of OK", size, tt.name)
					}
					continue
				}
				if len(body) != size {
					t.Fatalf("size %d %s: body of %d bytes", size, tt.name, len(body))
				}
				for i, c := range body {
					if c < 0x21 || c > 0x7e || c != bodyPattern[i%len(bodyPattern)] {
						t.Fatalf("size %d %s: body byte %d is %q", size, tt.name, i, c)
					}
				}
			}
		}
	}
}

func TestResponderBadRequest(t *testing.T) {
	b := NewResponder(10).BadRequest()
	resp, body := readResponse(t, b, "GET")
	if resp.StatusCode != 400 || resp.Status != "400 Bad Request" {
		t.Errorf("status %q", resp.Status)
	}
	if !resp.Close || !bytes.Contains(b, []byte("\r\nConnection: close\r\n")) {
		t.Errorf("Close=%v, want a Connection: close field", resp.Close)
	}
	if string(body) != badRequestBody || resp.ContentLength != int64(len(badRequestBody)) {
		t.Errorf("body %q, Content-Length %d", body, resp.ContentLength)
	}
	if !strings.HasPrefix(string(b), "HTTP/1.1 400 Bad Request\r\n") {
		t.Errorf("status line of %q", b)
	}
	if cap(b) != len(b) {
		t.Errorf("capacity %d beyond length %d", cap(b), len(b))
	}
}

func TestResponderAppendDoesNotWrite(t *testing.T) {
	r := NewResponder(8)
	head := r.OKHead(true)
	_ = append(head, "XXXX"...)
	if !bytes.Equal(r.OK(true)[len(head):], []byte(bodyPattern[:8])) {
		t.Errorf("append to OKHead wrote into the shared response")
	}
}

func TestNewResponderNegative(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("NewResponder(-1) did not panic")
		}
	}()
	NewResponder(-1)
}
