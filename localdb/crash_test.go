package localdb

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// The crash child is this test binary re-executed with these variables.
const (
	crashChildEnv = "LOCALDB_CRASH_CHILD" // the ledger file
	crashRoundEnv = "LOCALDB_CRASH_ROUND" // makes the child's serials unique per round
	crashOrder    = "PO-CRASH"
	crashStation  = "crash-1"
	crashWorkers  = 8
)

// crashChild appends as fast as it can from crashWorkers goroutines until it
// is killed. For each acknowledged Append it prints one line:
// "ack SEQ:ID SEQ:ID ..." (a single write, so a line is whole or absent).
// Each unit goes through three appends: reserve+allocate (two events, one
// call), printed, commissioned.
func crashChild(path string) int {
	round := os.Getenv(crashRoundEnv)
	db, err := Open(context.Background(), path, Options{Station: crashStation, Clock: systemClock(), Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 3
	}
	var mu sync.Mutex
	ack := func(evs []station.Event) {
		var b strings.Builder
		b.WriteString("ack")
		for _, e := range evs {
			fmt.Fprintf(&b, " %d:%s", e.Seq, e.ID)
		}
		b.WriteByte('\n')
		mu.Lock()
		_, _ = os.Stdout.WriteString(b.String())
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := 0; w < crashWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := 0; ; i++ {
				s := fmt.Sprintf("R%sW%dN%d", round, w, i)
				steps := [][]station.NewEvent{
					{
						{Payload: station.PoolReserved{GTIN: testGTIN, Serials: []string{s}, Source: "local"}, User: "crash"},
						{Payload: station.UnitAllocated{GTIN: testGTIN, Serial: s, Order: crashOrder}, User: "crash"},
					},
					{{Payload: station.UnitPrinted{GTIN: testGTIN, Serial: s, Device: "printer-1"}, User: "crash"}},
					{{Payload: station.UnitCommissioned{GTIN: testGTIN, Serial: s, Device: "camera-1"}, User: "crash"}},
				}
				for _, evs := range steps {
					out, err := db.Append(ctx, evs...)
					if err != nil {
						fmt.Fprintln(os.Stderr, "crash child: append:", err)
						os.Exit(4)
					}
					ack(out)
				}
			}
		}()
	}
	wg.Wait()
	return 0
}

// TestDB_Crash runs a child process that appends as fast as it can and
// SIGKILLs it at random moments, many times over one ledger file. After each
// kill the file is reopened: every acknowledged event is there with the id
// it was acknowledged with, no append is half there, the chain verifies,
// and appending resumes right after the last event.
func TestDB_Crash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	rounds := 25
	path := filepath.Join(t.TempDir(), "crash.db")
	db, err := Open(context.Background(), path, Options{Station: crashStation, Clock: systemClock(), Create: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	MustAppend(t, db, ev(station.OrderCreated{Order: crashOrder, GTIN: testGTIN, Lot: "L1", Expiry: "270600", Quantity: 1_000_000}))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var total, killedMidway int
	for round := 0; round < rounds; round++ {
		acks, stderr := runCrashRound(t, path, round, rng)
		total += len(acks)
		if len(acks) > 0 {
			killedMidway++
		}
		checkAfterCrash(t, path, round, acks, stderr)
	}
	t.Logf("%d rounds, %d acknowledged appends checked, %d rounds killed while appending", rounds, total, killedMidway)
	if killedMidway < rounds/2 {
		t.Fatalf("only %d of %d rounds were killed while appending: the test did not exercise crashes", killedMidway, rounds)
	}

	// The projections written while crashing equal a replay of the journal.
	db = MustOpenPath(t, path, Options{Station: crashStation, Clock: newTestClock()})
	before := dumpProjections(t, db.r)
	if _, err := db.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := dumpProjections(t, db.r); after != before {
		t.Fatalf("projections after crashes differ from a rebuild")
	}
}

// ackLine is one acknowledged Append: seq and id of each event.
type ackLine struct {
	seqs []int64
	ids  []string
}

// runCrashRound starts the child, kills it at a random moment and returns
// the complete ack lines it printed.
func runCrashRound(t *testing.T, path string, round int, rng *rand.Rand) ([]ackLine, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashRoundEnv+"="+strconv.Itoa(round))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var acks []ackLine
	readDone := make(chan error, 1)
	go func() {
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if err != nil { // a line cut by the kill has no newline: not acknowledged
				if err == io.EOF {
					err = nil
				}
				readDone <- err
				return
			}
			a, perr := parseAck(line)
			if perr != nil {
				readDone <- perr
				return
			}
			mu.Lock()
			acks = append(acks, a)
			mu.Unlock()
		}
	}()
	// Most rounds wait for the first acknowledgement, then kill after a
	// random delay; one in five kills at a random moment of start-up.
	if round%5 != 4 {
		stationtest.Poll(t, 30*time.Second, "crash child acknowledged nothing: "+stderr.String(), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acks) > 0
		})
		time.Sleep(time.Duration(rng.IntN(120)) * time.Millisecond)
	} else {
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("round %d: kill child: %v", round, err)
	}
	if err := <-readDone; err != nil {
		t.Fatalf("round %d: read child output: %v", round, err)
	}
	werr := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("round %d: child ended by itself (%v) instead of being killed: %s", round, werr, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	return acks, stderr.String()
}

