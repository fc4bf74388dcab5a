package packml_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"github.com/linestation/linestation/devices/sim/packml"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// MustOpen starts a simulator and closes it when the test ends.
func MustOpen(tb testing.TB, cfg packml.Config) *packml.Server {
	tb.Helper()
	s := packml.New(cfg)
	if err := s.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// MustConnect connects a plain gopcua client to the simulator.
func MustConnect(tb testing.TB, s *packml.Server) *opcua.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := opcua.NewClient(s.Endpoint(), opcua.SecurityMode(ua.MessageSecurityModeNone), opcua.AutoReconnect(false))
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil {
		tb.Fatalf("connect to %s: %v", s.Endpoint(), err)
	}
	tb.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func nodeID(tb testing.TB, c *opcua.Client, s *packml.Server, suffix string) *ua.NodeID {
	tb.Helper()
	id, err := ua.ParseExpandedNodeID(s.NodeID(suffix), c.Namespaces())
	if err != nil {
		tb.Fatal(err)
	}
	return id.NodeID
}

func read(tb testing.TB, c *opcua.Client, s *packml.Server, suffix string) any {
	tb.Helper()
	res, err := c.Read(context.Background(), &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: nodeID(tb, c, s, suffix)}}})
	if err != nil {
		tb.Fatalf("read %s: %v", suffix, err)
	}
	if got := res.Results[0].Status; got != ua.StatusOK {
		tb.Fatalf("read %s: status %v", suffix, got)
	}
	return res.Results[0].Value.Value()
}

func call(tb testing.TB, c *opcua.Client, s *packml.Server, method string, args ...any) ua.StatusCode {
	tb.Helper()
	req := &ua.CallMethodRequest{ObjectID: ua.NewStringNodeID(nodeID(tb, c, s, "x").Namespace(), s.Unit()), MethodID: nodeID(tb, c, s, method)}
	for _, a := range args {
		req.InputArguments = append(req.InputArguments, ua.MustVariant(a))
	}
	res, err := c.Call(context.Background(), req)
	if err != nil {
		tb.Fatalf("call %s: %v", method, err)
	}
	return res.StatusCode
}

func waitState(tb testing.TB, s *packml.Server, want station.LineState) {
	tb.Helper()
	stationtest.Poll(tb, 5*time.Second, "simulator state "+want.String(), func() bool { return s.Status().State == want })
}

// TestServer runs the protocol tests in order on one server: starting
// gopcua's server loads its whole standard address space, which takes
// seconds under the race detector.
func TestServer(t *testing.T) {
	var mu sync.Mutex
	var told []string
	s := MustOpen(t, packml.Config{OnReject: func(unit string) {
		mu.Lock()
		told = append(told, unit)
		mu.Unlock()
	}})
	t.Run("Methods", func(t *testing.T) { testMethods(t, s) })
	t.Run("CommandTags", func(t *testing.T) { testCommandTags(t, s) })
	t.Run("Subscription", func(t *testing.T) { testSubscription(t, s) })
	t.Run("DisconnectReconnect", func(t *testing.T) { testDisconnectReconnect(t, s) })

	mu.Lock()
	defer mu.Unlock()
	if got := s.Rejects(); !slices.Equal(got, told) || len(got) != 2 {
		t.Fatalf("OnReject was told %q, Rejects()=%q, want the same two", told, got)
	}
}

func testMethods(t *testing.T, s *packml.Server) {
	c := MustConnect(t, s)

	if got, want := read(t, c, s, packml.NodeState), int32(station.LineStateStopped); got != want {
		t.Fatalf("StateCurrent=%v, want %v", got, want)
	}
	if got, want := read(t, c, s, packml.NodeMode), int32(station.LineModeProduce); got != want {
		t.Fatalf("UnitModeCurrent=%v, want %v", got, want)
	}
	if got := call(t, c, s, "Start"); got != ua.StatusBadInvalidState {
		t.Fatalf("Start in Stopped: %v, want BadInvalidState", got)
	}
	if got := call(t, c, s, "Reset"); got != ua.StatusOK {
		t.Fatalf("Reset: %v", got)
	}
	waitState(t, s, station.LineStateIdle)
	if got := call(t, c, s, "Start"); got != ua.StatusOK {
		t.Fatalf("Start: %v", got)
	}
	waitState(t, s, station.LineStateExecute)
	if got, want := read(t, c, s, packml.NodeState), int32(station.LineStateExecute); got != want {
		t.Fatalf("StateCurrent=%v, want %v", got, want)
	}
	if got := call(t, c, s, "RejectUnit", "SN0001"); got != ua.StatusOK {
		t.Fatalf("RejectUnit: %v", got)
	}
	if got := call(t, c, s, "RejectUnit"); got != ua.StatusBadArgumentsMissing {
		t.Fatalf("RejectUnit without argument: %v, want BadArgumentsMissing", got)
	}
	if got := call(t, c, s, "RejectUnit", int32(7)); got != ua.StatusBadTypeMismatch {
		t.Fatalf("RejectUnit(7): %v, want BadTypeMismatch", got)
	}
	if got := call(t, c, s, "NoSuchMethod"); got != ua.StatusBadMethodInvalid {
		t.Fatalf("NoSuchMethod: %v, want BadMethodInvalid", got)
	}
	if got, want := s.Rejects(), []string{"SN0001"}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("Rejects()=%q, want %q", got, want)
	}
}

