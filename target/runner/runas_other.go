//go:build !unix

package runner

import (
	"os/exec"
	"runtime"
)

// runAs fails for any account but the agent's own (name empty): switching accounts is not
// implemented on this platform yet.
func runAs(_ *exec.Cmd, name string) error {
	if name == "" {
		return nil
	}
	return wrapf(ErrRunAs, "the step's proxy runs it as OS account %s, but msx cannot run steps as another account on %s yet",
		name, runtime.GOOS)
}
