package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station/stationtest"
	"github.com/linestation/linestation/uplink"
)

// runServeCmd runs 'linestation serve ARGS' in-process as Run would, and
// returns the exit status and output.
func runServeCmd(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut serveBuffer
	code := report(runServe(ctx, args, &out, &errOut), &errOut)
	return code, out.String(), errOut.String()
}

// serveBuffer is a bytes.Buffer safe for a server goroutine and the test.
type serveBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *serveBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *serveBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServe_Init(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	code, out, errOut := runServeCmd(t, context.Background(), "--init")
	if code != exitOK || !strings.Contains(out, "wrote "+serveConfigName) {
		t.Fatalf("exit=%d stdout=%q stderr=%q", code, out, errOut)
	}
	var got serveConfig
	if _, err := toml.DecodeFile(filepath.Join(dir, serveConfigName), &got); err != nil {
		t.Fatal(err)
	}
	if want := defaultServeConfig(); got != want {
		t.Fatalf("the written config decodes to %+v, want the defaults %+v", got, want)
	}
	code, _, errOut = runServeCmd(t, context.Background(), "--init")
	if code != exitFail || !strings.Contains(errOut, "already exists") {
		t.Fatalf("second --init: exit=%d stderr=%q, want a refusal", code, errOut)
	}
	// The file in the current folder is what serve reads by default.
	cfg, err := loadServeConfig("")
	if err != nil || cfg.path != filepath.Join(dir, serveConfigName) {
		t.Fatalf("default config: %+v, %v", cfg.path, err)
	}
}

func TestServe_ConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"UnknownKey", []string{"--config", write("a.toml", "listen = \"127.0.0.1:0\"\nlsiten = \"x\"\n")}, exitFail, "unknown key lsiten"},
		{"Syntax", []string{"--config", write("b.toml", "listen = \"127.0.0.1:0\"\n\n[tls\n")}, exitFail, "b.toml, line"},
		{"BadDuration", []string{"--config", write("c.toml", "shutdown_timeout = \"soon\"\n")}, exitFail, "not a duration"},
		{"Missing", []string{"--config", filepath.Join(dir, "none.toml")}, exitFail, "does not exist"},
		{"PlainHTTPEverywhere", []string{"--listen", ":8440", "--data", dir}, exitFail, "configure a TLS certificate"},
		{"LogFormat", []string{"--config", write("d.toml", "[log]\nformat = \"xml\"\n")}, exitFail, "log.format"},
		{"Argument", []string{"extra"}, exitUsage, `unexpected argument "extra"`},
		{"StationNoName", []string{"station", "add"}, exitUsage, "give the NAME"},
		{"StationBadName", []string{"station", "add", "line 1"}, exitUsage, "without spaces"},
		{"StationNoAdd", []string{"station", "remove", "x"}, exitUsage, "the commands are 'add NAME', 'list' and 'revoke NAME'"},
		{"ERPWithLine", []string{"erp", "add", "sap", "--line", "x"}, exitUsage, "--line and --new-code are for stations"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runServeCmd(t, context.Background(), tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit=%d stderr=%q, want %d and %q", code, errOut, tt.code, tt.want)
			}
		})
	}
}

// serveRun is 'linestation serve' running in-process.
type serveRun struct {
	url         string
	out, errOut *serveBuffer
	cancel      context.CancelFunc
	done        chan int
}

