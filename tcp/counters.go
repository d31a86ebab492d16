package tcp

// Counter names one per-lcore TCP counter.
type Counter int

// The TCP counters.
const (
	SegsIn Counter = iota
	SegsOut
	Retransmits
	FastRetransmits
	Timeouts
	ResetsSent
	ResetsRcvd
	ActiveOpens
	PassiveOpens
	ConnsClosed // orderly
	ConnsFailed // reset, refused, timed out, aborted
	SynCookiesSent
	SynCookiesValid
	SynCookiesBad
	SynCookiesLimited  // SYNs not answered: their source used its cookie budget (Config.CookieSourceRate)
	SynSourcesRefusing // times a source (bucket) went to cookie mode for resetting many of our SYN-ACKs
	ChallengeAcks
	ChallengeAcksLimited
	OOWAcksLimited // bare ACKs outside the window left unanswered (one answer per 500 ms per connection)
	TimeWaitReused
	PMTULowered    // ICMP "fragmentation needed" taken: a connection's segments shrank
	PMTUIgnored    // such ICMP ignored: no such connection, sequence out of range, or no smaller
	ClosedUnread   // resets for a Close that left received data unread
	RecvBufferFull // aborts: the handler declined data with the receive buffer full (ErrRecvBufferFull)
	HandlerPanics  // handler callbacks that panicked (contained; the connection aborted)
	OutputWaits    // segments held back while the device's TX queue was full, sent at a later poll
	KeepaliveProbes
	WindowProbes
	DupAcks
	TableFull
	NoPorts
	DropBadHeader
	DropBadOptions
	DropNoConn // answered with RST
	DropOutOfWindow
	DropPAWS
	DropOOOFull
	DropNoBuffer
	DropBadAck
	DropBacklog // SYN dropped: backlog and cookies both unavailable
	NumCounters
)

var counterNames = [NumCounters]string{
	SegsIn:               "tcp_segs_in",
	SegsOut:              "tcp_segs_out",
	Retransmits:          "tcp_retransmits",
	FastRetransmits:      "tcp_fast_retransmits",
	Timeouts:             "tcp_timeouts",
	ResetsSent:           "tcp_resets_sent",
	ResetsRcvd:           "tcp_resets_rcvd",
	ActiveOpens:          "tcp_active_opens",
	PassiveOpens:         "tcp_passive_opens",
	ConnsClosed:          "tcp_conns_closed",
	ConnsFailed:          "tcp_conns_failed",
	SynCookiesSent:       "tcp_syn_cookies_sent",
	SynCookiesValid:      "tcp_syn_cookies_valid",
	SynCookiesBad:        "tcp_syn_cookies_bad",
	SynCookiesLimited:    "tcp_syn_cookies_limited",
	SynSourcesRefusing:   "tcp_syn_sources_refusing",
	ChallengeAcks:        "tcp_challenge_acks",
	ChallengeAcksLimited: "tcp_challenge_acks_limited",
	OOWAcksLimited:       "tcp_oow_acks_limited",
	TimeWaitReused:       "tcp_time_wait_reused",
	PMTULowered:          "tcp_pmtu_lowered",
	PMTUIgnored:          "tcp_pmtu_ignored",
	ClosedUnread:         "tcp_closed_unread",
	RecvBufferFull:       "tcp_recv_buffer_full",
	HandlerPanics:        "tcp_handler_panics",
	OutputWaits:          "tcp_output_waits",
	KeepaliveProbes:      "tcp_keepalive_probes",
	WindowProbes:         "tcp_window_probes",
	DupAcks:              "tcp_dup_acks",
	TableFull:            "tcp_table_full",
	NoPorts:              "tcp_no_ports",
	DropBadHeader:        "tcp_drop_bad_header",
	DropBadOptions:       "tcp_drop_bad_options",
	DropNoConn:           "tcp_drop_no_conn",
	DropOutOfWindow:      "tcp_drop_out_of_window",
	DropPAWS:             "tcp_drop_paws",
	DropOOOFull:          "tcp_drop_ooo_full",
	DropNoBuffer:         "tcp_drop_no_buffer",
	DropBadAck:           "tcp_drop_bad_ack",
	DropBacklog:          "tcp_drop_backlog",
}

// String is the name used in logs and counter lines.
func (c Counter) String() string { return counterNames[c] }

// IsDrop reports whether c counts dropped segments.
func (c Counter) IsDrop() bool { return c >= DropBadHeader && c < NumCounters }

// Counters is a set of TCP counter values.
type Counters [NumCounters]uint64
