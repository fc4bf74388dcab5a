package backup

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
	"github.com/linestation/linestation/uplink/backup/backuptest"
)

// The restore drill: a station process writes 100,000 events while its
// backup scheduler runs, and is SIGKILLed at a random moment; its ledger is
// restored from object storage into a new file, and the restored journal
// must equal the original up to the last segment shipped; both verify;
// the restored station then resumes, appending and backing up.

// Environment of the drill's station process (the test binary itself).
const (
	drillChildEnv    = "LINESTATION_BACKUP_DRILL_CHILD" // the ledger path
	drillEndpointEnv = "LINESTATION_BACKUP_DRILL_ENDPOINT"
	drillURLEnv      = "LINESTATION_BACKUP_DRILL_URL"
	drillEventsEnv   = "LINESTATION_BACKUP_DRILL_EVENTS"
)

// drillConfig is the station process's storage configuration, its
// credentials from the environment the test gives it.
func drillConfig(endpoint, url string) Config {
	cfg := Config{URL: url, Endpoint: endpoint}
	_ = cfg.ApplyEnv(os.Getenv) // credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
	return cfg
}

// drillChild is the station: it appends events in batches and prints
// "appended SEQ" after each, while the scheduler ships every 50 ms and
// starts a new generation every 3 s (keeping two). It never stops by
// itself: the test kills it.
func drillChild() int {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := localdb.Open(ctx, os.Getenv(drillChildEnv), localdb.Options{Station: testStation, Clock: newTestClock(), Create: true, Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	store, err := Open(drillConfig(os.Getenv(drillEndpointEnv), os.Getenv(drillURLEnv)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	store.Logger = logger
	sh := NewShipper(store, db)
	sched := &Scheduler{Shipper: sh, Interval: 50 * time.Millisecond, SnapshotInterval: 3 * time.Second, Keep: 2, Logger: logger}
	go sched.Run(ctx)
	total, _ := strconv.Atoi(os.Getenv(drillEventsEnv))
	w := &workload{}
	out := bufio.NewWriter(os.Stdout)
	for n := 0; n < total; {
		k := min(500, total-n)
		evs, err := db.Append(ctx, w.Next(k)...)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		n += k
		fmt.Fprintf(out, "appended %d\n", evs[len(evs)-1].Seq)
		out.Flush()
	}
	fmt.Fprintln(out, "done")
	out.Flush()
	select {} // until killed
}

func TestRestoreDrill(t *testing.T) {
	srv := SharedMinIO(t)
	ctx := context.Background()
	const total = 100_000
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 9))
	killAt := int64(20_000 + rng.IntN(total-20_000+1))
	t.Logf("drill: seed %d, the station is killed once it has %d of %d events", seed, killAt, total)

	bucket := bucketName(t)
	url := "s3://" + bucket + "/stations/" + testStation
	dir := t.TempDir()
	orig := filepath.Join(dir, "station.db")

	// The station, killed at a random moment.
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), drillChildEnv+"="+orig, drillEndpointEnv+"="+srv.Endpoint, drillURLEnv+"="+url,
		drillEventsEnv+"="+strconv.Itoa(total), EnvAccessKeyID+"="+srv.User, EnvSecretAccessKey+"="+srv.Password)
	backuptest.KillWithParent(child)
	var stderr bytes.Buffer
	child.Stderr = &stderr
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var appended int64
	for sc.Scan() {
		line := sc.Text()
		if line == "done" {
			time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
			break
		}
		if seq, ok := strings.CutPrefix(line, "appended "); ok {
			appended, _ = strconv.ParseInt(seq, 10, 64)
			if appended >= killAt {
				break
			}
		}
	}
	_ = child.Process.Signal(syscall.SIGKILL)
	_ = child.Wait()
	if appended == 0 {
		t.Fatalf("the station never appended: %s", stderr.String())
	}
	t.Logf("drill: station killed after %s with %d events acknowledged", time.Since(start).Round(time.Millisecond), appended)

	// What the station had recorded, and what object storage holds.
	original := MustLedgerAt(t, orig, newTestClock())
	origHead, err := original.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if origHead.Seq < appended {
		t.Fatalf("the killed station holds %d events, but %d were acknowledged", origHead.Seq, appended)
	}
	cfg := testConfig(srv, bucket)
	cfg.URL = url
	store := MustStore(t, cfg)
	infos, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var newest *GenerationInfo
	var maxShipped int64
	for i := range infos {
		info := &infos[i]
		if info.Manifest != nil {
			newest = info
		}
		if info.Progress != nil {
			maxShipped = max(maxShipped, info.Progress.LastSeq)
		}
		segs, err := store.Segments(ctx, info.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range segs {
			maxShipped = max(maxShipped, s.Last)
		}
	}
	if newest == nil {
		t.Fatalf("no complete generation in object storage: %+v\n%s", infos, stderr.String())
	}
	if newest.Gap != "" || newest.LastSeq < maxShipped {
		t.Fatalf("the newest generation %s ends at seq %d (gap: %q), but seq %d was shipped", newest.ID, newest.LastSeq, newest.Gap, maxShipped)
	}
	t.Logf("drill: %d generations in storage; the newest, %s, holds seq %d (snapshot to %d, %d segments); %d events were not yet shipped",
		len(infos), newest.ID, newest.LastSeq, newest.Manifest.LastSeq, newest.Segments, origHead.Seq-newest.LastSeq)

	// Restore into a new file.
	rstart := time.Now()
	path := filepath.Join(t.TempDir(), "restored.db")
	res, err := Restore(ctx, store, RestoreOptions{Path: path, Open: openRestored})
	if err != nil {
		t.Fatalf("restore: %v\nstation log:\n%s", err, stderr.String())
	}
	t.Logf("drill: restored %d events (%d from %d segments, %d bytes downloaded) in %s", res.Head.Seq, res.Events, res.Segments, res.Downloaded, time.Since(rstart).Round(time.Millisecond))
	if res.Head.Seq != newest.LastSeq || res.Generation != newest.ID {
		t.Fatalf("restored to seq %d from %s, want seq %d from %s", res.Head.Seq, res.Generation, newest.LastSeq, newest.ID)
	}
	restored := MustLedgerAt(t, path, newTestClock())
	assertSameJournal(t, original, restored, res.Head.Seq)
	for name, db := range map[string]*localdb.DB{"original": original, "restored": restored} {
		rep, err := db.Verify(ctx)
		if err != nil || !rep.OK() {
			t.Fatalf("%s ledger verify = %+v, %v", name, rep, err)
		}
	}

	// The restored station resumes: it appends and its backups take up the
	// same generation. Its clock goes on from the last event it has.
	clock := newTestClock()
	clock.now = origHead.Time
	resumed := MustLedgerAt(t, path, clock)
	_ = restored.Close()
	sh := NewShipper(store, resumed)
	sched := &Scheduler{Shipper: sh, Interval: 20 * time.Millisecond, SnapshotInterval: time.Hour, Keep: 2, Logger: quietLogger()}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sched.Run(sctx) }()
	// A fresh workload would reserve serials the station already has:
	// it goes on with other events (cases allocated) instead.
	for i := 0; i < 10; i++ {
		var evs []station.NewEvent
		for j := 0; j < 100; j++ {
			evs = append(evs, station.NewEvent{Payload: station.SSCCAllocated{SSCC: ssccN(i*100 + j), Level: station.LevelCase, Order: testOrder}, User: testUser})
		}
		if _, err := resumed.Append(ctx, evs...); err != nil {
			t.Fatalf("the restored station cannot append: %v", err)
		}
	}
	head, _ := resumed.Head(ctx)
	stationtest.Poll(t, 30*time.Second, "the restored station's backups reach its head", func() bool {
		st := sched.Status()
		return st.OK() && st.ShippedSeq == head.Seq
	})
	stop()
	<-done
	if st := sched.Status(); st.Generation != res.Generation {
		t.Fatalf("the restored station backs up into generation %s, want the one it was restored from (%s)", st.Generation, res.Generation)
	}
	again, err := Restore(ctx, store, RestoreOptions{Path: filepath.Join(t.TempDir(), "again.db"), Open: openRestored})
	if err != nil {
		t.Fatal(err)
	}
	if again.Head.Seq != head.Seq || again.Head.Hash != head.Hash {
		t.Fatalf("second restore reaches seq %d (%s), want %d (%s)", again.Head.Seq, again.Head.Hash, head.Seq, head.Hash)
	}
	t.Logf("drill: the restored station appended %d events and backed them up into the same generation", head.Seq-res.Head.Seq)
}

