package opcua

import (
	"context"
	"errors"
	"fmt"
	"time"

	gopcua "github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/linestation/linestation/station"
)

// datum is one value the driver follows.
type datum int

const (
	dState datum = iota
	dMode
	dProcessed
	dDefective
	dReasonID
	dReasonMsg
	nData
)

var datumNames = [nData]string{"state", "mode", "processed count", "defective count", "stop reason id", "stop reason message"}

// session is one live connection to the PLC with its resolved node ids.
type session struct {
	c     *gopcua.Client
	data  [nData]*ua.NodeID // nil: not exposed
	names [nData]string     // the configured ids, for messages

	object           *ua.NodeID
	methods          map[station.LineCommand]*ua.NodeID
	methodErrs       map[station.LineCommand]error // why a method did not resolve
	rejectMethod     *ua.NodeID
	commandTag       *ua.NodeID
	commandChangeTag *ua.NodeID // nil: not used
	rejectTag        *ua.NodeID
}

// nodeError says the PLC lacks a configured node or gives it a value of the
// wrong type: a configuration mismatch that faults the device.
type nodeError struct {
	endpoint string
	field    string
	id       string
	err      error
}

func (e *nodeError) Error() string {
	return fmt.Sprintf("%s node %s: %v", e.field, e.id, e.err)
}

func (e *nodeError) Unwrap() error { return e.err }

func (e *nodeError) operatorText() string {
	return fmt.Sprintf("the PLC at %s does not serve the %s node %s as configured (%v): check the PLC node ids in the station config",
		e.endpoint, e.field, e.id, e.err)
}

// clientOptions returns the gopcua options for one connection attempt.
func (l *Line) clientOptions(states chan<- gopcua.ConnState) []gopcua.Option {
	sec := l.cfg.Security
	opts := []gopcua.Option{
		gopcua.AutoReconnect(false), // the driver reconnects itself, with backoff
		gopcua.StateChangedCh(states),
		gopcua.RequestTimeout(l.cfg.RequestTimeout),
		gopcua.DialTimeout(l.cfg.RequestTimeout),
		gopcua.SessionName("linestation " + l.cfg.Name),
		gopcua.ApplicationName("linestation"),
		gopcua.SecurityPolicy(sec.Policy),
		gopcua.SecurityModeString(sec.Mode),
	}
	if sec.Policy != "None" {
		opts = append(opts, gopcua.CertificateFile(sec.CertFile), gopcua.PrivateKeyFile(sec.KeyFile))
		if sec.ServerCertFile != "" {
			opts = append(opts, gopcua.RemoteCertificateFile(sec.ServerCertFile))
		}
	}
	return append(opts, gopcua.AuthAnonymous())
}

// session connects, follows the PLC until the connection fails or ctx is
// done, and says whether it got as far as a working session.
func (l *Line) session(ctx context.Context) (connected bool, err error) {
	states := make(chan gopcua.ConnState, 16) // gopcua sends a handful per client
	c, err := gopcua.NewClient(l.cfg.Endpoint, l.clientOptions(states)...)
	if err != nil {
		return false, fmt.Errorf("configure client for %s: %w", l.cfg.Endpoint, err)
	}
	cctx, cancel := context.WithTimeout(ctx, l.cfg.RequestTimeout)
	err = c.Connect(cctx)
	cancel()
	if err != nil {
		c.Close(context.Background())
		return false, fmt.Errorf("connect to %s: %w", l.cfg.Endpoint, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		c.Close(cctx)
	}()

	s, err := l.resolve(c)
	if err != nil {
		return false, err
	}
	st, err := s.readAll(ctx, l.cfg.Endpoint)
	if err != nil {
		return false, err
	}

	notes := make(chan *gopcua.PublishNotificationData, 64)
	var poll <-chan time.Time
	if l.pollOnly {
		t := time.NewTicker(l.cfg.PollInterval)
		defer t.Stop()
		poll = t.C
	} else {
		sub, err := s.subscribe(ctx, l.cfg.PublishInterval, notes)
		if err != nil {
			// gopcua's client takes a refused service for a broken channel and
			// drops it, so the polling starts with the next session.
			l.pollOnly = true
			l.Logger.Warn("PLC refuses subscriptions, polling from now on", "err", err, "interval", l.cfg.PollInterval)
			return true, fmt.Errorf("server refuses subscriptions, switching to polling: %w", err)
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			sub.Cancel(cctx)
		}()
	}
	l.setConnected(s, st)
	l.Logger.Info("PLC connected", "endpoint", l.cfg.Endpoint, "polling", l.pollOnly)

	alive := time.NewTicker(l.cfg.KeepAlive)
	defer alive.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case cs := <-states:
			if cs == gopcua.Disconnected || cs == gopcua.Closed {
				return true, fmt.Errorf("connection to %s lost", l.cfg.Endpoint)
			}
		case n := <-notes:
			if n.Error != nil {
				return true, fmt.Errorf("subscription: %w", n.Error)
			}
			if err := l.applyNotification(s, n); err != nil {
				return true, err
			}
		case <-poll:
			st, err := s.readAll(ctx, l.cfg.Endpoint)
			if err != nil {
				return true, err
			}
			l.update(func(cur *station.LineStatus) { st.Connected = true; *cur = st })
		case <-alive.C:
			if err := s.ping(ctx, l.cfg.RequestTimeout); err != nil {
				return true, err
			}
		}
	}
}

