// Package packml simulates a line PLC: an OPC UA server on loopback exposing
// one PackML unit (OPC 30050 / ISA-TR88.00.02) with a real PackML state
// machine, unit mode, production counters, stop reason, the PackML commands
// (as OPC UA methods and as PackTags command tags) and a reject gate, plus a
// Go API for the rest of the simulated line and fault knobs.
//
// It is built on gopcua's server package (github.com/gopcua/opcua/server).
// That server answers Read, Browse and subscriptions itself but has no Call
// service (it answers BadServiceUnsupported) and stores client writes without
// telling anyone, so the simulator registers its own Call and Write service
// handlers before the server starts: methods do work, and writes to the
// command tags drive the state machine.
//
// # Address space
//
// Every node is in the PackML namespace (Namespace) with a string node id made
// of the unit's name and PackML browse names joined by dots (Unit "Line1"):
//
//	Objects/PackMLObjects/Line1                    object; the methods below are its components
//	  Line1.Status.StateCurrent          Int32     PackML state number (1 Clearing ... 17 Complete)
//	  Line1.Status.UnitModeCurrent       Int32     1 Produce, 2 Maintenance, 3 Manual
//	  Line1.Admin.ProdProcessedCount     Int32     packs processed
//	  Line1.Admin.ProdDefectiveCount     Int32     packs counted defective
//	  Line1.Admin.StopReason.ID          Int32     PackMLAlarmDataType ID of the last stop; 0 none
//	  Line1.Admin.StopReason.Message     String    its text
//	  Line1.Command.CntrlCmd             Int32     writable: PackTags command number
//	  Line1.Command.CmdChangeRequest     Boolean   writable: true executes CntrlCmd, then reads false again
//	  Line1.Command.RejectUnit           String    writable: each write rejects that unit
//	  Line1.Reset, .Start, .Stop, .Hold, .Unhold, .Suspend, .Unsuspend, .Abort, .Clear, .ToComplete
//	                                     methods without arguments (OPC 30050 browse names)
//	  Line1.RejectUnit                   method, one String input argument: the unit to reject
//
// OPC 30050 models the state as nested state machine objects and the counters
// and stop reason as structures (PackMLCountDataType[], PackMLAlarmDataType);
// the simulator flattens them into PackTags-style scalars, as many PLCs
// expose them, because gopcua can encode no custom structure types and the
// driver must handle scalar tags anyway. A command not allowed in the current
// state answers BadInvalidState, both as a method result and as the write
// result of CmdChangeRequest.
//
// # Go API and faults
//
// The rest of the simulated line bumps the counters (Produce), changes the
// mode (SetMode), reads the reject orders (Rejects, Config.OnReject) and runs
// commands as the machine's own HMI would (Command). Fault trips the machine
// with a stop reason (Stop, Hold or Abort, as on a jam or an emergency stop);
// Disconnect takes the PLC off the network and Reconnect brings it back on
// the same endpoint with the state it has meanwhile; Config.NoSubscriptions
// makes it a PLC that only answers reads.
//
// Clients reach the server through a loopback TCP relay (the "cable") on the
// public endpoint; Disconnect pulls it. The server itself listens on a second,
// private port, which its GetEndpoints answer advertises: connect to
// Endpoint(), not to what discovery returns.
//
// # Determinism
//
// The state machine is the PackML one (machine.go); an acting state (Starting,
// Holding, ...) ends after Config.ActingTime, so the sequence of states for a
// sequence of commands is always the same. Nothing is random.
package packml

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"

	"github.com/linestation/linestation/station"
)

// Namespace is the PackML companion specification's namespace URI.
const Namespace = "http://opcfoundation.org/UA/PackML/"

// DefaultUnit is the unit's name when Config.Unit is empty.
const DefaultUnit = "Line1"

// Node id suffixes below the unit, e.g. "Line1" + "." + NodeState.
const (
	NodeState            = "Status.StateCurrent"
	NodeMode             = "Status.UnitModeCurrent"
	NodeProcessed        = "Admin.ProdProcessedCount"
	NodeDefective        = "Admin.ProdDefectiveCount"
	NodeStopReasonID     = "Admin.StopReason.ID"
	NodeStopReasonMsg    = "Admin.StopReason.Message"
	NodeCntrlCmd         = "Command.CntrlCmd"
	NodeCmdChangeRequest = "Command.CmdChangeRequest"
	NodeRejectTag        = "Command.RejectUnit"
	NodeRejectMethod     = "RejectUnit"
)

