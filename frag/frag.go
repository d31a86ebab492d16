// Package frag reassembles IPv4 datagrams from their fragments (RFC 791,
// RFC 815) for one lcore, within fixed bounds on the datagrams in
// progress, the fragments of each, the memory they hold and the time they
// may take. It is plain Go: fragments in, whole datagrams out, time passed
// in.
package frag

import (
	"sync/atomic"
	"time"

	"github.com/pmdstack/pmd/ipv4"
)

// MaxPayload is the largest payload a datagram can have: the total length
// field's 65,535 bytes less a header without options.
const MaxPayload = 65535 - ipv4.IPv4MinHeaderLen

// quoteLen is what an ICMP error quotes of a datagram: its header, options
// included, and the first 64 bits of its data (RFC 792).
const quoteLen = ipv4.IPv4MaxHeaderLen + 8

// Config bounds one lcore's reassembly.
type Config struct {
	// Timeout is how long a datagram may take from its first fragment
	// received to its last (RFC 791's reassembly timer, fixed as RFC 1122
	// 3.3.2 recommends rather than raised by each fragment's TTL).
	Timeout time.Duration
	// Datagrams is how many datagrams may be in progress at once; a new
	// one beyond it evicts the oldest.
	Datagrams int
	// Fragments is how many fragments one datagram may have.
	Fragments int
	// Memory is the bytes of buffers the datagrams in progress may hold,
	// at least MinMemory(Headroom).
	Memory int
	// Headroom is the bytes kept in front of the payload in each buffer,
	// for headers the caller writes there (Ethernet and IPv4).
	Headroom int
	// Seed keys the hash of the table of datagrams, so that a sender
	// cannot choose identifications that collide.
	Seed uint64
}

// DefaultConfig is the bounds pmd uses unless configured otherwise: 30 s
// to complete a datagram (RFC 1122 3.3.2 suggests 60 to 120 s; Linux's
// 30 s halves what a flood of fragments that never complete can hold),
// 256 datagrams in progress, 128 fragments each (a datagram of 65,535
// bytes over a 576-byte path is 119), and 4 MiB of buffers.
func DefaultConfig() Config {
	return Config{Timeout: 30 * time.Second, Datagrams: 256, Fragments: 128, Memory: 4 << 20}
}

// MinMemory is the least Config.Memory that holds one datagram of the
// largest size.
func MinMemory(headroom int) int { return headroom + MaxPayload }

// Key identifies a datagram: RFC 791's source, destination, protocol and
// identification.
type Key struct {
	Src, Dst ipv4.Addr
	ID       uint16
	Proto    uint8
}

// Stats are the reassembler's counters. Every fragment given to Add is
// counted in Fragments; each datagram ends reassembled or in one of the
// datagram counters, and a fragment dropped on its own in Duplicates or
// Bad.
type Stats struct {
	Fragments   uint64 // fragments given to Add
	Reassembled uint64 // datagrams completed
	Duplicates  uint64 // fragments dropped as repeats of one held (same offset and length)
	Bad         uint64 // fragments dropped as malformed: empty, or not a multiple of 8 bytes before the last
	Overlaps    uint64 // datagrams dropped because a fragment overlapped another, or contradicted the end
	TooBig      uint64 // datagrams dropped for reaching past 65,535 bytes
	TooMany     uint64 // datagrams dropped for having more than Config.Fragments fragments
	Full        uint64 // datagrams evicted, the oldest, to make room for a new one (Config.Datagrams)
	Memory      uint64 // datagrams evicted, or dropped, to stay within Config.Memory
	Timeouts    uint64 // datagrams given up after Config.Timeout
}

// Datagram is a reassembled datagram, or one in progress.
type Datagram struct {
	Key
	TOS, TTL uint8 // fragment 0's (RFC 791: its header is the datagram's)
	// Port and MAC are the interface and link source of the last
	// fragment received, where the caller sends an answer.
	Port int
	MAC  ipv4.MAC
	// Buf holds Config.Headroom bytes for the caller, then the Len bytes
	// of payload; its capacity reaches the end of the buffer, so the
	// caller may build an answer in place.
	Buf  []byte
	Len  int
	slot int32
}

// Payload is the datagram's payload.
func (d *Datagram) Payload() []byte { return d.Buf[len(d.Buf)-d.Len:] }

