//go:build windows

package runner

import (
	"os/exec"
	"syscall"
)

// killGroupOnCancel starts cmd in a new process group; on cancel exec.Cmd kills the process.
// Children the process started survive unless it was placed in a job object, which msx does
// not do yet.
func killGroupOnCancel(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.CreationFlags |= syscall.CREATE_NEW_PROCESS_GROUP
}

// shellCommand returns the command that runs a CmdExec step's command line.
func shellCommand(line string) (string, []string) { return "cmd.exe", nil }

// setCommandLine passes line to cmd.exe unquoted, as SQL Server Agent does: cmd's quoting rules
// are not those exec.Command applies.
func setCommandLine(cmd *exec.Cmd, line string) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.CmdLine = `cmd.exe /c ` + line
}
