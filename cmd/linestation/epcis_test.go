package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linestation/linestation/station/stationtest"
)

const epcisStandards = "../../../shared/standards"

var gs1USExamplePath = filepath.Join(epcisStandards, "dscsa/GS1_US_Pharma_Example_2_2_1_1.xml")

// runEpcis runs 'linestation epcis ARGS' in-process and returns the exit
// status with what it printed.
func runEpcis(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runEPCIS(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	code = report(err, &errOut)
	return code, out.String(), errOut.String()
}

func TestEpcisValidate(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		code, out, errOut := runEpcis(t, "", "validate", gs1USExamplePath)
		if code != exitOK {
			t.Fatalf("exit=%d, stdout=%s stderr=%s", code, out, errOut)
		}
		if want := "valid: EPCIS 1.2 XML, 8 events: 4 ObjectEvent, 4 AggregationEvent\n"; out != want {
			t.Fatalf("stdout=%q, want %q", out, want)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		data, err := os.ReadFile(gs1USExamplePath)
		if err != nil {
			t.Fatal(err)
		}
		bad := strings.Replace(string(data), "<action>OBSERVE</action>", "<action>MOVE</action>", 1)
		code, out, _ := runEpcis(t, bad, "validate", "-")
		if code != exitFail {
			t.Fatalf("exit=%d, want %d; stdout=%s", code, exitFail, out)
		}
		if !strings.Contains(out, `event 7, ObjectEvent/action: "MOVE" is not ADD, OBSERVE or DELETE`) {
			t.Fatalf("stdout does not name event, path and reason:\n%s", out)
		}
	})
	t.Run("ErrDoctype", func(t *testing.T) {
		doc := `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "a">]><epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1"/>`
		code, out, _ := runEpcis(t, doc, "validate", "-")
		if code != exitFail || !strings.Contains(out, "DOCTYPE") {
			t.Fatalf("exit=%d stdout=%s", code, out)
		}
	})
	t.Run("ErrUsage", func(t *testing.T) {
		if code, _, _ := runEpcis(t, "", "validate"); code != exitUsage {
			t.Fatalf("exit=%d, want %d", code, exitUsage)
		}
	})
}

func TestEpcisConvert(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "doc.jsonld")
	code, _, errOut := runEpcis(t, "", "convert", gs1USExamplePath, "--to", "jsonld20", "-o", jsonPath)
	if code != exitOK {
		t.Fatalf("convert to jsonld20: exit=%d stderr=%s", code, errOut)
	}
	if code, out, _ := runEpcis(t, "", "validate", jsonPath); code != exitOK || !strings.Contains(out, "EPCIS 2.0 JSON-LD, 8 events") {
		t.Fatalf("validate converted JSON-LD: exit=%d stdout=%s", code, out)
	}
	// JSON-LD back to 1.2 XML via 2.0 XML, through stdin and stdout.
	xml20Path := filepath.Join(dir, "doc.xml")
	if code, _, errOut := runEpcis(t, "", "--help"); code != exitOK || errOut != "" {
		t.Fatalf("--help: exit=%d", code)
	}
	if code, _, errOut := runEpcis(t, "", "convert", "--to", "xml20", jsonPath, "-o", xml20Path); code != exitOK {
		t.Fatalf("convert to xml20: exit=%d stderr=%s", code, errOut)
	}
	xml20, err := os.ReadFile(xml20Path)
	if err != nil {
		t.Fatal(err)
	}
	code, xml12, errOut := runEpcis(t, string(xml20), "convert", "-", "--to", "xml12")
	if code != exitOK {
		t.Fatalf("convert to xml12: exit=%d stderr=%s", code, errOut)
	}
	if !strings.Contains(xml12, "<gs1ushc:affirmTransactionStatement>true</gs1ushc:affirmTransactionStatement>") {
		t.Fatalf("the transaction statement did not survive 1.2 -> JSON-LD -> 2.0 XML -> 1.2:\n%s", xml12)
	}
	xmllint := stationtest.RequireCommand(t, "xmllint", "apt-get install libxml2-utils")
	for name, doc := range map[string]string{"xml12": xml12, "xml20": string(xml20)} {
		xsd := filepath.Join(epcisStandards, "epcis-1.2/xsd/EPCglobal-epcis-1_2.xsd")
		if name == "xml20" {
			xsd = filepath.Join(epcisStandards, "epcis-2.0/xsd/EPCglobal-epcis-2_0.xsd")
		}
		path := filepath.Join(dir, name+".xml")
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", xsd, path).CombinedOutput(); err != nil {
			t.Fatalf("xmllint rejects the converted %s: %v\n%s", name, err, out)
		}
	}
}

func TestEpcisConvert_Refuses(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.xml")
	src := filepath.Join(epcisStandards, "epcis-2.0/json-schema/test/AssociationEvent.json")
	code, stdout, errOut := runEpcis(t, "", "convert", src, "--to", "xml12", "-o", out)
	if code != exitFail {
		t.Fatalf("exit=%d, want %d", code, exitFail)
	}
	if !strings.Contains(errOut, "EPCIS 1.2 has no AssociationEvent") {
		t.Fatalf("stderr does not say what would be lost: %s", errOut)
	}
	if stdout != "" {
		t.Fatalf("stdout=%q, want nothing", stdout)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a refused conversion left %s behind (err=%v)", out, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if code, _, _ := runEpcis(t, "", "convert", src, "--to", "xml99"); code != exitUsage {
		t.Fatalf("unknown format: exit=%d, want %d", code, exitUsage)
	}
}
