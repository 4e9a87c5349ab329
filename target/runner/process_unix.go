//go:build unix

package runner

import (
	"os/exec"
	"syscall"
)

// killGroupOnCancel starts cmd in a process group of its own and, on cancel, kills the group,
// so that children of a shell (sleep in "sh -c 'sleep 30'") die with it.
func killGroupOnCancel(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// shellCommand returns the command that runs a CmdExec step's command line.
func shellCommand(line string) (string, []string) { return "/bin/sh", []string{"-c", line} }

// setCommandLine is a no-op on Unix: arguments are passed as they are.
func setCommandLine(*exec.Cmd, string) {}
