package orgadmin

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
)

// Event is an audit event as people and scripts read it: the admin API's
// GET /api/v1/audit, `ssogate audit --json` and the Activity page show
// this one shape.
type Event struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	ActorKind string    `json:"actor_kind"`
	Action    string    `json:"action"`
	Target    string    `json:"target"`
	// Before and After are the JSON objects of the fields changed, or
	// null.
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// DescribeEvent makes the Event of a stored one; a value that is not JSON
// (which the store never holds) shows as null rather than breaking the
// answer.
func DescribeEvent(e storage.AuditEvent) Event {
	raw := func(b []byte) json.RawMessage {
		if len(b) == 0 || !json.Valid(b) {
			return json.RawMessage("null")
		}
		return b
	}
	return Event{ID: e.ID, At: e.At.UTC(), Actor: e.Actor, ActorKind: e.ActorKind, Action: e.Action, Target: e.Target,
		Before: raw(e.Before), After: raw(e.After)}
}

// Who names an event's actor for people, saying which kind of token.
func Who(e storage.AuditEvent) string {
	switch e.ActorKind {
	case storage.ActorSCIM:
		return "SCIM " + e.Actor
	case storage.ActorToken:
		return "admin " + e.Actor
	}
	return e.Actor
}

// ChangeText shows the fields an event changed as "field: before →
// after", joined by "; ": a field only after shows its new value, a field
// only before its old one and "-".
func ChangeText(before, after []byte) string {
	var b, a map[string]json.RawMessage
	_ = json.Unmarshal(before, &b) // nil or not an object: nothing to show
	_ = json.Unmarshal(after, &a)
	keys := make([]string, 0, len(b)+len(a))
	for k := range b {
		keys = append(keys, k)
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		x, inB := b[k]
		y, inA := a[k]
		switch {
		case inB && inA:
			parts = append(parts, k+": "+value(x)+" → "+value(y))
		case inA:
			parts = append(parts, k+": "+value(y))
		default:
			parts = append(parts, k+": "+value(x)+" → -")
		}
	}
	return strings.Join(parts, "; ")
}

// value shows a JSON value: a string as itself (an empty one as ""),
// anything else as compact JSON.
func value(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil && s != "" {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return string(v)
	}
	return buf.String()
}
