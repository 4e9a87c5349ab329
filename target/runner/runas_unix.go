//go:build unix

package runner

import (
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
)

// runAs makes cmd run as the OS account name (nothing to do when name is empty or is the
// agent's own account): the account's uid, gid and groups, its HOME, USER and LOGNAME, and its
// home directory as working directory when cmd has none. Switching accounts needs root; the
// error wraps ErrRunAs and says so.
func runAs(cmd *exec.Cmd, name string) error {
	if name == "" {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return wrapf(ErrRunAs, "the step's proxy runs it as OS account %s, which does not exist on this target: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return wrapf(ErrRunAs, "OS account %s has uid %q and gid %q, which are not numbers", name, u.Uid, u.Gid)
	}
	if int(uid) == os.Geteuid() {
		return nil
	}
	if os.Geteuid() != 0 {
		return wrapf(ErrRunAs, "the step's proxy runs it as OS account %s, but the agent runs as uid %d: "+
			"running steps as another account needs the agent to run as root", name, os.Geteuid())
	}
	var groups []uint32
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				groups = append(groups, uint32(g))
			}
		}
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env[:len(env):len(env)], "HOME="+u.HomeDir, "USER="+u.Username, "LOGNAME="+u.Username)
	if cmd.Dir == "" {
		// The agent's working directories are its own; the account's home, when it has one,
		// is where its files are.
		cmd.Dir = "/"
		if fi, err := os.Stat(u.HomeDir); err == nil && fi.IsDir() {
			cmd.Dir = u.HomeDir
		}
	}
	return nil
}
