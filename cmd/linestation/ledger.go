package main

import (
	"context"
	"io"
)

// runLedger runs 'linestation ledger ...'. (Being written: see issue 3.)
func runLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return &usageError{message: "ledger is not built yet"}
}
