package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/msx-project/msx/bus"
	model "github.com/msx-project/msx/schemas/notify"
	"github.com/msx-project/msx/schemas/problem"
)

// Buckets and the stream of the notifications, made with the layout's replica count.
const (
	BucketOperators = "msx_operators"
	BucketAlerts    = "msx_alerts"
	BucketSilences  = "msx_silences"
	// BucketState holds failures in a row per job and target (s.*), the outbox of queued
	// notifications (o.*) and alert throttling (a.*).
	BucketState = "msx_notify"
	// BucketClaims holds one create-only key per notification id: the claim that makes a
	// notification go out once whichever master handles it. Claims last ClaimTTL.
	BucketClaims = "msx_notify_claims"
	// StreamLog is the delivery log.
	StreamLog  = "MSX_NOTIFY"
	subjectLog = "msx.notify.log"
	// ClaimTTL is how long a claim is kept: far longer than any redelivery of a result.
	ClaimTTL = 7 * 24 * time.Hour
	// LogMaxAge bounds the delivery log.
	LogMaxAge = 90 * 24 * time.Hour
)

// Errors callers map to SQL Server's codes (14262 unknown, 14261 exists).
var (
	ErrUnknown = errors.New("does not exist")
	ErrExists  = errors.New("already exists")
)

// ensure creates or updates the buckets and the stream.
func ensure(ctx context.Context, js jetstream.JetStream, replicas int) error {
	replicas = max(replicas, 1)
	for _, kc := range []jetstream.KeyValueConfig{
		{Bucket: BucketOperators, History: 5, Replicas: replicas, Storage: jetstream.FileStorage, Description: "msx: operators"},
		{Bucket: BucketAlerts, History: 5, Replicas: replicas, Storage: jetstream.FileStorage, Description: "msx: alerts"},
		{Bucket: BucketSilences, History: 1, Replicas: replicas, Storage: jetstream.FileStorage, Description: "msx: notification silences"},
		{Bucket: BucketState, History: 1, Replicas: replicas, Storage: jetstream.FileStorage, Description: "msx: notification state and outbox"},
		{Bucket: BucketClaims, History: 1, TTL: ClaimTTL, Replicas: replicas, Storage: jetstream.FileStorage, Description: "msx: notification claims"},
	} {
		if _, err := js.CreateOrUpdateKeyValue(ctx, kc); err != nil {
			return fmt.Errorf("ensure bucket %s: %w", kc.Bucket, err)
		}
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: StreamLog, Subjects: []string{subjectLog},
		MaxAge: LogMaxAge, MaxBytes: 1 << 30, Storage: jetstream.FileStorage, Replicas: replicas, MaxConsumers: bus.MaxConsumers,
		Description: "msx: notification delivery log"})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", StreamLog, err)
	}
	return nil
}

// keyOf is a bucket key for a name: names may hold any character, keys may not.
func keyOf(name string) string {
	sum := sha256.Sum256([]byte(strings.ToUpper(strings.TrimSpace(name))))
	return hex.EncodeToString(sum[:12])
}

func invalid(l problem.List) error {
	if len(l) == 0 {
		return nil
	}
	return l.Err()
}

// named is a bucket of documents kept by name (operators, alerts): what, the name SQL Server's
// messages give the kind ("operator_name", "alert"), and the CLI noun for hints.
type named[T any] struct {
	kv         jetstream.KeyValue
	what, noun string
	name       func(T) string
}

func (n named[T]) all(ctx context.Context) ([]T, error) {
	var out []T
	err := bus.LoadAll(ctx, n.kv, nil, func(v T) { out = append(out, v) })
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(strings.ToUpper(n.name(a)), strings.ToUpper(n.name(b))) })
	return out, err
}

