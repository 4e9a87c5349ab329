// Package web is the master's dashboard: one page, embedded in the binary, that shows the fleet
// at a glance (targets coloured by status, jobs with each target's last outcome, failed
// instructions, recent events) and refreshes itself. It reads the same API as the CLI, with a
// token kept in the browser (`msx up` prints a link that carries the admin token in the URL
// fragment, which never reaches the server).
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the dashboard's files.
func Handler() http.Handler {
	sub, _ := fs.Sub(static, "static")
	return http.FileServerFS(sub)
}
