package main

import (
	"context"
	"io"
)

// runGS1 runs 'linestation gs1 ...'. (Being written: see issue 2.)
func runGS1(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return &usageError{message: "gs1 is not built yet"}
}
