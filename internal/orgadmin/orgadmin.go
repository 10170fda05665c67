// Package orgadmin is what an org's Owner or Admin can do to their org, in
// one place for every way in: the Access Security pages, the admin API,
// the CLI (the operator) and, for its own changes, SCIM. Each operation
// checks its input (connection rules are internal/tenant's), makes the
// change scoped to the org it is given, and records an audit event naming
// who made it and the values before and after, never a secret.
//
// The org is always the caller's to prove (the session's org on the pages,
// the token's on the API) and is passed in; nothing here reads an org from
// input. Refusals are typed, for each caller to word and map to a status:
//
//   - *tenant.FieldError: a bad value, naming the field (400);
//   - *tenant.RuleError: a change the org's rules or state refuse (409);
//   - *VerifyError: a domain's TXT record does not prove the claim (422);
//   - an error matching storage.ErrNotFound: an ID of no such thing in the
//     org (404), whether or not another org has one.
package orgadmin

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/domainclaim"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// Actor is who makes a change.
type Actor struct {
	// Kind is storage.ActorMember, ActorToken, ActorSCIM or ActorOperator.
	Kind string
	// Name is the member's email, or the token's name and ID.
	Name string
}

// Member is a signed-in member acting on the pages.
func Member(email string) Actor { return Actor{Kind: storage.ActorMember, Name: email} }

// Token is an admin token acting on the API.
func Token(t storage.Token) Actor { return Actor{Kind: storage.ActorToken, Name: tokenLabel(t)} }

// SCIM is an IdP provisioning with a SCIM token.
func SCIM(t storage.Token) Actor { return Actor{Kind: storage.ActorSCIM, Name: tokenLabel(t)} }

// Operator is the operator at the command line.
var Operator = Actor{Kind: storage.ActorOperator, Name: "operator (ssogate CLI)"}

func tokenLabel(t storage.Token) string {
	if t.Name == "" {
		return "token " + t.ID
	}
	return "token " + t.Name + " (" + t.ID + ")"
}

// Service runs the operations on a store.
type Service struct {
	Store storage.Store
	// Fetch fetches an IdP metadata URL an admin gives. Required for
	// UpdateSSO with a metadata URL.
	Fetch tenant.Fetcher
	// Resolver looks up domain-claim TXT records. Nil: the system's.
	Resolver domainclaim.Resolver
	// Log receives a line per change and per audit record that failed.
	// Nil discards them.
	Log *zap.Logger
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *zap.Logger {
	if s.Log == nil {
		return zap.NewNop()
	}
	return s.Log
}

// Record appends an event to the org's activity log. before and after are
// marshalled to JSON (nil: nothing to show) and must not hold a secret. A
// failure to record is logged, not returned: the change it describes is
// made already, and the caller's answer must say so. Only org.ID is
// needed; org.Name, when known, goes into that log line.
func (s *Service) Record(ctx context.Context, org storage.Org, a Actor, action, target string, before, after any) {
	e := storage.AuditEvent{OrgID: org.ID, At: s.now(), Actor: a.Name, ActorKind: a.Kind, Action: action, Target: target}
	var err error
	if e.Before, err = marshalOrNil(before); err == nil {
		e.After, err = marshalOrNil(after)
	}
	if err == nil {
		// Without the caller's cancellation: the change is made, and a
		// client hanging up now must not take its record away.
		err = s.Store.RecordAudit(context.WithoutCancel(ctx), e)
	}
	if err != nil {
		s.log().Error("recording an audit event", zap.Int64("org_id", org.ID), zap.String("org", org.Name),
			zap.String("action", action), zap.Error(err))
	}
}

func marshalOrNil(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// Activity returns a page of the org's audit events, newest first, and
// their number.
func (s *Service) Activity(ctx context.Context, org storage.Org, page storage.Page) ([]storage.AuditEvent, int, error) {
	return s.Store.ListAudit(ctx, org.ID, page)
}

// VerifyError is a domain claim whose TXT record does not prove it yet.
type VerifyError struct{ Reason string }

func (e *VerifyError) Error() string { return e.Reason }

// rule is a *tenant.RuleError with a formatted reason.
func rule(format string, args ...any) error {
	return &tenant.RuleError{Reason: fmt.Sprintf(format, args...)}
}

// notFound wraps storage.ErrNotFound with what was not found.
func notFound(what string) error { return fmt.Errorf("%s: %w", what, storage.ErrNotFound) }
