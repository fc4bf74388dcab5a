package station_test

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linestation/linestation/station"
)

// In-process fakes of the line devices, wired by a conveyor that moves
// cartons from the coder to the camera in order, with faults planned per
// carton. They behave as the station's device interfaces say; they are
// not the simulators of devices/sim (which speak the wire protocols).

type fakeCoder struct {
	mu       sync.Mutex
	template string
	queue    []station.UnitCode
	count    uint64
	state    station.DeviceState
	acks     chan station.CoderAck
	faults   chan error
	selects  int
}

func newFakeCoder() *fakeCoder {
	return &fakeCoder{state: station.DeviceConnected, acks: make(chan station.CoderAck, 100000), faults: make(chan error, 4)}
}

func (c *fakeCoder) Health() station.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	return station.Health{Device: "coder-1", Kind: "coder", State: c.state, Reason: map[bool]string{true: "", false: "HEAD_FAULT"}[c.state == station.DeviceConnected]}
}

func (c *fakeCoder) Select(ctx context.Context, template string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != station.DeviceConnected {
		return station.Errorf(station.EDEVICE, "coder is faulted")
	}
	c.template, c.queue = template, nil
	c.selects++
	return nil
}

func (c *fakeCoder) Queue(ctx context.Context, codes ...station.UnitCode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != station.DeviceConnected {
		return station.Errorf(station.EDEVICE, "coder is faulted")
	}
	c.queue = append(c.queue, codes...)
	return nil
}

func (c *fakeCoder) Printed(ctx context.Context) (station.CoderAck, error) {
	select {
	case a := <-c.acks:
		return a, nil
	case err := <-c.faults:
		return station.CoderAck{}, err
	case <-ctx.Done():
		return station.CoderAck{}, ctx.Err()
	}
}

func (c *fakeCoder) Status(ctx context.Context) (station.CoderStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return station.CoderStatus{Template: c.template, Queued: len(c.queue), Count: c.count}, nil
}

func (c *fakeCoder) printedCount() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// print marks the next queued code on a carton and acknowledges it.
func (c *fakeCoder) print() (station.UnitCode, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 || c.state != station.DeviceConnected {
		return station.UnitCode{}, false
	}
	code := c.queue[0]
	c.queue = c.queue[1:]
	c.count++
	c.acks <- station.CoderAck{Serial: code.Serial, Count: c.count, At: time.Now().UTC()}
	return code, true
}

// fault makes the coder report a fault (Printed fails once) and stay faulted
// until repair.
func (c *fakeCoder) fault() {
	c.mu.Lock()
	c.state = station.DeviceFaulted
	c.mu.Unlock()
	c.faults <- station.Errorf(station.EDEVICE, "coder fault HEAD_FAULT: print head error")
}

func (c *fakeCoder) repair() {
	c.mu.Lock()
	c.state = station.DeviceConnected
	c.mu.Unlock()
}

type fakeCamera struct {
	reads   chan station.CameraRead
	trigger atomic.Uint64
}

func (c *fakeCamera) sent() uint64 { return c.trigger.Load() }

func newFakeCamera() *fakeCamera { return &fakeCamera{reads: make(chan station.CameraRead, 100000)} }

func (c *fakeCamera) Health() station.Health {
	return station.Health{Device: "camera-1", Kind: "camera", State: station.DeviceConnected}
}

func (c *fakeCamera) Read(ctx context.Context) (station.CameraRead, error) {
	select {
	case r := <-c.reads:
		return r, nil
	case <-ctx.Done():
		return station.CameraRead{}, ctx.Err()
	}
}

func (c *fakeCamera) send(r station.CameraRead) {
	r.Trigger, r.At = c.trigger.Add(1), time.Now().UTC()
	c.reads <- r
}

// fakeLine is a PackML machine that moves between states at once.
type fakeLine struct {
	mu       sync.Mutex
	st       station.LineStatus
	watchers map[chan station.LineStatus]struct{}
	rejects  []string
	cmds     []station.LineCommand
}

func newFakeLine() *fakeLine {
	return &fakeLine{st: station.LineStatus{Connected: true, State: station.LineStateStopped, Mode: station.LineModeProduce},
		watchers: map[chan station.LineStatus]struct{}{}}
}

func (l *fakeLine) Health() station.Health {
	return station.Health{Device: "plc-1", Kind: "plc", State: station.DeviceConnected}
}

func (l *fakeLine) Status() station.LineStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func (l *fakeLine) Watch(ctx context.Context) <-chan station.LineStatus {
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

func (l *fakeLine) setLocked(s station.LineState) {
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

var lineMoves = map[station.LineCommand]map[station.LineState]station.LineState{
	station.LineCmdStart:  {station.LineStateIdle: station.LineStateExecute},
	station.LineCmdHold:   {station.LineStateExecute: station.LineStateHeld},
	station.LineCmdUnhold: {station.LineStateHeld: station.LineStateExecute},
	station.LineCmdReset:  {station.LineStateStopped: station.LineStateIdle, station.LineStateComplete: station.LineStateIdle},
	station.LineCmdClear:  {station.LineStateAborted: station.LineStateStopped},
}

func (l *fakeLine) Command(ctx context.Context, cmd station.LineCommand) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cmds = append(l.cmds, cmd)
	if cmd == station.LineCmdStop {
		l.setLocked(station.LineStateStopped)
		return nil
	}
	to, ok := lineMoves[cmd][l.st.State]
	if !ok {
		return station.Errorf(station.ECONFLICT, "PLC refuses %s in state %s", cmd, l.st.State)
	}
	l.setLocked(to)
	return nil
}

func (l *fakeLine) Reject(ctx context.Context, unit string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rejects = append(l.rejects, unit)
	return nil
}

func (l *fakeLine) executing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st.State == station.LineStateExecute
}

