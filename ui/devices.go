package ui

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/linestation/linestation/station"
)

// The lamps of the line run screen, one per device, in display order.
const (
	lampPrinter = "printer"
	lampCoder   = "coder"
	lampCamera  = "camera"
	lampScanner = "scanner"
	lampPLC     = "plc"
	lampClock   = "clock"
	lampUplink  = "uplink"
	lampBackup  = "backup" // only when the station backs up (Deps.Backup)
)

// lampKinds lists the lamps every kiosk shows, in display order.
var lampKinds = []string{lampPrinter, lampCoder, lampCamera, lampScanner, lampPLC, lampClock, lampUplink}

// lamps lists this kiosk's lamps in display order: lampKinds, and the
// backup lamp when the station backs up.
func (k *Kiosk) lamps() []string {
	if k.d.Backup == nil {
		return lampKinds
	}
	return append(slices.Clone(lampKinds), lampBackup)
}

// Pseudo-states of lamps for devices that are not there by design: grey,
// with a word instead of a fault.
const (
	stateNotUsed    station.DeviceState = "not-used"   // no such device configured
	stateKeyboard   station.DeviceState = "keyboard"   // scans come from a keyboard-wedge scanner
	stateStandalone station.DeviceState = "standalone" // no central service: the station runs standalone
)

// deviceOps tracks the device calls under way, so that a call that hangs
// turns its device's lamp amber. Safe for concurrent use.
type deviceOps struct {
	mu   sync.Mutex
	next int
	ops  map[int]deviceOp
}

type deviceOp struct {
	devs  []string
	what  string
	start time.Time // wall clock with its monotonic reading
}

func newDeviceOps() *deviceOps { return &deviceOps{ops: map[int]deviceOp{}} }

// begin records a call that drives devs; end must follow with its id.
func (o *deviceOps) begin(devs []string, what string, _ time.Time) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.next++
	o.ops[o.next] = deviceOp{devs: devs, what: what, start: time.Now()}
	return o.next
}

func (o *deviceOps) end(id int) {
	o.mu.Lock()
	delete(o.ops, id)
	o.mu.Unlock()
}

// stuck returns the oldest call on dev that has run longer than after.
func (o *deviceOps) stuck(dev string, after time.Duration) (deviceOp, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var oldest deviceOp
	found := false
	for _, op := range o.ops {
		for _, d := range op.devs {
			if d == dev && time.Since(op.start) > after && (!found || op.start.Before(oldest.start)) {
				oldest, found = op, true
			}
		}
	}
	return oldest, found
}

// healthSource reads one lamp's device health; get may block when the
// driver is broken, so it is only ever called off the Fyne goroutine.
type healthSource struct {
	kind string
	get  func() station.Health
}

// sources lists where each lamp's state comes from.
func (k *Kiosk) sources() []healthSource {
	d := k.d
	reporter := func(kind string, r station.HealthReporter, ok bool) healthSource {
		if !ok {
			return healthSource{kind, func() station.Health {
				return station.Health{Device: kind, Kind: kind, State: stateNotUsed, Reason: "no such device is configured at this station"}
			}}
		}
		return healthSource{kind, r.Health}
	}
	out := []healthSource{
		reporter(lampPrinter, d.Printer, d.Printer != nil),
		reporter(lampCoder, d.Coder, d.Coder != nil),
		reporter(lampCamera, d.Camera, d.Camera != nil),
	}
	if d.Scanner != nil {
		out = append(out, healthSource{lampScanner, d.Scanner.Health})
	} else {
		out = append(out, healthSource{lampScanner, func() station.Health {
			return station.Health{Device: "keyboard", Kind: lampScanner, State: stateKeyboard,
				Reason: "scans are typed into the kiosk by a keyboard-wedge scanner"}
		}})
	}
	out = append(out, reporter(lampPLC, d.PLC, d.PLC != nil))
	switch c := d.Clock.(type) {
	case nil:
		out = append(out, reporter(lampClock, nil, false))
	case station.HealthReporter:
		out = append(out, healthSource{lampClock, c.Health})
	default:
		out = append(out, healthSource{lampClock, func() station.Health { return clockHealth(c.Now()) }})
	}
	if d.Uplink == nil {
		out = append(out, healthSource{lampUplink, func() station.Health {
			return station.Health{Device: "central", Kind: lampUplink, State: stateStandalone,
				Reason: "no central service is configured: the station runs standalone and makes its own serials"}
		}})
	} else {
		up := d.Uplink
		out = append(out, healthSource{lampUplink, func() station.Health { return uplinkHealth(up()) }})
	}
	if d.Backup != nil {
		out = append(out, healthSource{lampBackup, d.Backup})
	}
	return out
}

// clockHealth turns a clock reading into a lamp.
func clockHealth(t station.Time) station.Health {
	h := station.Health{Device: "clock", Kind: lampClock, Reason: t.Reason, Since: t.LastSync}
	switch t.State {
	case station.ClockSynced:
		h.State = station.DeviceConnected
	case station.ClockDegraded:
		h.State = station.DeviceDegraded
	default:
		h.State = station.DeviceFaulted
	}
	return h
}

