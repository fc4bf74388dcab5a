package packml

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uasc"

	"github.com/linestation/linestation/station"
)

// serve builds the gopcua server with the unit's address space and starts
// it on a private loopback port behind the cable.
func (s *Server) serve() error {
	port, err := freePort(s.cfg.Host)
	if err != nil {
		return err
	}
	srv := server.New(
		server.EndPoint(s.cfg.Host, port),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.ServerName("linestation PackML simulator"),
		server.ProductName("linestation PackML simulator"),
		server.SetLogger(printfLogger{s.Logger}),
	)
	ns := server.NewNodeNameSpace(srv, Namespace)
	s.buildAddressSpace(srv, ns)

	// gopcua registers its own handlers at Start only where none is set, so
	// these win: the simulator's Call and Write drive the state machine.
	srv.RegisterHandler(id.CallRequest_Encoding_DefaultBinary, s.handleCall(srv, ns.ID()))
	srv.RegisterHandler(id.WriteRequest_Encoding_DefaultBinary, s.handleWrite(srv, ns.ID()))
	if s.cfg.NoSubscriptions {
		srv.RegisterHandler(id.CreateSubscriptionRequest_Encoding_DefaultBinary, unsupported)
	}

	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Start(ctx); err != nil {
		cancel()
		return fmt.Errorf("start OPC UA server on port %d: %w", port, err)
	}
	s.srv, s.srvCancel, s.nsIndex = srv, cancel, ns.ID()
	s.backend = net.JoinHostPort(s.cfg.Host, strconv.Itoa(port))
	return nil
}

// stopServing closes every connection and the listener, then ends the
// server's subscriptions.
func (s *Server) stopServing() {
	if s.srv == nil {
		return
	}
	// Close before cancel: the server's reader must still drain the channels
	// while they shut down.
	if err := s.srv.Close(); err != nil {
		s.Logger.Warn("close OPC UA server", "err", err)
	}
	s.srvCancel()
	s.dropSubscriptions()
}

// dropSubscriptions ends every subscription of the server. After the cable
// is pulled their sessions are gone for good, and gopcua would otherwise keep
// them, and their goroutines, until their lifetime runs out.
func (s *Server) dropSubscriptions() {
	subs := s.srv.SubscriptionService
	if subs == nil {
		return
	}
	subs.Mu.Lock()
	ids := make([]uint32, 0, len(subs.Subs))
	for id := range subs.Subs {
		ids = append(ids, id)
	}
	subs.Mu.Unlock()
	for _, id := range ids {
		subs.DeleteSubscription(id)
	}
}

type variable struct {
	suffix   string
	dataType uint32 // ns=0 numeric id of the data type
	writable bool
	value    func(s *Server) any // called with s.mu held
}

var variables = []variable{
	{NodeState, id.Int32, false, func(s *Server) any { return int32(s.state) }},
	{NodeMode, id.Int32, false, func(s *Server) any { return int32(s.mode) }},
	{NodeProcessed, id.Int32, false, func(s *Server) any { return int32(s.processed) }},
	{NodeDefective, id.Int32, false, func(s *Server) any { return int32(s.defective) }},
	{NodeStopReasonID, id.Int32, false, func(s *Server) any { return s.reason.ID }},
	{NodeStopReasonMsg, id.String, false, func(s *Server) any { return s.reason.Message }},
	{NodeCntrlCmd, id.Int32, true, func(s *Server) any { return s.cntrlCmd }},
	{NodeCmdChangeRequest, id.Boolean, true, func(s *Server) any { return false }},
	{NodeRejectTag, id.String, true, func(s *Server) any { return "" }},
}

