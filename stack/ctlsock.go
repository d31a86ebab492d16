package stack

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/pmdstack/pmd/dev"
	"github.com/pmdstack/pmd/tcp"
)

// The control socket: a Unix stream socket (config [control] socket) that
// the pmd stats, conns, capture and faults commands talk to. One request
// per connection: a JSON ControlRequest on one line, answered by one JSON
// ControlReply. It is served by a goroutine of its own from what the
// lcores publish (Snapshot) or ask them for (Connections), so a client
// never stalls an lcore. The socket is mode 0600 in a directory of mode
// 0700: only its owner (root, who runs pmd) may use it, as the commands
// change what pmd does (captures, faults).

// ControlRequest is a request on the control socket.
type ControlRequest struct {
	// Cmd is "stats", "conns", "capture" or "faults".
	Cmd string `json:"cmd"`
	// State (conns) keeps only the connections in this state
	// (tcp.ParseState's names); "" keeps all.
	State string `json:"state,omitempty"`
	// TCPPort (conns) keeps only the connections whose local or remote
	// port it is; 0 keeps all.
	TCPPort uint16 `json:"tcp_port,omitempty"`
	// On (capture) turns the captures on or off; nil reads their state.
	On *bool `json:"on,omitempty"`
	// Port (faults) is the port's index in the configuration.
	Port int `json:"port,omitempty"`
	// Faults (faults) are the port's new rates; nil reads them.
	Faults *FaultRates `json:"faults,omitempty"`
}

// FaultRates are a port's fault injection rates, each a probability per
// frame, and the directions they damage.
type FaultRates struct {
	Drop      float64 `json:"drop"`
	Duplicate float64 `json:"duplicate"`
	Reorder   float64 `json:"reorder"`
	Corrupt   float64 `json:"corrupt"`
	RX        bool    `json:"rx"`
	TX        bool    `json:"tx"`
}

// ControlReply is the answer to a ControlRequest: Error, or the part its
// command fills.
type ControlReply struct {
	Error   string        `json:"error,omitempty"`
	Stats   *Snapshot     `json:"stats,omitempty"`
	Conns   *ConnsReply   `json:"conns,omitempty"`
	Capture *CaptureReply `json:"capture,omitempty"`
	Faults  *FaultsReply  `json:"faults,omitempty"`
}

// ConnsReply is the filtered connection listing.
type ConnsReply struct {
	Lcores []LcoreConns `json:"lcores"`
	// Lines is the listing as `kill -USR1` logs it, filtered.
	Lines []string `json:"lines"`
	// Missing names the lcores that did not answer in time, if any.
	Missing string `json:"missing,omitempty"`
}

// LcoreConns is one lcore's part of a listing.
type LcoreConns struct {
	Lcore     int            `json:"lcore"`
	Listening []uint16       `json:"listening"`
	Conns     int            `json:"conns"`    // in its table, before the filter
	ByState   map[string]int `json:"by_state"` // before the filter
	Entries   []ConnEntry    `json:"entries"`  // after the filter
	More      int            `json:"more"`     // connections left out by the lcore's bound
}

// ConnEntry is one connection.
type ConnEntry struct {
	Local      string  `json:"local"`
	Remote     string  `json:"remote"`
	State      string  `json:"state"`
	SendQueued int     `json:"send_queued"`
	Unread     int     `json:"unread"`
	SndWnd     uint32  `json:"snd_wnd"`
	Cwnd       uint32  `json:"cwnd"`
	SRTTms     float64 `json:"srtt_ms"`
	RTOms      float64 `json:"rto_ms"`
}

// CaptureReply is the captures' state.
type CaptureReply struct {
	On    bool `json:"on"`
	Files int  `json:"files"`
}

// FaultsReply is a port's fault injector's state.
type FaultsReply struct {
	Port  int         `json:"port"`
	Rates *FaultRates `json:"rates,omitempty"` // nil: the port has no injector
}

type controlServer struct {
	s    *Stack
	path string
	ln   *net.UnixListener
	wg   sync.WaitGroup
}

// openControl opens the control socket, if one is configured. A socket
// that another running pmd answers on is left alone (this pmd then has
// none, and says how to give it one); a stale one, of a pmd that ended
// without removing it, is replaced. Failing to open it is a warning, not
// an error: pmd runs without.
func (s *Stack) openControl() {
	path := s.cfg.Control.Socket
	if path == "" {
		return
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		s.log.Warn("control socket in use by another pmd: this one has none (set [control] socket to a path of its own)", "socket", path)
		return
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.log.Warn("no control socket", "socket", path, "err", err)
		return
	}
	os.Remove(path)
	// The socket file takes the umask's mode; bind it closed and open it
	// to the owner only before anyone may connect.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		s.log.Warn("no control socket", "socket", path, "err", err)
		return
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		s.log.Warn("no control socket", "socket", path, "err", err)
		return
	}
	cs := &controlServer{s: s, path: path, ln: ln}
	s.ctl = cs
	cs.wg.Add(1)
	go cs.serve()
	s.log.Info("control socket", "socket", path, "commands", "pmd stats, pmd conns, pmd capture, pmd faults")
}

func (s *Stack) closeControl() {
	if s.ctl == nil {
		return
	}
	s.ctl.ln.Close()
	s.ctl.wg.Wait()
	s.ctl = nil
}

