package backuptest

import (
	"os/exec"
	"syscall"
)

// KillWithParent makes cmd's process get SIGKILL when the test process
// dies, so that a test binary killed by a timeout leaves no server or
// station process behind.
func KillWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
