// Package auth issues and checks the master's tokens: one-time enlistment tokens for new
// targets, and API tokens (viewer, operator, admin: see the roles) for the CLI and the web UI. Tokens are stored hashed
// (SHA-256) in the msx_tokens KV bucket; the plaintext is shown once, when it is created.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/msx-project/msx/bus"
)

// Roles. The API roles are ordered, each allowed what the one before it is:
//
//	viewer    reads everything (SQL Server Agent's SQLAgentReaderRole)
//	operator  also starts and stops jobs (SQLAgentOperatorRole): it changes no definition,
//	          no target, group, token or setting
//	admin     everything (sysadmin)
//
// SQLAgentOperatorRole may also enable and disable local jobs; msx jobs are multiserver jobs,
// where enabling one posts a new definition to every target, so in msx that stays admin's.
const (
	RoleEnlist   = "enlist"   // one-time: enlists one target
	RoleViewer   = "viewer"   // API: read only
	RoleOperator = "operator" // API: read, start and stop jobs
	RoleAdmin    = "admin"    // API: everything
)

// apiRank orders the API roles; 0 is no API role.
func apiRank(role string) int {
	switch role {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Allows reports whether an API token of role have may do what needs role need: have is an
// API role at least as high as need (viewer < operator < admin). An enlistment token or an
// unknown role allows nothing.
func Allows(have, need string) bool {
	h, n := apiRank(have), apiRank(need)
	return h > 0 && n > 0 && h >= n
}

// Errors.
var (
	// ErrBadToken: the token is unknown, expired, revoked or (enlist) already used.
	ErrBadToken = errors.New("token is not valid")
	// ErrRole: the role is not one of enlist, viewer, operator, admin.
	ErrRole = errors.New("unknown role")
	// ErrOtherServer: the enlistment token is bound to another server name.
	ErrOtherServer = errors.New("enlistment token is bound to another server")
)

// Record is what the master keeps of a token (never the token itself).
type Record struct {
	ID          string    `json:"id"` // first 12 hex digits of the hash, for listing and revoking
	Role        string    `json:"role"`
	Created     time.Time `json:"created"`
	CreatedBy   string    `json:"created_by,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
	Description string    `json:"description,omitempty"`
	// Server, for an enlistment token, is the only server name it enlists ("" = any).
	Server  string    `json:"server,omitempty"`
	UsedAt  time.Time `json:"used_at,omitzero"`
	UsedBy  string    `json:"used_by,omitempty"`
	Revoked bool      `json:"revoked,omitempty"`
}

// Tokens is the token store.
type Tokens struct{ kv jetstream.KeyValue }

// Open opens the token store.
func Open(ctx context.Context, js jetstream.JetStream) (*Tokens, error) {
	kv, err := js.KeyValue(ctx, bus.BucketTokens)
	if err != nil {
		return nil, fmt.Errorf("open tokens: %w", err)
	}
	return &Tokens{kv: kv}, nil
}

func hash(token string) string {
	h := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return hex.EncodeToString(h[:])
}

// Create makes a new token of a role valid for ttl (0 = no expiry) and returns its plaintext.
func (t *Tokens) Create(ctx context.Context, role string, ttl time.Duration, by, desc string) (string, Record, error) {
	return t.CreateFor(ctx, role, ttl, by, desc, "")
}

// CreateFor is Create with an enlistment token bound to one canonical server name (server ""
// = any name). Only enlistment tokens can be bound.
func (t *Tokens) CreateFor(ctx context.Context, role string, ttl time.Duration, by, desc, server string) (string, Record, error) {
	if role != RoleEnlist && apiRank(role) == 0 {
		return "", Record{}, fmt.Errorf("%w %q: use enlist, viewer, operator or admin", ErrRole, role)
	}
	if server != "" && role != RoleEnlist {
		return "", Record{}, fmt.Errorf("%w: only enlistment tokens are bound to a server, not %s tokens", ErrRole, role)
	}
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", Record{}, err
	}
	plain := "msx" + role[:1] + "_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
	h := hash(plain)
	if role == RoleEnlist && ttl <= 0 {
		ttl = 24 * time.Hour // an enlistment token always expires
	}
	rec := Record{ID: h[:12], Role: role, Created: time.Now().UTC(), CreatedBy: by, Description: desc, Server: server}
	if ttl > 0 {
		rec.Expires = rec.Created.Add(ttl)
	}
	v, _ := json.Marshal(rec)
	if _, err := t.kv.Create(ctx, h, v); err != nil {
		return "", Record{}, fmt.Errorf("store token: %w", err)
	}
	return plain, rec, nil
}

func (t *Tokens) get(ctx context.Context, plain string) (Record, uint64, error) {
	e, err := t.kv.Get(ctx, hash(plain))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Record{}, 0, fmt.Errorf("%w: unknown token", ErrBadToken)
	}
	if err != nil {
		return Record{}, 0, fmt.Errorf("read token: %w", err)
	}
	var rec Record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return Record{}, 0, fmt.Errorf("read token: %w", err)
	}
	switch {
	case rec.Revoked:
		return rec, 0, fmt.Errorf("%w: token %s was revoked", ErrBadToken, rec.ID)
	case !rec.Expires.IsZero() && time.Now().After(rec.Expires):
		return rec, 0, fmt.Errorf("%w: token %s expired at %s", ErrBadToken, rec.ID, rec.Expires.Format(time.RFC3339))
	}
	return rec, e.Revision(), nil
}

// Check returns the record of a valid API token (viewer, operator or admin).
func (t *Tokens) Check(ctx context.Context, plain string) (Record, error) {
	rec, _, err := t.get(ctx, plain)
	if err != nil {
		return rec, err
	}
	if rec.Role == RoleEnlist {
		return rec, fmt.Errorf("%w: token %s is an enlistment token, not an API token", ErrBadToken, rec.ID)
	}
	return rec, nil
}

// UseEnlist consumes a one-time enlistment token for server. Two targets racing with one token:
// exactly one wins (compare-and-set on the bucket revision).
func (t *Tokens) UseEnlist(ctx context.Context, plain, server string) error {
	rec, rev, err := t.get(ctx, plain)
	if err != nil {
		return err
	}
	if rec.Role != RoleEnlist {
		return fmt.Errorf("%w: token %s is a %s token, not an enlistment token", ErrBadToken, rec.ID, rec.Role)
	}
	if rec.Server != "" && !strings.EqualFold(rec.Server, server) {
		return fmt.Errorf("%w: token %s enlists only %s, not %s: create a token for %s with `msx token create --server %s`", ErrOtherServer, rec.ID, rec.Server, server, server, server)
	}
	if !rec.UsedAt.IsZero() {
		return fmt.Errorf("%w: token %s was already used by %s at %s", ErrBadToken, rec.ID, rec.UsedBy, rec.UsedAt.Format(time.RFC3339))
	}
	rec.UsedAt, rec.UsedBy = time.Now().UTC(), server
	v, _ := json.Marshal(rec)
	if _, err := t.kv.Update(ctx, hash(plain), v, rev); err != nil {
		return fmt.Errorf("%w: token %s was used concurrently", ErrBadToken, rec.ID)
	}
	return nil
}

// isTokenKey reports whether a bucket key is a token's hash (64 hex digits).
func isTokenKey(k string) bool {
	if len(k) != 64 {
		return false
	}
	_, err := hex.DecodeString(k)
	return err == nil
}

// UsedBy reports whether plain is an enlistment token (not revoked) that enlisted server: a
// resent enlistment proves itself with the token it spent.
func (t *Tokens) UsedBy(ctx context.Context, plain, server string) bool {
	e, err := t.kv.Get(ctx, hash(plain))
	if err != nil {
		return false
	}
	var rec Record
	if json.Unmarshal(e.Value(), &rec) != nil {
		return false
	}
	return rec.Role == RoleEnlist && !rec.Revoked && !rec.UsedAt.IsZero() && strings.EqualFold(rec.UsedBy, server)
}

// List returns every token record, newest first. A record that cannot be read is listed as
// revoked with a description saying so, never trusted.
func (t *Tokens) List(ctx context.Context) ([]Record, error) {
	lister, err := t.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	var out []Record
	for k := range lister.Keys() {
		if !isTokenKey(k) {
			continue
		}
		e, err := t.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read token %s: %w", k[:12], err)
		}
		var rec Record
		if err := json.Unmarshal(e.Value(), &rec); err != nil || rec.ID != k[:12] {
			rec = Record{ID: k[:12], Revoked: true, Description: "damaged record: not valid, revoke or delete it"}
		}
		out = append(out, rec)
	}
	slices.SortFunc(out, func(a, b Record) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// Revoke revokes the token whose id (or id prefix of at least 6 digits) is given.
func (t *Tokens) Revoke(ctx context.Context, id string) (Record, error) {
	if len(id) < 6 {
		return Record{}, fmt.Errorf("%w: give at least 6 digits of the token id (msx token list)", ErrBadToken)
	}
	lister, err := t.kv.ListKeys(ctx)
	if err != nil {
		return Record{}, err
	}
	var match []string
	for k := range lister.Keys() {
		if isTokenKey(k) && strings.HasPrefix(k, strings.ToLower(id)) {
			match = append(match, k)
		}
	}
	switch len(match) {
	case 0:
		return Record{}, fmt.Errorf("%w: no token with id %s", ErrBadToken, id)
	case 1:
	default:
		return Record{}, fmt.Errorf("%w: %d tokens start with %s: give more digits of the id", ErrBadToken, len(match), id)
	}
	e, err := t.kv.Get(ctx, match[0])
	if err != nil {
		return Record{}, err
	}
	var rec Record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return Record{}, err
	}
	rec.Revoked = true
	v, _ := json.Marshal(rec)
	if _, err := t.kv.Put(ctx, match[0], v); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// auditKeyName is the key in msx_tokens of the seed that signs audit records. It is not a hex
// hash, so no token id can match it.
const auditKeyName = "audit-signing-key"

// AuditKey returns the key masters sign audit records with, creating it on first use. Every
// master of a bus shares it, so records of each verify on all.
func (t *Tokens) AuditKey(ctx context.Context) (nkeys.KeyPair, error) {
	for range 3 {
		e, err := t.kv.Get(ctx, auditKeyName)
		if err == nil {
			kp, err := nkeys.FromSeed(e.Value())
			if err != nil {
				return nil, fmt.Errorf("audit key in %s is damaged (%w): delete key %s from the bucket to make a new one", bus.BucketTokens, err, auditKeyName)
			}
			return kp, nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("read audit key: %w", err)
		}
		kp, err := nkeys.CreateAccount()
		if err != nil {
			return nil, fmt.Errorf("create audit key: %w", err)
		}
		seed, err := kp.Seed()
		if err != nil {
			return nil, fmt.Errorf("create audit key: %w", err)
		}
		if _, err := t.kv.Create(ctx, auditKeyName, seed); err == nil {
			return kp, nil
		}
		// Another master created it first: read theirs.
	}
	return nil, errors.New("create audit key: too much contention in the token bucket")
}

// EnsureAdminFile returns the admin token kept in file, creating a new one (and the file, mode
// 0600) when the file is missing or its token is no longer valid.
func (t *Tokens) EnsureAdminFile(ctx context.Context, file string) (string, error) {
	if b, err := os.ReadFile(file); err == nil {
		plain := strings.TrimSpace(string(b))
		if rec, err := t.Check(ctx, plain); err == nil && rec.Role == RoleAdmin {
			return plain, nil
		}
	}
	plain, _, err := t.Create(ctx, RoleAdmin, 0, "msx master", "admin token of "+file)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(file, []byte(plain+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin token %s: %w", file, err)
	}
	return plain, nil
}
