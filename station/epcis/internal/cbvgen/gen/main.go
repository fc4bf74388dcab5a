// Command gen writes station/epcis/cbv_gen.go (run by go generate in
// station/epcis): gen -context DIR -o FILE.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/linestation/linestation/station/epcis/internal/cbvgen"
)

func main() {
	dir := flag.String("context", "../../../shared/standards/epcis-2.0/context", "folder of the EPCIS 2.0 JSON-LD context files")
	out := flag.String("o", "cbv_gen.go", "output file")
	flag.Parse()
	src, err := cbvgen.Generate(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cbvgen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "cbvgen:", err)
		os.Exit(1)
	}
}