// startServe runs 'linestation serve args...' until stop (or the test's
// end, which waits for it to stop) and returns once it listens, with its
// URL.
func startServe(t *testing.T, args ...string) *serveRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &serveRun{out: &serveBuffer{}, errOut: &serveBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() { r.done <- report(runServe(ctx, args, r.out, r.errOut), r.errOut) }()
	urlRE := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+) `)
	stationtest.Poll(t, 20*time.Second, "serve to print its URL", func() bool {
		if m := urlRE.FindStringSubmatch(r.out.String()); m != nil {
			r.url = m[1]
			return true
		}
		select {
		case code := <-r.done:
			t.Fatalf("serve exited with %d: %s", code, r.errOut.String())
		default:
		}
		return false
	})
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop stops serve as SIGTERM would and checks it exits cleanly.
func (r *serveRun) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case code := <-r.done:
		if code != exitOK {
			t.Fatalf("serve exited with %d after SIGTERM: %s", code, r.errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20s")
	}
}

// TestServe_Run starts the real service in-process, enrolls a station with
// a code from 'serve station add', syncs a journal, reads it back with an
// ERP token from 'serve erp add', and stops it gracefully.
func TestServe_Run(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ctx := context.Background()
	srv := startServe(t, "--listen", "127.0.0.1:0", "--data", data)
	url := srv.url

	code, stdout, stderr := runServeCmd(t, context.Background(), "station", "add", "line-1", "--line", "L1", "--data", data)
	if code != exitOK {
		t.Fatalf("station add: exit=%d %s", code, stderr)
	}
	enroll := regexp.MustCompile(`(?m)^([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})$`).FindStringSubmatch(stdout)
	if enroll == nil || !strings.Contains(stdout, "station line-1 (line L1)") {
		t.Fatalf("station add printed %q, want the station, its line and a code", stdout)
	}
	if code, _, stderr := runServeCmd(t, context.Background(), "station", "add", "line-1", "--data", data); code != exitFail || !strings.Contains(stderr, "already exists") {
		t.Fatalf("adding line-1 twice: exit=%d %s", code, stderr)
	}
	anon, err := uplink.NewAPI(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := anon.Enroll(ctx, enroll[1])
	if err != nil {
		t.Fatal(err)
	}
	if e.Line != "L1" {
		t.Fatalf("enrollment=%+v, want line L1", e)
	}
	led := centraltest.MustLedger(t, filepath.Join(dir, "line-1.db"), "line-1", nil)
	p := &centraltest.Producer{Order: "PO-1", Prefix: "A"}
	if _, err := p.Produce(ctx, led, 100); err != nil {
		t.Fatal(err)
	}
	evs, _ := centraltest.AllEvents(ctx, led)
	ack, err := anon.WithToken(e.Token).Push(ctx, &uplink.Batch{Station: "line-1", Events: evs})
	if err != nil || ack.Seq != int64(len(evs)) {
		t.Fatalf("push: %+v, %v", ack, err)
	}

	code, stdout, stderr = runServeCmd(t, context.Background(), "erp", "add", "sap", "--data", data)
	token := regexp.MustCompile(`(?m)^(lst_\S+)$`).FindStringSubmatch(stdout)
	if code != exitOK || token == nil {
		t.Fatalf("erp add: exit=%d stdout=%q stderr=%q", code, stdout, stderr)
	}
	rec, err := getItem(ctx, url, token[1], "(01)"+centraltest.GTIN+"(21)A0000001")
	if err != nil || !strings.Contains(rec, `"state":"commissioned"`) {
		t.Fatalf("item: %s, %v", rec, err)
	}

	srv.stop(t)
	if !strings.Contains(srv.errOut.String(), "central service stopped") {
		t.Fatalf("log lacks the graceful stop: %s", srv.errOut.String())
	}
	if _, err := os.Stat(filepath.Join(data, centralStoreName)); err != nil {
		t.Fatalf("store file: %v", err)
	}
}

// TestServe_StationRevoke: 'serve station revoke' shuts a station out at
// once (its requests get a message saying what to do), 'station list'
// shows it revoked, and enrolling it again with a new code lets it in.
func TestServe_StationRevoke(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	srv := startServe(t, "--listen", "127.0.0.1:0", "--data", data)
	anon, err := uplink.NewAPI(srv.url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	codeRE := regexp.MustCompile(`(?m)^([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})$`)
	enroll := func(args ...string) *uplink.API {
		t.Helper()
		code, stdout, stderr := runServeCmd(t, context.Background(), append([]string{"station", "add", "line-1", "--data", data}, args...)...)
		m := codeRE.FindStringSubmatch(stdout)
		if code != exitOK || m == nil {
			t.Fatalf("station add %v: exit=%d %s%s", args, code, stdout, stderr)
		}
		e, err := anon.Enroll(ctx, m[1])
		if err != nil {
			t.Fatal(err)
		}
		return anon.WithToken(e.Token)
	}
	list := func() string {
		t.Helper()
		code, stdout, stderr := runServeCmd(t, context.Background(), "station", "list", "--data", data)
		if code != exitOK {
			t.Fatalf("station list: exit=%d %s", code, stderr)
		}
		return stdout
	}
	line := regexp.MustCompile(`(?m)^line-1\s+line-1\s+(\S+)\s`)
	api := enroll()
	if _, err := api.Head(ctx); err != nil {
		t.Fatal(err)
	}
	if m := line.FindStringSubmatch(list()); m == nil || m[1] != "active" {
		t.Fatalf("station list before the revoke:\n%s", list())
	}
	// A code handed out but not used yet is voided too.
	code, stdout, _ := runServeCmd(t, context.Background(), "station", "add", "line-1", "--new-code", "--data", data)
	spare := codeRE.FindStringSubmatch(stdout)
	if code != exitOK || spare == nil {
		t.Fatalf("station add --new-code: %s", stdout)
	}

	code, stdout, stderr := runServeCmd(t, context.Background(), "station", "revoke", "line-1", "--data", data)
	if code != exitOK || !strings.Contains(stdout, "station line-1: 1 credential(s) revoked") || !strings.Contains(stdout, "station add line-1 --new-code") {
		t.Fatalf("station revoke: exit=%d %s%s", code, stdout, stderr)
	}
	_, err = api.Head(ctx)
	var apiErr *uplink.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized || !strings.Contains(apiErr.Detail.Message, "the administrator revoked this station's access") {
		t.Fatalf("a revoked station's request: %v", err)
	}
	if _, err := anon.Enroll(ctx, spare[1]); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("the code handed out before the revoke still enrolls: %v", err)
	}
	if m := line.FindStringSubmatch(list()); m == nil || m[1] != "revoked" {
		t.Fatalf("station list after the revoke:\n%s", list())
	}
	code, stdout, stderr = runServeCmd(t, context.Background(), "station", "list", "--json", "--data", data)
	var info uplink.StationInfo
	if err := json.Unmarshal([]byte(stdout), &info); code != exitOK || err != nil || info.ID != "line-1" || info.Credential != "revoked" {
		t.Fatalf("station list --json: exit=%d %q %s (%v)", code, stdout, stderr, err)
	}
	if code, _, stderr := runServeCmd(t, context.Background(), "station", "revoke", "line-9", "--data", data); code != exitFail || !strings.Contains(stderr, `station "line-9" is not known`) {
		t.Fatalf("revoking an unknown station: exit=%d %s", code, stderr)
	}

	api = enroll("--new-code")
	if _, err := api.Head(ctx); err != nil {
		t.Fatalf("the station enrolled again: %v", err)
	}
	if m := line.FindStringSubmatch(list()); m == nil || m[1] != "active" {
		t.Fatalf("station list after enrolling again:\n%s", list())
	}
}

// TestServe_AdminDuringRestore: while a restore replaces the store in a
// data folder, admin commands on it are refused (what they wrote would be
// lost); once it is done, or if it was killed, they work.
func TestServe_AdminDuringRestore(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	lock, err := lockData(data, restoreHolder) // as restore --central takes it
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runServeCmd(t, context.Background(), "station", "add", "line-1", "--data", data)
	if code != exitFail || !strings.Contains(stderr, "is being restored (linestation restore --central (pid "+strconv.Itoa(os.Getpid())+"))") {
		t.Fatalf("station add during a restore: exit=%d %s", code, stderr)
	}
	lock.release()
	if code, stdout, stderr := runServeCmd(t, context.Background(), "station", "add", "line-1", "--data", data); code != exitOK {
		t.Fatalf("station add after the restore: exit=%d %s%s", code, stdout, stderr)
	}
	// A restore killed mid-way leaves its name in the file, with a pid
	// that is gone: no reason to refuse.
	if err := os.WriteFile(filepath.Join(data, dataLockName), []byte(restoreHolder+" (pid 999999999)\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runServeCmd(t, context.Background(), "station", "list", "--data", data); code != exitOK {
		t.Fatalf("station list after a killed restore: exit=%d %s", code, stderr)
	}
}

// getItem reads the repository's record of an item over the ERP API.
func getItem(ctx context.Context, base, token, key string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/items/"+neturl.PathEscape(key), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), err
}

// TestServe_RestoreAccept: after a restore marks the store, 'serve
// restore-accept' lists the stations awaited, stops waiting for the ones
// named (refusing one it does not know, naming those awaited), and with
// --all for the rest; the store then issues again.
func TestServe_RestoreAccept(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := centraldb.Open(ctx, filepath.Join(dir, centralStoreName), centraldb.Options{Create: true, Logger: centraltest.Quiet()})
	must(t, err)
	for i, id := range []string{"line-a", "line-b", "line-c"} {
		if err := store.AddStation(ctx, id, id, fmt.Sprintf("code-%d", i), time.Now().Add(time.Hour), false); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Enroll(ctx, fmt.Sprintf("code-%d", i), fmt.Sprintf("token-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if awaited, err := store.MarkRestored(ctx, "gen-1"); err != nil || len(awaited) != 3 {
		t.Fatalf("MarkRestored: %v, %v", awaited, err)
	}
	must(t, store.Close())

	steps := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"restore-accept"}, exitOK, "awaited after the restore (no serials or SSCC blocks are issued until they sync): line-a, line-b, line-c"},
		{[]string{"restore-accept", "line-z"}, exitUsage, "line-z"},
		{[]string{"restore-accept", "line-b"}, exitOK, "still awaited: line-a, line-c"},
		{[]string{"restore-accept", "line-a", "--all"}, exitUsage, "not both"},
		{[]string{"restore-accept", "--all"}, exitOK, "no station is awaited: serials and SSCC blocks are issued again"},
		{[]string{"restore-accept"}, exitOK, "no station is awaited"},
	}
	for _, s := range steps {
		code, out, errOut := runServeCmd(t, ctx, append(s.args, "--data", dir)...)
		if code != s.code || !strings.Contains(out+errOut, s.out) {
			t.Fatalf("serve %v: exit %d, stdout %q, stderr %q; want %d and %q", s.args, code, out, errOut, s.code, s.out)
		}
	}
	store, err = centraldb.Open(ctx, filepath.Join(dir, centralStoreName), centraldb.Options{Logger: centraltest.Quiet()})
	must(t, err)
	defer store.Close()
	if awaited, err := store.RestoreAwaited(ctx); err != nil || len(awaited) != 0 {
		t.Fatalf("after --all: awaited %v, %v", awaited, err)
	}
}