// resolve turns the configured node ids into the server's, whose namespace
// indexes the client learnt at Connect.
func (l *Line) resolve(c *gopcua.Client) (*session, error) {
	ns := c.Namespaces()
	n := l.cfg.Nodes
	parse := func(field, text string) (*ua.NodeID, error) {
		if text == NotExposed {
			return nil, nil
		}
		e, err := ua.ParseExpandedNodeID(text, ns)
		if err != nil {
			return nil, &nodeError{endpoint: l.cfg.Endpoint, field: field, id: text, err: err}
		}
		return e.NodeID, nil
	}
	s := &session{c: c, methods: map[station.LineCommand]*ua.NodeID{}, methodErrs: map[station.LineCommand]error{}}
	var err error
	for d, text := range [nData]string{n.State, n.Mode, n.Processed, n.Defective, n.StopReasonID, n.StopReasonMessage} {
		if s.data[d], err = parse(datumNames[d], text); err != nil {
			return nil, err
		}
		s.names[d] = text
	}
	switch l.cfg.Commands {
	case CommandsMethod:
		if s.object, err = parse("command object", n.Object); err != nil {
			return nil, err
		}
		// A command method that does not resolve fails only that command:
		// a PLC need not have every PackML method the defaults name.
		for cmd, text := range n.Methods {
			if s.methods[cmd], err = parse(cmd.String()+" method", text); err != nil {
				s.methods[cmd] = nil
				s.methodErrs[cmd] = err
			}
		}
		if s.rejectMethod, err = parse("reject method", n.RejectMethod); err != nil {
			return nil, err
		}
	case CommandsTag:
		if s.commandTag, err = parse("command tag", n.CommandTag); err != nil {
			return nil, err
		}
		if s.commandChangeTag, err = parse("command change tag", n.CommandChangeTag); err != nil {
			return nil, err
		}
		if s.rejectTag, err = parse("reject tag", n.RejectTag); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// readAll reads every datum the PLC exposes.
func (s *session) readAll(ctx context.Context, endpoint string) (station.LineStatus, error) {
	var st station.LineStatus
	req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnNeither}
	var which []datum
	for d, nid := range s.data {
		if nid != nil {
			req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: nid, AttributeID: ua.AttributeIDValue})
			which = append(which, datum(d))
		}
	}
	res, err := s.c.Read(ctx, req)
	if err != nil {
		return st, fmt.Errorf("read PLC status: %w", err)
	}
	if len(res.Results) != len(which) {
		return st, fmt.Errorf("read PLC status: %d results for %d nodes", len(res.Results), len(which))
	}
	for i, dv := range res.Results {
		d := which[i]
		if dv.Status != ua.StatusOK {
			return st, &nodeError{endpoint: endpoint, field: datumNames[d], id: s.names[d], err: dv.Status}
		}
		if err := apply(&st, d, dv.Value); err != nil {
			return st, &nodeError{endpoint: endpoint, field: datumNames[d], id: s.names[d], err: err}
		}
	}
	return st, nil
}