// uplinkHealth turns the uplink's state into a lamp.
func uplinkHealth(s UplinkStatus) station.Health {
	h := station.Health{Device: "central", Kind: lampUplink, State: station.DeviceConnected, Since: s.LastSync}
	if !s.Connected {
		h.State = station.DeviceDisconnected
		h.Reason = "the central service cannot be reached; production goes on and records are kept here"
		if s.Waiting > 0 {
			h.Reason += fmt.Sprintf(" (%d records wait to be sent)", s.Waiting)
		}
		if s.LastError != "" {
			h.Reason += ": " + s.LastError
		}
	} else if s.Waiting > 0 && s.OldestAge > 5*time.Minute {
		h.State = station.DeviceDegraded
		h.Reason = fmt.Sprintf("%d records wait to be sent, the oldest for %s", s.Waiting, s.OldestAge.Round(time.Second))
	}
	return h
}

// startPoller refreshes the lamps every PollEvery. A Health call that does
// not return, or a device call running longer than HangAfter, turns the
// lamp amber with the reason; the screen goes on answering.
func (k *Kiosk) startPoller() {
	srcs := k.sources()
	type slot struct {
		inflight bool
		started  time.Time
		latest   station.Health
		have     bool
		posted   station.Health
	}
	var mu sync.Mutex
	slots := make([]*slot, len(srcs))
	for i := range slots {
		slots[i] = &slot{}
	}
	poll := func() {
		changed := map[string]station.Health{}
		for i, src := range srcs {
			s := slots[i]
			mu.Lock()
			if !s.inflight {
				s.inflight, s.started = true, time.Now()
				go func() {
					h := src.get()
					mu.Lock()
					s.latest, s.have, s.inflight = h, true, false
					mu.Unlock()
				}()
			}
			mu.Unlock()
		}
		// Give quick answers a moment, so that the first poll shows them.
		time.Sleep(min(50*time.Millisecond, k.d.PollEvery/4))
		for i, src := range srcs {
			s := slots[i]
			mu.Lock()
			h := s.latest
			if !s.have {
				h = station.Health{Device: src.kind, Kind: src.kind}
			}
			if s.inflight && time.Since(s.started) > k.d.HangAfter {
				h.State = station.DeviceDegraded
				h.Reason = fmt.Sprintf("the %s has not answered a status request for %s", src.kind, time.Since(s.started).Round(time.Second))
			}
			if op, ok := k.ops.stuck(src.kind, k.d.HangAfter); ok && h.State == station.DeviceConnected {
				h.State = station.DeviceDegraded
				h.Reason = fmt.Sprintf("the %s has not answered for %s (%s)", src.kind, time.Since(op.start).Round(time.Second), op.what)
			}
			if h != s.posted {
				s.posted = h
				changed[src.kind] = h
			}
			mu.Unlock()
		}
		if len(changed) > 0 {
			k.do(func() { k.setHealth(changed) })
		}
	}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		tick := time.NewTicker(k.d.PollEvery)
		defer tick.Stop()
		for {
			poll()
			select {
			case <-k.ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// setHealth shows new lamp states (on the Fyne goroutine).
func (k *Kiosk) setHealth(changed map[string]station.Health) {
	for kind, h := range changed {
		k.health[kind] = h
	}
	if k.runScr != nil {
		k.runScr.healthChanged()
	}
	if k.status != nil {
		k.status.healthChanged()
	}
}

// explainHealth shows what a lamp means when it is touched: the device,
// its state, why, and since when.
func (k *Kiosk) explainHealth(kind string, h station.Health) {
	k.touch()
	title := deviceName(kind)
	if h.Device != "" && h.Device != kind {
		title += " · " + h.Device
	}
	lines := []string{trf("State: {{.State}}", map[string]any{"State": stateText(h.State)})}
	if h.Reason != "" {
		lines = append(lines, h.Reason)
	}
	if !h.Since.IsZero() {
		lines = append(lines, trf("Since {{.Time}}", map[string]any{"Time": k.dateTime(h.Since)}))
	}
	switch h.State {
	case station.DeviceConnected:
		lines = append(lines, tr("Nothing to do."))
	case station.DeviceDegraded:
		lines = append(lines, tr("Production goes on. Tell the line supervisor if it does not clear."))
	case station.DeviceFaulted, station.DeviceDisconnected:
		switch kind {
		case lampUplink:
			lines = append(lines, tr("Production goes on: records are kept at this station and sent when the central service can be reached again. Tell IT if this lasts."))
		case lampBackup:
			lines = append(lines, tr("Production goes on, but this station's records are not being backed up: what was recorded since the last backup is only on this PC. Tell IT now."))
		case lampPrinter:
			lines = append(lines, tr("Cases and pallets cannot be closed while this lasts (their labels cannot be printed). Check the printer's cable, power, labels and ribbon."))
		case lampScanner:
			lines = append(lines, tr("Scan with a keyboard scanner or type the code in the scan field meanwhile. Check the scanner's cable."))
		default:
			lines = append(lines, tr("Production stops while this lasts. Check the device's cable and power, clear its fault, then resume the line."))
		}
	}
	k.info(title, lines...)
}