func testCommandTags(t *testing.T, s *packml.Server) {
	c := MustConnect(t, s)
	if err := s.Command(station.LineCmdStop); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, station.LineStateStopped)
	if err := s.Command(station.LineCmdReset); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, station.LineStateIdle)
	rejects := len(s.Rejects())

	write := func(suffix string, v any) ua.StatusCode {
		t.Helper()
		res, err := c.Write(context.Background(), &ua.WriteRequest{NodesToWrite: []*ua.WriteValue{{
			NodeID: nodeID(t, c, s, suffix), AttributeID: ua.AttributeIDValue,
			Value: &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(v)},
		}}})
		if err != nil {
			t.Fatalf("write %s: %v", suffix, err)
		}
		return res.Results[0]
	}
	if got := write(packml.NodeCntrlCmd, int32(station.LineCmdStart)); got != ua.StatusOK {
		t.Fatalf("write CntrlCmd: %v", got)
	}
	if got := s.Status().State; got != station.LineStateIdle {
		t.Fatalf("state after CntrlCmd alone = %v, want Idle until CmdChangeRequest", got)
	}
	if got := write(packml.NodeCmdChangeRequest, true); got != ua.StatusOK {
		t.Fatalf("write CmdChangeRequest: %v", got)
	}
	waitState(t, s, station.LineStateExecute)
	if got := write(packml.NodeCntrlCmd, int32(station.LineCmdClear)); got != ua.StatusOK {
		t.Fatalf("write CntrlCmd: %v", got)
	}
	if got := write(packml.NodeCmdChangeRequest, true); got != ua.StatusBadInvalidState {
		t.Fatalf("Clear in Execute: %v, want BadInvalidState", got)
	}
	if got := write(packml.NodeState, int32(1)); got != ua.StatusBadNotWritable {
		t.Fatalf("write StateCurrent: %v, want BadNotWritable", got)
	}
	if got := write(packml.NodeRejectTag, "SN0002"); got != ua.StatusOK {
		t.Fatalf("write RejectUnit: %v", got)
	}
	if got := s.Rejects()[rejects:]; len(got) != 1 || got[0] != "SN0002" {
		t.Fatalf("new Rejects()=%q, want [SN0002]", got)
	}
}

func testSubscription(t *testing.T, s *packml.Server) {
	c := MustConnect(t, s)
	base := s.Status().Processed
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	notes := make(chan *opcua.PublishNotificationData, 16)
	sub, err := c.Subscribe(ctx, &opcua.SubscriptionParameters{Interval: 20 * time.Millisecond}, notes)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel(context.Background())
	res, err := sub.Monitor(ctx, ua.TimestampsToReturnBoth,
		opcua.NewMonitoredItemCreateRequestWithDefaults(nodeID(t, c, s, packml.NodeProcessed), ua.AttributeIDValue, 1))
	if err != nil || res.Results[0].StatusCode != ua.StatusOK {
		t.Fatalf("monitor: %v %v", err, res)
	}
	if err := s.Produce(5, 1); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case <-ctx.Done():
			t.Fatal("no data change with ProdProcessedCount+5")
		case n := <-notes:
			if n.Error != nil {
				t.Fatal(n.Error)
			}
			dc, ok := n.Value.(*ua.DataChangeNotification)
			if !ok {
				continue
			}
			for _, item := range dc.MonitoredItems {
				if item.Value.Value.Value() == int32(base+5) {
					return
				}
			}
		}
	}
}

func TestServer_NoSubscriptions(t *testing.T) {
	s := MustOpen(t, packml.Config{NoSubscriptions: true})
	c := MustConnect(t, s)
	_, err := c.Subscribe(context.Background(), nil, make(chan *opcua.PublishNotificationData, 1))
	if !errors.Is(err, ua.StatusBadServiceUnsupported) {
		t.Fatalf("Subscribe: %v, want BadServiceUnsupported", err)
	}
}

// The state machine runs without the server: Open is not needed.
func TestServer_Fault(t *testing.T) {
	s := packml.New(packml.Config{InitialState: station.LineStateExecute})
	defer s.Close()
	reason := station.LineStopReason{ID: 42, Message: "jam at infeed"}
	if err := s.Fault(station.LineCmdAbort, reason); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, station.LineStateAborted)
	if got := s.Status().StopReason; got != reason {
		t.Fatalf("StopReason=%+v, want %+v", got, reason)
	}
	if err := s.Command(station.LineCmdReset); err == nil {
		t.Fatal("Reset in Aborted succeeded, want refused")
	}
	if err := s.Command(station.LineCmdClear); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, station.LineStateStopped)
	if got := s.Status().StopReason; !got.IsZero() {
		t.Fatalf("StopReason after Clear=%+v, want none", got)
	}
	if err := s.Fault(station.LineCmdStart, reason); err == nil {
		t.Fatal("Fault with Start succeeded, want refused")
	}
}

func testDisconnectReconnect(t *testing.T, s *packml.Server) {
	c := MustConnect(t, s)
	base := s.Status().Processed
	if err := s.Disconnect(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: nodeID(t, c, s, packml.NodeState)}}}); err == nil {
		t.Fatal("read after Disconnect succeeded")
	}
	if s.Status().Connected {
		t.Fatal("Status().Connected after Disconnect")
	}
	if conn, err := net.Dial("tcp", strings.TrimPrefix(s.Endpoint(), "opc.tcp://")); err == nil {
		conn.Close()
		t.Fatal("the endpoint accepts connections after Disconnect")
	}
	if err := s.Produce(3, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Reconnect(); err != nil {
		t.Fatal(err)
	}
	c2 := MustConnect(t, s)
	if got := read(t, c2, s, packml.NodeProcessed); got != int32(base+3) {
		t.Fatalf("ProdProcessedCount after reconnect=%v, want %d", got, base+3)
	}
	if !s.Status().Connected {
		t.Fatal("Status().Connected false after Reconnect")
	}
}