// buildAddressSpace adds Objects/PackMLObjects/<Unit> with its folders,
// variables and methods.
func (s *Server) buildAddressSpace(srv *server.Server, ns *server.NodeNameSpace) {
	nsi := ns.ID()
	unit := s.cfg.Unit
	nodeID := func(path string) *ua.NodeID { return ua.NewStringNodeID(nsi, path) }

	objects := map[string]*server.Node{}
	object := func(path, name string) *server.Node {
		n := server.NewNode(nodeID(path), server.Attributes{
			ua.AttributeIDNodeClass:   server.DataValueFromValue(uint32(ua.NodeClassObject)),
			ua.AttributeIDBrowseName:  server.DataValueFromValue(&ua.QualifiedName{NamespaceIndex: nsi, Name: name}),
			ua.AttributeIDDisplayName: server.DataValueFromValue(ua.NewLocalizedText(name)),
		}, nil, nil)
		ns.AddNode(n)
		objects[path] = n
		return n
	}
	root := object("PackMLObjects", "PackMLObjects")
	srv.Node(ua.NewNumericNodeID(0, id.ObjectsFolder)).AddRef(root, id.Organizes, true)
	unitNode := object(unit, unit)
	root.AddRef(unitNode, id.Organizes, true)

	// parent returns the object a path below the unit hangs from, creating
	// the folders (Status, Admin, Admin.StopReason, Command) on the way.
	var parent func(suffix string) *server.Node
	parent = func(suffix string) *server.Node {
		i := strings.LastIndexByte(suffix, '.')
		if i < 0 {
			return unitNode
		}
		path := unit + "." + suffix[:i]
		if n := objects[path]; n != nil {
			return n
		}
		up := parent(suffix[:i])
		n := object(path, suffix[strings.LastIndexByte(suffix[:i], '.')+1:i])
		up.AddRef(n, id.HasComponent, true)
		return n
	}

	for _, v := range variables {
		access := ua.AccessLevelTypeCurrentRead
		if v.writable {
			access |= ua.AccessLevelTypeCurrentWrite
		}
		name := v.suffix[strings.LastIndexByte(v.suffix, '.')+1:]
		n := server.NewNode(nodeID(unit+"."+v.suffix), server.Attributes{
			ua.AttributeIDNodeClass:       server.DataValueFromValue(uint32(ua.NodeClassVariable)),
			ua.AttributeIDBrowseName:      server.DataValueFromValue(&ua.QualifiedName{NamespaceIndex: nsi, Name: name}),
			ua.AttributeIDDisplayName:     server.DataValueFromValue(ua.NewLocalizedText(name)),
			ua.AttributeIDDataType:        server.DataValueFromValue(ua.NewNumericExpandedNodeID(0, v.dataType)),
			ua.AttributeIDValueRank:       server.DataValueFromValue(int32(-1)),
			ua.AttributeIDAccessLevel:     server.DataValueFromValue(byte(access)),
			ua.AttributeIDUserAccessLevel: server.DataValueFromValue(byte(access)),
		}, nil, s.valueFunc(v))
		ns.AddNode(n)
		parent(v.suffix).AddRef(n, id.HasComponent, true)
	}

	methods := []string{NodeRejectMethod}
	for _, c := range station.LineCommands() {
		methods = append(methods, c.String())
	}
	for _, name := range methods {
		n := server.NewNode(nodeID(unit+"."+name), server.Attributes{
			ua.AttributeIDNodeClass:      server.DataValueFromValue(uint32(ua.NodeClassMethod)),
			ua.AttributeIDBrowseName:     server.DataValueFromValue(&ua.QualifiedName{NamespaceIndex: nsi, Name: name}),
			ua.AttributeIDDisplayName:    server.DataValueFromValue(ua.NewLocalizedText(name)),
			ua.AttributeIDExecutable:     server.DataValueFromValue(true),
			ua.AttributeIDUserExecutable: server.DataValueFromValue(true),
		}, nil, nil)
		ns.AddNode(n)
		unitNode.AddRef(n, id.HasComponent, true)
	}
}

func (s *Server) valueFunc(v variable) server.ValueFunc {
	return func() *ua.DataValue {
		s.mu.Lock()
		val := v.value(s)
		s.mu.Unlock()
		now := time.Now()
		return &ua.DataValue{
			EncodingMask:    ua.DataValueValue | ua.DataValueSourceTimestamp | ua.DataValueServerTimestamp,
			Value:           ua.MustVariant(val),
			SourceTimestamp: now,
			ServerTimestamp: now,
		}
	}
}

// suffixOf returns the part of a node id in the unit below the unit's name,
// and false for any other node.
func (s *Server) suffixOf(n *ua.NodeID, nsIndex uint16) (string, bool) {
	if n == nil || n.Namespace() != nsIndex || n.Type() != ua.NodeIDTypeString {
		return "", false
	}
	return strings.CutPrefix(n.StringID(), s.cfg.Unit+".")
}

// handleCall is the Call service: the PackML command methods and RejectUnit
// on the unit object.
func (s *Server) handleCall(srv *server.Server, nsIndex uint16) server.Handler {
	return func(sc *uasc.SecureChannel, r ua.Request, reqID uint32) (ua.Response, error) {
		req, ok := r.(*ua.CallRequest)
		if !ok {
			return nil, ua.StatusBadRequestTypeInvalid
		}
		if srv.Session(req.RequestHeader) == nil {
			return nil, ua.StatusBadSessionIDInvalid
		}
		results := make([]*ua.CallMethodResult, len(req.MethodsToCall))
		for i, m := range req.MethodsToCall {
			results[i] = &ua.CallMethodResult{
				StatusCode:                   s.call(m, nsIndex),
				InputArgumentResults:         []ua.StatusCode{},
				InputArgumentDiagnosticInfos: []*ua.DiagnosticInfo{},
				OutputArguments:              []*ua.Variant{},
			}
		}
		return &ua.CallResponse{
			ResponseHeader:  responseHeader(req.RequestHeader.RequestHandle, ua.StatusOK),
			Results:         results,
			DiagnosticInfos: []*ua.DiagnosticInfo{},
		}, nil
	}
}

