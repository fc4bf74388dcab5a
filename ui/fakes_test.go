package ui

import (
	"context"
	"sync"
	"time"

	"github.com/linestation/linestation/station"
)

// In-process fakes of the printer and the scanner; the line's coder,
// camera and PLC are station/stationtest's. The test moves cartons itself
// (harness.pass), so that the counters are the same on every run.

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
