package bus

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockDir takes an exclusive advisory lock on dir (creating it), so that two processes never
// share a data directory: two embedded NATS servers on one store both start and then corrupt it.
// The returned function releases the lock. A held lock returns an error wrapping ErrDirLocked
// that names the holder's pid.
func LockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		holder := strings.TrimSpace(string(b))
		if holder == "" {
			holder = "unknown"
		}
		return nil, fmt.Errorf("%s (pid %s holds %s): stop that process or choose another --data directory: %w",
			dir, holder, path, ErrDirLocked)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = unlockFile(f)
		f.Close()
	}, nil
}
