package stationtest

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linestation/linestation/station"
)

// In-process fakes of the line devices for the tests of the station and
// the kiosk: they behave as the station's device interfaces say, and the
// test moves the cartons (Coder.Print, Camera.Send). They are not the
// simulators of devices/sim, which speak the devices' wire protocols.

// Coder is a unit coder: Print marks the next queued code and
// acknowledges it; Fault makes it report a fault and stay faulted until
// Repair.
type Coder struct {
	// Now stamps the acknowledgements; time.Now when nil.
	Now func() time.Time

	mu       sync.Mutex
	template string
	queue    []station.UnitCode
	count    uint64
	state    station.DeviceState
	acks     chan station.CoderAck
	faults   chan error
	selects  int
}

// NewCoder returns a connected coder that holds up to capacity
// acknowledgements not yet read.
func NewCoder(capacity int) *Coder {
	return &Coder{state: station.DeviceConnected, acks: make(chan station.CoderAck, capacity), faults: make(chan error, 4)}
}

func (c *Coder) Health() station.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := station.Health{Device: "coder-1", Kind: "coder", State: c.state}
	if c.state != station.DeviceConnected {
		h.Reason = "HEAD_FAULT"
	}
	return h
}

func (c *Coder) Select(ctx context.Context, template string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != station.DeviceConnected {
		return station.Errorf(station.EDEVICE, "coder is faulted")
	}
	c.template, c.queue = template, nil
	c.selects++
	return nil
}

func (c *Coder) Queue(ctx context.Context, codes ...station.UnitCode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != station.DeviceConnected {
		return station.Errorf(station.EDEVICE, "coder is faulted")
	}
	c.queue = append(c.queue, codes...)
	return nil
}

func (c *Coder) Printed(ctx context.Context) (station.CoderAck, error) {
	select {
	case a := <-c.acks:
		return a, nil
	case err := <-c.faults:
		return station.CoderAck{}, err
	case <-ctx.Done():
		return station.CoderAck{}, ctx.Err()
	}
}

func (c *Coder) Status(ctx context.Context) (station.CoderStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return station.CoderStatus{Template: c.template, Queued: len(c.queue), Count: c.count}, nil
}

// Print marks the next queued code on a carton and acknowledges it; false
// when nothing is queued or the coder is faulted.
func (c *Coder) Print() (station.UnitCode, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 || c.state != station.DeviceConnected {
		return station.UnitCode{}, false
	}
	code := c.queue[0]
	c.queue = c.queue[1:]
	c.count++
	c.acks <- station.CoderAck{Serial: code.Serial, Count: c.count, At: now(c.Now)}
	return code, true
}

// PrintedCount is how many codes the coder printed.
func (c *Coder) PrintedCount() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// Selects is how many times a template was selected (each clears the queue).
func (c *Coder) Selects() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.selects
}

// Fault makes the coder report a fault (Printed fails once) and stay
// faulted until Repair.
func (c *Coder) Fault() {
	c.SetState(station.DeviceFaulted)
	c.Report(station.Errorf(station.EDEVICE, "coder fault HEAD_FAULT: print head error"))
}

// Report makes Printed fail once with err, as a coder reporting a fault or
// a warning.
func (c *Coder) Report(err error) { c.faults <- err }

// SetState sets the state the coder reports (Health), as one found
// faulted, without a fault report to Printed.
func (c *Coder) SetState(st station.DeviceState) {
	c.mu.Lock()
	c.state = st
	c.mu.Unlock()
}

// Repair ends a fault.
func (c *Coder) Repair() {
	c.mu.Lock()
	c.state = station.DeviceConnected
	c.mu.Unlock()
}

// Camera is a vision camera: Send delivers a read, numbered by trigger.
type Camera struct {
	// Now stamps the reads; time.Now when nil.
	Now func() time.Time

	reads   chan station.CameraRead
	trigger atomic.Uint64
}

// NewCamera returns a camera that holds up to capacity reads not yet read.
func NewCamera(capacity int) *Camera {
	return &Camera{reads: make(chan station.CameraRead, capacity)}
}

func (c *Camera) Health() station.Health {
	return station.Health{Device: "camera-1", Kind: "camera", State: station.DeviceConnected}
}

func (c *Camera) Read(ctx context.Context) (station.CameraRead, error) {
	select {
	case r := <-c.reads:
		return r, nil
	case <-ctx.Done():
		return station.CameraRead{}, ctx.Err()
	}
}

// Send delivers a read, with the next trigger number and the time.
func (c *Camera) Send(r station.CameraRead) {
	r.Trigger, r.At = c.trigger.Add(1), now(c.Now)
	c.reads <- r
}

// Sent is how many reads were sent.
func (c *Camera) Sent() uint64 { return c.trigger.Load() }

// PLC is a PackML machine that moves between states at once. Stop stops
// it from any state.
type PLC struct {
	mu       sync.Mutex
	st       station.LineStatus
	watchers map[chan station.LineStatus]struct{}
	rejects  []string
}

// NewPLC returns a connected machine in Stopped, mode Produce.
func NewPLC() *PLC {
	return &PLC{st: station.LineStatus{Connected: true, State: station.LineStateStopped, Mode: station.LineModeProduce},
		watchers: map[chan station.LineStatus]struct{}{}}
}

func (l *PLC) Health() station.Health {
	return station.Health{Device: "plc-1", Kind: "plc", State: station.DeviceConnected}
}

func (l *PLC) Status() station.LineStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func (l *PLC) Watch(ctx context.Context) <-chan station.LineStatus {
	ch := make(chan station.LineStatus, 64)
	l.mu.Lock()
	ch <- l.st
	l.watchers[ch] = struct{}{}
	l.mu.Unlock()
	go func() {
		<-ctx.Done()
		l.mu.Lock()
		delete(l.watchers, ch)
		close(ch)
		l.mu.Unlock()
	}()
	return ch
}

// setLocked moves to s and tells every watcher, dropping the oldest
// status a slow watcher has not read.
func (l *PLC) setLocked(s station.LineState) {
	l.st.State = s
	for ch := range l.watchers {
		select {
		case ch <- l.st:
		default:
			select {
			case <-ch:
			default:
			}
			ch <- l.st
		}
	}
}

var plcMoves = map[station.LineCommand]map[station.LineState]station.LineState{
	station.LineCmdStart:  {station.LineStateIdle: station.LineStateExecute},
	station.LineCmdHold:   {station.LineStateExecute: station.LineStateHeld},
	station.LineCmdUnhold: {station.LineStateHeld: station.LineStateExecute},
	station.LineCmdReset:  {station.LineStateStopped: station.LineStateIdle, station.LineStateComplete: station.LineStateIdle},
	station.LineCmdClear:  {station.LineStateAborted: station.LineStateStopped},
}

func (l *PLC) Command(ctx context.Context, cmd station.LineCommand) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cmd == station.LineCmdStop {
		l.setLocked(station.LineStateStopped)
		return nil
	}
	to, ok := plcMoves[cmd][l.st.State]
	if !ok {
		return station.Errorf(station.ECONFLICT, "PLC refuses %s in state %s", cmd, l.st.State)
	}
	l.setLocked(to)
	return nil
}

func (l *PLC) Reject(ctx context.Context, unit string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rejects = append(l.rejects, unit)
	return nil
}

// State is the machine's state.
func (l *PLC) State() station.LineState { return l.Status().State }

// Rejects are the units the reject gate was commanded for, in order.
func (l *PLC) Rejects() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.rejects...)
}

func now(f func() time.Time) time.Time {
	if f != nil {
		return f()
	}
	return time.Now().UTC()
}