func parseAck(line string) (ackLine, error) {
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "ack" {
		return ackLine{}, fmt.Errorf("unexpected child output %q", line)
	}
	var a ackLine
	for _, p := range f[1:] {
		seq, id, ok := strings.Cut(p, ":")
		n, err := strconv.ParseInt(seq, 10, 64)
		if !ok || err != nil {
			return ackLine{}, fmt.Errorf("unexpected child output %q", line)
		}
		a.seqs = append(a.seqs, n)
		a.ids = append(a.ids, id)
	}
	return a, nil
}

// checkAfterCrash reopens the ledger and checks what the round left.
func checkAfterCrash(t *testing.T, path string, round int, acks []ackLine, childErr string) {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, path, Options{Station: crashStation, Clock: systemClock(), Logger: quietLogger()})
	if err != nil {
		t.Fatalf("round %d: reopen after kill: %v (child stderr: %s)", round, err, childErr)
	}
	defer db.Close()
	for _, a := range acks {
		evs, err := db.Events(ctx, a.seqs[0], len(a.seqs))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != len(a.seqs) {
			t.Fatalf("round %d: acknowledged seqs %v, found %d of them", round, a.seqs, len(evs))
		}
		for i, e := range evs {
			if e.Seq != a.seqs[i] || e.ID != a.ids[i] {
				t.Fatalf("round %d: acknowledged %d:%s, found %d:%s", round, a.seqs[i], a.ids[i], e.Seq, e.ID)
			}
		}
	}
	rep, err := db.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("round %d: ledger broken after kill: integrity %v, break %v", round, rep.Integrity, rep.Break)
	}
	// Nothing partial: each two-event append (reserve + allocate of one
	// serial) is there whole. Only the events of this round need checking.
	from := int64(1)
	if len(acks) > 0 {
		from = acks[0].seqs[0]
	}
	for {
		evs, err := db.Events(ctx, from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range evs {
			if e.Type != station.EventPoolReserved {
				continue
			}
			var next station.Event
			if i+1 < len(evs) {
				next = evs[i+1]
			} else if more, _ := db.Events(ctx, e.Seq+1, 1); len(more) == 1 {
				next = more[0]
			}
			p, _ := station.DecodePayload(e.Type, e.Payload)
			q, err := station.DecodePayload(next.Type, next.Payload)
			if next.Type != station.EventUnitAllocated || err != nil || q.(*station.UnitAllocated).Serial != p.(*station.PoolReserved).Serials[0] {
				t.Fatalf("round %d: seq %d reserves %v but seq %d is %s: a two-event append is half recorded", round, e.Seq, p, next.Seq, next.Type)
			}
		}
		if len(evs) < 1000 {
			break
		}
		from = evs[len(evs)-1].Seq + 1
	}
	// Appending resumes right after the head.
	out, err := db.Append(ctx, ev(station.SSCCAllocated{SSCC: sscc(round), Level: station.LevelPallet}))
	if err != nil {
		t.Fatalf("round %d: append after kill: %v", round, err)
	}
	if out[0].Seq != rep.LastSeq+1 {
		t.Fatalf("round %d: append after kill got seq %d, want %d", round, out[0].Seq, rep.LastSeq+1)
	}
}

// systemClock reads the system clock, as the child does: the parent's and
// the children's events interleave in one journal, so they share one time.
func systemClock() station.Clock {
	return station.ClockFunc(func() station.Time {
		return station.Time{UTC: time.Now().UTC(), State: station.ClockSynced}
	})
}
