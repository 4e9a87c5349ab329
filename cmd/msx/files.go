package main

import (
	"log/slog"
	"path/filepath"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/master/client"
)

// securePrivateFiles makes the master's key, CA key, server key and admin token files in dir
// private (0600), logging each that others could read.
func securePrivateFiles(dir string, log *slog.Logger) error {
	var paths []string
	for _, n := range []string{"master.nk", bus.CAKeyFile, bus.ServerKeyFile, client.TokenFile, client.URLFile} {
		paths = append(paths, filepath.Join(dir, n))
	}
	fixed, err := bus.SecureFiles(nil, paths...)
	for _, f := range fixed {
		log.Warn("file holding a key or token was readable by others: made private (0600)", "file", f)
	}
	return err
}
