package ui

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linestation/linestation/station"
)

// In-process fakes of the line devices, as the station's interfaces
// describe them. The test moves cartons itself (harness.pass), so that the
// counters are the same on every run.

type fakeCoder struct {
	mu    sync.Mutex
	queue []station.UnitCode
	count uint64
	acks  chan station.CoderAck
}

func newFakeCoder() *fakeCoder { return &fakeCoder{acks: make(chan station.CoderAck, 1000)} }

func (c *fakeCoder) Health() station.Health {
	return station.Health{Device: "coder-1", Kind: "coder", State: station.DeviceConnected}
}

func (c *fakeCoder) Select(ctx context.Context, template string) error {
	c.mu.Lock()
	c.queue = nil
	c.mu.Unlock()
	return nil
}

func (c *fakeCoder) Queue(ctx context.Context, codes ...station.UnitCode) error {
	c.mu.Lock()
	c.queue = append(c.queue, codes...)
	c.mu.Unlock()
	return nil
}

func (c *fakeCoder) Printed(ctx context.Context) (station.CoderAck, error) {
	select {
	case a := <-c.acks:
		return a, nil
	case <-ctx.Done():
		return station.CoderAck{}, ctx.Err()
	}
}

func (c *fakeCoder) Status(ctx context.Context) (station.CoderStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return station.CoderStatus{Queued: len(c.queue), Count: c.count}, nil
}

// print marks the next queued code and acknowledges it.
func (c *fakeCoder) print() (station.UnitCode, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return station.UnitCode{}, false
	}
	code := c.queue[0]
	c.queue = c.queue[1:]
	c.count++
	c.acks <- station.CoderAck{Serial: code.Serial, Count: c.count, At: testNow}
	return code, true
}

// printedCount is how many codes the coder printed since the test began.
func (c *fakeCoder) printedCount() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

type fakeCamera struct {
	reads   chan station.CameraRead
	trigger atomic.Uint64
}

func newFakeCamera() *fakeCamera { return &fakeCamera{reads: make(chan station.CameraRead, 1000)} }

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
	r.Trigger, r.At = c.trigger.Add(1), testNow
	c.reads <- r
}

// fakePLC is a PackML machine that moves between states at once.
type fakePLC struct {
	mu       sync.Mutex
	st       station.LineStatus
	watchers map[chan station.LineStatus]struct{}
	cmds     []station.LineCommand
	rejects  []string
}

func newFakePLC() *fakePLC {
	return &fakePLC{st: station.LineStatus{Connected: true, State: station.LineStateStopped, Mode: station.LineModeProduce},
		watchers: map[chan station.LineStatus]struct{}{}}
}

func (l *fakePLC) Health() station.Health {
	return station.Health{Device: "plc-1", Kind: "plc", State: station.DeviceConnected}
}

func (l *fakePLC) Status() station.LineStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func (l *fakePLC) Watch(ctx context.Context) <-chan station.LineStatus {
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

var plcMoves = map[station.LineCommand]map[station.LineState]station.LineState{
	station.LineCmdStart:  {station.LineStateIdle: station.LineStateExecute},
	station.LineCmdHold:   {station.LineStateExecute: station.LineStateHeld},
	station.LineCmdUnhold: {station.LineStateHeld: station.LineStateExecute},
	station.LineCmdReset:  {station.LineStateStopped: station.LineStateIdle, station.LineStateComplete: station.LineStateIdle},
	station.LineCmdStop: {station.LineStateExecute: station.LineStateStopped, station.LineStateHeld: station.LineStateStopped,
		station.LineStateIdle: station.LineStateStopped},
}

func (l *fakePLC) Command(ctx context.Context, cmd station.LineCommand) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cmds = append(l.cmds, cmd)
	to, ok := plcMoves[cmd][l.st.State]
	if !ok {
		return station.Errorf(station.ECONFLICT, "PLC refuses %s in state %s", cmd, l.st.State)
	}
	l.st.State = to
	for ch := range l.watchers {
		select {
		case ch <- l.st:
		default:
		}
	}
	return nil
}

func (l *fakePLC) Reject(ctx context.Context, unit string) error {
	l.mu.Lock()
	l.rejects = append(l.rejects, unit)
	l.mu.Unlock()
	return nil
}

func (l *fakePLC) state() station.LineState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st.State
}

// fakePrinter records labels; hang makes Print block until released, as a
// printer that stopped answering.
type fakePrinter struct {
	mu     sync.Mutex
	labels []station.Label
	hang   chan struct{} // non-nil: Print waits for it to close
}

func (p *fakePrinter) Health() station.Health {
	return station.Health{Device: "printer-1", Kind: "printer", State: station.DeviceConnected}
}

func (p *fakePrinter) Print(ctx context.Context, l station.Label) error {
	p.mu.Lock()
	hang := p.hang
	p.mu.Unlock()
	if hang != nil {
		<-hang
	}
	p.mu.Lock()
	p.labels = append(p.labels, l)
	p.mu.Unlock()
	return nil
}

func (p *fakePrinter) Status(ctx context.Context) (station.PrinterStatus, error) {
	return station.PrinterStatus{}, nil
}

func (p *fakePrinter) printed() []station.Label {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]station.Label(nil), p.labels...)
}

// fakeScanner delivers frames sent with send.
type fakeScanner struct{ frames chan station.Scan }

func newFakeScanner() *fakeScanner { return &fakeScanner{frames: make(chan station.Scan, 16)} }

func (s *fakeScanner) Health() station.Health {
	return station.Health{Device: "scanner-1", Kind: "scanner", State: station.DeviceConnected}
}

func (s *fakeScanner) Scan(ctx context.Context) (station.Scan, error) {
	select {
	case sc := <-s.frames:
		if sc.Problem != "" {
			return sc, station.Errorf(station.EINVALID, "garbled frame: %s", sc.Problem)
		}
		return sc, nil
	case <-ctx.Done():
		return station.Scan{}, ctx.Err()
	}
}

func (s *fakeScanner) send(sym, data string) {
	s.frames <- station.Scan{Symbology: sym, Data: data, Raw: []byte(sym + data), At: time.Now().UTC()}
}