func (n named[T]) get(ctx context.Context, name string) (T, error) {
	var v T
	e, err := n.kv.Get(ctx, keyOf(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return v, fmt.Errorf("The specified %s ('%s') %w: see msx %s list", n.what, name, ErrUnknown, n.noun)
	}
	if err != nil {
		return v, err
	}
	return v, json.Unmarshal(e.Value(), &v)
}

// put creates (create) or replaces a checked document.
func (n named[T]) put(ctx context.Context, v T, create bool) error {
	b, _ := json.Marshal(v)
	name := n.name(v)
	if create {
		if _, err := n.kv.Create(ctx, keyOf(name), b); errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("The specified %s ('%s') %w: use msx %s update", n.what, name, ErrExists, n.noun)
		} else if err != nil {
			return err
		}
		return nil
	}
	if _, err := n.get(ctx, name); err != nil {
		return err
	}
	_, err := n.kv.Put(ctx, keyOf(name), b)
	return err
}

func (n named[T]) delete(ctx context.Context, name string) error {
	if _, err := n.get(ctx, name); err != nil {
		return err
	}
	return n.kv.Delete(ctx, keyOf(name))
}

func (s *Service) operators() named[model.Operator] {
	return named[model.Operator]{kv: s.ops, what: "operator_name", noun: "operator", name: func(o model.Operator) string { return o.Name }}
}

func (s *Service) alertStore() named[model.Alert] {
	return named[model.Alert]{kv: s.alerts, what: "alert", noun: "alert", name: func(a model.Alert) string { return a.Name }}
}

// Operators returns every operator, by name.
func (s *Service) Operators(ctx context.Context) ([]model.Operator, error) {
	return s.operators().all(ctx)
}

// Operator returns one operator.
func (s *Service) Operator(ctx context.Context, name string) (model.Operator, error) {
	return s.operators().get(ctx, name)
}

// PutOperator creates (create) or replaces an operator after checking it.
func (s *Service) PutOperator(ctx context.Context, o model.Operator, create bool) (model.Operator, error) {
	o.Normalize()
	l := o.Validate()
	if o.WebhookURL != "" && len(l) == 0 {
		if err := s.allow.checkURL(o.WebhookURL); err != nil {
			l.Add("webhook_url", 0, "%v", err)
		}
	}
	if err := invalid(l); err != nil {
		return o, err
	}
	return o, s.operators().put(ctx, o, create)
}

// DeleteOperator deletes an operator.
func (s *Service) DeleteOperator(ctx context.Context, name string) error {
	return s.operators().delete(ctx, name)
}

// Alerts returns every alert, by name.
func (s *Service) Alerts(ctx context.Context) ([]model.Alert, error) { return s.alertStore().all(ctx) }

// Alert returns one alert.
func (s *Service) Alert(ctx context.Context, name string) (model.Alert, error) {
	return s.alertStore().get(ctx, name)
}

// PutAlert creates (create) or replaces an alert after checking it and the operators it names.
func (s *Service) PutAlert(ctx context.Context, a model.Alert, create bool) (model.Alert, error) {
	a.Normalize()
	l := a.Validate()
	for i, n := range a.Notifications {
		if n.OperatorName == "" {
			continue
		}
		if _, err := s.Operator(ctx, n.OperatorName); errors.Is(err, ErrUnknown) {
			l.Add(fmt.Sprintf("notifications[%d].operator_name", i), 14262, "The specified operator_name ('%s') does not exist: add it with msx operator add", n.OperatorName)
		}
	}
	if a.PerformanceCondition != "" && a.IsEnabled() {
		if n, err := s.enabledPerfAlerts(ctx, a.Name); err != nil {
			return a, err
		} else if n >= model.MaxPerfAlerts {
			l.Add("performance_condition", 0, "there are already %d enabled performance-condition alerts, the most a target evaluates: disable or delete one first", n)
		}
	}
	if a.JobName != "" && s.deps.Job != nil {
		if _, ok := s.deps.Job(a.JobName); !ok {
			l.Add("job_name", 14262, "The specified job_name ('%s') does not exist", a.JobName)
		}
	}
	if err := invalid(l); err != nil {
		return a, err
	}
	return a, s.alertStore().put(ctx, a, create)
}

