package notify_test

import (
	"strings"
	"testing"

	"github.com/msx-project/msx/master/notify"
	model "github.com/msx-project/msx/schemas/notify"
)

// TestWebhookAllowOnOperators: with the default allow-list a master refuses operators whose
// webhook points at the metadata service, loopback (its own NATS monitoring port, the
// receiver of this test) or a private address, with an error naming --webhook-allow and what
// to add; a public one is taken; listing loopback admits the receiver.
func TestWebhookAllowOnOperators(t *testing.T) {
	f := newFixture(t, notify.Config{WebhookAllow: []string{"public"}})
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/iam/", f.hook.URL + "/hook", "http://[::1]:8222/varz", "https://192.168.1.10/x", "http://localhost:4222/"} {
		_, err := f.m.Notify.PutOperator(t.Context(), model.Operator{Name: "Evil", WebhookURL: u}, true)
		if err == nil || !strings.Contains(err.Error(), "--webhook-allow") || !strings.Contains(err.Error(), "webhook_url") {
			t.Errorf("operator with webhook %s: %v, want refused naming --webhook-allow", u, err)
		}
	}
	if _, err := f.m.Notify.Operator(t.Context(), "Evil"); err == nil {
		t.Error("a refused operator was stored")
	}
	if _, err := f.m.Notify.PutOperator(t.Context(), model.Operator{Name: "Slack", WebhookURL: "https://hooks.slack.com/services/T0/B0/x"}, true); err != nil {
		t.Errorf("public webhook refused: %v", err)
	}
	// Updating an operator is checked the same way.
	if _, err := f.m.Notify.PutOperator(t.Context(), model.Operator{Name: "Slack", WebhookURL: "http://10.0.0.1/"}, false); err == nil {
		t.Error("update to a private address taken")
	}
	g := newFixture(t, notify.Config{WebhookAllow: []string{"127.0.0.1"}})
	if _, err := g.m.Notify.PutOperator(t.Context(), model.Operator{Name: "Local", WebhookURL: g.hook.URL + "/hook"}, true); err != nil {
		t.Errorf("listed loopback refused: %v", err)
	}
}
