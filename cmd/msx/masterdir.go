package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/msx-project/msx/master/client"
)

// errDataDir is returned when `msx master --data` names a directory that is neither a
// master's nor empty.
var errDataDir = errors.New("not a master data directory")

// masterMarkers are files a master keeps in DATA/master: any of them means a fleet lives there.
var masterMarkers = []string{"master.nk", client.TokenFile, client.URLFile, "jetstream"}

// isMasterDir reports whether dir holds a master's files, and names the one found.
func isMasterDir(dir string) (string, bool) {
	for _, m := range masterMarkers {
		if _, err := os.Stat(filepath.Join(dir, m)); err == nil {
			return filepath.Join(dir, m), true
		}
	}
	return "", false
}

// masterData returns the --data directory `msx master` runs in: data when it holds a master in
// data/master (the directory of `msx up` or of an earlier `msx master`) or is empty or new; the
// parent when data is a master's own directory ("DIR/master"). Anything else is refused with the
// path to pass, so that a typo never starts a new, empty fleet beside the real one.
func masterData(data string) (dir, note string, err error) {
	if _, ok := isMasterDir(filepath.Join(data, "master")); ok {
		return data, "", nil
	}
	if found, ok := isMasterDir(data); ok {
		abs, _ := filepath.Abs(data)
		if filepath.Base(abs) == "master" {
			parent := filepath.Dir(abs)
			return parent, fmt.Sprintf("%s is a master's own directory (it holds %s): using its parent %s as --data", data, filepath.Base(found), parent), nil
		}
		return "", "", fmt.Errorf("%w: %s holds a master's files (%s) but msx keeps them in DATA/master: move them into %s and pass --data %s",
			errDataDir, data, found, filepath.Join(data, "master"), data)
	}
	entries, err := os.ReadDir(data)
	if errors.Is(err, os.ErrNotExist) {
		return data, "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("data directory %s: %w", data, err)
	}
	if len(entries) == 0 {
		return data, "", nil
	}
	if sub, err := os.ReadDir(filepath.Join(data, "master")); err == nil && len(sub) == 0 {
		return data, "", nil // left by a start that failed before it wrote anything
	}
	if _, err := os.Stat(filepath.Join(data, "target.db")); err == nil {
		return "", "", fmt.Errorf("%w: %s is a target agent's data directory (it holds target.db): pass the master's --data (the directory that holds master/), or a new empty directory for a new fleet",
			errDataDir, data)
	}
	for _, e := range entries {
		if sub := filepath.Join(data, e.Name()); e.IsDir() {
			if _, ok := isMasterDir(filepath.Join(sub, "master")); ok {
				return "", "", fmt.Errorf("%w: %s holds no master itself, but %s does: pass --data %s", errDataDir, data, sub, sub)
			}
		}
	}
	return "", "", fmt.Errorf("%w: %s is not empty and holds no master (no %s): pass the directory that holds master/ (the --data of `msx up` or of an earlier `msx master`), or a new empty directory to start a new fleet",
		errDataDir, data, filepath.Join(data, "master", "master.nk"))
}
