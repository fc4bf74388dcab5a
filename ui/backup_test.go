package ui

import (
	"strings"
	"sync"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/linestation/linestation/station"
)

// TestKiosk_BackupLamp: a station that backs up shows a backup lamp, red
// once the backups fail (the station's alarm), which explains what to do
// when touched and is listed on the status screen; a station without
// backups has no such lamp.
func TestKiosk_BackupLamp(t *testing.T) {
	var mu sync.Mutex
	health := station.Health{Device: "s3://backups/line-1", Kind: "backup", State: station.DeviceConnected, Reason: "Backed up to s3://backups/line-1 up to record 40."}
	h := MustKiosk(t, harnessOpts{deps: func(d *Deps) {
		d.Backup = func() station.Health {
			mu.Lock()
			defer mu.Unlock()
			return health
		}
	}})
	h.k.Start()
	h.signIn("sup")
	s := h.k.runScr
	if s.lamps[lampBackup] == nil {
		t.Fatal("no backup lamp on the line screen")
	}
	h.until("the backup lamp is green", func() bool { return s.lamps[lampBackup].Health().State == station.DeviceConnected })

	mu.Lock()
	health.State, health.Reason = station.DeviceFaulted, "Backups to s3://backups/line-1 fail (3 attempts in a row): Access Denied."
	mu.Unlock()
	h.until("the backup lamp turns red", func() bool { return s.lamps[lampBackup].Health().State == station.DeviceFaulted })
	test.Tap(s.lamps[lampBackup])
	d := h.k.dlg
	if d == nil || !strings.HasPrefix(d.title.Text, "Backup") {
		t.Fatal("touching the backup lamp explains nothing")
	}
	text := ""
	for _, l := range d.lines {
		text += l.Text + "\n"
	}
	for _, want := range []string{"Access Denied", "only on this PC", "Tell IT now"} {
		if !strings.Contains(text, want) {
			t.Fatalf("backup lamp explanation lacks %q:\n%s", want, text)
		}
	}
	h.tap(d.ok)

	h.k.show(ScreenStatus)
	h.settle()
	if got := h.k.status.devices[lampBackup].Text; !strings.Contains(got, "Backup") || !strings.Contains(got, "Access Denied") {
		t.Fatalf("status screen backup line %q", got)
	}

	plain := MustKiosk(t, harnessOpts{})
	plain.signIn("op")
	if _, ok := plain.k.runScr.lamps[lampBackup]; ok {
		t.Fatal("a station without backups shows a backup lamp")
	}
}
