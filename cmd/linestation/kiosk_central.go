package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/ui"
	"github.com/linestation/linestation/uplink"
)

// The kiosk's link to the central service ([central] in the config): the
// station enrolls once with its one-time code and keeps the credential in
// central.credential_file; the central's serial authority fills the pools;
// the uplink client sends the journal and pulls master data (products,
// users, this line's released orders, the holds of suspect product
// investigations), which is recorded in the ledger
// through the service's Import methods. Offline the station goes on from
// its reserved pools, and the backlog drains once the central answers.

// stationCredential is what central.credential_file holds (mode 0600): the
// bearer token the central issued for this station, and for whom.
type stationCredential struct {
	Central  string    `json:"central"` // the central's URL at enrollment
	Station  string    `json:"station"`
	Line     string    `json:"line"`
	Token    string    `json:"token"`
	Enrolled time.Time `json:"enrolled"`
}

// enroll connects the station to the central service when central.url is
// set: it reads the credential, or enrolls with central.enrollment_code and
// keeps the credential, and returns the central's serial authority. It
// returns nil (LocalSource: serials made here) for a standalone station.
func (st *kioskStation) enroll(ctx context.Context) (station.SerialSource, error) {
	c := st.cfg.Central
	if c.URL == "" {
		return nil, nil
	}
	path := st.cfg.Path(c.CredentialFile)
	if path == "" {
		return nil, fmt.Errorf("central.credential_file is empty: name the file where the station keeps its credential")
	}
	cred, err := readCredential(path, st.logger)
	if errors.Is(err, fs.ErrNotExist) {
		cred, err = enrollStation(ctx, st.cfg, path)
		if err != nil {
			return nil, err
		}
		st.logger.Info("station enrolled with the central service", "central", c.URL, "station", cred.Station, "line", cred.Line, "credential", path)
	} else if err != nil {
		return nil, err
	}
	if cred.Station != st.cfg.Station.ID || cred.Line != st.cfg.Station.Line {
		return nil, fmt.Errorf("the central service enrolled this station as station %s on line %s (credential %s), but the config says station.id %q and station.line %q: "+
			"correct the config, or ask IT for a code for station %s ('linestation serve station add %s --new-code' on the central) and delete the credential file",
			cred.Station, cred.Line, path, st.cfg.Station.ID, st.cfg.Station.Line, st.cfg.Station.ID, st.cfg.Station.ID)
	}
	if cred.Central != c.URL {
		st.logger.Warn("central.url differs from the central the station enrolled with; using its credential", "central", c.URL, "enrolled_with", cred.Central)
	}
	api, err := uplink.NewAPI(c.URL, cred.Token, nil)
	if err != nil {
		return nil, fmt.Errorf("central.url: %w", err)
	}
	st.api = api
	return &uplink.SerialSource{API: api}, nil
}

// inbound returns the central's DSCSA exchange for receiving partners'
// shipments at this station (with the station's credential), or nil for a
// standalone station, which then refuses such receipts.
func (st *kioskStation) inbound() station.Inbound {
	if st.api == nil {
		return nil
	}
	return &uplink.Inbound{API: st.api}
}

// enrollStation exchanges central.enrollment_code for a credential and
// writes it to path.
func enrollStation(ctx context.Context, cfg Config, path string) (stationCredential, error) {
	c := cfg.Central
	id := cfg.Station.ID
	if c.EnrollmentCode == "" {
		return stationCredential{}, fmt.Errorf("station %s is not enrolled with the central service at %s (there is no %s): "+
			"ask IT for a one-time code ('linestation serve station add %s' on the central), put it into central.enrollment_code and start again", id, c.URL, path, id)
	}
	anon, err := uplink.NewAPI(c.URL, "", nil)
	if err != nil {
		return stationCredential{}, fmt.Errorf("central.url: %w", err)
	}
	e, err := anon.Enroll(ctx, c.EnrollmentCode)
	switch {
	case uplink.IsUnavailable(err):
		return stationCredential{}, fmt.Errorf("enroll station %s: the central service at %s cannot be reached; check the network and central.url, then start again: %w", id, c.URL, err)
	case station.ErrorCode(err) == station.EUNAUTHORIZED:
		return stationCredential{}, fmt.Errorf("enroll station %s: the central service at %s refused central.enrollment_code (a code works once, and expires): "+
			"ask IT for a new one ('linestation serve station add %s --new-code' on the central), put it into central.enrollment_code and start again: %w", id, c.URL, id, err)
	case err != nil:
		return stationCredential{}, fmt.Errorf("enroll station %s with the central service at %s: %w", id, c.URL, err)
	}
	cred := stationCredential{Central: c.URL, Station: e.Station, Line: e.Line, Token: e.Token, Enrolled: time.Now().UTC()}
	if err := writeCredential(path, cred); err != nil {
		return cred, err
	}
	return cred, nil
}