// Expired is a datagram given up after the timeout.
type Expired struct {
	Key
	Port int
	MAC  ipv4.MAC
	// Quote is fragment 0's header and first 8 bytes of data, for an ICMP
	// time exceeded (RFC 792); empty if fragment 0 never arrived, in which
	// case none may be sent (RFC 1122 3.3.2).
	Quote []byte
}

type span struct{ lo, hi uint16 }

type slot struct {
	d        Datagram
	deadline int64
	prev     int32 // age list: older
	next     int32 // age list: newer
	total    int   // payload bytes, known from the last fragment; -1 before
	got      int   // payload bytes held (no two spans overlap)
	end      int   // the highest end of a span held
	spans    []span
	quote    [quoteLen]byte
	nquote   int // 0: fragment 0 not received
	lent     atomic.Bool
}

// Reassembler is one lcore's reassembly: a fixed table of datagrams in
// progress, oldest first, and a pool of buffers. It is not safe for
// concurrent use, except that a lent buffer is given back from another
// goroutine (Lend).
type Reassembler struct {
	cfg    Config
	S      Stats
	slots  []slot
	free   []int32 // slots not in use
	lent   []int32 // slots whose buffer is lent
	index  []int32 // open addressing by hash, linear probing; -1 empty
	mask   uint32
	oldest int32
	newest int32
	pool   pool
	exp    Expired
}

const none = -1

// New makes a reassembler; every slot and list it needs is allocated here,
// buffers as the pool first needs them.
func New(c Config) *Reassembler {
	r := &Reassembler{
		cfg:    c,
		slots:  make([]slot, c.Datagrams),
		free:   make([]int32, 0, c.Datagrams),
		lent:   make([]int32, 0, c.Datagrams),
		oldest: none,
		newest: none,
	}
	spans := make([]span, c.Datagrams*c.Fragments)
	for i := c.Datagrams - 1; i >= 0; i-- {
		r.slots[i].spans = spans[i*c.Fragments : i*c.Fragments : (i+1)*c.Fragments]
		r.free = append(r.free, int32(i))
	}
	n := 16
	for n < 2*c.Datagrams {
		n *= 2
	}
	r.index = make([]int32, n)
	for i := range r.index {
		r.index[i] = none
	}
	r.mask = uint32(n - 1)
	r.pool.init(c.Memory, c.Headroom+MaxPayload)
	return r
}

// InProgress is the number of datagrams being reassembled.
func (r *Reassembler) InProgress() int { return len(r.slots) - len(r.free) - len(r.lent) }

// MemoryUsed is the bytes of buffers the pool has made (in use or kept
// for reuse); never above Config.Memory.
func (r *Reassembler) MemoryUsed() int { return r.pool.used }

