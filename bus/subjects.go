package bus

import (
	"fmt"
	"strings"
)

// Subject prefixes. Versions live in payloads, never in subjects.
const (
	subjInstr   = "msx.instr"
	subjApplied = "msx.applied"
	subjStatus  = "msx.status"
	subjResult  = "msx.result"
	subjEvent   = "msx.event"
	subjOut     = "msx.out"

	// SubjectEnlist is the request-reply subject targets enlist on.
	SubjectEnlist = "msx.rpc.enlist"
	// SubjectDefect is the request-reply subject targets defect on.
	SubjectDefect = "msx.rpc.defect"
	// SubjectConsumer + "." + token is the request-reply subject a target asks the master on for
	// its instruction consumer (see ConsumerSubject).
	SubjectConsumer = "msx.rpc.consumer"
	// SubjectLedgerClear carries the master's "error cleared" edits of the download list.
	SubjectLedgerClear = "msx.ledger.clear"
	// SubjectLedgerTerm carries the term markers of the leading master's fence on MSX_LEDGER
	// (master/internal/leader.Fence).
	SubjectLedgerTerm = "msx.ledger.term"
	// SubjectInstrTerm carries the term markers of the leading master's fence on MSX_INSTR: a
	// token in lower case, which no target's (upper-case canonical name) can be.
	SubjectInstrTerm = subjInstr + ".~term"
	// SubjectAuditTerm carries the term markers of the leading master's fence on MSX_AUDIT.
	SubjectAuditTerm = SubjectAudit + ".term"
)

// CheckToken reports whether tok can be one token of a subject and part of a consumer name:
// non-empty, at most 128 bytes, no whitespace, '.', '*', '>', '\' or control characters.
func CheckToken(tok string) error {
	if tok == "" || len(tok) > 128 {
		return fmt.Errorf("%w %q: must be 1 to 128 characters", ErrInvalidToken, tok)
	}
	if i := strings.IndexFunc(tok, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r == '.' || r == '*' || r == '>' || r == '\\' || r == '/'
	}); i >= 0 {
		return fmt.Errorf("%w %q: character %q is not allowed", ErrInvalidToken, tok, tok[i])
	}
	return nil
}

func subject(prefix string, toks ...string) string {
	for _, t := range toks {
		if CheckToken(t) != nil {
			// Callers pass tokens that were validated when the target enlisted; a bad one here is a
			// programming error, and a subject with a wildcard in it must never be built.
			panic(fmt.Sprintf("bus: invalid subject token %q", t))
		}
	}
	return prefix + "." + strings.Join(toks, ".")
}

// InstrSubject is where the master posts instructions for the target with token t.
func InstrSubject(t string) string { return subject(subjInstr, t) }

// AppliedSubject is where target t reports what it did with each instruction.
func AppliedSubject(t string) string { return subject(subjApplied, t) }

// StatusSubject is where target t publishes heartbeats.
func StatusSubject(t string) string { return subject(subjStatus, t) }

// ResultSubject is where target t publishes outcomes of job j.
func ResultSubject(t, j string) string { return subject(subjResult, t, j) }

// EventSubject is where target t forwards events of a severity.
func EventSubject(t, severity string) string { return subject(subjEvent, t, severity) }

// OutputSubject is where target t streams the live output of the running steps of the job with
// job_id j (core NATS, best effort: history keeps the full output). The token in the subject is
// the only identity a reader trusts: with Auth, t's account can publish on no other target's.
func OutputSubject(t, j string) string { return subject(subjOut, t, j) }

// OutputSubjectAll matches the live output of every target and job.
const OutputSubjectAll = subjOut + ".*.*"

// ConsumerSubject is where target t asks the master to (re)create its instruction consumer.
// The token in the subject is the only identity the master takes: with Auth, t's account can
// publish on no other target's ConsumerSubject.
func ConsumerSubject(t string) string { return subject(SubjectConsumer, t) }

// InstrConsumerName is the name of target t's one instruction consumer on MSX_INSTR, made by the
// master. The name is fixed, so a target can pull from exactly one consumer and the number of
// consumers is bounded by the number of targets.
func InstrConsumerName(t string) string { return "I_" + t }

// TargetFromConsumerSubject returns the target token of a ConsumerSubject.
func TargetFromConsumerSubject(subj string) (string, error) {
	tok, ok := strings.CutPrefix(subj, SubjectConsumer+".")
	if !ok {
		return "", fmt.Errorf("%w: subject %q is not %s.<target>", ErrInvalidToken, subj, SubjectConsumer)
	}
	if err := CheckToken(tok); err != nil {
		return "", err
	}
	return tok, nil
}

// InboxPrefix is target t's own reply inbox prefix. It can never equal EnlistInboxPrefix.
func InboxPrefix(t string) string { return "_INBOX_T_" + t }

// TargetFromSubject returns the target token of a per-target subject (its third token),
// the only source of a target's identity that the master trusts.
func TargetFromSubject(subj string) (string, error) {
	parts := strings.Split(subj, ".")
	if len(parts) < 3 || parts[0] != "msx" {
		return "", fmt.Errorf("%w: subject %q is not a per-target msx subject", ErrInvalidToken, subj)
	}
	if err := CheckToken(parts[2]); err != nil {
		return "", err
	}
	return parts[2], nil
}
