package main

import (
	"context"
	"io"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/ui"
)

// appID is the reverse-DNS id of the app, as in FyneApp.toml.
const appID = "io.linestation.kiosk"

const kioskUsage = `Usage: linestation kiosk [FLAGS]

Starts the touchscreen station app. It is the default command.

Flags:
`

// runKiosk opens the kiosk window and returns when it is closed or ctx ends.
// It is the only command that creates a Fyne app.
func runKiosk(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("kiosk", kioskUsage, stdout)
	fullscreen := fs.Bool("fullscreen", false, "fill the screen (kiosk mode on the line PC)")
	configPath := fs.String("config", "", "the station's config `file` (default: the built-in defaults, a simulated line)")
	initConfig := fs.Bool("init", false, "write a commented default config to station.toml in the current folder and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{message: "kiosk takes no arguments", hint: "run 'linestation kiosk --help'"}
	}
	if *initConfig {
		return writeDefaultConfig("station.toml", stdout)
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		return err
	}
	_ = cfg // wired to the station, devices and uplink as they land (issue 7)

	a := app.NewWithID(appID)
	w := a.NewWindow(station.AppName)
	k := ui.New(a, w)
	w.SetContent(k.Content())
	w.Resize(fyne.NewSize(1024, 768))
	w.SetFullScreen(*fullscreen)
	w.SetMaster()

	go func() {
		<-ctx.Done()
		fyne.Do(a.Quit)
	}()
	w.ShowAndRun()
	return nil
}
