package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
	"github.com/linestation/linestation/uplink/backup"
	"github.com/linestation/linestation/uplink/backup/backuptest"
)

// backupKioskConfig is a standalone station on the simulated line that
// backs up to url at endpoint every second, encrypted with keyFile.
func backupKioskConfig(t *testing.T, url, endpoint, keyFile string) Config {
	t.Helper()
	path := writeConfig(t, fmt.Sprintf(`[station]
db = "station.db"
[devices.sim]
units_per_min = 60
[pool]
low_water = 100
batch = 1500
[backup]
to = %q
endpoint = %q
segment_interval = "1s"
snapshot_interval = "1h"
keep = 2
encryption_key_file = %q
`, url, endpoint, keyFile))
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestKiosk_Backup runs the kiosk's scheduled backups against a real
// MinIO: the station ledger is backed up encrypted while the station runs,
// the lamp turns green, the last events are shipped at close, and the
// backup restores to the same journal. With credentials the storage
// refuses, the lamp is red and says why.
func TestKiosk_Backup(t *testing.T) {
	srv := backuptest.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.User)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.Password)
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("LINESTATION_BACKUP_KEY", "")
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	keyDir := t.TempDir()
	keyFile := filepath.Join(keyDir, "backup.key")
	must(t, os.WriteFile(keyFile, []byte(strings.Repeat("0123456789abcdef", 4)+"\n"), 0o600))
	url := "s3://linestation-kiosk/stations/line-1"
	cfg := backupKioskConfig(t, url, srv.Endpoint, keyFile)

	st, err := openStation(ctx, cfg, logger, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if st.backups == nil {
		t.Fatal("backup.to is set but no backups run")
	}
	stationtest.Poll(t, 30*time.Second, "the backup lamp to turn green with the demo data shipped", func() bool {
		h := st.backups.Health()
		head, err := st.db.Head(ctx)
		return err == nil && h.State == station.DeviceConnected && st.backups.sched.Status().ShippedSeq == head.Seq
	})
	if h := st.backups.Health(); !strings.Contains(h.Reason, url) || h.Device != url {
		t.Fatalf("backup lamp %+v, want the location named", h)
	}

	// Recorded after the last round and before close: shipped at close.
	must(t, st.svc.ImportUser(ctx, station.User{ID: "late", Name: "Late Comer", Roles: []station.Role{station.RoleOperator}, Active: true}))
	head, err := st.db.Head(ctx)
	must(t, err)
	must(t, st.Close())

	store := openTestBackupStore(t, url, srv.Endpoint, srv.User, srv.Password, keyFile)
	infos, err := store.List(ctx)
	must(t, err)
	if len(infos) != 1 || infos[0].Manifest == nil || infos[0].Manifest.Encryption == nil || infos[0].Manifest.Station != cfg.Station.ID || infos[0].LastSeq != head.Seq {
		t.Fatalf("backups %+v, want one encrypted generation of %s up to seq %d", infos, cfg.Station.ID, head.Seq)
	}
	restored := filepath.Join(t.TempDir(), "restored.db")
	res, err := backup.Restore(ctx, store, backup.RestoreOptions{Path: restored, Open: openRestoreLedger(io.Discard), Logger: logger})
	must(t, err)
	if res.Head.Seq != head.Seq || res.Head.Hash != head.Hash {
		t.Fatalf("restored head %+v, want %+v", res.Head, head)
	}

	// Credentials the storage refuses: the lamp is red and says why.
	bad := backupKioskConfig(t, "s3://linestation-kiosk/stations/line-9", srv.Endpoint, keyFile)
	db, err := localdb.Open(ctx, bad.Path(bad.Station.DB), localdb.Options{Station: bad.Station.ID, Clock: systemClock(), Create: true, Logger: logger})
	must(t, err)
	defer db.Close()
	env := map[string]string{"AWS_ACCESS_KEY_ID": srv.User, "AWS_SECRET_ACCESS_KEY": "not-" + srv.Password}
	b, err := newKioskBackup(bad, db, logger, func(k string) string { return env[k] })
	must(t, err)
	if h := b.Health(); h.State != station.DeviceDegraded || !strings.Contains(h.Reason, "first backup") {
		t.Fatalf("backup lamp before the first round %+v, want amber", h)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); b.sched.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	stationtest.Poll(t, 30*time.Second, "the backup lamp to turn red", func() bool { return b.Health().State == station.DeviceFaulted })
	if h := b.Health(); !strings.Contains(h.Reason, "refused the credentials") || !strings.Contains(h.Reason, "only on this PC") || h.Since.IsZero() {
		t.Fatalf("backup lamp %+v, want the refusal and what is at risk", h)
	}
}

// TestKiosk_BackupConfig: bad [backup] settings and missing credentials
// stop the kiosk at start with the setting named.
func TestKiosk_BackupConfig(t *testing.T) {
	for _, tt := range []struct{ name, body, want string }{
		{"Interval", "[backup]\nto = \"s3://b-1/x\"\nsegment_interval = \"0s\"\n", "backup.segment_interval"},
		{"Keep", "[backup]\nto = \"s3://b-1/x\"\nkeep = 0\n", "backup.keep 0"},
		{"Scheme", "[backup]\nto = \"https://b-1/x\"\n", "write it as s3://bucket/prefix"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("NoCredentials", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		t.Setenv("LINESTATION_BACKUP_KEY", "")
		cfg, err := LoadConfig(writeConfig(t, "[backup]\nto = \"s3://b-1/x\"\nendpoint = \"http://127.0.0.1:1\"\n"))
		must(t, err)
		var out bytes.Buffer
		_, err = openStation(context.Background(), cfg, slog.New(slog.DiscardHandler), &out)
		if station.ErrorCode(err) != station.EUNAUTHORIZED || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
			t.Fatalf("err = %v, want the missing credentials named", err)
		}
	})
}

// openTestBackupStore opens a backup location as 'linestation backup list' does.
func openTestBackupStore(t *testing.T, url, endpoint, user, secret, keyFile string) *backup.Store {
	t.Helper()
	cfg := backup.Config{URL: url, Endpoint: endpoint, AccessKeyID: user, SecretAccessKey: secret, EncryptionKeyFile: keyFile}
	must(t, cfg.ApplyEnv(func(string) string { return "" }))
	store, err := backup.Open(cfg)
	must(t, err)
	store.Logger = slog.New(slog.DiscardHandler)
	return store
}
