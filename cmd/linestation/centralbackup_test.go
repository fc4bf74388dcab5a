package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station/stationtest"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/backup"
	"github.com/linestation/linestation/uplink/backup/backuptest"
)

// metric reads one unlabelled sample from /metrics (-1 when absent).
func (r *serveRun) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("metric %s: %v", name, err)
	}
	return v
}

// TestServe_Backup runs serve with scheduled backups against a real MinIO
// while a station pushes, then lists and restores the central store through
// the command line: the restored store holds the station's head; an
// existing store is replaced only with --force; wrong credentials show in
// the metrics and the log.
func TestServe_Backup(t *testing.T) {
	srv := backuptest.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.User)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.Password)
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("LINESTATION_BACKUP_KEY", "")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	to := "s3://linestation-central/site-1/central"
	config := filepath.Join(dir, "central.toml")
	text := "[backup]\nto = \"" + to + "\"\nendpoint = \"" + srv.Endpoint + "\"\ninterval = \"1s\"\nkeep = 2\n"
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := startServe(t, "--config", config, "--listen", "127.0.0.1:0", "--data", data)

	code, stdout, stderr := runServeCmd(t, ctx, "station", "add", "line-1", "--data", data)
	enroll := regexp.MustCompile(`(?m)^([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})$`).FindStringSubmatch(stdout)
	if code != exitOK || enroll == nil {
		t.Fatalf("station add: exit=%d %s %s", code, stdout, stderr)
	}
	anon, _ := uplink.NewAPI(run.url, "", nil)
	e, err := anon.Enroll(ctx, enroll[1])
	if err != nil {
		t.Fatal(err)
	}
	led := centraltest.MustLedger(t, filepath.Join(dir, "line-1.db"), "line-1", nil)
	p := &centraltest.Producer{Order: "PO-1", Prefix: "A"}
	api := anon.WithToken(e.Token)
	var pushed int64
	// Push while the backups run, until one holds everything pushed.
	stationtest.Poll(t, 30*time.Second, "a verified backup holding the station's pushes", func() bool {
		if pushed < 2000 {
			if _, err := p.Produce(ctx, led, 200); err != nil {
				t.Fatal(err)
			}
			evs, _ := led.Events(ctx, pushed+1, 1000)
			ack, err := api.Push(ctx, &uplink.Batch{Station: "line-1", Events: evs})
			if err != nil {
				t.Fatal(err)
			}
			pushed = ack.Seq
			return false
		}
		code, out, _ := runCommand(t, "backup", "list", "--central", "--from", to, "--endpoint", srv.Endpoint)
		return code == exitOK && strings.Contains(out, "station   line-1 at seq "+strconv.FormatInt(pushed, 10)+",") &&
			strings.Count(run.errOut.String(), "central backup generation written") >= 4
	})
	if v := run.metric(t, "linestation_backup_last_success_timestamp_seconds"); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("last success metric %v, want a recent time", v)
	}
	if v := run.metric(t, "linestation_backup_failures_total"); v != 0 {
		t.Fatalf("failures metric %v, want 0", v)
	}
	// While it runs, neither a restore into its data folder (even with
	// --force) nor a second serve on it may start.
	code, out, errOut := runCommand(t, "restore", "--central", "--force", "--from", to, "--endpoint", srv.Endpoint, "--data", data)
	if want := "is in use by linestation serve (pid " + strconv.Itoa(os.Getpid()) + ")"; code != exitFail || out != "" || !strings.Contains(errOut, want) {
		t.Fatalf("restore --central --force under a running serve: exit %d, stdout %q, stderr %q; want it refused with %q", code, out, errOut, want)
	}
	second, cancelSecond := context.WithTimeout(context.Background(), 10*time.Second) // were it to start, it stops
	code, out, errOut = runServeCmd(t, second, "--config", config, "--listen", "127.0.0.1:0", "--data", data)
	cancelSecond()
	if code != exitFail || !strings.Contains(errOut, "is in use by linestation serve") {
		t.Fatalf("a second serve on the data folder: exit %d, stdout %q, stderr %q; want it refused", code, out, errOut)
	}
	run.stop(t)
	if log := run.errOut.String(); strings.Contains(log, "central backup failed") {
		t.Fatalf("log has backup failures: %s", log)
	}

	// Retention kept the two newest of the four or more generations made
	// (a snapshot cut short by the stop may have left an incomplete one
	// after them); the list says what each holds.
	made := strings.Count(run.errOut.String(), "central backup generation written")
	code, out, errOut = runCommand(t, "backup", "list", "--central", "--json", "--from", to, "--endpoint", srv.Endpoint)
	var complete []string
	incomplete := ""
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var g struct {
			Generation string                  `json:"generation"`
			Complete   bool                    `json:"complete"`
			Manifest   *backup.CentralManifest `json:"manifest"`
		}
		if err := json.Unmarshal([]byte(line), &g); err != nil {
			t.Fatalf("backup list --central --json: %q: %v", line, err)
		}
		switch {
		case g.Complete && (g.Manifest == nil || g.Manifest.Source != "central" || len(g.Manifest.Stations) != 1):
			t.Fatalf("listed manifest %+v", g.Manifest)
		case g.Complete && incomplete != "":
			t.Fatalf("incomplete generation %s, older than the verified %s, was not deleted:\n%s", incomplete, g.Generation, out)
		case g.Complete:
			complete = append(complete, g.Generation)
		default:
			incomplete = g.Generation
		}
	}
	if code != exitOK || len(complete) != 2 || made < 4 {
		t.Fatalf("backup list --central after %d generations made, keep 2: exit %d\n%s%s", made, code, out, errOut)
	}

	// Restore over the live data folder: refused without --force, the
	// store left as it was.
	before, err := os.ReadFile(filepath.Join(data, centralStoreName))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCommand(t, "restore", "--central", "--from", to, "--endpoint", srv.Endpoint, "--data", data)
	if code != exitFail || out != "" || !strings.Contains(errOut, "--force") {
		t.Fatalf("restore over the store without --force: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(data, centralStoreName)); string(after) != string(before) {
		t.Fatal("the refused restore changed the store")
	}
	// Into a new machine's data folder.
	fresh := filepath.Join(dir, "new-machine", "data")
	code, out, errOut = runCommand(t, "restore", "--central", "--from", to, "--endpoint", srv.Endpoint, "--data", fresh)
	if code != exitOK || !strings.Contains(out, "station  line-1 at seq "+strconv.FormatInt(pushed, 10)+",") || !strings.Contains(out, "every station's journal intact") {
		t.Fatalf("restore --central: exit %d\n%s%s", code, out, errOut)
	}
	restored, err := centraldb.Open(ctx, filepath.Join(fresh, centralStoreName), centraldb.Options{Logger: centraltest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := restored.Head(ctx, "line-1")
	restored.Close()
	if err != nil || h.Seq != pushed {
		t.Fatalf("the restored store holds line-1 at seq %d (%v), want %d", h.Seq, err, pushed)
	}
	code, out, errOut = runCommand(t, "restore", "--central", "--force", "--from", to, "--endpoint", srv.Endpoint, "--data", data)
	if code != exitOK || !strings.Contains(out, "restored   "+filepath.Join(data, centralStoreName)) {
		t.Fatalf("restore --central --force: exit %d\n%s%s", code, out, errOut)
	}

	t.Run("ErrCredentials", func(t *testing.T) {
		t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
		run := startServe(t, "--config", config, "--listen", "127.0.0.1:0", "--data", data)
		stationtest.Poll(t, 20*time.Second, "a failure in the metrics", func() bool {
			return run.metric(t, "linestation_backup_failures_total") >= 1
		})
		if v := run.metric(t, "linestation_backup_consecutive_failures"); v < 1 {
			t.Fatalf("consecutive failures metric %v, want at least 1", v)
		}
		run.stop(t)
		if log := run.errOut.String(); !strings.Contains(log, "central backup failed") || !strings.Contains(log, "refused the credentials") {
			t.Fatalf("the log does not say the backup failed and why: %s", log)
		}
	})
}

func TestServe_BackupConfigErrors(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	dir := t.TempDir()
	for _, tt := range []struct {
		name, text, want string
	}{
		{"NotS3", "[backup]\nto = \"https://bucket/p\"\n", "backup.to"},
		{"Keep", "[backup]\nto = \"s3://bucket/p\"\nkeep = 0\n", "backup.keep 0"},
		{"Interval", "[backup]\nto = \"s3://bucket/p\"\ninterval = \"10ms\"\n", "backup.interval"},
		{"NoCredentials", "[backup]\nto = \"s3://bucket/p\"\nendpoint = \"http://127.0.0.1:1\"\n", "no storage credentials"},
		{"Unknown", "[backup]\nto = \"s3://bucket/p\"\nsecret = \"x\"\n", "unknown key backup.secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			config := filepath.Join(dir, tt.name+".toml")
			if err := os.WriteFile(config, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runServeCmd(t, context.Background(), "--config", config, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
			if code != exitFail || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit=%d stderr=%q, want %d and %q", code, errOut, exitFail, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"NoData", []string{"restore", "--central", "--from", "s3://bucket/p"}, "--data DIR"},
		{"WithDB", []string{"restore", "--central", "--from", "s3://bucket/p", "--data", dir, "--db", "x.db"}, "--db and --at are for station ledgers"},
		{"DataWithoutCentral", []string{"restore", "--from", "s3://bucket/p", "--data", dir}, "--data is for --central"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCommand(t, tt.args...)
			if code != exitUsage || out != "" || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit=%d stdout=%q stderr=%q, want %d and %q", code, out, errOut, exitUsage, tt.want)
			}
		})
	}
}