// readCredential reads the credential file; fs.ErrNotExist when there is none.
func readCredential(path string, logger *slog.Logger) (stationCredential, error) {
	var cred stationCredential
	data, err := os.ReadFile(path)
	if err != nil {
		return cred, fmt.Errorf("read the station's credential: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("the station's credential file can be read by others: make it mode 0600", "file", path, "mode", fi.Mode().Perm().String())
	}
	err = json.Unmarshal(data, &cred)
	if err == nil && cred.Token == "" {
		err = errors.New("it holds no token")
	}
	if err != nil {
		return cred, fmt.Errorf("the station's credential %s is damaged (delete it and enroll again with a new code from 'linestation serve station add NAME --new-code'): %w", path, err)
	}
	return cred, nil
}

// writeCredential writes the credential with mode 0600, all or nothing.
func writeCredential(path string, cred stationCredential) error {
	data, err := json.MarshalIndent(cred, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the station's credential: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("keep the station's credential: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("keep the station's credential: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename: nothing left to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("keep the station's credential: %w", err)
	}
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("keep the station's credential in %s: %w", path, err)
	}
	return nil
}

// startUplink runs the uplink client until ctx ends or the station closes:
// it sends the journal, pulls master data into the ledger, and reports to
// the kiosk's uplink lamp and status screen. A standalone station has none.
func (st *kioskStation) startUplink(ctx context.Context) error {
	if st.api == nil {
		return nil
	}
	logger := st.logger.With("component", "uplink")
	svc, line := st.svc, st.cfg.Station.Line
	client, err := uplink.New(uplink.Config{Journal: st.db, API: st.api, MasterCursor: st.db, Logger: logger,
		OnMasterData: func(ctx context.Context, recs []uplink.MasterRecord) error {
			return applyMasterData(ctx, svc, line, logger, recs)
		}})
	if err != nil {
		return fmt.Errorf("uplink: %w", err)
	}
	st.client = client
	st.uplink = func() ui.UplinkStatus { return uplinkStatus(client.Status()) }
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = client.Run(ctx) // failures are retried, logged and shown in Status; Run returns nil
	}()
	st.stops = append(st.stops, func() { cancel(); <-done })
	return nil
}

// uplinkStatus is the client's state as the kiosk shows it.
func uplinkStatus(s uplink.Status) ui.UplinkStatus {
	u := ui.UplinkStatus{Connected: s.Connected, LastSync: s.LastSync, Waiting: s.Waiting, OldestAge: s.OldestAge, LastError: s.LastError}
	if u.LastError == "" && s.PullError != "" {
		u.LastError = "Master data could not be pulled: " + s.PullError
	}
	return u
}

// applyMasterData records master-data changes from the central in the
// station's ledger, in order. Applying a change twice records nothing the
// second time (what the ledger already holds is left alone), so a change
// delivered again after a crash is harmless. A change the station refuses
// (invalid, or in conflict with what it recorded) is logged and skipped,
// so that it does not hold up the changes after it; any other failure
// stops the batch, and the client delivers it again.
func applyMasterData(ctx context.Context, svc *station.Service, line string, logger *slog.Logger, recs []uplink.MasterRecord) error {
	for _, r := range recs {
		err := applyMasterRecord(ctx, svc, line, logger, r)
		switch station.ErrorCode(err) {
		case "":
		case station.EINVALID, station.ECONFLICT, station.ENOTFOUND:
			logger.Error("master data refused by the station", "kind", r.Kind, "key", r.Key, "change", r.Seq, "error", err)
		default:
			return fmt.Errorf("%s %s (change %d): %w", r.Kind, r.Key, r.Seq, err)
		}
	}
	return nil
}

func applyMasterRecord(ctx context.Context, svc *station.Service, line string, logger *slog.Logger, r uplink.MasterRecord) error {
	unreadable := func(err error) error {
		return station.Errorf(station.EINVALID, "the central's %s record %s cannot be read: %v", r.Kind, r.Key, err)
	}
	switch r.Kind {
	case uplink.KindProduct:
		var p station.Product
		if err := json.Unmarshal(r.Data, &p); err != nil {
			return unreadable(err)
		}
		cur, err := svc.Product(ctx, p.GTIN)
		if err == nil && sameJSON(cur, p) {
			return nil
		} else if err != nil && station.ErrorCode(err) != station.ENOTFOUND {
			return err
		}
		return svc.ImportProduct(ctx, p)

	case uplink.KindUser:
		var u uplink.User
		if err := json.Unmarshal(r.Data, &u); err != nil {
			return unreadable(err)
		}
		cur, err := svc.Ledger().User(ctx, u.ID)
		known := err == nil
		if err != nil && station.ErrorCode(err) != station.ENOTFOUND {
			return err
		}
		if !known || !sameJSON(cur.User, u.User) {
			if err := svc.ImportUser(ctx, u.User); err != nil {
				return err
			}
		}
		if u.CredentialHash != "" && (!known || cur.Hash != u.CredentialHash || cur.Kind != u.CredentialKind) {
			return svc.ImportCredential(ctx, u.ID, u.CredentialKind, u.CredentialHash)
		}
		return nil

	case uplink.KindOrder:
		var o uplink.Order
		if err := json.Unmarshal(r.Data, &o); err != nil {
			return unreadable(err)
		}
		if line != "" && o.Line != line {
			return nil // the central sends this line's orders only
		}
		_, err := svc.Order(ctx, o.ID)
		switch {
		case station.ErrorCode(err) == station.ENOTFOUND:
			if err := svc.ImportOrder(ctx, station.Order{ID: o.ID, GTIN: o.GTIN, Lot: o.Lot, Expiry: o.Expiry, Quantity: int(o.Quantity),
				Line: o.Line, ExpectedYield: o.ExpectedYield}); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		// Once here, the station runs the order: only the ERP's release
		// is taken over (ImportRelease leaves a running order alone).
		if o.State != station.OrderPlanned && o.State != "" {
			return svc.ImportRelease(ctx, o.ID)
		}
		return nil

	case uplink.KindHold:
		// A suspect product investigation's hold, or its release: recorded
		// in the ledger, it stays in force here offline until released.
		var h station.CentralHold
		if err := json.Unmarshal(r.Data, &h); err != nil {
			return unreadable(err)
		}
		return svc.ImportHold(ctx, h)
	}
	logger.Debug("master data of an unknown kind skipped", "kind", r.Kind, "key", r.Key, "change", r.Seq)
	return nil
}

// sameJSON reports whether a and b encode alike.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