// enabledPerfAlerts counts the enabled performance-condition alerts other than the one named.
func (s *Service) enabledPerfAlerts(ctx context.Context, except string) (int, error) {
	all, err := s.Alerts(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range all {
		if a.PerformanceCondition != "" && a.IsEnabled() && !strings.EqualFold(a.Name, except) {
			n++
		}
	}
	return n, nil
}

// DeleteAlert deletes an alert.
func (s *Service) DeleteAlert(ctx context.Context, name string) error {
	return s.alertStore().delete(ctx, name)
}

// Silences returns the silences that have not ended, soonest end first; ended ones are
// deleted.
func (s *Service) Silences(ctx context.Context) ([]model.Silence, error) {
	var all []model.Silence
	if err := bus.LoadAll(ctx, s.silences, nil, func(v model.Silence) { all = append(all, v) }); err != nil {
		return nil, err
	}
	now := s.now()
	out := all[:0]
	for _, v := range all {
		if !now.Before(v.Until) {
			_ = s.silences.Delete(ctx, v.ID)
			continue
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b model.Silence) int { return a.Until.Compare(b.Until) })
	return out, nil
}

// AddSilence holds back the notifications of a server, a job or both for d.
func (s *Service) AddSilence(ctx context.Context, server, job string, d time.Duration, reason, by string) (model.Silence, error) {
	var l problem.List
	if server == "" && job == "" {
		l.Add("server", 0, "a silence needs a server (--server S), a job (--job J) or both")
	}
	if d <= 0 || d > 90*24*time.Hour {
		l.Add("for", 0, "a silence lasts more than 0 and at most 90 days (--for 2h); %s is out of range", d)
	}
	if len(server) > 128 || len(job) > 128 || len(reason) > 512 {
		l.Add("reason", 0, "server and job names are at most 128 characters, the reason 512")
	}
	if err := invalid(l); err != nil {
		return model.Silence{}, err
	}
	now := s.now()
	v := model.Silence{ID: uuid.NewString()[:8], Server: server, Job: job, Until: now.Add(d).UTC(), Reason: reason, By: by, Created: now.UTC()}
	b, _ := json.Marshal(v)
	_, err := s.silences.Create(ctx, v.ID, b)
	return v, err
}

// DeleteSilence ends a silence now.
func (s *Service) DeleteSilence(ctx context.Context, id string) error {
	if err := bus.CheckToken(id); err != nil {
		return fmt.Errorf("The specified silence ('%s') %w: see msx silence list", id, ErrUnknown)
	}
	if _, err := s.silences.Get(ctx, id); errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("The specified silence ('%s') %w: see msx silence list", id, ErrUnknown)
	} else if err != nil {
		return err
	}
	return s.silences.Delete(ctx, id)
}

// Deliveries returns the last n records of the delivery log, oldest first.
func (s *Service) Deliveries(ctx context.Context, n int) ([]model.Delivery, error) {
	st, err := s.js.Stream(ctx, StreamLog)
	if err != nil {
		return nil, err
	}
	info := st.CachedInfo().State
	if info.Msgs == 0 {
		return []model.Delivery{}, nil
	}
	start := info.FirstSeq
	if info.LastSeq >= uint64(n) && info.LastSeq-uint64(n)+1 > start {
		start = info.LastSeq - uint64(n) + 1
	}
	out := []model.Delivery{}
	for seq := start; seq <= info.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return out, err
		}
		var d model.Delivery
		if json.Unmarshal(m.Data, &d) == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// record appends d to the delivery log and counts it.
func (s *Service) record(ctx context.Context, d model.Delivery) {
	d.Master = s.cfg.MasterName
	s.count(d.Channel, d.Result)
	b, _ := json.Marshal(d)
	if _, err := s.js.Publish(ctx, subjectLog, b); err != nil {
		s.log.Error("delivery log: record lost", "err", err, "operator", d.Operator, "channel", d.Channel, "result", d.Result)
	}
	lvl := s.log.Info
	if d.Result == model.ResultFailed {
		lvl = s.log.Warn
	}
	lvl("notification", "kind", d.Kind, "job", d.Job, "alert", d.Alert, "servers", len(d.Servers), "operator", d.Operator,
		"channel", d.Channel, "result", d.Result, "err", d.Error, "attempts", d.Attempts)
}

// Queued returns the number of notifications waiting in the outbox (storm window, retries).
func (s *Service) Queued(ctx context.Context) (int, error) {
	lister, err := s.st.ListKeysFiltered(ctx, "o.>")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for range lister.Keys() {
		n++
	}
	return n, nil
}
