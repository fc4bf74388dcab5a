package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink/backup"
	"github.com/linestation/linestation/uplink/backup/backuptest"
)

// runCommand runs one of the backup commands as Run would (the lead wires
// them into Run's switch as "backup" and "restore").
func runCommand(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	var err error
	switch args[0] {
	case "backup":
		err = runBackup(context.Background(), args[1:], &out, &errOut)
	case "restore":
		err = runRestore(context.Background(), args[1:], &out, &errOut)
	default:
		return Run(context.Background(), args, strings.NewReader(""), &out, &errOut), out.String(), errOut.String()
	}
	return report(err, &errOut), out.String(), errOut.String()
}

// exportOf returns 'linestation ledger export' of a ledger.
func exportOf(t *testing.T, path string) string {
	t.Helper()
	code, out, errOut := runCommand(t, "ledger", "export", "--db", path)
	if code != exitOK {
		t.Fatalf("ledger export %s: exit %d: %s", path, code, errOut)
	}
	return out
}

func TestBackupCommand_Usage(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"NoDB", []string{"backup", "--to", "s3://bucket/p"}, "--db FILE is required"},
		{"NoTo", []string{"backup", "--db", "x.db"}, "--to s3://BUCKET/PREFIX is required"},
		{"NotS3", []string{"backup", "--db", "x.db", "--to", "https://bucket/p"}, "must start with s3://"},
		{"BadBucket", []string{"backup", "--db", "x.db", "--to", "s3://Bad_Bucket/p"}, `bucket "Bad_Bucket" is not a valid S3 bucket name`},
		{"DotDot", []string{"backup", "--db", "x.db", "--to", "s3://bucket/a/../b"}, "has an empty, '.' or '..' part"},
		{"BadEndpoint", []string{"backup", "--db", "x.db", "--to", "s3://bucket/p", "--endpoint", "ftp://x", "--access-key-id", "a", "--secret-access-key-file", os.DevNull}, "must be http(s)://HOST[:PORT]"},
		{"BadSSE", []string{"backup", "--db", "x.db", "--to", "s3://bucket/p", "--sse", "rot13", "--access-key-id", "a"}, `server-side encryption "rot13"`},
		{"SmallPart", []string{"backup", "--db", "x.db", "--to", "s3://bucket/p", "--part-size", "1000"}, "outside 5 MiB to 5 GiB"},
		{"NegativeKeep", []string{"backup", "--db", "x.db", "--to", "s3://bucket/p", "--keep", "-1"}, "--keep -1 must be 0 or more"},
		{"MissingKeyFile", []string{"backup", "--db", "x.db", "--to", "s3://bucket/p", "--key-file", "/no/such/key"}, "read the backup encryption key file /no/such/key"},
		{"ListNoFrom", []string{"backup", "list"}, "--from s3://BUCKET/PREFIX is required"},
		{"RestoreNoDB", []string{"restore", "--from", "s3://bucket/p"}, "--db NEWFILE is required"},
		{"RestoreAtAndGeneration", []string{"restore", "--from", "s3://bucket/p", "--db", "x.db", "--at", "2026-03-01T00:00:00Z", "--generation", "g"}, "give --at or --generation, not both"},
		{"RestoreBadAt", []string{"restore", "--from", "s3://bucket/p", "--db", "x.db", "--at", "yesterday"}, `--at "yesterday" is not an RFC 3339 time`},
		{"RestoreBadGeneration", []string{"restore", "--from", "s3://bucket/p", "--db", "x.db", "--generation", "../x"}, `--generation "../x" is not a generation id`},
		{"UnknownFlag", []string{"restore", "--nope"}, "flag provided but not defined: -nope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCommand(t, tt.args...)
			if code != exitUsage {
				t.Fatalf("exit=%d, want %d (stderr %q)", code, exitUsage, errOut)
			}
			if out != "" || !strings.Contains(errOut, tt.want) {
				t.Fatalf("stdout %q, stderr %q; want stderr to say %q", out, errOut, tt.want)
			}
		})
	}
	// Missing credentials are not a command-line mistake: exit 1 with what to set.
	path, _ := MustLedger(t)
	code, _, errOut := runCommand(t, "backup", "--db", path, "--to", "s3://bucket/p", "--endpoint", "http://127.0.0.1:1")
	if code != exitFail || !strings.Contains(errOut, "no storage credentials") || !strings.Contains(errOut, "AWS_ACCESS_KEY_ID") {
		t.Fatalf("backup without credentials: exit %d, stderr %q", code, errOut)
	}
	// Help goes to stdout.
	for _, args := range [][]string{{"backup", "--help"}, {"backup", "list", "--help"}, {"restore", "--help"}} {
		code, out, _ := runCommand(t, args...)
		if code != exitOK || !strings.Contains(out, "Usage: linestation "+args[0]) || !strings.Contains(out, "-endpoint") {
			t.Fatalf("%v: exit %d, stdout %q", args, code, out)
		}
	}
}

