//go:build !linux

package backuptest

import "os/exec"

// KillWithParent does nothing where the system cannot tie a process's life
// to its parent's.
func KillWithParent(cmd *exec.Cmd) {}
