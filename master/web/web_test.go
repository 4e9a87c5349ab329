package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/msx-project/msx/master/web"
)

func get(t *testing.T, srv *httptest.Server, path string) (*http.Response, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestConsoleFiles: the page and every module it imports are served, as JavaScript, with a
// content security policy that allows no script from elsewhere and no inline script.
func TestConsoleFiles(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	resp, page := get(t, srv, "/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<script type="module" src="app.js">`) {
		t.Fatalf("GET /: %d %.200s", resp.StatusCode, page)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "script-src") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers: CSP %q, nosniff %q", csp, resp.Header.Get("X-Content-Type-Options"))
	}
	seen := map[string]bool{}
	queue := []string{"app.js"}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		if seen[f] {
			continue
		}
		seen[f] = true
		resp, src := get(t, srv, "/"+f)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
			t.Fatalf("GET /%s: %d %s", f, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		// The token is never put in a URL: no module reads it from the location or writes it
		// into one.
		if regexp.MustCompile(`token=|location\.(hash|search)[^;]*token`).MatchString(src) {
			t.Errorf("%s puts a token in a URL or reads one from it", f)
		}
		for _, m := range regexp.MustCompile(`from "\./([a-z]+\.js)"`).FindAllStringSubmatch(src, -1) {
			queue = append(queue, m[1])
		}
	}
	for _, f := range []string{"app.js", "api.js", "ui.js", "pages.js"} {
		if !seen[f] {
			t.Errorf("%s is not imported", f)
		}
	}
	if resp, _ := get(t, srv, "/style.css"); resp.StatusCode != http.StatusOK {
		t.Errorf("style.css: %d", resp.StatusCode)
	}
}
