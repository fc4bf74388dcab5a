package ui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/linestation/linestation/station"
)

// TourCommands lists what Tour understands, for cmd's usage text.
const TourCommands = `signin USER PIN   sign in on the sign-in screen
show SCREEN       switch to signin, run, orders, packing, warehouse or status
start             start (or resume) the loaded order on the line
wait N            wait until N packs of the run are commissioned
pack N            scan N commissioned packs into the open case (opening one if none is)
close             close the full case on the packing screen (its label prints)
lookup            look up the case packed last on the warehouse screen
ship              ship the case packed last to the first partner
signout           sign out`

// Tour drives the kiosk as an operator would, one command at a time, for
// the screenshots of the real window (linestation kiosk --tour, allowed
// with the simulated line only). Call it from a goroutine other than
// Fyne's: it returns once the screen shows the command's result, with the
// line to print ("shown run", ...).
func (k *Kiosk) Tour(ctx context.Context, command string) (string, error) {
	f := strings.Fields(command)
	if len(f) == 0 {
		return "", fmt.Errorf("empty tour command")
	}
	switch f[0] {
	case "signin":
		if len(f) != 3 {
			return "", fmt.Errorf("signin wants a user and a PIN")
		}
		k.call(func() {
			if k.session != nil {
				k.signOut()
			}
			k.signin.user.SetText(f[1])
			k.signin.signIn(f[2])
		})
		if err := k.waitIdle(ctx); err != nil {
			return "", err
		}
		var name string
		k.call(func() { name = k.current })
		if name == ScreenSignIn {
			var msg string
			k.call(func() { msg = k.signin.msg.Text })
			return "", fmt.Errorf("sign-in failed: %s", msg)
		}
		return "shown " + name, nil
	case "signout":
		k.call(k.signOut)
		return "shown " + ScreenSignIn, nil
	case "show":
		if len(f) != 2 {
			return "", fmt.Errorf("show wants a screen")
		}
		var ok bool
		k.call(func() {
			if f[1] == ScreenSignIn {
				ok = k.session == nil
				return
			}
			ok = k.show(f[1])
		})
		if !ok {
			return "", fmt.Errorf("screen %q is not offered to the user signed in", f[1])
		}
		if err := k.waitIdle(ctx); err != nil {
			return "", err
		}
		return "shown " + f[1], nil
	case "start":
		k.call(func() { k.show(ScreenRun) })
		if err := k.waitIdle(ctx); err != nil {
			return "", err
		}
		k.call(func() { k.runScr.startOrResume() })
		if err := k.waitIdle(ctx); err != nil {
			return "", err
		}
		var running bool
		var msg string
		k.call(func() { running, msg = k.run != nil, k.message.Text })
		if !running {
			return "", fmt.Errorf("the line did not start: %s", msg)
		}
		return "started", nil
	case "wait":
		n, err := tourCount(f)
		if err != nil {
			return "", err
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var done int64
			k.call(func() { done = k.snap.Commissioned })
			if done >= n {
				return fmt.Sprintf("commissioned %d", done), nil
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return "", fmt.Errorf("only %d packs commissioned", done)
			}
			time.Sleep(100 * time.Millisecond)
		}
	case "pack":
		n, err := tourCount(f)
		if err != nil {
			return "", err
		}
		return k.tourPack(ctx, int(n))
	case "close":
		var ok bool
		var id string
		k.call(func() {
			k.show(ScreenPacking)
			c := k.packing.cards[k.packing.current]
			if c == nil || c.state.Status != station.ContainerOpen || c.state.Count < c.state.Capacity {
				return
			}
			ok, id = true, c.state.Parent.Key()
			k.packing.closeCurrent()
		})
		if !ok {
			return "", fmt.Errorf("no full case is open on the packing screen")
		}
		if err := k.waitIdle(ctx); err != nil {
			return "", err
		}
		var closed bool
		k.call(func() {
			c := k.packing.cards[station.LevelCase]
			closed = c != nil && c.state.Status == station.ContainerClosed
		})
		if !closed {
			var msg string
			k.call(func() { msg = k.message.Text })
			return "", fmt.Errorf("the case did not close: %s", msg)
		}
		return "closed " + id, nil
	case "ship":
		return k.tourShip(ctx)
	case "lookup":
		var key string
		k.call(func() {
			if k.packing != nil {
				if c := k.packing.cards[station.LevelCase]; c != nil {
					key = c.state.Parent.Key()
				}
			}
			k.show(ScreenWarehouse)
		})
		if key == "" {
			return "", fmt.Errorf("no case was packed")
		}
		k.call(func() { k.warehouse.scanned(wedgeInput(key)) })
		if err := k.waitIdle(ctx); err != nil {
			return "", err
		}
		return "shown " + ScreenWarehouse, nil
	}
	return "", fmt.Errorf("unknown tour command %q", f[0])
}

