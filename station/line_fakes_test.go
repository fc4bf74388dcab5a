package station_test

import (
	"context"
	"sync"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// A conveyor that moves cartons from the fake coder to the fake camera
// (station/stationtest) in order, with faults planned per carton.

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
	coder  *stationtest.Coder
	camera *stationtest.Camera
	line   *stationtest.PLC
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
	if !(cv.line.State() == station.LineStateExecute) {
		return false
	}
	cv.mu.Lock()
	if cv.pause {
		cv.mu.Unlock()
		return false
	}
	cv.mu.Unlock()
	f := cv.plan(cv.printed) // before printing: a plan may fault the coder
	code, ok := cv.coder.Print()
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
		cv.camera.Send(good)
		cv.lastGood = c.code.Data
	case fNoRead:
		cv.camera.Send(station.CameraRead{NoRead: true, Grade: station.NoGrade})
	case fWrong:
		d := []byte(c.code.Data)
		if d[len(d)-1] == 'Z' {
			d[len(d)-1] = 'Y'
		} else {
			d[len(d)-1] = 'Z'
		}
		cv.camera.Send(station.CameraRead{Symbology: "]d2", Data: string(d), Grade: 3.5})
	case fDup:
		cv.camera.Send(station.CameraRead{Symbology: "]d2", Data: cv.lastGood, Grade: 3.6})
	case fLowGrade:
		cv.camera.Send(station.CameraRead{Symbology: "]d2", Data: c.code.Data, Grade: 1.0})
	case fD1:
		cv.camera.Send(station.CameraRead{Symbology: "]d1", Data: c.code.Data, Grade: 3.5})
	case fMissing:
	case fEarly:
		cv.camera.Send(good)
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
