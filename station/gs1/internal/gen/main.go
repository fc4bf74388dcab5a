// Command gen writes station/gs1/aitable.go from the GS1 Barcode Syntax
// Dictionary. It runs through go generate in station/gs1:
//
//	go generate ./station/gs1
//
// The dictionary is read from the shared standards folder beside the project
// (../shared/standards/gs1/gs1-syntax-dictionary.txt from the project root);
// it is never copied into the project. The generated file is committed, and a
// test of package gs1 re-parses the dictionary to prove they still agree.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/linestation/linestation/station/gs1/internal/dict"
)

func main() {
	in := flag.String("in", "../../../shared/standards/gs1/gs1-syntax-dictionary.txt", "dictionary to read")
	out := flag.String("out", "aitable.go", "Go file to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("open dictionary: %w", err)
	}
	defer f.Close()
	entries, err := dict.Parse(f)
	if err != nil {
		return fmt.Errorf("parse %s: %w", in, err)
	}
	src, err := dict.Render(entries, filepath.Base(in))
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, src, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}
