// Package web is the master's ops console: a few plain ES modules, a stylesheet and one HTML
// page, embedded in the binary and served by every master at "/". There is no build step and
// no framework: the files here are what the browser runs.
//
// The console reads the same API as the CLI (master/api), with a token entered once in its
// sign-in form and kept in the browser's localStorage; the token goes in the Authorization
// header of every request, never in a URL. Pages are addressed by the URL fragment (#/fleet,
// #/targets/SQL01, #/jobs, #/jobs/NAME, #/jobs/NAME/runs/RUN?server=S, #/downloadlist,
// #/events, #/audit), so any page can be linked. It follows GET /api/v1/stream (server-sent
// events read with fetch()) and falls back to reloading the page every 15 s while that
// stream is down. Actions are shown only to the roles that may take them (GET
// /api/v1/whoami), each after a confirmation that says what happens where.
//
// Files: index.html (shell, sign-in, dialog), app.js (routing, sign-in, live stream, dark
// mode), api.js (fetch and the server-sent-events reader), ui.js (escaping template, tables,
// dialog), pages.js (one function per page), style.css.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the console's files. They are small and change with the binary: browsers
// revalidate them on each load (no-cache), so an upgraded master serves its own console.
func Handler() http.Handler {
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
		files.ServeHTTP(w, r)
	})
}