func (cs *controlServer) serve() {
	defer cs.wg.Done()
	for {
		c, err := cs.ln.AcceptUnix()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				cs.s.log.Warn("control socket: accept", "err", err)
			}
			return
		}
		cs.wg.Add(1)
		go func() {
			defer cs.wg.Done()
			cs.handle(c)
		}()
	}
}

// handle answers one request; a client that does not send it within 5 s
// is dropped.
func (cs *controlServer) handle(c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var req ControlRequest
	var reply ControlReply
	line, err := bufio.NewReaderSize(c, 4096).ReadBytes('\n')
	if err == nil || len(line) > 0 {
		err = json.Unmarshal(line, &req)
	}
	if err != nil {
		reply.Error = "bad request: " + err.Error()
	} else {
		reply = cs.s.control1(req)
	}
	json.NewEncoder(c).Encode(reply)
}

// control1 carries out one control request.
func (s *Stack) control1(req ControlRequest) ControlReply {
	var r ControlReply
	switch req.Cmd {
	case "stats":
		snap := s.Snapshot()
		r.Stats = &snap
	case "conns":
		var state tcp.State
		if req.State != "" {
			st, ok := tcp.ParseState(req.State)
			if !ok {
				r.Error = fmt.Sprintf("no TCP state %q (ESTABLISHED, TIME-WAIT, SYN-RECEIVED, ...)", req.State)
				return r
			}
			state = st
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ls, err := s.Connections(ctx)
		cancel()
		cr := &ConnsReply{Lines: []string{}, Lcores: []LcoreConns{}}
		if err != nil {
			cr.Missing = err.Error()
		}
		for _, l := range ls {
			lc := LcoreConns{Lcore: l.Lcore, Listening: l.Listening, Conns: l.Conns, ByState: map[string]int{}, Entries: []ConnEntry{}, More: l.More}
			for st, n := range l.ByState {
				if n > 0 {
					lc.ByState[tcp.State(st).String()] = n
				}
			}
			lines := l.Lines()
			cr.Lines = append(cr.Lines, lines[0])
			for i, e := range l.Entries {
				if req.State != "" && e.State != state || req.TCPPort != 0 && e.ID.LocalPort != req.TCPPort && e.ID.RemotePort != req.TCPPort {
					continue
				}
				lc.Entries = append(lc.Entries, ConnEntry{
					Local: e.ID.Local.String() + ":" + strconv.Itoa(int(e.ID.LocalPort)), Remote: e.ID.Remote.String() + ":" + strconv.Itoa(int(e.ID.RemotePort)),
					State: e.State.String(), SendQueued: e.SendQueued, Unread: e.Unread, SndWnd: e.SndWnd, Cwnd: e.Cwnd,
					SRTTms: float64(e.SRTT) / 1e6, RTOms: float64(e.RTO) / 1e6})
				cr.Lines = append(cr.Lines, lines[1+i])
			}
			if l.More > 0 {
				cr.Lines = append(cr.Lines, lines[len(lines)-1])
			}
			cr.Lcores = append(cr.Lcores, lc)
		}
		r.Conns = cr
	case "capture":
		var cr CaptureReply
		if req.On != nil {
			cr.Files = s.SetCapture(*req.On)
			s.log.Info("capture switched", "recording", *req.On, "files", cr.Files, "by", "control socket")
		} else {
			cr.Files = len(s.pcaps)
		}
		for _, p := range s.pcaps {
			cr.On = cr.On || p.On.Load()
		}
		if cr.Files == 0 {
			r.Error = "no port has a capture: set port.pcap (and pcap_start = false to start it switched off)"
			return r
		}
		r.Capture = &cr
	case "faults":
		if req.Faults != nil {
			f := req.Faults
			if err := s.SetFaults(req.Port, dev.FaultConfig{Drop: f.Drop, Duplicate: f.Duplicate, Reorder: f.Reorder, Corrupt: f.Corrupt, RX: f.RX, TX: f.TX}); err != nil {
				r.Error = err.Error()
				return r
			}
		}
		if req.Port < 0 || req.Port >= len(s.cfg.Ports) {
			r.Error = fmt.Sprintf("no port %d (the configuration has %d)", req.Port, len(s.cfg.Ports))
			return r
		}
		fr := &FaultsReply{Port: req.Port}
		if c, ok := s.Faults(req.Port); ok {
			fr.Rates = &FaultRates{Drop: c.Drop, Duplicate: c.Duplicate, Reorder: c.Reorder, Corrupt: c.Corrupt, RX: c.RX, TX: c.TX}
		}
		r.Faults = fr
	default:
		r.Error = fmt.Sprintf("unknown command %q (stats, conns, capture, faults)", req.Cmd)
	}
	return r
}

// Control sends one request to the control socket at path and decodes
// the reply; an error reply is returned as an error.
func Control(path string, req ControlRequest) (*ControlReply, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w (is pmd running with this configuration's [control] socket?)", path, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	var r ControlReply
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		return nil, fmt.Errorf("control socket %s: reading the reply: %w", path, err)
	}
	if r.Error != "" {
		return &r, errors.New(r.Error)
	}
	return &r, nil
}