// Add takes one fragment (ip checked, IsFragment true), copying its data:
// the caller may free the packet at once. It returns the datagram once
// this fragment completes it; the caller gives it back with Release or
// Lend before the next Add. link is the interface and source of the
// frame, kept for answers.
func (r *Reassembler) Add(ip ipv4.IPv4, port int, mac ipv4.MAC, now int64) (*Datagram, bool) {
	r.S.Fragments++
	k := Key{Src: ip.Src(), Dst: ip.Dst(), ID: ip.ID(), Proto: ip.Protocol()}
	data := ip.Payload()
	off := int(ip.FragmentOffset())
	end := off + len(data)
	more := ip.MoreFragments()
	i := r.lookup(k)
	if len(data) == 0 || more && len(data)%8 != 0 {
		// RFC 791: every fragment but the last carries a multiple of 8
		// bytes. The datagram, if any, may still complete.
		r.S.Bad++
		return nil, false
	}
	if end > MaxPayload {
		// Teardrop's cousins: a datagram no sender can send.
		if i != none {
			r.drop(i)
		}
		r.S.TooBig++
		return nil, false
	}
	if i == none {
		var ok bool
		if i, ok = r.create(k, now); !ok {
			r.S.Full++
			return nil, false
		}
	}
	s := &r.slots[i]
	// The last fragment fixes the end; any fragment beyond it, or a second
	// last fragment elsewhere, contradicts the datagram.
	if !more && (s.total >= 0 && s.total != end || s.end > end) || more && s.total >= 0 && end > s.total {
		r.drop(i)
		r.S.Overlaps++
		return nil, false
	}
	// j is the first span that starts at or after off.
	j := 0
	for j < len(s.spans) && int(s.spans[j].lo) < off {
		j++
	}
	if j < len(s.spans) && int(s.spans[j].lo) == off && int(s.spans[j].hi) == end {
		r.S.Duplicates++
		return nil, false
	}
	// Any other overlap drops the whole datagram: which copy of the bytes
	// to believe is exactly what overlap attacks play on (RFC 1858,
	// RFC 5722's reasoning for IPv6).
	if j < len(s.spans) && int(s.spans[j].lo) < end || j > 0 && int(s.spans[j-1].hi) > off {
		r.drop(i)
		r.S.Overlaps++
		return nil, false
	}
	if len(s.spans) == cap(s.spans) {
		r.drop(i)
		r.S.TooMany++
		return nil, false
	}
	if r.cfg.Headroom+end > cap(s.d.Buf) && !r.grow(i, r.cfg.Headroom+end) {
		r.drop(i)
		r.S.Memory++
		return nil, false
	}
	h := r.cfg.Headroom
	copy(s.d.Buf[h+off:h+end], data)
	s.spans = s.spans[:len(s.spans)+1]
	copy(s.spans[j+1:], s.spans[j:])
	s.spans[j] = span{uint16(off), uint16(end)}
	s.got += len(data)
	s.end = max(s.end, end)
	if !more {
		s.total = end
	}
	if off == 0 {
		s.d.TOS, s.d.TTL = ip.TOS(), ip.TTL()
		s.nquote = copy(s.quote[:], ip[:ip.HeaderLen()+min(8, len(data))])
	}
	s.d.Port, s.d.MAC = port, mac
	if s.got != s.total {
		return nil, false
	}
	// Without overlaps, as many bytes as the total are every byte.
	r.unlink(i)
	r.S.Reassembled++
	s.d.Len = s.total
	s.d.Buf = s.d.Buf[:h+s.total]
	return &s.d, true
}

// Release gives back a datagram Add completed.
func (r *Reassembler) Release(d *Datagram) {
	i := r.slotOf(d)
	r.pool.put(r.slots[i].d.Buf)
	r.slots[i].d.Buf = nil
	r.free = append(r.free, i)
}

// Lend gives back a datagram Add completed whose buffer another goroutine
// still reads: its buffer and slot are reused only after that goroutine
// stores false in the flag returned (with that store, it gives up the
// buffer). Lent buffers count in the memory bound.
func (r *Reassembler) Lend(d *Datagram) *atomic.Bool {
	i := r.slotOf(d)
	s := &r.slots[i]
	s.lent.Store(true)
	r.lent = append(r.lent, i)
	return &s.lent
}

func (r *Reassembler) slotOf(d *Datagram) int32 {
	if d.slot < 0 || int(d.slot) >= len(r.slots) || &r.slots[d.slot].d != d {
		panic("frag: a datagram not of this reassembler")
	}
	return d.slot
}

// reclaim releases the lent buffers given back.
func (r *Reassembler) reclaim() {
	for k := 0; k < len(r.lent); {
		i := r.lent[k]
		if r.slots[i].lent.Load() {
			k++
			continue
		}
		r.lent[k] = r.lent[len(r.lent)-1]
		r.lent = r.lent[:len(r.lent)-1]
		r.Release(&r.slots[i].d)
	}
}

// Expire gives up the oldest datagram if its time is over at now, and
// returns it (valid until the next call); false when none is due. Call it
// until false once per poll: it also takes back lent buffers.
func (r *Reassembler) Expire(now int64) (*Expired, bool) {
	if len(r.lent) > 0 {
		r.reclaim()
	}
	i := r.oldest
	if i == none || r.slots[i].deadline > now {
		return nil, false
	}
	s := &r.slots[i]
	r.exp = Expired{Key: s.d.Key, Port: s.d.Port, MAC: s.d.MAC, Quote: s.quote[:s.nquote]}
	r.drop(i)
	r.S.Timeouts++
	return &r.exp, true
}

// Next is the time of the next timeout, false if nothing is in progress.
func (r *Reassembler) Next() (int64, bool) {
	if r.oldest == none {
		return 0, false
	}
	return r.slots[r.oldest].deadline, true
}

