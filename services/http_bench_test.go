package services

import (
	"testing"
	"time"

	"github.com/pmdstack/pmd/engine"
	"github.com/pmdstack/pmd/httpsvc"
	"github.com/pmdstack/pmd/tcp"
)

// httpPair sets up a keep-alive connection to the http service and
// returns a function that runs one request/response transaction.
func httpPair(tb testing.TB) func() {
	a := host(macA, ipA, nil)
	h := host(macB, ipB, []engine.TCPService{{Port: 80, New: func(l *engine.Lcore) tcp.Handler { return NewHTTP(l, httpsvc.NewResponder(64)) }}})
	k := &engine.MemLink{A: a, B: h, Now: int64(time.Second)}
	cl := &engine.MemClient{Discard: true, NoDelay: true}
	msg := []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
	want := len(httpsvc.NewResponder(64).OK(true))
	if _, err := a.L.TCP().Connect(ipA, ipB, 80, cl, k.Now); err != nil {
		tb.Fatal(err)
	}
	k.Run(100, func() bool { return cl.Conn != nil })
	txn := func() {
		cl.N = 0
		cl.Conn.Write(msg)
		for i := 0; i < 20 && cl.N < want; i++ {
			k.Step()
		}
		if cl.N != want {
			tb.Fatalf("transaction: %d of %d response bytes", cl.N, want)
		}
	}
	for i := 0; i < 100; i++ {
		txn() // warm the pools
	}
	return txn
}

// TestHTTPTransactionNoAllocations: once the connection is up, a request
// and its response through both engines and stacks allocate nothing.
func TestHTTPTransactionNoAllocations(t *testing.T) {
	txn := httpPair(t)
	if a := testing.AllocsPerRun(1000, txn); a != 0 {
		t.Fatalf("%v allocations per HTTP transaction", a)
	}
}

// BenchmarkHTTPTransaction: one keep-alive GET and its 64-byte response
// across the in-memory wire (both stacks and engines, checksums in
// software). Under cachegrind (GOGC=off GOMAXPROCS=1, the slope between
// -test.benchtime 20000x and 60000x) it counts the instructions of the
// native path: 12,141 per transaction, against 11,748 before the handler
// contract and the embedding API (+3.3%).
func BenchmarkHTTPTransaction(b *testing.B) {
	txn := httpPair(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		txn()
	}
}
