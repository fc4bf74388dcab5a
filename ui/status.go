package ui

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/station"
)

// statusScreen shows the station's health in detail: the clock (NTP offset
// and state), the uplink (state and backlog), the serial pools, every
// device, and the version. An administrator can leave kiosk mode here.
type statusScreen struct {
	k *Kiosk

	station *widget.Label
	clock   *widget.Label
	uplink  *widget.Label
	pools   *widget.Label
	devices map[string]*widget.Label
	refresh *widget.Button
	exit    *widget.Button

	obj fyne.CanvasObject
}

func newStatusScreen(k *Kiosk) *statusScreen {
	s := &statusScreen{k: k, devices: map[string]*widget.Label{}}
	wrap := func() *widget.Label {
		l := widget.NewLabel("")
		l.Wrapping = fyne.TextWrapWord
		return l
	}
	s.station, s.clock, s.uplink, s.pools = wrap(), wrap(), wrap(), wrap()
	devBox := container.NewVBox()
	for _, kind := range k.lamps() {
		l := wrap()
		s.devices[kind] = l
		devBox.Add(l)
	}
	s.refresh = widget.NewButtonWithIcon(tr("Refresh"), theme.ViewRefreshIcon(), func() { k.touch(); s.shown() })
	buttons := []fyne.CanvasObject{s.refresh}
	if k.has(station.RoleAdmin) {
		s.exit = widget.NewButtonWithIcon(tr("Leave kiosk mode"), theme.LogoutIcon(), k.askExit)
		s.exit.Importance = widget.DangerImportance
		buttons = append(buttons, s.exit)
	}
	body := container.NewVBox(
		heading(tr("Station")), s.station,
		heading(tr("Clock")), s.clock,
		heading(tr("Central service")), s.uplink,
		heading(tr("Serial pools")), s.pools,
		heading(tr("Devices")), devBox,
	)
	s.obj = container.NewBorder(nil, container.NewGridWithColumns(len(buttons), buttons...), nil, nil, container.NewVScroll(body))
	s.healthChanged()
	return s
}

func (s *statusScreen) content() fyne.CanvasObject { return s.obj }

func (s *statusScreen) scanned(in scanInput) {
	s.k.say(levelInfo, tr("Scans are used on the Packing and Warehouse screens."))
}

// shown reads the clock, the uplink and the pools (off the Fyne goroutine:
// the pools are in the ledger).
func (s *statusScreen) shown() {
	k := s.k
	type result struct {
		clock  *station.Time
		detail *ClockStatus
		uplink *UplinkStatus
		pools  []station.PoolStatus
		names  map[string]string
	}
	async(k, nil, "read status", func(ctx context.Context) (result, error) {
		r := result{names: map[string]string{}}
		if k.d.Clock != nil {
			t := k.d.Clock.Now()
			r.clock = &t
		}
		if k.d.ClockStatus != nil {
			cs := k.d.ClockStatus()
			r.detail = &cs
		}
		if k.d.Uplink != nil {
			u := k.d.Uplink()
			r.uplink = &u
		}
		ps, err := k.svc.Ledger().Products(ctx)
		if err != nil {
			return r, err
		}
		for _, p := range ps {
			st, err := k.svc.Pools().Status(ctx, p.GTIN)
			if err != nil {
				return r, err
			}
			r.pools = append(r.pools, st)
			r.names[p.GTIN] = p.Name
		}
		return r, nil
	}, func(r result, err error) {
		if err != nil {
			k.fail(tr("The station status could not be read"), err)
		}
		s.render(r.clock, r.detail, r.uplink, r.pools, r.names)
	})
}

