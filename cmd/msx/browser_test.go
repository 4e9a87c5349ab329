package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium returns the path of a Chromium to drive. In CI (CI=true) one must be installed
// (.ci/run installs Debian's chromium); elsewhere the test is skipped without one.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium on PATH: .ci/run installs Debian's chromium package")
	}
	t.Skip("no Chromium on PATH: install Debian's chromium package to run the browser test")
	return ""
}

func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	// Start the browser on this context: a browser first started on a child context with a
	// timeout would close when that child is cancelled.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	ctx := browser(t)
	dir := t.TempDir()
	up := start(t, dir, "up", "--targets", "2", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1", "--heartbeat", "300ms", "--print-token")
	var dash string
	waitFor(t, 60*time.Second, "msx up banner with the dashboard link", func() bool {
		m := regexp.MustCompile(`dashboard\s+(http://\S+)`).FindStringSubmatch(up.out.String())
		if m != nil {
			dash = m[1]
		}
		return m != nil
	})
	base, _, _ := strings.Cut(dash, "#")

	// A wrong token shows the login form with the master's reason.
	step := func(timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := chromedp.Do(c, steps...); err != nil {
			t.Fatalf("browser: %v", err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		s, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("browser: text of %s: %v", sel, err)
		}
		return s
	}
	step(30*time.Second, chromedp.Navigate(base+"#token=wrong"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")))
	if got := text("#login-error"); !strings.Contains(got, "token") {
		t.Errorf("login error %q does not mention the token", got)
	}

	// The admin link shows both targets as tiles and the example jobs with a bar of their
	// targets counted by last outcome.
	step(90*time.Second, chromedp.Navigate(dash),
		chromedp.WaitVisible(chromedp.CSS(`.tile[data-server="SQL01"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.tile[data-server="SQL02"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-job="Disk space report"]`)),
		// The example jobs run at agent start: the bar's green (succeeded) part counts both.
		chromedp.WaitVisible(chromedp.CSS(`tr[data-job="Local database heartbeat"] .bar .o1[title="2 succeeded"]`)))
	// No job's grid is loaded before a job is clicked.
	step(10*time.Second, chromedp.WaitNotVisible(chromedp.CSS(`#grid-section`)))
	// Clicking the job loads its grid: one green dot per target.
	step(30*time.Second, chromedp.Click(chromedp.CSS(`tr[data-job="Local database heartbeat"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#grid[data-job="Local database heartbeat"] .o1[data-server="SQL01"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#grid[data-job="Local database heartbeat"] .o1[data-server="SQL02"]`)))
	summary := text("#summary")
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	shot, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !strings.Contains(summary, "2targets") && !strings.Contains(summary, "2 targets") {
		t.Errorf("summary %q does not count 2 targets", summary)
	}
	if out := os.Getenv("MSX_SCREENSHOT"); out != "" {
		_ = os.WriteFile(out, shot, 0o644)
	}
	_ = os.WriteFile(filepath.Join(dir, "dashboard.png"), shot, 0o644)
}
