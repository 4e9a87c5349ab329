package bus

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// PrivateMode is the mode of every file that holds a key, a token or a target's identity.
const PrivateMode fs.FileMode = 0o600

// SecureFiles makes each existing file among paths private (mode 0600) when its group or
// others may access it, and creates, empty and private, those of create that are missing (so
// that a database opened next inherits the mode). It returns the paths it fixed; missing
// paths are skipped. Callers log what was fixed: a key readable by others may have leaked.
func SecureFiles(create []string, paths ...string) ([]string, error) {
	for _, p := range create {
		f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, PrivateMode)
		if err == nil {
			f.Close()
		} else if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create %s: %w", p, err)
		}
	}
	var fixed []string
	for _, p := range append(create, paths...) {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fixed, fmt.Errorf("check mode of %s: %w", p, err)
		}
		if st.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, PrivateMode); err != nil {
			return fixed, fmt.Errorf("make %s private (mode 0600): %w", p, err)
		}
		fixed = append(fixed, p)
	}
	return fixed, nil
}