// create starts a datagram, evicting the oldest if every slot is taken;
// false if every slot is lent.
func (r *Reassembler) create(k Key, now int64) (int32, bool) {
	if len(r.free) == 0 && len(r.lent) > 0 {
		r.reclaim()
	}
	if len(r.free) == 0 {
		if r.oldest == none {
			return none, false
		}
		// Evicting the oldest, rather than refusing the newest, keeps a
		// flood of fragments that never complete from locking out every
		// datagram for a whole timeout: a real one completes in a round
		// trip and survives unless the flood replaces the whole table
		// meanwhile.
		r.drop(r.oldest)
		r.S.Full++
	}
	i := r.free[len(r.free)-1]
	r.free = r.free[:len(r.free)-1]
	s := &r.slots[i]
	s.d = Datagram{Key: k, slot: i}
	s.deadline = now + int64(r.cfg.Timeout)
	s.total, s.got, s.end, s.nquote = -1, 0, 0, 0
	s.spans = s.spans[:0]
	// Creation order is deadline order: the timeout is fixed.
	s.prev, s.next = r.newest, none
	if r.newest != none {
		r.slots[r.newest].next = i
	} else {
		r.oldest = i
	}
	r.newest = i
	r.insert(k, i)
	return i, true
}

// grow gives slot i a buffer of at least n bytes, keeping what it holds,
// evicting the oldest other datagrams while the memory bound is reached.
func (r *Reassembler) grow(i int32, n int) bool {
	s := &r.slots[i]
	for {
		b, ok := r.pool.get(n, cap(s.d.Buf))
		if ok {
			if s.d.Buf != nil {
				copy(b, s.d.Buf[:r.cfg.Headroom+s.end])
				r.pool.release(s.d.Buf)
			}
			s.d.Buf = b
			return true
		}
		if k := len(r.lent); k > 0 {
			if r.reclaim(); len(r.lent) < k {
				continue // buffers came back: try again
			}
		}
		v := r.oldest
		if v == i {
			v = r.slots[i].next
		}
		if v == none {
			return false
		}
		r.drop(v)
		r.S.Memory++
	}
}

// drop abandons datagram i, in progress.
func (r *Reassembler) drop(i int32) {
	r.unlink(i)
	r.Release(&r.slots[i].d)
}

// unlink takes datagram i out of the index and the age list.
func (r *Reassembler) unlink(i int32) {
	s := &r.slots[i]
	r.remove(s.d.Key)
	if s.prev != none {
		r.slots[s.prev].next = s.next
	} else {
		r.oldest = s.next
	}
	if s.next != none {
		r.slots[s.next].prev = s.prev
	} else {
		r.newest = s.prev
	}
}

func (r *Reassembler) hash(k Key) uint32 {
	h := (uint64(k.Src)<<32 | uint64(k.Dst)) ^ r.cfg.Seed
	h *= 0x9e3779b97f4a7c15
	h ^= uint64(k.ID)<<8 | uint64(k.Proto)
	h *= 0xff51afd7ed558ccd
	return uint32(h >> 32)
}

func (r *Reassembler) lookup(k Key) int32 {
	for p := r.hash(k) & r.mask; ; p = (p + 1) & r.mask {
		i := r.index[p]
		if i == none || r.slots[i].d.Key == k {
			return i
		}
	}
}

func (r *Reassembler) insert(k Key, i int32) {
	p := r.hash(k) & r.mask
	for r.index[p] != none {
		p = (p + 1) & r.mask
	}
	r.index[p] = i
}

// remove deletes k from the index, shifting back the entries behind it
// so that no probe sequence is broken (no tombstones to pile up).
func (r *Reassembler) remove(k Key) {
	p := r.hash(k) & r.mask
	for r.slots[r.index[p]].d.Key != k {
		p = (p + 1) & r.mask
	}
	for q := (p + 1) & r.mask; r.index[q] != none; q = (q + 1) & r.mask {
		// The entry at q may move to the hole at p if its home is not
		// cyclically within (p, q].
		home := r.hash(r.slots[r.index[q]].d.Key) & r.mask
		if (q-home)&r.mask >= (q-p)&r.mask {
			r.index[p] = r.index[q]
			p = q
		}
	}
	r.index[p] = none
}