func (s *statusScreen) render(t *station.Time, detail *ClockStatus, up *UplinkStatus, pools []station.PoolStatus, names map[string]string) {
	k := s.k
	version := station.Version
	if station.Commit != "" {
		version += " (" + station.Commit + ")"
	}
	s.station.SetText(strings.Join([]string{
		trf("Station {{.Station}} · line {{.Line}}", map[string]any{"Station": k.d.Station, "Line": k.d.Line}),
		trf("{{.App}} version {{.Version}}", map[string]any{"App": station.AppName, "Version": version}),
		trf("Language {{.Language}} · times shown in {{.Zone}}; records are kept in UTC", map[string]any{"Language": k.lang, "Zone": k.d.Location.String()}),
	}, "\n"))

	if t == nil {
		s.clock.SetText(tr("No station clock."))
	} else {
		lines := []string{
			trf("State: {{.State}}", map[string]any{"State": clockStateName(t.State)}),
			trf("Offset applied: {{.Offset}} · last sync: {{.Sync}}", map[string]any{"Offset": k.duration(t.Offset), "Sync": k.dateTime(t.LastSync)}),
		}
		if t.Reason != "" {
			lines = append(lines, t.Reason)
		}
		if detail != nil {
			for _, srv := range detail.Servers {
				line := trf("Time server {{.Address}}: offset {{.Offset}}, round trip {{.RTT}}, stratum {{.Stratum}}", map[string]any{
					"Address": srv.Address, "Offset": k.duration(srv.Offset), "RTT": k.duration(srv.RTT), "Stratum": srv.Stratum})
				if srv.Error != "" {
					line += " · " + srv.Error
				} else if srv.Used {
					line += " · " + tr("used")
				}
				lines = append(lines, line)
			}
		}
		s.clock.SetText(strings.Join(lines, "\n"))
		s.clock.Importance = map[station.ClockState]widget.Importance{station.ClockSynced: widget.SuccessImportance, station.ClockDegraded: widget.WarningImportance}[t.State]
		if t.State != station.ClockSynced && t.State != station.ClockDegraded {
			s.clock.Importance = widget.DangerImportance
		}
		s.clock.Refresh()
	}

	if up == nil {
		s.uplink.SetText(tr("Standalone: no central service is configured. Serials are made at this station and records stay here."))
	} else {
		state := tr("connected")
		if !up.Connected {
			state = tr("not connected")
		}
		lines := []string{
			trf("State: {{.State}} · last sync: {{.Sync}}", map[string]any{"State": state, "Sync": k.dateTime(up.LastSync)}),
			trf("Records waiting to be sent: {{.Waiting}}", map[string]any{"Waiting": k.num(up.Waiting)}),
		}
		if up.Waiting > 0 {
			lines = append(lines, trf("The oldest has waited {{.Age}}.", map[string]any{"Age": k.duration(up.OldestAge)}))
		}
		if up.LastError != "" {
			lines = append(lines, up.LastError)
		}
		s.uplink.SetText(strings.Join(lines, "\n"))
	}

	var lines []string
	for _, p := range pools {
		line := trf("{{.Product}} (GTIN {{.GTIN}}): {{.Available}} serials, refill below {{.LowWater}}", map[string]any{
			"Product": names[p.GTIN], "GTIN": p.GTIN, "Available": k.num(p.Available), "LowWater": k.num(int64(p.LowWater))})
		if p.Replenishing {
			line += " · " + tr("refilling")
		}
		if p.LastError != "" {
			line += " · " + p.LastError
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		lines = []string{tr("No product is defined at this station.")}
	}
	s.pools.SetText(strings.Join(lines, "\n"))
	s.healthChanged()
}

// healthChanged shows each device's state and reason.
func (s *statusScreen) healthChanged() {
	k := s.k
	for kind, l := range s.devices {
		h, ok := k.health[kind]
		if !ok {
			h = station.Health{Device: kind}
		}
		text := deviceName(kind)
		if h.Device != "" && h.Device != kind {
			text += " (" + h.Device + ")"
		}
		text += ": " + stateText(h.State)
		if h.Reason != "" {
			text += " · " + h.Reason
		}
		if !h.Since.IsZero() {
			text += " · " + trf("since {{.Time}}", map[string]any{"Time": k.dateTime(h.Since)})
		}
		l.SetText(text)
		switch h.State {
		case station.DeviceConnected:
			l.Importance = widget.SuccessImportance
		case station.DeviceDegraded:
			l.Importance = widget.WarningImportance
		case station.DeviceFaulted, station.DeviceDisconnected:
			l.Importance = widget.DangerImportance
		default:
			l.Importance = widget.MediumImportance
		}
		l.Refresh()
	}
	k.relayout()
}

// clockStateName is a clock state in the operator's words.
func clockStateName(s station.ClockState) string {
	switch s {
	case station.ClockSynced:
		return tr("synchronized")
	case station.ClockDegraded:
		return tr("degraded")
	}
	return tr("not trusted: commissioning stops")
}