// assertSameJournal checks that b's journal is a's up to seq n: same seqs,
// same hashes (which cover every field; both chains are verified apart).
func assertSameJournal(tb testing.TB, a, b *localdb.DB, n int64) {
	tb.Helper()
	ctx := context.Background()
	for from := int64(1); from <= n; from += 5000 {
		ea, err := a.Events(ctx, from, 5000)
		if err != nil {
			tb.Fatal(err)
		}
		eb, err := b.Events(ctx, from, 5000)
		if err != nil {
			tb.Fatal(err)
		}
		want := min(int64(5000), n-from+1)
		if int64(len(eb)) != want {
			tb.Fatalf("restored journal has %d events from seq %d, want %d", len(eb), from, want)
		}
		for i := range eb {
			if ea[i].Seq != eb[i].Seq || ea[i].Hash != eb[i].Hash || ea[i].ID != eb[i].ID {
				tb.Fatalf("seq %d differs: original %s, restored %s", ea[i].Seq, ea[i].Hash, eb[i].Hash)
			}
		}
	}
	if more, _ := b.Events(ctx, n+1, 1); len(more) != 0 {
		tb.Fatalf("restored journal goes past seq %d", n)
	}
}

// ssccN returns a valid SSCC (extension 4, company prefix 0300011) for n.
func ssccN(n int) string {
	body := fmt.Sprintf("40300011%09d", n)
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return body + strconv.Itoa((10-sum%10)%10)
}
