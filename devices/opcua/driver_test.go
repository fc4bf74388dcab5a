package opcua_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/devices/opcua"
	"github.com/linestation/linestation/devices/sim/packml"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// A server without subscriptions is followed by polling reads.
func TestLine_PollingFallback(t *testing.T) {
	sim := MustOpenSim(t, packml.Config{NoSubscriptions: true, InitialState: station.LineStateIdle})
	l := MustOpenLine(t, opcua.Config{Endpoint: sim.Endpoint(), PollInterval: 20 * time.Millisecond, KeepAlive: time.Hour})
	waitHealth(t, l, station.DeviceConnected)
	waitState(t, l, station.LineStateIdle)

	command(t, l, station.LineCmdStart)
	waitState(t, l, station.LineStateExecute)
	if err := sim.Produce(4, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, l, "counters 4/1 by polling", func(st station.LineStatus) bool { return st.Processed == 4 && st.Defective == 1 })
}

// A PLC with its own node ids is driven through an explicit Nodes mapping:
// here numeric namespace indexes instead of the namespace URI, one datum not
// exposed, and only the methods the station uses.
func TestLine_CustomNodeIDs(t *testing.T) {
	sim := sharedSim(t)
	p := "ns=1;s=Line1." // the simulator's namespace is the server's second
	nodes := opcua.Nodes{
		State: p + packml.NodeState, Mode: p + packml.NodeMode,
		Processed: p + packml.NodeProcessed, Defective: opcua.NotExposed,
		StopReasonID: p + packml.NodeStopReasonID, StopReasonMessage: opcua.NotExposed,
		Object: "ns=1;s=Line1",
		Methods: map[station.LineCommand]string{
			station.LineCmdStart: p + "Start", station.LineCmdStop: p + "Stop", station.LineCmdReset: p + "Reset",
			station.LineCmdClear: p + "Clear",
			station.LineCmdHold:  "nsu=urn:nowhere;s=Hold", // a method this PLC does not resolve
		},
		RejectMethod: p + packml.NodeRejectMethod,
	}
	l := MustOpenLine(t, opcua.Config{Endpoint: sim.Endpoint(), Nodes: nodes})
	toIdle(t, l)
	if got := l.Status().Mode; got != station.LineModeProduce {
		t.Fatalf("mode=%v, want Produce", got)
	}
	command(t, l, station.LineCmdStart)
	waitState(t, l, station.LineStateExecute)
	// The unresolvable method fails its command only.
	err := l.Command(context.Background(), station.LineCmdHold)
	if got := station.ErrorCode(err); got != station.EDEVICE || !strings.Contains(err.Error(), "urn:nowhere") {
		t.Fatalf("Hold: %v (code %q), want %q naming the namespace", err, got, station.EDEVICE)
	}
	if h := l.Health(); h.State != station.DeviceConnected {
		t.Fatalf("Health=%+v, want connected", h)
	}
	rejects := len(sim.Rejects())
	if err := l.Reject(context.Background(), "SN-9"); err != nil {
		t.Fatal(err)
	}
	if got := sim.Rejects()[rejects:]; len(got) != 1 || got[0] != "SN-9" {
		t.Fatalf("new rejects=%q, want [SN-9]", got)
	}
	base := l.Status().Processed
	if err := sim.Produce(2, 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, l, "processed +2", func(st station.LineStatus) bool { return st.Processed == base+2 })
	if got := l.Status().Defective; got != 0 {
		t.Fatalf("defective=%d with the node not exposed, want 0", got)
	}
	command(t, l, station.LineCmdStop)
	waitState(t, l, station.LineStateStopped)
}

// A configured node the PLC does not have faults the device and names it.
func TestLine_NodeMissing(t *testing.T) {
	sim := sharedSim(t)
	for name, nodes := range map[string]opcua.Nodes{
		"UnknownNode":      {Processed: "nsu=" + opcua.Namespace + ";s=Line1.Admin.NoSuchCount"},
		"UnknownNamespace": {State: "nsu=urn:nowhere;s=Line1.Status.StateCurrent"},
	} {
		t.Run(name, func(t *testing.T) {
			l := MustOpenLine(t, opcua.Config{Endpoint: sim.Endpoint(), Nodes: nodes})
			h := waitHealth(t, l, station.DeviceFaulted)
			id := nodes.Processed + nodes.State
			if !strings.Contains(h.Reason, id) {
				t.Fatalf("Health reason %q does not name %s", h.Reason, id)
			}
			if l.Status().Connected {
				t.Fatal("Status().Connected with a node missing")
			}
			if got := station.ErrorCode(l.Command(context.Background(), station.LineCmdReset)); got != station.EDEVICE {
				t.Fatalf("Command code %q, want %q", got, station.EDEVICE)
			}
		})
	}
}

// With no PLC there, calls fail at once and Health says why.
func TestLine_Unreachable(t *testing.T) {
	endpoint := "opc.tcp://127.0.0.1:" + strconv.Itoa(freePort(t))
	l := MustOpenLine(t, opcua.Config{Endpoint: endpoint, RequestTimeout: time.Hour})
	stationtest.Poll(t, wait, "a failed connection attempt", func() bool {
		return strings.Contains(l.Health().Reason, "no connection")
	})
	h := l.Health()
	if h.State != station.DeviceDisconnected || !strings.Contains(h.Reason, endpoint) || h.Kind != "plc" || h.Device != "plc" {
		t.Fatalf("Health=%+v, want plc disconnected naming %s", h, endpoint)
	}
	// RequestTimeout is an hour: returning at all shows nothing waits for the PLC.
	if got := station.ErrorCode(l.Command(context.Background(), station.LineCmdStart)); got != station.EDEVICE {
		t.Fatalf("Command code %q, want %q", got, station.EDEVICE)
	}
	if got := station.ErrorCode(l.Reject(context.Background(), "SN-1")); got != station.EDEVICE {
		t.Fatalf("Reject code %q, want %q", got, station.EDEVICE)
	}
	if got := station.ErrorCode(l.Command(context.Background(), 99)); got != station.EINVALID {
		t.Fatalf("Command(99) code %q, want %q", got, station.EINVALID)
	}
}

