package notify

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	"github.com/msx-project/msx/schemas"
	model "github.com/msx-project/msx/schemas/notify"
)

// Event is one forwarded event in an alert's notification.
type Event struct {
	ID        string    `json:"id"`
	Server    string    `json:"server"`
	Time      time.Time `json:"time"`
	Severity  int       `json:"severity"`
	ErrorCode int       `json:"error_code,omitempty"`
	// Message is the event's text, when the alert includes it for the channel
	// (include_event_description_in).
	Message string `json:"message,omitempty"`
	// Note is the alert's notification_message.
	Note string `json:"note,omitempty"`
	// Skipped counts the events of this alert not answered since its last response
	// (delay_between_responses).
	Skipped int `json:"skipped,omitempty"`
}

// alertState is an alert's throttling state, in BucketState under a.<alert>.
type alertState struct {
	Last    time.Time `json:"last"`
	LastID  string    `json:"last_id"`
	Skipped int       `json:"skipped"`
}

func (s *Service) onEvent(ctx context.Context, msg jetstream.Msg) error {
	var e schemas.Event
	if err := schemas.Decode(msg.Data(), &e); err != nil {
		return nil
	}
	tok, err := bus.TargetFromSubject(msg.Subject())
	if err != nil || s.deps.Server == nil {
		return nil
	}
	server, ok := s.deps.Server(tok)
	if !ok {
		return nil
	}
	if s.alertCache == nil {
		all, err := s.Alerts(ctx)
		if err != nil {
			return err
		}
		s.alertCache = append(all, model.Alert{}) // never nil once read, even with no alerts
	}
	for _, a := range s.alertCache {
		if a.Name == "" || !(a.Matches(e.Severity, e.ErrorCode, e.Message) || a.MatchesPerf(e.Source, e.Alert)) || !s.inScope(a, server) {
			continue
		}
		if a.JobName != "" && strings.EqualFold(a.JobName, e.JobName) {
			continue // the alert's own job failing must not start it again (a loop)
		}
		if err := s.respond(ctx, a, e, server); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) inScope(a model.Alert, server string) bool {
	if len(a.Groups) == 0 || s.deps.InGroup == nil {
		return a.InScope(server, nil)
	}
	var groups []string
	for _, g := range a.Groups {
		if s.deps.InGroup(g, server) {
			groups = append(groups, g)
		}
	}
	return a.InScope(server, groups)
}

// respond answers one event for one alert, unless the alert answered another event less than
// delay_between_responses ago (then the event is counted and reported with the next response).
func (s *Service) respond(ctx context.Context, a model.Alert, e schemas.Event, server string) error {
	now := s.now()
	answer := false
	st, err := update(ctx, s.st, "a."+keyOf(a.Name), func(st *alertState) bool {
		if st.LastID == e.ID {
			answer = true // redelivered: answer again, the claims drop what was already done
			return false
		}
		if !st.Last.IsZero() && now.Sub(st.Last) < time.Duration(a.DelayBetweenResponses)*time.Second {
			st.Skipped++
			answer = false
			return true
		}
		st.Last, st.LastID, answer = now, e.ID, true
		return true
	})
	if err != nil || !answer {
		return err
	}
	if a.JobName != "" && s.deps.StartJob != nil {
		if err := s.startOnce(ctx, a, e, server); err != nil {
			return err
		}
	}
	include := model.MethodEmail | model.MethodWebhook
	if a.IncludeEventDescriptionIn != nil {
		include = *a.IncludeEventDescriptionIn
	}
	for _, n := range a.Notifications {
		for _, c := range []struct {
			bit     int
			channel string
		}{{model.MethodEmail, model.ChannelEmail}, {model.MethodPager, model.ChannelPager}, {model.MethodWebhook, model.ChannelWebhook}} {
			if n.NotificationMethod&c.bit == 0 {
				continue
			}
			ev := Event{ID: e.ID, Server: server, Time: e.Time, Severity: e.Severity, ErrorCode: e.ErrorCode, Note: a.NotificationMessage, Skipped: st.Skipped}
			if include&c.bit != 0 {
				ev.Message = truncate(e.Message, 2048)
			}
			it := item{ID: e.ID + "/" + a.Name + "/" + n.OperatorName + "/" + c.channel, Kind: KindAlert, Alert: a.Name, Operator: n.OperatorName,
				Channel: c.channel, Group: strings.Join([]string{KindAlert, keyOf(a.Name), keyOf(n.OperatorName), c.channel}, "."), Created: now, Event: &ev}
			if err := s.enqueue(ctx, it); err != nil {
				return err
			}
		}
	}
	return nil
}

// startOnce starts the alert's job on the event's server, once per event and alert (a claim).
func (s *Service) startOnce(ctx context.Context, a model.Alert, e schemas.Event, server string) error {
	key := "j." + keyOf(e.ID+"/"+a.Name)
	if _, err := s.clm.Create(ctx, key, []byte(`{"status":"started"}`)); errors.Is(err, jetstream.ErrKeyExists) {
		return nil
	} else if err != nil {
		return err
	}
	if err := s.deps.StartJob(ctx, a.JobName, server); err != nil {
		// Not retried: the job may have started; the log says what happened.
		s.log.Warn("alert: starting its job failed", "alert", a.Name, "job", a.JobName, "server", server, "err", err)
		return nil
	}
	s.log.Info("alert: job started", "alert", a.Name, "job", a.JobName, "server", server)
	return nil
}