// subscribe monitors every datum; it fails when the server refuses the
// subscription or any monitored item, and then leaves nothing behind.
func (s *session) subscribe(ctx context.Context, interval time.Duration, notes chan<- *gopcua.PublishNotificationData) (*gopcua.Subscription, error) {
	sub, err := s.c.Subscribe(ctx, &gopcua.SubscriptionParameters{Interval: interval}, notes)
	if err != nil {
		return nil, fmt.Errorf("create subscription: %w", err)
	}
	var items []*ua.MonitoredItemCreateRequest
	for d, nid := range s.data {
		if nid != nil {
			items = append(items, gopcua.NewMonitoredItemCreateRequestWithDefaults(nid, ua.AttributeIDValue, uint32(d)+1))
		}
	}
	res, err := sub.Monitor(ctx, ua.TimestampsToReturnNeither, items...)
	if err == nil && len(res.Results) != len(items) {
		err = fmt.Errorf("%d results for %d items", len(res.Results), len(items))
	}
	if err == nil {
		for i, r := range res.Results {
			if r.StatusCode != ua.StatusOK {
				err = fmt.Errorf("monitor %s: %w", items[i].ItemToMonitor.NodeID, r.StatusCode)
				break
			}
		}
	}
	if err != nil {
		sub.Cancel(ctx)
		return nil, fmt.Errorf("create monitored items: %w", err)
	}
	return sub, nil
}

// applyNotification applies one publish response to the status.
func (l *Line) applyNotification(s *session, n *gopcua.PublishNotificationData) error {
	dc, ok := n.Value.(*ua.DataChangeNotification)
	if !ok {
		return nil // keep-alives and status changes carry no data
	}
	var errs []error
	l.update(func(st *station.LineStatus) {
		for _, item := range dc.MonitoredItems {
			d := datum(item.ClientHandle) - 1
			if d < 0 || d >= nData || item.Value == nil {
				continue
			}
			if item.Value.Status != ua.StatusOK {
				errs = append(errs, fmt.Errorf("%s: %w", datumNames[d], item.Value.Status))
				continue
			}
			if err := apply(st, d, item.Value.Value); err != nil {
				errs = append(errs, &nodeError{endpoint: l.cfg.Endpoint, field: datumNames[d], id: s.names[d], err: err})
			}
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("data change: %w", errors.Join(errs...))
	}
	return nil
}

// ping reads the server's state: the liveness check of a quiet connection.
func (s *session) ping(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := s.c.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{
		NodeID: ua.NewNumericNodeID(0, id.Server_ServerStatus_State), AttributeID: ua.AttributeIDValue,
	}}})
	if err != nil {
		return fmt.Errorf("liveness read: %w", err)
	}
	if len(res.Results) != 1 {
		return errors.New("liveness read: no result")
	}
	return nil
}

// apply decodes one datum's value into st.
func apply(st *station.LineStatus, d datum, v *ua.Variant) error {
	var val any
	if v != nil {
		val = v.Value()
	}
	switch d {
	case dState:
		if name, ok := text(val); ok {
			s, ok := station.ParseLineState(name)
			if !ok {
				return fmt.Errorf("unknown PackML state %q", name)
			}
			st.State = s
			return nil
		}
		n, ok := integer(val)
		if !ok {
			return fmt.Errorf("value %v (%T) is no PackML state", val, val)
		}
		st.State = station.LineState(n)
	case dMode:
		n, ok := integer(val)
		if !ok {
			return fmt.Errorf("value %v (%T) is no unit mode", val, val)
		}
		st.Mode = station.LineMode(n)
	case dProcessed, dDefective, dReasonID:
		n, ok := integer(val)
		if !ok {
			return fmt.Errorf("value %v (%T) is not an integer", val, val)
		}
		switch d {
		case dProcessed:
			st.Processed = n
		case dDefective:
			st.Defective = n
		default:
			st.StopReason.ID = int32(n)
		}
	case dReasonMsg:
		s, ok := text(val)
		if !ok && val != nil {
			return fmt.Errorf("value %v (%T) is not text", val, val)
		}
		st.StopReason.Message = s
	}
	return nil
}

func integer(v any) (int64, bool) {
	switch n := v.(type) {
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		return int64(n), n <= 1<<63-1
	}
	return 0, false
}

func text(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case *ua.LocalizedText:
		if s == nil {
			return "", true
		}
		return s.Text, true
	}
	return "", false
}
