package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

// TestEPCISExport exports a shipped shipment's document from a central
// store given by --data, as 1.2 XML (xmllint against the XSD) and as
// JSON-LD (the JSON schema), and refuses unknown shipments and bad flags.
func TestEPCISExport(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "central-data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	db := centraltest.MustStorePath(t, filepath.Join(data, centralStoreName))
	ctx := context.Background()
	if _, err := db.PutProduct(ctx, centraltest.Product()); err != nil {
		t.Fatal(err)
	}
	for _, l := range dscsatest.Locations("line-1") {
		if _, err := db.PutLocation(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	dscsatest.MustScenario(t, db, &dscsatest.Scenario{Station: "line-1", Prefix: "S", Units: 25, Shipment: "SH-9"})
	var _ *centraldb.DB = db

	out := filepath.Join(dir, "sh9.xml")
	code, stdout, stderr := run(t, "", "epcis", "export", "--shipment", "SH-9", "--data", data, "-o", out)
	if code != exitOK || stdout != "" || !strings.Contains(stderr, "wrote "+out+": shipment SH-9 to "+dscsatest.WhsGLN+", 29 items") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	dscsatest.MustXSDValid(t, doc)
	code, stdout, stderr = run(t, "", "epcis", "export", "--shipment", "SH-9", "--format", "jsonld20", "--data", data)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	dscsatest.MustJSONValid(t, []byte(stdout))
	// The exported file is a document the validate command accepts too.
	if code, stdout, _ := run(t, "", "epcis", "validate", out); code != exitOK || !strings.Contains(stdout, "valid: EPCIS 1.2 XML") {
		t.Fatalf("validate: exit %d: %s", code, stdout)
	}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"epcis", "export", "--shipment", "NOPE", "--data", data}, exitFail, "shipment NOPE is not known to the central service"},
		{[]string{"epcis", "export", "--data", data}, exitUsage, "needs --shipment ID"},
		{[]string{"epcis", "export", "--shipment", "SH-9", "--format", "xml20", "--data", data}, exitUsage, "must be xml12 or jsonld20"},
		{[]string{"epcis", "export", "--shipment", "SH-9", "--data", filepath.Join(dir, "none")}, exitFail, "does not exist"},
	} {
		code, _, stderr := run(t, "", tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}