// Config configures a simulated PLC. The zero value is usable.
type Config struct {
	Unit string // unit object name and node id prefix; default DefaultUnit
	Host string // address to listen on; default 127.0.0.1
	Port int    // TCP port; 0 picks a free one at Open, kept for Reconnect

	// ActingTime is how long an acting state (Starting, Holding, Stopping, ...)
	// lasts before it completes; default 20ms.
	ActingTime time.Duration

	InitialState station.LineState // state at Open; default Stopped
	InitialMode  station.LineMode  // unit mode at Open; default Produce

	// OnReject, when set, is called with each unit the reject gate is
	// ordered to remove, after Rejects has it; it runs on the server's
	// request goroutine, so it must return quickly.
	OnReject func(unit string)

	// NoSubscriptions makes the server refuse CreateSubscription with
	// BadServiceUnsupported, like PLCs that only answer reads, so that a
	// client has to poll.
	NoSubscriptions bool
}

// ErrClosed is returned by the fault knobs and the Go API after Close.
var ErrClosed = errors.New("packml simulator closed")

// Server is a simulated line PLC. Its methods are safe for concurrent use.
type Server struct {
	// Logger receives the OPC UA server's diagnostics at debug level and the
	// simulator's events; default slog.Default() with component=packml-sim.
	Logger *slog.Logger

	cfg Config

	mu        sync.Mutex
	state     station.LineState
	mode      station.LineMode
	processed int64
	defective int64
	reason    station.LineStopReason
	cntrlCmd  int32
	rejects   []string
	gen       uint64 // bumped on every state change; stale acting timers compare it
	timer     *time.Timer
	dirty     map[string]bool // node ids whose subscribers must be notified
	closed    bool

	// The OPC UA server is set at Open and runs until Close; the cable in
	// front of it is what Disconnect pulls.
	srv       *server.Server
	srvCancel context.CancelFunc
	nsIndex   uint16
	backend   string // the server's private host:port
	port      int    // the public port
	cable     cable

	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// New returns a simulator for cfg; Open starts serving.
func New(cfg Config) *Server {
	if cfg.Unit == "" {
		cfg.Unit = DefaultUnit
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.ActingTime <= 0 {
		cfg.ActingTime = 20 * time.Millisecond
	}
	if !cfg.InitialState.Valid() {
		cfg.InitialState = station.LineStateStopped
	}
	if cfg.InitialMode == station.LineModeInvalid {
		cfg.InitialMode = station.LineModeProduce
	}
	return &Server{
		Logger: slog.Default().With("component", "packml-sim"),
		cfg:    cfg,
		state:  cfg.InitialState,
		mode:   cfg.InitialMode,
		dirty:  map[string]bool{},
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		port:   cfg.Port,
	}
}

// Open starts the OPC UA server and the notifier. Endpoint then tells where
// it listens.
func (s *Server) Open() error {
	if s.port == 0 {
		port, err := freePort(s.cfg.Host)
		if err != nil {
			return fmt.Errorf("open packml simulator: %w", err)
		}
		s.port = port
	}
	if err := s.serve(); err != nil {
		return fmt.Errorf("open packml simulator: %w", err)
	}
	if err := s.cable.plug(s.publicAddr(), s.backend); err != nil {
		s.stopServing()
		return fmt.Errorf("open packml simulator: %w", err)
	}
	s.wg.Add(1)
	go s.notifier()
	s.Logger.Info("packml simulator listening", "endpoint", s.Endpoint(), "unit", s.cfg.Unit)
	return nil
}

// Close stops the server and every timer. It waits for the notifier.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	close(s.done)
	s.cable.pull()
	s.wg.Wait()
	s.stopServing()
	return nil
}

// Endpoint returns the opc.tcp URL clients connect to.
func (s *Server) Endpoint() string { return "opc.tcp://" + s.publicAddr() }

func (s *Server) publicAddr() string { return net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.port)) }

// Unit returns the unit's name, the prefix of every node id.
func (s *Server) Unit() string { return s.cfg.Unit }

// NodeID returns the textual node id (with the namespace URI) of the node
// with the given suffix, e.g. NodeID(NodeState) is
// "nsu=http://opcfoundation.org/UA/PackML/;s=Line1.Status.StateCurrent".
func (s *Server) NodeID(suffix string) string {
	return "nsu=" + Namespace + ";s=" + s.cfg.Unit + "." + suffix
}

// Disconnect takes the PLC off the network: it closes every client
// connection and stops listening, and the server forgets their sessions and
// subscriptions. The state machine and the counters go on.
func (s *Server) Disconnect() error {
	if s.isClosed() {
		return ErrClosed
	}
	s.cable.pull()
	s.dropSubscriptions()
	s.Logger.Info("packml simulator disconnected", "endpoint", s.Endpoint())
	return nil
}

// Reconnect puts the PLC back on the network on the same endpoint, with the
// state it has now; clients must open new sessions.
func (s *Server) Reconnect() error {
	if s.isClosed() {
		return ErrClosed
	}
	if err := s.cable.plug(s.publicAddr(), s.backend); err != nil {
		return fmt.Errorf("reconnect packml simulator: %w", err)
	}
	s.Logger.Info("packml simulator reconnected", "endpoint", s.Endpoint())
	return nil
}

