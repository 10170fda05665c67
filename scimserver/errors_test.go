package scimserver

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
)

// TestAsErrorUnavailable: a store that cannot write is 503 with a
// Retry-After, not a 500, and the cause stays out of the body.
func TestAsErrorUnavailable(t *testing.T) {
	err := fmt.Errorf("creating member: %w", fmt.Errorf("%w: database or disk is full (13)", storage.ErrUnavailable))
	e, internal := asError(err)
	if e.Status != http.StatusServiceUnavailable || e.RetryAfter != 30*time.Second || internal {
		t.Fatalf("asError = %+v, internal %v; want 503 with Retry-After 30 s", e, internal)
	}
	h := http.Header{}
	e.setErrorHeaders(h)
	if h.Get("Retry-After") != "30" {
		t.Fatalf("Retry-After = %q", h.Get("Retry-After"))
	}
	if body := e.scimBody(); body.Status != "503" || body.Detail == "" || body.Detail == err.Error() {
		t.Fatalf("SCIM body = %+v", body)
	}
}

// TestParserErrorsInWords checks that a filter or PATCH path the parser
// refuses is answered in a sentence, with the parser's words kept for the
// debug log.
func TestParserErrorsInWords(t *testing.T) {
	for _, tc := range []struct {
		name, raw, scimType, want string
		parse                     func(string) error
	}{
		{"filter without a value", `userName eq`, scimInvalidFilter,
			`the filter "userName eq" is not valid SCIM: expected an attribute, an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) and a value, e.g. userName eq "a@b.com"`,
			func(s string) error { _, err := parseFilter(s); return err }},
		{"filter with an unknown operator", `userName is "a"`, scimInvalidFilter,
			`the filter "userName is \"a\"" is not valid SCIM: expected an attribute, an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) and a value, e.g. userName eq "a@b.com"`,
			func(s string) error { _, err := parseFilter(s); return err }},
		{"path with an open bracket", `emails[type eq "work"`, scimInvalidPath,
			`the path "emails[type eq \"work\"" is not a valid SCIM attribute path: expected an attribute such as name.givenName, or one filtered such as emails[type eq "work"].value`,
			func(s string) error { _, err := parsePatchPath(s); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse(tc.raw)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v; want an *Error", err)
			}
			if e.SCIMType != tc.scimType || e.Detail != tc.want {
				t.Errorf("got %s %q;\nwant %s %q", e.SCIMType, e.Detail, tc.scimType, tc.want)
			}
			for _, leak := range []string{"[00:", "op.", "parse conflict"} {
				if strings.Contains(e.Detail, leak) {
					t.Errorf("detail leaks the parser's %q: %s", leak, e.Detail)
				}
			}
			if e.cause == nil {
				t.Error("the parser's error is not kept for the debug log")
			}
		})
	}
}
