package runner

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// procStat reads the state, process group and start time (clock ticks since boot) of process
// pid from /proc/PID/stat; ok is false when it cannot be read.
func procStat(pid string) (state string, pgrp int, start uint64, ok bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return "", 0, 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces: count after its end.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", 0, 0, false
	}
	pgrp, _ = strconv.Atoi(f[2])                // field 5
	start, _ = strconv.ParseUint(f[19], 10, 64) // field 22
	return f[0], pgrp, start, true
}

// startTime returns when process pid started, in clock ticks since boot, or 0 when unknown.
func startTime(pid int) uint64 {
	_, _, st, _ := procStat(strconv.Itoa(pid))
	return st
}

// groupAlive reports whether a live process (a zombie is not) belongs to process group pgid.
// It reads /proc rather than sending signal 0, which a zombie that no one reaps answers.
func groupAlive(pgid int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		n := e.Name()
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		if state, pgrp, _, ok := procStat(n); ok && pgrp == pgid && state != "Z" && state != "X" {
			return true
		}
	}
	return false
}