// Status returns the unit's status as the PLC knows it; Connected tells
// whether the server is on the network.
func (s *Server) Status() station.LineStatus {
	up := s.cable.plugged()
	s.mu.Lock()
	defer s.mu.Unlock()
	return station.LineStatus{
		Connected: up, State: s.state, Mode: s.mode,
		Processed: s.processed, Defective: s.defective, StopReason: s.reason,
	}
}

// Command runs a PackML command as the machine's own HMI would. It fails when
// the command is not allowed in the current state.
func (s *Server) Command(cmd station.LineCommand) error {
	if code := s.command(cmd, nil); code != ua.StatusOK {
		return fmt.Errorf("packml simulator: %s: %w", cmd, code)
	}
	return nil
}

// Fault makes the machine stop, hold or abort by itself (cmd LineCmdStop,
// LineCmdHold or LineCmdAbort) and report reason as its StopReason, as a PLC
// does on a jam or an emergency stop. The reason stays until Reset or Clear.
func (s *Server) Fault(cmd station.LineCommand, reason station.LineStopReason) error {
	switch cmd {
	case station.LineCmdStop, station.LineCmdHold, station.LineCmdAbort:
	default:
		return fmt.Errorf("packml simulator: fault with %s: only Stop, Hold and Abort", cmd)
	}
	if code := s.command(cmd, &reason); code != ua.StatusOK {
		return fmt.Errorf("packml simulator: fault with %s: %w", cmd, code)
	}
	return nil
}

// Produce adds to the production counters, as the machine's sensors would.
func (s *Server) Produce(processed, defective int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if processed != 0 {
		s.processed += int64(processed)
		s.markLocked(NodeProcessed)
	}
	if defective != 0 {
		s.defective += int64(defective)
		s.markLocked(NodeDefective)
	}
	return nil
}

// SetMode changes the unit mode, as an operator's key switch would.
func (s *Server) SetMode(m station.LineMode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if m != s.mode {
		s.mode = m
		s.markLocked(NodeMode)
	}
	return nil
}

// Rejects returns the units the reject gate was ordered to remove, in order.
func (s *Server) Rejects() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rejects)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// command runs cmd through the state machine; reason, when not nil, becomes
// the StopReason. It returns the OPC UA status a client sees.
func (s *Server) command(cmd station.LineCommand, reason *station.LineStopReason) ua.StatusCode {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ua.StatusBadShutdown
	}
	if !cmd.Valid() {
		return ua.StatusBadInvalidArgument
	}
	target, ok := commandTarget(s.state, cmd)
	if !ok {
		s.Logger.Debug("packml command refused", "command", cmd.String(), "state", s.state.String())
		return ua.StatusBadInvalidState
	}
	switch {
	case reason != nil:
		s.setReasonLocked(*reason)
	case cmd == station.LineCmdReset || cmd == station.LineCmdClear:
		s.setReasonLocked(station.LineStopReason{})
	}
	s.Logger.Debug("packml command", "command", cmd.String(), "from", s.state.String(), "to", target.String())
	s.enterLocked(target)
	return ua.StatusOK
}

func (s *Server) setReasonLocked(r station.LineStopReason) {
	if r.ID != s.reason.ID {
		s.markLocked(NodeStopReasonID)
	}
	if r.Message != s.reason.Message {
		s.markLocked(NodeStopReasonMsg)
	}
	s.reason = r
}

// enterLocked moves to st and, for an acting state, arms its completion.
func (s *Server) enterLocked(st station.LineState) {
	s.state = st
	s.gen++
	s.markLocked(NodeState)
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	next, acting := completes(st)
	if !acting {
		return
	}
	gen := s.gen
	s.timer = time.AfterFunc(s.cfg.ActingTime, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed || s.gen != gen {
			return // a command moved on meanwhile
		}
		s.enterLocked(next)
	})
}

func (s *Server) reject(unit string) ua.StatusCode {
	if unit == "" {
		return ua.StatusBadInvalidArgument
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ua.StatusBadShutdown
	}
	s.rejects = append(s.rejects, unit)
	s.mu.Unlock()
	s.Logger.Debug("packml reject", "unit", unit)
	if s.cfg.OnReject != nil {
		s.cfg.OnReject(unit)
	}
	return ua.StatusOK
}

// markLocked records that a node's value changed; the notifier tells the
// server's monitored items outside of s.mu, since reading a value takes it.
func (s *Server) markLocked(suffix string) {
	s.dirty[suffix] = true
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// notifier tells the OPC UA server about changed values. It runs apart from
// the callers of the Go API so that a slow subscriber never blocks them.
func (s *Server) notifier() {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		changed := s.dirty
		s.dirty = map[string]bool{}
		s.mu.Unlock()

		for suffix := range changed {
			s.srv.ChangeNotification(ua.NewStringNodeID(s.nsIndex, s.cfg.Unit+"."+suffix))
		}
	}
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