func (l *fakeLine) Rejects() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.rejects...)
}

// fault is what happens to one carton on its way.
type fault string

const (
	fOK       fault = ""
	fNoRead   fault = "noread"
	fWrong    fault = "wrong"    // a code other than the one acknowledged
	fDup      fault = "dup"      // the last good code again
	fLowGrade fault = "lowgrade" // grade D
	fMissing  fault = "missing"  // falls off before the camera
	fEarly    fault = "early"    // overtakes four cartons
	fManual   fault = "manual"   // an operator takes it off before the camera
	fClock    fault = "clock"    // the clock is unsynced when it is read
	fD1       fault = "d1"       // encoded without FNC1 (]d1)
)

// carton is a printed pack on the conveyor.
type carton struct {
	code  station.UnitCode
	fault fault
	index int
}

// conveyor moves cartons from the coder to the camera. plan gives each
// carton's fault by print index; Lag cartons are between the coder and the
// camera.
type conveyor struct {
	coder  *fakeCoder
	camera *fakeCamera
	line   *fakeLine
	plan   func(i int) fault
	lag    int
	// onSpecial is called (from the conveyor goroutine) for manual and
	// clock cartons before they reach the camera; it must return when done.
	onSpecial func(c carton)
	// sync, when set, is called before each read with the number of
	// cartons printed so far; it waits until the station took every
	// acknowledgement, as the physical distance between coder and camera
	// guarantees on a real line.
	sync func(printed int)
	// canDrain reports whether cartons may move on without a new one
	// being printed (the station queues no more codes).
	canDrain func() bool

	mu       sync.Mutex
	printed  int
	window   []carton
	lastGood string
	pause    bool
}

// step moves the line by one carton; it reports whether anything moved.
func (cv *conveyor) step() bool {
	if !cv.line.executing() {
		return false
	}
	cv.mu.Lock()
	if cv.pause {
		cv.mu.Unlock()
		return false
	}
	cv.mu.Unlock()
	f := cv.plan(cv.printed) // before printing: a plan may fault the coder
	code, ok := cv.coder.print()
	if ok {
		cv.mu.Lock()
		c := carton{code: code, fault: f, index: cv.printed}
		cv.printed++
		cv.window = append(cv.window, c)
		if n := len(cv.window); c.fault == fEarly && n >= 5 {
			// the early carton overtakes the four printed before it
			copy(cv.window[n-4:], cv.window[n-5:n-1])
			cv.window[n-5] = c
		}
		cv.mu.Unlock()
	}
	cv.mu.Lock()
	if len(cv.window) == 0 || (ok && len(cv.window) <= cv.lag) {
		cv.mu.Unlock()
		return ok
	}
	if !ok && (cv.canDrain == nil || !cv.canDrain()) {
		// no code to print yet: the line waits for the coder
		cv.mu.Unlock()
		return false
	}
	c := cv.window[0]
	cv.window = cv.window[1:]
	cv.mu.Unlock()
	if cv.sync != nil {
		cv.sync(cv.printed)
	}
	cv.read(c)
	return true
}

// read shows a carton to the camera.
func (cv *conveyor) read(c carton) {
	good := station.CameraRead{Symbology: "]d2", Data: c.code.Data, Grade: 3.8}
	switch c.fault {
	case fOK:
		cv.camera.send(good)
		cv.lastGood = c.code.Data
	case fNoRead:
		cv.camera.send(station.CameraRead{NoRead: true, Grade: station.NoGrade})
	case fWrong:
		d := []byte(c.code.Data)
		if d[len(d)-1] == 'Z' {
			d[len(d)-1] = 'Y'
		} else {
			d[len(d)-1] = 'Z'
		}
		cv.camera.send(station.CameraRead{Symbology: "]d2", Data: string(d), Grade: 3.5})
	case fDup:
		cv.camera.send(station.CameraRead{Symbology: "]d2", Data: cv.lastGood, Grade: 3.6})
	case fLowGrade:
		cv.camera.send(station.CameraRead{Symbology: "]d2", Data: c.code.Data, Grade: 1.0})
	case fD1:
		cv.camera.send(station.CameraRead{Symbology: "]d1", Data: c.code.Data, Grade: 3.5})
	case fMissing:
	case fEarly:
		cv.camera.send(good)
	case fManual, fClock:
		cv.onSpecial(c)
	}
}

// run steps the conveyor until ctx is done.
func (cv *conveyor) run(ctx context.Context) {
	for ctx.Err() == nil {
		if !cv.step() {
			time.Sleep(200 * time.Microsecond)
		}
	}
}
