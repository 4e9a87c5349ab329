package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

type clusterView struct {
	Self    string `json:"self"`
	Leader  string `json:"leader"`
	Term    uint64 `json:"term"`
	Masters []struct {
		Name    string `json:"name"`
		Leading bool   `json:"leading"`
	} `json:"masters"`
	Replicas map[string]int `json:"replicas"`
}

// agreedLeader returns the leader every API in apis names, when they all name the same one and
// each sees exactly one master leading: that one.
func agreedLeader(t *testing.T, dir string, apis []string) (string, bool) {
	t.Helper()
	leader := ""
	for _, api := range apis {
		var cv clusterView
		out, err := msxTry(t, dir, "--master", api, "cluster", "status", "-o", "json")
		if err != nil {
			// During a takeover a master may not answer in time (its JetStream reads wait for
			// the new stream leaders): asked again.
			t.Logf("cluster status from %s: %v", api, err)
			return "", false
		}
		if err := json.Unmarshal([]byte(out), &cv); err != nil {
			t.Fatal(err)
		}
		leading := 0
		for _, m := range cv.Masters {
			if m.Leading {
				leading++
				if m.Name != cv.Leader {
					return "", false
				}
			}
		}
		if cv.Leader == "" || leading != 1 || (leader != "" && cv.Leader != leader) {
			return "", false
		}
		leader = cv.Leader
	}
	return leader, true
}

// msxTry runs one CLI command in dir and returns its stdout, or its error with stderr.
func msxTry(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	stdout, stderr, err := runMsx(t, dir, args...)
	if err != nil {
		return "", fmt.Errorf("msx %v: %w: %s", args, err, strings.TrimSpace(stderr))
	}
	return stdout, nil
}