// Watch delivers the current status first and closes with its ctx or Close.
func TestLine_Watch(t *testing.T) {
	l := MustOpenLine(t, opcua.Config{Endpoint: sharedSim(t).Endpoint()})
	toIdle(t, l)

	ctx, cancel := context.WithCancel(context.Background())
	ch := l.Watch(ctx)
	select {
	case st := <-ch:
		if st.State != station.LineStateIdle || !st.Connected {
			t.Fatalf("first status=%+v, want the current one (Idle, connected)", st)
		}
	case <-time.After(wait):
		t.Fatal("Watch delivered nothing")
	}
	// A mode change comes through the subscription and the channel.
	sim := sharedSim(t)
	if err := sim.SetMode(station.LineModeMaintenance); err != nil {
		t.Fatal(err)
	}
	defer sim.SetMode(station.LineModeProduce)
	select {
	case st := <-ch:
		if st.Mode != station.LineModeMaintenance {
			t.Fatalf("status after SetMode=%+v, want mode Maintenance", st)
		}
	case <-time.After(wait):
		t.Fatal("Watch delivered no mode change")
	}
	cancel()
	stationtest.Poll(t, wait, "Watch channel closed after cancel", func() bool {
		select {
		case _, ok := <-ch:
			return !ok
		default:
			return false
		}
	})

	ch2 := l.Watch(context.Background())
	<-ch2
	l.Close()
	for range ch2 { // must end
	}
	if _, ok := <-l.Watch(context.Background()); ok {
		t.Fatal("Watch after Close delivered a status")
	}
}

// The reject id is converted to a tracking slot when the PLC wants one; a
// PLC that wants another type refuses it with EINVALID.
func TestLine_RejectType(t *testing.T) {
	sim := sharedSim(t)
	rejects := len(sim.Rejects())
	l := MustOpenLine(t, opcua.Config{Endpoint: sim.Endpoint(), RejectType: "Int32"})
	waitFor(t, l, "connected", func(st station.LineStatus) bool { return st.Connected })
	if got := station.ErrorCode(l.Reject(context.Background(), "SN-1")); got != station.EINVALID {
		t.Fatalf("Reject(SN-1) as Int32: code %q, want %q", got, station.EINVALID)
	}
	// The simulator's reject method takes a String: it refuses the Int32.
	err := l.Reject(context.Background(), "17")
	if got := station.ErrorCode(err); got != station.EINVALID {
		t.Fatalf("Reject(17) to a String method: %v (code %q), want %q", err, got, station.EINVALID)
	}
	if got := sim.Rejects()[rejects:]; len(got) != 0 {
		t.Fatalf("new rejects=%q, want none", got)
	}
}

func TestConfig_Validate(t *testing.T) {
	ok := "opc.tcp://127.0.0.1:4840"
	for name, tc := range map[string]struct {
		cfg  opcua.Config
		want string // part of the message; "" for valid
	}{
		"Defaults":        {opcua.Config{Endpoint: ok}, ""},
		"NoEndpoint":      {opcua.Config{}, "endpoint"},
		"HTTPEndpoint":    {opcua.Config{Endpoint: "http://plc:4840"}, "opc.tcp"},
		"SecureNoCert":    {opcua.Config{Endpoint: ok, Security: opcua.Security{Policy: "Basic256Sha256", Mode: "Sign"}}, "certificate"},
		"SecureNoMode":    {opcua.Config{Endpoint: ok, Security: opcua.Security{Policy: "Basic256Sha256", CertFile: "c", KeyFile: "k"}}, "Sign"},
		"SecureOK":        {opcua.Config{Endpoint: ok, Security: opcua.Security{Policy: "Basic256Sha256", Mode: "SignAndEncrypt", CertFile: "c", KeyFile: "k"}}, ""},
		"UnknownPolicy":   {opcua.Config{Endpoint: ok, Security: opcua.Security{Policy: "Basic128Rsa15"}}, "Basic128Rsa15"},
		"ModeWithoutSec":  {opcua.Config{Endpoint: ok, Security: opcua.Security{Mode: "Sign"}}, "Sign"},
		"BadCommands":     {opcua.Config{Endpoint: ok, Commands: "modbus"}, "modbus"},
		"BadRejectType":   {opcua.Config{Endpoint: ok, RejectType: "Float"}, "Float"},
		"StateNotExposed": {opcua.Config{Endpoint: ok, Nodes: opcua.Nodes{State: opcua.NotExposed}}, "state"},
		"BadMethodCmd":    {opcua.Config{Endpoint: ok, Nodes: opcua.Nodes{Methods: map[station.LineCommand]string{42: "ns=2;s=X"}}}, "42"},
		"BackoffInverted": {opcua.Config{Endpoint: ok, ReconnectMin: time.Minute, ReconnectMax: time.Second}, "reconnect"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate()=%v, want nil", err)
				}
				return
			}
			if station.ErrorCode(err) != station.EINVALID || !strings.Contains(station.ErrorMessage(err), tc.want) {
				t.Fatalf("Validate()=%v, want EINVALID naming %q", err, tc.want)
			}
			if _, err := opcua.New(tc.cfg); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}
