package tsql

import (
	"testing"
	"time"

	"github.com/msx-project/msx/schemas/jobs"
)

// TestBuilder states two jobs as calls with evaluated arguments, as a migration reading msdb
// does: the same translation as Import, a shared schedule copied into each job, and a step of a
// subsystem msx does not run set apart by Partition.
func TestBuilder(t *testing.T) {
	b := NewBuilder()
	b.Call(1, "msdb.dbo.sp_add_job", Arg{"@job_name", "Backup"}, Arg{"enabled", true}, Arg{"description", "No description available."},
		Arg{"category_name", "[Uncategorized (Local)]"}, Arg{"owner_login_name", `CORP\dba`})
	b.Call(2, "sp_add_jobstep", Arg{"job_name", "Backup"}, Arg{"step_name", "full"}, Arg{"subsystem", "TSQL"},
		Arg{"command", "BACKUP DATABASE x TO DISK = N'x.bak'"}, Arg{"retry_attempts", int16(2)}, Arg{"database_name", nil})
	b.Call(3, "sp_add_schedule", Arg{"schedule_name", "Nightly"}, Arg{"freq_type", 4}, Arg{"freq_interval", int64(1)}, Arg{"active_start_time", int32(10000)})
	b.Call(4, "sp_attach_schedule", Arg{"job_name", "Backup"}, Arg{"schedule_name", "Nightly"})
	b.Call(5, "sp_add_job", Arg{"job_name", "Repl snapshot"})
	b.Call(6, "sp_add_jobstep", Arg{"job_name", "Repl snapshot"}, Arg{"step_name", "Run agent."}, Arg{"subsystem", "Snapshot"}, Arg{"command", "-Publisher x"})
	b.Call(7, "sp_attach_schedule", Arg{"job_name", "Repl snapshot"}, Arg{"schedule_name", "Nightly"})
	b.Call(8, "sp_update_job", Arg{"job_name", "Backup"}, Arg{"description", 1.5})
	res := b.Result()
	ok, not := res.Partition(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if len(ok) != 1 || len(not) != 1 || not[0].Job != "Repl snapshot" || not[0].Line != 5 {
		t.Fatalf("ok %+v, not %+v", ok, not)
	}
	j := ok[0]
	if j.Name != "Backup" || j.Description != "" || j.Category != "" || j.Owner != `CORP\dba` || len(j.Steps) != 1 ||
		j.Steps[0].RetryAttempts != 2 || j.Steps[0].Subsystem != jobs.SubsystemTSQL || len(j.Schedules) != 1 || j.Schedules[0].ActiveStartTime != 10000 {
		t.Errorf("job %+v", j)
	}
	if len(res.Problems) != 1 || res.Problems[0].Line != 8 {
		t.Errorf("problems %v, want the float argument at line 8", res.Problems)
	}
}