// TestEndToEndUpThreeMasters runs `msx up --masters 3`: three master processes clustered over
// TLS routes, targets with every node's URL. Every master names the same single leader; a job
// applied through one runs on the targets; kill -9 of the leader's process hands the lease to
// another master, and the job started through a survivor still runs on every target.
func TestEndToEndUpThreeMasters(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	dir := t.TempDir()
	up := start(t, dir, "up", "--masters", "3", "--targets", "2", "--http", "127.0.0.1:0", "--nats", "127.0.0.1:-1",
		"--heartbeat", "300ms", "--no-examples")
	waitFor(t, 5*time.Minute, "msx up --masters 3 banner", func() bool { return strings.Contains(up.out.String(), "msx is up: 3 masters") })
	data := filepath.Join(dir, "msx-data", "masters")
	t.Cleanup(func() {
		// MSX_KEEP_LOGS=DIR keeps every run's data directory (the masters' and targets' logs).
		if d := os.Getenv("MSX_KEEP_LOGS"); d != "" {
			_ = os.CopyFS(filepath.Join(d, fmt.Sprint(time.Now().Unix())), os.DirFS(filepath.Join(dir, "msx-data")))
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "msx-data", "msx.log"))
			lines := strings.Split(string(b), "\n")
			t.Logf("targets' log, last lines:\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
			for i := 1; i <= 3; i++ {
				b, _ := os.ReadFile(filepath.Join(data, fmt.Sprintf("%d.log", i)))
				var keep []string
				for _, l := range strings.Split(string(b), "\n") {
					if (strings.Contains(l, "component=master") || strings.Contains(l, "level=ERROR")) && !strings.Contains(l, "connect to route") && !strings.Contains(l, "Unknown account") {
						keep = append(keep, l)
					}
				}
				t.Logf("master %d's log:\n%s", i, strings.Join(keep[max(0, len(keep)-40):], "\n"))
			}
		}
	})
	apis := map[string]string{} // master number -> API
	for i := 1; i <= 3; i++ {
		b, err := os.ReadFile(filepath.Join(data, strconv.Itoa(i), "master", "api.url"))
		if err != nil {
			t.Fatal(err)
		}
		apis[strconv.Itoa(i)] = strings.TrimSpace(string(b))
	}
	all := []string{apis["1"], apis["2"], apis["3"]}
	var leader string
	waitFor(t, 60*time.Second, "one leader seen by every master", func() bool {
		var ok bool
		leader, ok = agreedLeader(t, dir, all)
		return ok
	})
	var cv clusterView
	if err := json.Unmarshal([]byte(msx(t, dir, false, "cluster", "status", "-o", "json")), &cv); err != nil {
		t.Fatal(err)
	}
	if len(cv.Masters) != 3 || cv.Replicas["MSX_INSTR"] != 3 || cv.Replicas["msx_targets"] != 3 {
		t.Fatalf("cluster status: %d masters, replicas %v; want 3 masters and R3", len(cv.Masters), cv.Replicas)
	}
	waitFor(t, 60*time.Second, "2 targets online", func() bool {
		ts := targets(t, dir)
		return len(ts) == 2 && ts["SQL01"].Status == 1 && ts["SQL02"].Status == 1
	})
	job := filepath.Join(dir, "ha.yaml")
	if err := os.WriteFile(job, []byte("name: ha job\nsteps:\n  - step_name: one\n    command: SELECT 1\ntargets:\n  servers: [SQL01, SQL02]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	msx(t, dir, false, "job", "apply", "-f", job)
	waitFor(t, 60*time.Second, "the job on both targets", func() bool {
		out := msx(t, dir, false, "downloadlist", "-o", "json")
		return strings.Count(out, `"INSERT"`) >= 2 && !strings.Contains(out, `"date_downloaded": null`)
	})

	// kill -9 the leader's process: no lease release, no goodbye.
	num := leader[strings.LastIndex(leader, "-")+1:]
	pidB, err := os.ReadFile(filepath.Join(data, num+".pid"))
	if err != nil {
		t.Fatalf("leader %s: %v", leader, err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidB)))
	proc, err := os.FindProcess(pid)
	if err == nil {
		err = proc.Kill()
	}
	if err != nil {
		t.Fatalf("kill -9 %d (%s): %v", pid, leader, err)
	}
	var survivors []string
	for n, api := range apis {
		if n != num {
			survivors = append(survivors, api)
		}
	}
	var next string
	waitFor(t, 90*time.Second, "another master takes the lease", func() bool {
		var ok bool
		next, ok = agreedLeader(t, dir, survivors)
		return ok && next != leader
	})
	t.Logf("leader %s killed; %s took over", leader, next)
	waitFor(t, 30*time.Second, "msx up reports the dead master", func() bool {
		return strings.Contains(up.out.String(), "master "+leader+" exited")
	})

	// The job still runs on both targets, started through a surviving master, and EVERY
	// survivor shows both runs: a standby's views must not freeze when a node goes (they did,
	// until the followers' stall detection, master/follow.go).
	msx(t, dir, false, "--master", survivors[0], "job", "start", "ha job")
	// ran reads the newest runs of the job on server s through api: with limit "20" from the
	// master's view (its index of MSX_RESULTS), with "0" from the stream itself.
	ran := func(api, s, limit string) bool {
		var rows []struct {
			StepID    int `json:"step_id"`
			RunStatus int `json:"run_status"`
		}
		out, err := msxTry(t, dir, "--master", api, "job", "history", "ha job", "--server", s, "--limit", limit, "-o", "json")
		if err != nil {
			t.Log(err)
			return false
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatal(err)
		}
		return len(rows) > 0 && rows[0].StepID == 0 && rows[0].RunStatus == 1
	}
	deadline := time.Now().Add(90 * time.Second)
	for _, api := range survivors {
		for _, s := range []string{"SQL01", "SQL02"} {
			for !ran(api, s, "20") {
				if time.Now().After(deadline) {
					for _, a := range survivors {
						for _, s2 := range []string{"SQL01", "SQL02"} {
							t.Logf("%s, run on %s: in its view %v, in the stream %v", a, s2, ran(a, s2, "20"), ran(a, s2, "0"))
						}
					}
					dumpGoroutines(t, data)
					t.Fatalf("timed out after 90s waiting for master %s to show the run of ha job on %s", api, s)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
}

// dumpGoroutines asks each master process under data for a goroutine dump (SIGQUIT: the Go
// runtime writes every goroutine's stack to the master's log, which the test's cleanup shows or
// keeps), so that a master that stopped following a stream shows where it waits.
func dumpGoroutines(t *testing.T, data string) {
	t.Helper()
	for i := 1; i <= 3; i++ {
		b, err := os.ReadFile(filepath.Join(data, fmt.Sprintf("%d.pid", i)))
		if err != nil {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Signal(syscall.SIGQUIT)
		}
	}
	time.Sleep(2 * time.Second)
}