func (s *Server) call(m *ua.CallMethodRequest, nsIndex uint16) ua.StatusCode {
	if m.ObjectID == nil || m.ObjectID.Namespace() != nsIndex || m.ObjectID.Type() != ua.NodeIDTypeString ||
		m.ObjectID.StringID() != s.cfg.Unit {
		return ua.StatusBadNodeIDUnknown
	}
	name, ok := s.suffixOf(m.MethodID, nsIndex)
	if !ok {
		return ua.StatusBadMethodInvalid
	}
	if name == NodeRejectMethod {
		switch {
		case len(m.InputArguments) == 0:
			return ua.StatusBadArgumentsMissing
		case len(m.InputArguments) > 1:
			return ua.StatusBadTooManyArguments
		}
		unit, ok := m.InputArguments[0].Value().(string)
		if !ok {
			return ua.StatusBadTypeMismatch
		}
		return s.reject(unit)
	}
	for _, c := range station.LineCommands() {
		if c.String() == name {
			if len(m.InputArguments) > 0 {
				return ua.StatusBadTooManyArguments
			}
			return s.command(c, nil)
		}
	}
	return ua.StatusBadMethodInvalid
}

// handleWrite is the Write service: only the command tags are writable.
func (s *Server) handleWrite(srv *server.Server, nsIndex uint16) server.Handler {
	return func(sc *uasc.SecureChannel, r ua.Request, reqID uint32) (ua.Response, error) {
		req, ok := r.(*ua.WriteRequest)
		if !ok {
			return nil, ua.StatusBadRequestTypeInvalid
		}
		if srv.Session(req.RequestHeader) == nil {
			return nil, ua.StatusBadSessionIDInvalid
		}
		results := make([]ua.StatusCode, len(req.NodesToWrite))
		for i, w := range req.NodesToWrite {
			results[i] = s.write(w, nsIndex)
		}
		return &ua.WriteResponse{
			ResponseHeader:  responseHeader(req.RequestHeader.RequestHandle, ua.StatusOK),
			Results:         results,
			DiagnosticInfos: []*ua.DiagnosticInfo{},
		}, nil
	}
}

func (s *Server) write(w *ua.WriteValue, nsIndex uint16) ua.StatusCode {
	suffix, ok := s.suffixOf(w.NodeID, nsIndex)
	if !ok {
		return ua.StatusBadNotWritable
	}
	if w.AttributeID != ua.AttributeIDValue {
		return ua.StatusBadNotWritable
	}
	var val any
	if w.Value != nil && w.Value.Value != nil {
		val = w.Value.Value.Value()
	}
	switch suffix {
	case NodeCntrlCmd:
		n, ok := toInt32(val)
		if !ok {
			return ua.StatusBadTypeMismatch
		}
		s.mu.Lock()
		s.cntrlCmd = n
		s.markLocked(NodeCntrlCmd)
		s.mu.Unlock()
		return ua.StatusOK
	case NodeCmdChangeRequest:
		b, ok := val.(bool)
		if !ok {
			return ua.StatusBadTypeMismatch
		}
		if !b {
			return ua.StatusOK
		}
		s.mu.Lock()
		cmd := station.LineCommand(s.cntrlCmd)
		s.mu.Unlock()
		return s.command(cmd, nil)
	case NodeRejectTag:
		unit, ok := val.(string)
		if !ok {
			return ua.StatusBadTypeMismatch
		}
		return s.reject(unit)
	}
	for _, v := range variables {
		if v.suffix == suffix {
			return ua.StatusBadNotWritable
		}
	}
	return ua.StatusBadNodeIDUnknown
}

func toInt32(v any) (int32, bool) {
	switch n := v.(type) {
	case int32:
		return n, true
	case int16:
		return int32(n), true
	case int64:
		return int32(n), int64(int32(n)) == n
	case uint16:
		return int32(n), true
	case uint32:
		return int32(n), n <= 1<<31-1
	case byte:
		return int32(n), true
	case int8:
		return int32(n), true
	}
	return 0, false
}

func unsupported(sc *uasc.SecureChannel, r ua.Request, reqID uint32) (ua.Response, error) {
	return nil, ua.StatusBadServiceUnsupported
}

func responseHeader(handle uint32, code ua.StatusCode) *ua.ResponseHeader {
	return &ua.ResponseHeader{
		Timestamp:          time.Now(),
		RequestHandle:      handle,
		ServiceResult:      code,
		ServiceDiagnostics: &ua.DiagnosticInfo{},
		StringTable:        []string{},
		AdditionalHeader:   ua.NewExtensionObject(nil),
	}
}

// printfLogger adapts gopcua's printf-style server logging to slog at debug
// level (its Info and Warn lines are routine: channels opening and closing).
type printfLogger struct{ l *slog.Logger }

func (p printfLogger) Debug(msg string, args ...any) { p.log(msg, args) }
func (p printfLogger) Info(msg string, args ...any)  { p.log(msg, args) }
func (p printfLogger) Warn(msg string, args ...any)  { p.log(msg, args) }
func (p printfLogger) Error(msg string, args ...any) { p.log(msg, args) }

func (p printfLogger) log(msg string, args []any) {
	if p.l.Enabled(context.Background(), slog.LevelDebug) {
		p.l.Debug("opcua server: " + strings.TrimSpace(fmt.Sprintf(msg, args...)))
	}
}
