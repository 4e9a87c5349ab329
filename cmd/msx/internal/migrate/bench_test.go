package migrate_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/msx-project/msx/cmd/msx/internal/migrate"
	"github.com/msx-project/msx/internal/mssqltest"
)

// BenchmarkMigrate measures, on an MSX master in the TDS fake with 200 multiserver jobs (2 steps,
// a schedule, 10 target servers each) and 10 groups: reading its msdb, and a second msx migrate
// run against a master that already holds everything (the cost of the idempotent rerun: one
// apply per job, which changes nothing). The first apply is reported once as first-apply-s.
func BenchmarkMigrate(b *testing.B) {
	const jobs, targets = 200, 10
	s := mssqltest.Start(b, mssqltest.ServerName("BIGMSX"))
	var sb strings.Builder
	for i := 1; i <= targets; i++ {
		if _, err := s.EnlistTarget(fmt.Sprintf("SQL%02d", i), ""); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&sb, "EXEC msdb.dbo.sp_add_targetservergroup @name = N'G%02d';\n", i)
		fmt.Fprintf(&sb, "EXEC msdb.dbo.sp_add_targetsvrgrp_member @group_name = N'G%02d', @server_name = N'SQL%02d';\n", i, i)
	}
	for j := range jobs {
		name := fmt.Sprintf("Job %04d", j)
		fmt.Fprintf(&sb, "EXEC msdb.dbo.sp_add_job @job_name = N'%s';\n", name)
		fmt.Fprintf(&sb, "EXEC msdb.dbo.sp_add_jobstep @job_name = N'%s', @step_name = N'one', @command = N'SELECT %d', @on_success_action = 3;\n", name, j)
		fmt.Fprintf(&sb, "EXEC msdb.dbo.sp_add_jobstep @job_name = N'%s', @step_name = N'two', @subsystem = N'CmdExec', @command = N'echo %d';\n", name, j)
		fmt.Fprintf(&sb, "EXEC msdb.dbo.sp_add_jobschedule @job_name = N'%s', @name = N'daily', @freq_type = 4, @freq_interval = 1, @active_start_time = %d;\n", name, j%24*10000)
		for i := 1; i <= targets; i++ {
			fmt.Fprintf(&sb, "EXEC msdb.dbo.sp_add_jobserver @job_name = N'%s', @server_name = N'SQL%02d';\n", name, i)
		}
	}
	db := s.Client(b)
	exec(b, db, sb.String())
	f := startMaster(b)

	read := func() *migrate.Source {
		src, err := migrate.Read(b.Context(), db, migrate.Scope{})
		if err != nil || len(src.Jobs) != jobs {
			b.Fatalf("read: %v (%d jobs)", err, len(src.Jobs))
		}
		return src
	}
	src := read()
	m := &migrate.Migrator{API: f.api}
	start := b.Elapsed()
	if _, err := m.Run(b.Context(), src, false); err != nil {
		b.Fatal(err)
	}
	first := (b.Elapsed() - start).Seconds()

	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			read()
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/jobs, "µs/job")
	})
	b.Run("rerun", func(b *testing.B) {
		for b.Loop() {
			p, err := m.Run(b.Context(), src, false)
			if err != nil || p.Counts[migrate.ActionUnchanged] < jobs {
				b.Fatalf("rerun: %v %v", err, p.Counts)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/jobs, "µs/job")
		b.ReportMetric(first, "first-apply-s")
	})
}
