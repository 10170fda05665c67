package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestParserErrorsInPlainWordsThroughTheBinary: a bad SCIM filter, a bad
// PATCH path and a bad domain claim are each answered with a sentence a
// person can act on, not the parser's internals.
func TestParserErrorsInPlainWordsThroughTheBinary(t *testing.T) {
	bin, home, db, base := startSidecarProcess(t)
	tokenOf := func(scope string) string { return createToken(t, bin, home, db, scope) }
	scim, admin := tokenOf("scim"), tokenOf("admin")

	noInternals := func(t *testing.T, detail string) {
		t.Helper()
		for _, leak := range []string{"[00:", "op.", "idna:", "parse conflict", "U+005F"} {
			if strings.Contains(detail, leak) {
				t.Errorf("the answer leaks %q: %s", leak, detail)
			}
		}
	}

	t.Run("filter", func(t *testing.T) {
		code, body := scimCall(t, http.MethodGet, base+"/scim/v2/Users?filter="+url.QueryEscape(`userName eq`), scim, nil)
		detail := fmt.Sprint(body["detail"])
		want := `the filter "userName eq" is not valid SCIM: expected an attribute, an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) and a value, e.g. userName eq "a@b.com"`
		if code != http.StatusBadRequest || body["scimType"] != "invalidFilter" || detail != want {
			t.Errorf("bad filter = %d %v;\nwant 400 invalidFilter %s", code, body, want)
		}
		noInternals(t, detail)
	})
	t.Run("patch path", func(t *testing.T) {
		code, body := scimCall(t, http.MethodPost, base+"/scim/v2/Users", scim, map[string]any{
			"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": "jo@acme.com", "name": map[string]any{"givenName": "Jo", "familyName": "Doe"},
			"emails": []any{map[string]any{"primary": true, "value": "jo@acme.com"}}, "active": true,
		})
		if code != http.StatusCreated {
			t.Fatalf("create = %d %v", code, body)
		}
		code, body = scimCall(t, http.MethodPatch, base+"/scim/v2/Users/"+body["id"].(string), scim, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": `emails[type eq "work"`, "value": "x@acme.com"}},
		})
		detail := fmt.Sprint(body["detail"])
		if code != http.StatusBadRequest || body["scimType"] != "invalidPath" || !strings.Contains(detail, "is not a valid SCIM attribute path") {
			t.Errorf("bad path = %d %v", code, body)
		}
		noInternals(t, detail)
	})
	t.Run("domain claim", func(t *testing.T) {
		code, body := scimCall(t, http.MethodPost, base+"/api/v1/domains", admin, map[string]any{"domain": "bad_domain.com"})
		detail := fmt.Sprint(body["error"])
		want := `domain: "bad_domain.com" is not a valid domain name: "_" is not allowed`
		if code != http.StatusBadRequest || detail != want || body["field"] != "domain" {
			t.Errorf("bad domain claim = %d %v;\nwant 400 %s", code, body, want)
		}
		noInternals(t, detail)
	})
}