func tourCount(f []string) (int64, error) {
	if len(f) != 2 {
		return 0, fmt.Errorf("%s wants a number", f[0])
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s wants a positive number, not %q", f[0], f[1])
	}
	return n, nil
}

// tourPack opens a case and scans n loose commissioned packs into it.
func (k *Kiosk) tourPack(ctx context.Context, n int) (string, error) {
	k.call(func() { k.show(ScreenPacking) })
	if err := k.waitIdle(ctx); err != nil {
		return "", err
	}
	var order string
	var level station.AggregationLevel
	k.call(func() {
		order = k.packing.order
		if lv := k.packing.levels(); len(lv) > 0 {
			level = lv[0]
		}
	})
	if order == "" || level == "" {
		return "", fmt.Errorf("no order with packaging levels to pack")
	}
	var open bool
	k.call(func() {
		c := k.packing.cards[level]
		open = c != nil && c.state.Status == station.ContainerOpen
	})
	if !open {
		k.call(func() { k.packing.open(level) })
		if err := k.waitIdle(ctx); err != nil {
			return "", err
		}
	}
	o, err := k.svc.Order(ctx, order)
	if err != nil {
		return "", err
	}
	serials, err := k.svc.Ledger().OrderSerials(ctx, order, station.UnitStateCommissioned, n*4+10)
	if err != nil {
		return "", err
	}
	packed := 0
	for _, sr := range serials {
		if packed == n {
			break
		}
		it := station.SGTIN(o.GTIN, sr)
		if _, err := k.svc.Ledger().Parent(ctx, it); err == nil {
			continue
		}
		k.call(func() { k.scanned(wedgeInput(it.Key())) })
		if err := k.waitIdle(ctx); err != nil {
			return "", err
		}
		packed++
	}
	if packed < n {
		return "", fmt.Errorf("only %d loose commissioned packs to pack", packed)
	}
	return fmt.Sprintf("packed %d", packed), nil
}

// tourShip ships the case packed last: a new shipment to the first
// partner, the case picked into it, packed and shipped.
func (k *Kiosk) tourShip(ctx context.Context) (string, error) {
	var key string
	k.call(func() {
		if k.packing != nil {
			if c := k.packing.cards[station.LevelCase]; c != nil && c.state.Status == station.ContainerClosed {
				key = c.state.Parent.Key()
			}
		}
		k.show(ScreenWarehouse)
		k.warehouse.modes.set(modePick)
		k.warehouse.newShipment()
	})
	if key == "" {
		return "", fmt.Errorf("no closed case to ship")
	}
	steps := []func(){
		func() {
			if k.dlg != nil {
				k.dlg.fields["po"].SetText("PO-DEMO-1")
				k.dlg.ok.OnTapped()
			}
		},
		func() { k.warehouse.scanned(wedgeInput(key)) },
		func() { k.warehouse.refreshShipment() },
		func() { k.warehouse.packShipment() },
		func() {
			k.warehouse.shipShipment()
			if k.dlg != nil {
				k.dlg.ok.OnTapped()
			}
		},
	}
	for _, step := range steps {
		k.call(step)
		if err := k.waitIdle(ctx); err != nil {
			return "", err
		}
	}
	var id, msg string
	var shipped bool
	k.call(func() {
		msg = k.message.Text
		if sh := k.warehouse.shipment; sh != nil {
			id, shipped = sh.ID, sh.Status == station.ShipmentStatusShipped
		}
	})
	if !shipped {
		return "", fmt.Errorf("the shipment did not ship: %s", msg)
	}
	return "shipped " + id, nil
}

// call runs f on the Fyne goroutine and waits for it.
func (k *Kiosk) call(f func()) {
	done := make(chan struct{})
	k.do(func() {
		defer close(done)
		f()
	})
	<-done
}

// waitIdle waits until no station call of the screen is under way.
func (k *Kiosk) waitIdle(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		k.call(func() { n = k.busy })
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the screen is still busy after a minute")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
