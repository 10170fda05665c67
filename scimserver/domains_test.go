package scimserver_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/internal/domainclaim"
	"github.com/ssogate/ssogate/internal/testdns"
	"github.com/ssogate/ssogate/scimserver"
)

// TestDomainAPI walks the domain-claim API (SPEC section 6) against the
// in-test DNS server.
func TestDomainAPI(t *testing.T) {
	ts := testdns.Start(t)
	e := newEnv(t, func(c *scimserver.Config) { c.Resolver = domainclaim.NewResolver(ts.Addr) })
	_, globexSCIM, globexAdmin := e.addOrg("globex", "globex.com")
	vars := map[string]string{"globex": globexAdmin, "globexSCIM": globexSCIM}
	jo := `{"schemas":[` + userURN + `],"userName":"jo@acme.io","name":{"givenName":"Jo","familyName":"S"},"emails":[{"value":"jo@acme.io","type":"work"}]}`

	api := func(s step) step {
		if s.token == "" {
			s.token = e.admin
		}
		return s
	}
	steps := []step{
		{name: "provisioning before the claim", method: "POST", path: "/scim/v2/Users", token: e.scim, body: jo, status: 400},
		api(step{name: "claim", method: "POST", path: "/api/v1/domains", body: `{"domain":"Acme.IO."}`, status: 201,
			checks: []check{eq("domain", "acme.io"), eq("status", "pending"), eq("txt_name", "_ssogate-challenge.acme.io"),
				contains("txt_value", "ssogate-verification="), nonEmpty("created_at"), eq("verified_at", nil)},
			save: map[string]string{"txt": "txt_value"}}),
		api(step{name: "claim again", method: "POST", path: "/api/v1/domains", body: `{"domain":"acme.io"}`, status: 409,
			checks: []check{contains("error", "already claimed by this organization")}}),
		{name: "a pending claim does not let provisioning in", method: "POST", path: "/scim/v2/Users", token: e.scim, body: jo, status: 400},
		api(step{name: "get one", method: "GET", path: "/api/v1/domains/ACME.io", status: 200, checks: []check{eq("status", "pending"), eq("txt_value", "{{txt}}")}}),
		api(step{name: "verify before publishing", method: "POST", path: "/api/v1/domains/acme.io/verify", status: 422,
			checks: []check{contains("error", "no TXT record at _ssogate-challenge.acme.io"), contains("error", "{{txt}}")}}),
	}
	e.run(t, vars, steps)

	ts.Publish("_ssogate-challenge.acme.io", "some-other-value")
	e.run(t, vars, []step{
		api(step{name: "verify with a wrong record", method: "POST", path: "/api/v1/domains/acme.io/verify", status: 422,
			checks: []check{contains("error", "do not hold the expected value")}}),
	})

	ts.Publish("_ssogate-challenge.acme.io", "some-other-value", vars["txt"])
	ts.Publish("_ssogate-challenge.shared.io", "globex-will-not-match")
	e.run(t, vars, []step{
		api(step{name: "verify", method: "POST", path: "/api/v1/domains/acme.io/verify", status: 200,
			checks: []check{eq("status", "verified"), nonEmpty("verified_at")}}),
		api(step{name: "verify again", method: "POST", path: "/api/v1/domains/acme.io/verify", status: 200, checks: []check{eq("status", "verified")}}),
		{name: "provisioning in the verified domain", method: "POST", path: "/scim/v2/Users", token: e.scim, body: jo, status: 201},
		api(step{name: "list", method: "GET", path: "/api/v1/domains", status: 200,
			checks: []check{length("domains", 2), eq("domains/0/domain", "acme.com"), eq("domains/0/status", "verified"), eq("domains/1/domain", "acme.io")}}),
		api(step{name: "another org cannot claim a verified domain", method: "POST", path: "/api/v1/domains", token: "{{globex}}", body: `{"domain":"acme.io"}`, status: 409,
			checks: []check{contains("error", "another organization")}}),
		api(step{name: "another org's claim is invisible", method: "GET", path: "/api/v1/domains/acme.io", token: "{{globex}}", status: 404}),
		api(step{name: "pending claims block no one (globex)", method: "POST", path: "/api/v1/domains", token: "{{globex}}", body: `{"domain":"shared.io"}`, status: 201,
			save: map[string]string{"globexTXT": "txt_value"}}),
		api(step{name: "pending claims block no one (acme)", method: "POST", path: "/api/v1/domains", body: `{"domain":"shared.io"}`, status: 201,
			save: map[string]string{"acmeTXT": "txt_value"}}),
	})
	ts.Publish("_ssogate-challenge.shared.io", vars["acmeTXT"], vars["globexTXT"])
	e.run(t, vars, []step{
		api(step{name: "first to verify wins", method: "POST", path: "/api/v1/domains/shared.io/verify", status: 200}),
		api(step{name: "second to verify is 409", method: "POST", path: "/api/v1/domains/shared.io/verify", token: "{{globex}}", status: 409,
			checks: []check{contains("error", "another organization")}}),
		api(step{name: "public suffix", method: "POST", path: "/api/v1/domains", body: `{"domain":"co.uk"}`, status: 400, checks: []check{contains("error", "public suffix")}}),
		api(step{name: "top-level domain", method: "POST", path: "/api/v1/domains", body: `{"domain":"com"}`, status: 400, checks: []check{nonEmpty("error")}}),
		api(step{name: "malformed", method: "POST", path: "/api/v1/domains", body: `{"domain":"-bad-.com"}`, status: 400, checks: []check{nonEmpty("error")}}),
		api(step{name: "no domain", method: "POST", path: "/api/v1/domains", body: `{"name":"acme.net"}`, status: 400, checks: []check{contains("error", `"domain"`)}}),
		api(step{name: "not JSON", method: "POST", path: "/api/v1/domains", body: `domain=acme.net`, status: 400, checks: []check{nonEmpty("error")}}),
		api(step{name: "malformed in the path", method: "GET", path: "/api/v1/domains/a..b", status: 400, checks: []check{nonEmpty("error")}}),
		api(step{name: "unclaimed", method: "GET", path: "/api/v1/domains/nope.io", status: 404, checks: []check{nonEmpty("error")}}),
		api(step{name: "verify unclaimed", method: "POST", path: "/api/v1/domains/nope.io/verify", status: 404}),
		api(step{name: "wrong method", method: "PUT", path: "/api/v1/domains/acme.io", body: `{}`, status: 405}),
		api(step{name: "config domain cannot be removed here", method: "DELETE", path: "/api/v1/domains/acme.com", status: 409, checks: []check{contains("error", "Caddyfile")}}),
		api(step{name: "remove", method: "DELETE", path: "/api/v1/domains/acme.io", status: 204}),
		api(step{name: "removed", method: "GET", path: "/api/v1/domains/acme.io", status: 404}),
		api(step{name: "remove again", method: "DELETE", path: "/api/v1/domains/acme.io", status: 404}),
		{name: "provisioning after removal", method: "POST", path: "/scim/v2/Users", token: e.scim,
			body: `{"schemas":[` + userURN + `],"userName":"kim@acme.io","name":{"givenName":"K","familyName":"S"},"emails":[{"value":"kim@acme.io"}]}`, status: 400},
	})

	// API responses are JSON, not scim+json.
	r := e.do("GET", "/api/v1/domains/nope.io", e.admin, nil)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || r.status != http.StatusNotFound {
		t.Fatalf("= %d, Content-Type %q", r.status, ct)
	}
}
