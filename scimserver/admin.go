package scimserver

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ssogate/ssogate/internal/tenant"
)

// The admin API (SPEC sections 6 and 8) lets an org's admin, or the app's
// own settings page, run the org: its SSO connection, tokens, team and
// member roles, and domain claims, and read its activity log. Its token
// has scope admin, and the org is always the token's (rq.org, rq.tenant):
// a handler never reads an org from the body, the query or a header, and
// looks every ID of the path up in that org, so that another org's ID is
// 404 like one that never existed. The operations are internal/orgadmin's,
// which records each change in the org's activity log with the token as
// its actor.

// routeAPI dispatches a request under /api/v1.
func (s *Server) routeAPI(rq *request, segs []string) (response, error) {
	if len(segs) > 0 {
		switch segs[0] {
		case "domains":
			return s.routeDomains(rq, segs[1:])
		case "sso":
			return s.routeSSO(rq, segs[1:])
		case "tokens":
			return s.routeTokens(rq, segs[1:])
		case "teams":
			return s.routeTeams(rq, segs[1:])
		case "members":
			return s.routeMembers(rq, segs[1:])
		case "audit":
			return s.routeAudit(rq, segs[1:])
		}
	}
	return response{}, notFound("no such endpoint: this API has /api/v1/sso, /tokens, /teams, /members, /domains and /audit")
}

// apiBody is an admin API request body, read field by field: a field the
// endpoint does not take, or of the wrong type, is 400 naming it, so a
// typo never passes for "no change".
type apiBody map[string]any

// readAPIBody reads a JSON object body (bounded as every body is) and
// refuses any field not in allowed. hint, when set, explains a refused
// field that a GET shows but a write cannot set.
func readAPIBody(rq *request, allowed []string, hint func(field string) string) (apiBody, error) {
	obj, err := readObject(rq)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same body names the same field every time
	for _, k := range keys {
		if slices.Contains(allowed, k) {
			continue
		}
		reason := ""
		if hint != nil {
			reason = hint(k)
		}
		if reason == "" {
			reason = "this endpoint takes " + strings.Join(allowed, ", ")
		}
		return nil, fieldError(printable(k), "unknown field: %s", reason)
	}
	return apiBody(obj), nil
}

// printable shortens and quotes an arbitrary field name for an error.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	q := strconv.Quote(s)
	if q == `"`+s+`"` {
		return s
	}
	return q
}

// str reads an optional string field: nil when absent, "" when null.
func (b apiBody) str(field string) (*string, error) {
	v, ok := b[field]
	if !ok {
		return nil, nil
	}
	switch t := v.(type) {
	case nil:
		empty := ""
		return &empty, nil
	case string:
		return &t, nil
	}
	return nil, fieldError(field, "must be a string (or null to clear it), not %s", jsonType(v))
}

// boolean reads an optional true/false field: nil when absent.
func (b apiBody) boolean(field string) (*bool, error) {
	v, ok := b[field]
	if !ok {
		return nil, nil
	}
	if t, ok := v.(bool); ok {
		return &t, nil
	}
	return nil, fieldError(field, "must be true or false, not %s", jsonType(v))
}

// stringList reads an optional list of strings, also given as one string:
// nil when absent, empty when null.
func (b apiBody) stringList(field string) (*[]string, error) {
	v, ok := b[field]
	if !ok {
		return nil, nil
	}
	switch t := v.(type) {
	case nil:
		return &[]string{}, nil
	case string:
		return &[]string{t}, nil
	case []any:
		out := make([]string, len(t))
		for i, el := range t {
			s, ok := el.(string)
			if !ok {
				return nil, fieldError(field, "item %d must be a string, not %s", i+1, jsonType(el))
			}
			out[i] = s
		}
		return &out, nil
	}
	return nil, fieldError(field, "must be a list of strings or one string, not %s", jsonType(v))
}

// jsonType names the JSON type of a decoded value, for an error.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return "a number"
}

// apiPage reads start_index (1-based) and count of an admin API list:
// count defaults to maxResults and is capped there.
func apiPage(rq *request) (start, count int, err error) {
	start, count = 1, maxResults
	if v := rq.query.Get("start_index"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, 0, fieldError("start_index", "must be an integer, not %q", v)
		}
		start = max(n, 1)
	}
	if v := rq.query.Get("count"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, 0, fieldError("count", "must be an integer, not %q", v)
		}
		count = min(max(n, 0), maxResults)
	}
	return start, count, nil
}

// optTime is a time for a JSON body: null when zero.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// tenantErr maps the connection rules' refusals: a bad value is 400
// naming its field, a change the connection's state forbids is 409.
func tenantErr(err error, doing string) error {
	var fe *tenant.FieldError
	var re *tenant.RuleError
	switch {
	case errors.As(err, &fe):
		return &Error{Status: http.StatusBadRequest, Field: fe.Field, Detail: fe.Error(), cause: fe.Cause}
	case errors.As(err, &re):
		return errorf(http.StatusConflict, "", "%s", re.Reason)
	}
	return fmt.Errorf("%s: %w", doing, err)
}
