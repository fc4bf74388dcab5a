//go:build !(linux || darwin)

package localdb

import "time"

// processCPU returns 0: the benchmarks do not report CPU time here.
func processCPU() time.Duration { return 0 }
