package tcp

import "unsafe"

// connSlab is the bytes of control blocks newConn allocates at once, and
// connsPerSlab how many that is. One allocation per connection would be
// rounded up to the allocator's size class (a 552-byte Conn took 576, and
// the class moves as Conn changes); 64 KiB is a whole number of
// the allocator's pages, so a slab wastes only what is left over after its
// last control block, and ConnMemory can say exactly what a connection
// costs. A slab is never freed while the stack lives, and neither was a
// single control block: the stack keeps every one it made, in the table or
// on its free list.
const (
	connSlab     = 64 << 10
	connsPerSlab = connSlab / int(unsafe.Sizeof(Conn{}))
)

// Memory is the Go heap a stack takes under a configuration, in bytes
// (hugepages hold packets only, not connections). pmd check prints it;
// TestIdleConnMemory holds it to what a stack measurably takes. What a
// stack holds whatever its configuration (the timing wheel, a listener's
// entry, scratch buffers made on first use, the SYN-cookie buckets: tens
// of kilobytes) is left out.
type Memory struct {
	MaxConns int
	// Conn is one connection's control block, its share of a slab.
	Conn int
	// Table is what NewStack allocates for MaxConns connections before
	// the first arrives: the connection table (a power of two of at least
	// twice MaxConns slots) and the free list of control blocks.
	Table int
	// SndBuf and RcvBuf are one send and one receive buffer (a power of
	// two at least Config.SndBuf and Config.RcvBuf); a connection holds
	// one of each only while it has data queued or unread, and none when
	// idle.
	SndBuf, RcvBuf int
	// Buffers is Config.Buffers of each kind, with their free lists: the
	// most the buffers can take.
	Buffers int
}

// ConnMemory is the memory a stack made with cfg takes (zero fields of
// cfg take their defaults, as in NewStack). For MaxConns below a slab of
// control blocks (about a hundred) Conn is an estimate; above, it is exact.
func ConnMemory(cfg Config) Memory {
	cfg.fill()
	slots := max(pow2(2*cfg.MaxConns), minSlots)
	snd, rcv := pow2(cfg.SndBuf), pow2(cfg.RcvBuf)
	ptr := int(unsafe.Sizeof(uintptr(0)))
	slice := int(unsafe.Sizeof([]byte(nil)))
	return Memory{
		MaxConns: cfg.MaxConns,
		Conn:     (connSlab + connsPerSlab - 1) / connsPerSlab,
		Table:    slots*int(unsafe.Sizeof(connSlot{})) + cfg.MaxConns*ptr,
		SndBuf:   snd,
		RcvBuf:   rcv,
		Buffers:  cfg.Buffers * (snd + rcv + 2*slice),
	}
}

// PerConn is what each connection costs with the table full: its control
// block and its share of Table.
func (m Memory) PerConn() int { return m.Conn + (m.Table+m.MaxConns-1)/m.MaxConns }

// Conns is the most the connections take: MaxConns control blocks and the
// table.
func (m Memory) Conns() int { return m.MaxConns*m.Conn + m.Table }
