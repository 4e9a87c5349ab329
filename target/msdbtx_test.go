package target_test

import (
	"database/sql"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/msx-project/msx/schemas"
	"github.com/msx-project/msx/schemas/jobs"
)

// TestMSDBCallOutsideTransaction gives an agent in msdb mode a SQL Server that accepts
// connections and never answers. While its INSERT waits on that SQL Server, the agent's own
// database must take writes: the SQL Server call is not made inside its write transaction.
func TestMSDBCallOutsideTransaction(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var conns []net.Conn
	accepted := make(chan struct{}, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	h := newHarness(t)
	h.startMSDBAgent(fmt.Sprintf("sqlserver://sa:x@%s?connection+timeout=2&dial+timeout=1", ln.Addr()))

	db, err := sql.Open("sqlite", "file:"+filepath.Join(h.dataDir, "target.db")+"?_pragma=busy_timeout(500)&_txlock=immediate") // the agent's own short writes wait; a transaction held across the 2 s SQL Server wait does not
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	j := newJob("hung SQL Server", jobs.SubsystemTSQL, "SELECT 1")
	j.JobID = guid()
	seq := h.post(schemas.OpInsert, j.JobID, j.Name, j)
	writes := 0
	waitFor(t, 60*time.Second, "the INSERT's report", func() bool {
		// Each sample must find the agent's database free for a writer.
		tx, err := db.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatalf("the agent's database refuses a writer while it waits on SQL Server: %v", err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		writes++
		for _, st := range h.statuses.all() {
			if st.Seq == seq {
				if st.Status != schemas.StatusFailed {
					t.Errorf("INSERT with SQL Server unreachable: %+v", st)
				}
				return true
			}
		}
		return false
	})
	t.Logf("%d writes while the INSERT waited", writes)
	if writes < 2 {
		t.Errorf("only %d writes tried while the INSERT waited", writes)
	}
}