// TestBackupCommand: backup, list and restore through the command line
// against a real MinIO, while the station keeps writing.
func TestBackupCommand(t *testing.T) {
	srv := backuptest.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.User)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.Password)
	t.Setenv("AWS_ENDPOINT_URL", srv.Endpoint)
	t.Setenv("LINESTATION_BACKUP_KEY", "")
	path, n := MustLedger(t)
	url := "s3://linestation-cmd/stations/line-1"

	// The station keeps appending while the backup runs.
	clock := &steppingClock{now: time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC), state: station.ClockSynced}
	live, err := localdb.Open(context.Background(), path, localdb.Options{Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			sscc := ssccFor(i)
			if _, err := live.Append(context.Background(), station.NewEvent{Payload: station.SSCCAllocated{SSCC: sscc, Level: station.LevelCase}, User: "op1"}); err != nil {
				t.Errorf("append while backing up: %v", err)
				return
			}
		}
	}()
	code, out, errOut := runCommand(t, "backup", "--db", path, "--to", url)
	close(stop)
	wg.Wait()
	if code != exitOK {
		t.Fatalf("backup: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"backup     " + url, "station line-1", "generation ", "snapshot   seq ", "gzip", "verified   every object read back"} {
		if !strings.Contains(out, want) {
			t.Fatalf("backup output does not say %q:\n%s", want, out)
		}
	}
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}

	// A second backup, encrypted, with retention keeping both.
	keyFile := filepath.Join(t.TempDir(), "backup.key")
	key := backup.NewKey()
	if err := os.WriteFile(keyFile, []byte(key.Hex()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCommand(t, "backup", "--db", path, "--to", url, "--key-file", keyFile, "--keep", "2")
	if code != exitOK || !strings.Contains(out, "encrypted AES-256-GCM-CHUNKED (key id "+key.ID()+")") || !strings.Contains(out, "deleted 0") {
		t.Fatalf("encrypted backup: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, key.Hex()) {
		t.Fatal("the key was printed")
	}

	// List shows both generations with their manifests.
	code, out, errOut = runCommand(t, "backup", "list", "--from", url)
	if code != exitOK || strings.Count(out, "generation ") != 2 || strings.Count(out, "  complete") != 2 || !strings.Contains(out, "station   line-1") {
		t.Fatalf("backup list: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCommand(t, "backup", "list", "--from", url, "--json")
	var gens []generationJSON
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var g generationJSON
		if err := dec.Decode(&g); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("list --json: %v\n%s", err, out)
		}
		gens = append(gens, g)
	}
	if code != exitOK || len(gens) != 2 || !gens[0].Complete || gens[0].Manifest == nil || gens[0].Manifest.Encryption != nil ||
		gens[1].Manifest == nil || gens[1].Manifest.Encryption == nil || gens[1].Manifest.Station != "line-1" || gens[0].Manifest.LastSeq < int64(n) {
		t.Fatalf("list --json = %+v", gens)
	}

	// Restore the newest (encrypted) generation: it needs the key.
	dir := t.TempDir()
	restored := filepath.Join(dir, "restored.db")
	code, _, errOut = runCommand(t, "restore", "--from", url, "--db", restored)
	if code != exitFail || !strings.Contains(errOut, "is encrypted (key id "+key.ID()+")") {
		t.Fatalf("restore without the key: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(restored); err == nil {
		t.Fatal("a refused restore left the file")
	}
	code, out, errOut = runCommand(t, "restore", "--from", url, "--db", restored, "--key-file", keyFile)
	if code != exitOK || !strings.Contains(out, "verify     intact") || !strings.Contains(out, "generation "+gens[1].Generation) {
		t.Fatalf("restore: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runCommand(t, "ledger", "verify", "--db", restored); code != exitOK || !strings.Contains(out, "result     intact") {
		t.Fatalf("ledger verify of the restored file: exit %d\n%s\n%s", code, out, errOut)
	}
	if got, want := exportOf(t, restored), exportOf(t, path); got != want {
		t.Fatalf("the restored journal differs from the original:\n%s\nwant\n%s", got, want)
	}

	// The first generation by id: the state as the first backup saw it.
	first := filepath.Join(dir, "first.db")
	code, out, errOut = runCommand(t, "restore", "--from", url, "--db", first, "--generation", gens[0].Generation)
	if code != exitOK {
		t.Fatalf("restore --generation: exit %d\n%s\n%s", code, out, errOut)
	}
	firstExport := exportOf(t, first)
	if !strings.HasPrefix(exportOf(t, path), firstExport) || strings.Count(firstExport, "\n") != int(gens[0].LastSeq) {
		t.Fatalf("the first generation restores %d events, not a prefix of the journal up to seq %d", strings.Count(firstExport, "\n"), gens[0].LastSeq)
	}

	// An existing file is refused without --force and replaced with it.
	before, _ := os.ReadFile(first)
	code, _, errOut = runCommand(t, "restore", "--from", url, "--db", first, "--key-file", keyFile)
	if code != exitFail || !strings.Contains(errOut, "--force") {
		t.Fatalf("restore over an existing file: exit %d: %s", code, errOut)
	}
	if after, _ := os.ReadFile(first); !bytes.Equal(before, after) {
		t.Fatal("the refused restore changed the file")
	}
	code, _, errOut = runCommand(t, "restore", "--from", url, "--db", first, "--key-file", keyFile, "--force")
	if code != exitOK || exportOf(t, first) != exportOf(t, path) {
		t.Fatalf("restore --force: exit %d: %s", code, errOut)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".restore-") {
			t.Fatalf("restore left %s in the folder", e.Name())
		}
	}

	// Wrong credentials are refused with a clear message.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	code, _, errOut = runCommand(t, "backup", "list", "--from", url)
	if code != exitFail || !strings.Contains(errOut, "refused the credentials") || strings.Contains(errOut, srv.Password) {
		t.Fatalf("list with a wrong secret: exit %d: %s", code, errOut)
	}
}

// ssccFor returns a valid SSCC for n (extension 5, company prefix 0300011).
func ssccFor(n int) string {
	body := fmt.Sprintf("50300011%09d", n)
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return body + fmt.Sprint((10-sum%10)%10)
}
