package notify_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/msx-project/msx/master/notify"
	model "github.com/msx-project/msx/schemas/notify"
)

// TestPerfAlertLimit: a master takes at most MaxPerfAlerts enabled performance-condition
// alerts, the most a target evaluates; the next is refused with the reason, a disabled one is
// still taken, and updating one of those held is not refused.
func TestPerfAlertLimit(t *testing.T) {
	f := newFixture(t, notify.Config{})
	f.addOperator(t, model.Operator{Name: "DBA", EmailAddress: "dba@example.com"})
	alert := func(i int) model.Alert {
		return model.Alert{Name: fmt.Sprintf("perf %03d", i), PerformanceCondition: "SQLServer:General Statistics|User Connections||>|" + fmt.Sprint(i),
			Notifications: []model.AlertNotification{{OperatorName: "DBA", NotificationMethod: model.MethodEmail}}}
	}
	for i := range model.MaxPerfAlerts {
		if _, err := f.m.Notify.PutAlert(t.Context(), alert(i), true); err != nil {
			t.Fatalf("alert %d: %v", i, err)
		}
	}
	_, err := f.m.Notify.PutAlert(t.Context(), alert(model.MaxPerfAlerts), true)
	if err == nil || !strings.Contains(err.Error(), "the most a target evaluates") {
		t.Fatalf("alert %d: %v, want refused", model.MaxPerfAlerts, err)
	}
	off := alert(model.MaxPerfAlerts)
	off.Enabled = new(bool)
	if _, err := f.m.Notify.PutAlert(t.Context(), off, true); err != nil {
		t.Errorf("a disabled alert beyond the limit: %v", err)
	}
	again := alert(7)
	again.DelayBetweenResponses = 60
	if _, err := f.m.Notify.PutAlert(t.Context(), again, false); err != nil {
		t.Errorf("updating a held alert: %v", err)
	}
}
