//go:build !unix && !windows

package runner

import "os/exec"

// killGroupOnCancel leaves exec.Cmd's default: kill the process alone.
func killGroupOnCancel(*exec.Cmd) {}

// shellCommand returns the command that runs a CmdExec step's command line.
func shellCommand(line string) (string, []string) { return "sh", []string{"-c", line} }

// setCommandLine is a no-op here: arguments are passed as they are.
func setCommandLine(*exec.Cmd, string) {}
