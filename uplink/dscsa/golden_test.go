package dscsa_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/uplink/dscsa"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

var update = flag.Bool("update", false, "rewrite the outbound document goldens in testdata/ from the current code")

// goldenCreated is the fixed creation time of the golden documents (the
// only part of a document that is not a function of the store).
var goldenCreated = time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)

// mustGoldenDoc writes a shipment's document with a fixed id and creation time.
func mustGoldenDoc(tb testing.TB, x *dscsa.Exchange, f epcis.Format) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := x.WriteShipmentDocument(ctx, &buf, "SH-1", f, dscsa.DocOptions{DocumentID: "DOC-SH-1", Created: goldenCreated}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// checkGolden compares got with testdata/name, rewriting it under -update;
// on a mismatch it writes got to testdata/failed/name for review.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		failed := filepath.Join("testdata", "failed", name)
		if err := os.MkdirAll(filepath.Dir(failed), 0o755); err == nil {
			os.WriteFile(failed, got, 0o644)
		}
		t.Fatalf("%s differs from %s (written to %s)", name, path, failed)
	}
}

// TestWriteShipmentDocument_Golden pins the outbound document byte for
// byte, so that work on how it is read and built cannot change what a
// partner receives: the 1.2 XML of a 95-unit shipment (10 cases on 3
// pallets) in full, and the SHA-256 of both formats of a 2,500-unit one
// (units split in commissioning events of MaxEPCsPerEvent, the last one
// short; 250 cases on 7 pallets) and of a 2,000-unit one (exactly two
// full events).
func TestWriteShipmentDocument_Golden(t *testing.T) {
	_, x, _ := shipped(t, 95)
	doc := mustGoldenDoc(t, x, epcis.FormatXML12)
	checkGolden(t, "outbound-95.xml", doc)

	for _, units := range []int{2500, 2000} {
		db := dscsatest.MustStore(t, "line-1")
		dscsatest.MustScenario(t, db, &dscsatest.Scenario{Station: "line-1", Prefix: "S", Units: units, Shipment: "SH-1"})
		x := MustExchange(t, db, dscsatest.MfrGLN)
		if err := x.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		var sums strings.Builder
		for _, f := range []epcis.Format{epcis.FormatXML12, epcis.FormatJSONLD20} {
			sum := sha256.Sum256(mustGoldenDoc(t, x, f))
			fmt.Fprintf(&sums, "%s %s\n", hex.EncodeToString(sum[:]), f)
		}
		checkGolden(t, fmt.Sprintf("outbound-%d.sha256", units), []byte(sums.String()))
	}
	// Last, as it skips where xmllint is missing (outside CI).
	dscsatest.MustXSDValid(t, doc)
}
