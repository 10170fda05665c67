package scimserver_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/scimserver"
)

// lastUsed returns each scope's token's last use in unix seconds, 0 for
// never.
func (e *env) lastUsed() map[storage.Scope]int64 {
	e.t.Helper()
	ts, err := e.store.ListTokens(context.Background(), e.org.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[storage.Scope]int64{}
	for _, tok := range ts {
		out[tok.Scope] = 0
		if !tok.LastUsedAt.IsZero() {
			out[tok.Scope] = tok.LastUsedAt.Unix()
		}
	}
	return out
}

// waitUsed waits for the write, which runs beside the request, of the use
// of the scope's token.
func (e *env) waitUsed(scope storage.Scope) {
	e.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); e.lastUsed()[scope] == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("the %s token's use was not recorded: %v", scope, e.lastUsed())
		}
	}
}

// TestTokenLastUsed: a request records its token's use (issue 15: "token
// list" always said never).
func TestTokenLastUsed(t *testing.T) {
	e := newEnv(t)
	if got := e.lastUsed(); got[storage.ScopeSCIM] != 0 || got[storage.ScopeAdmin] != 0 {
		t.Fatalf("before any use: %v; want never", got)
	}
	if r := e.do("GET", "/scim/v2/Users", e.scim, nil); r.status != http.StatusOK {
		t.Fatalf("= %d %s", r.status, r.raw)
	}
	e.waitUsed(storage.ScopeSCIM)
	// A refused request (wrong scope) is not a use.
	if r := e.do("GET", "/scim/v2/Users", e.admin, nil); r.status != http.StatusForbidden {
		t.Fatalf("= %d %s", r.status, r.raw)
	}
	time.Sleep(100 * time.Millisecond)
	if got := e.lastUsed(); got[storage.ScopeAdmin] != 0 {
		t.Fatalf("after a 403: %v; want the admin token unused", got)
	}
}

// blockingTouch is a store whose TouchToken waits until released.
type blockingTouch struct {
	storage.Store
	release chan struct{}
}

func (b blockingTouch) TouchToken(ctx context.Context, id string, at int64) error {
	<-b.release
	return b.Store.TouchToken(ctx, id, at)
}

// TestTokenUseOffRequestPath: recording a token's use never holds up the
// request, even when the store is slow to take the write.
func TestTokenUseOffRequestPath(t *testing.T) {
	release := make(chan struct{})
	e := newEnv(t, func(c *scimserver.Config) { c.Store = blockingTouch{Store: c.Store, release: release} })
	done := make(chan result, 1)
	go func() { done <- e.do("GET", "/scim/v2/Users", e.scim, nil) }()
	select {
	case r := <-done:
		if r.status != http.StatusOK {
			t.Fatalf("= %d %s", r.status, r.raw)
		}
	case <-time.After(3 * time.Second):
		close(release)
		t.Fatal("the request waited for the write of its token's use")
	}
	close(release)
	e.waitUsed(storage.ScopeSCIM)
}

// TestTokenAPI walks the token API: make, list, use, revoke.
func TestTokenAPI(t *testing.T) {
	e := newEnv(t)
	// tokens lists the org's tokens by ID; the list is ordered by the
	// second of creation, then by the random ID.
	tokens := func(token string) map[string]map[string]any {
		t.Helper()
		r := e.do("GET", "/api/v1/tokens", token, nil)
		list, _ := r.body["tokens"].([]any)
		if r.status != 200 || list == nil {
			t.Fatalf("listing = %d %s", r.status, r.raw)
		}
		out := map[string]map[string]any{}
		for _, el := range list {
			tok := el.(map[string]any)
			if _, ok := tok["token"]; ok {
				t.Fatalf("a listed token shows its secret: %v", tok)
			}
			out[tok["id"].(string)] = tok
		}
		return out
	}
	// The admin token's first use is recorded beside the request.
	tokens(e.admin)
	e.waitUsed(storage.ScopeAdmin)
	before := tokens(e.admin)
	scopes := map[string]int{}
	for _, tok := range before {
		scopes[tok["scope"].(string)]++
		if tok["created_at"] == nil || tok["name"] != "test" {
			t.Errorf("token %v", tok)
		}
		// The admin token has just been used; the scim one never.
		if used := tok["last_used_at"] != nil; used != (tok["scope"] == "admin") {
			t.Errorf("token %v: last_used_at wrong", tok)
		}
	}
	if len(before) != 2 || scopes["scim"] != 1 || scopes["admin"] != 1 {
		t.Fatalf("tokens = %v; want one of each scope", before)
	}

	vars := map[string]string{}
	api := func(s step) step {
		if s.token == "" {
			s.token = e.admin
		}
		return s
	}
	e.run(t, vars, []step{
		api(step{name: "make a scim token by default", method: "POST", path: "/api/v1/tokens", body: `{"name":"Okta"}`, status: 201, checks: []check{
			eq("name", "Okta"), eq("scope", "scim"), contains("token", "ssogate_"), eq("last_used_at", nil), nonEmpty("created_at"),
		}, save: map[string]string{"okta": "token", "oktaID": "id"}}),
		api(step{name: "make an admin token", method: "POST", path: "/api/v1/tokens", body: `{"name":"settings page","scope":"admin"}`, status: 201,
			checks: []check{eq("scope", "admin")}, save: map[string]string{"page": "token", "pageID": "id"}}),
		api(step{name: "make one without a name", method: "POST", path: "/api/v1/tokens", body: `{}`, status: 201, checks: []check{eq("name", ""), eq("scope", "scim")}}),
		api(step{name: "an unknown scope", method: "POST", path: "/api/v1/tokens", body: `{"scope":"root"}`, status: 400, checks: []check{eq("field", "scope")}}),
		api(step{name: "a scope of the wrong type", method: "POST", path: "/api/v1/tokens", body: `{"scope":["admin"]}`, status: 400, checks: []check{eq("field", "scope")}}),
		api(step{name: "a long name", method: "POST", path: "/api/v1/tokens", body: `{"name":"` + strings.Repeat("n", 101) + `"}`, status: 400, checks: []check{eq("field", "name")}}),
		api(step{name: "a name with a newline", method: "POST", path: "/api/v1/tokens", body: `{"name":"a\nb"}`, status: 400, checks: []check{eq("field", "name")}}),
		api(step{name: "an unknown field", method: "POST", path: "/api/v1/tokens", body: `{"name":"x","org":"globex"}`, status: 400, checks: []check{eq("field", "org")}}),
		{name: "the new scim token works", method: "GET", path: "/scim/v2/Users", token: "{{okta}}", status: 200},
		api(step{name: "the new admin token works", method: "GET", path: "/api/v1/tokens", token: "{{page}}", status: 200, checks: []check{length("tokens", 5)}}),
	})
	if okta := tokens(e.admin)[vars["oktaID"]]; okta == nil || okta["last_used_at"] == nil || okta["name"] != "Okta" {
		t.Fatalf("the used token = %v; want it listed with last_used_at", okta)
	}
	e.run(t, vars, []step{
		api(step{name: "revoke", method: "DELETE", path: "/api/v1/tokens/{{oktaID}}", status: 204}),
		{name: "a revoked token stops at once", method: "GET", path: "/scim/v2/Users", token: "{{okta}}", status: 401},
		api(step{name: "revoke again", method: "DELETE", path: "/api/v1/tokens/{{oktaID}}", status: 404, checks: []check{contains("error", "GET /api/v1/tokens")}}),
		api(step{name: "an admin token may revoke itself", method: "DELETE", path: "/api/v1/tokens/{{pageID}}", token: "{{page}}", status: 204}),
		api(step{name: "and is gone", method: "GET", path: "/api/v1/tokens", token: "{{page}}", status: 401}),
		api(step{name: "listed no more", method: "GET", path: "/api/v1/tokens", status: 200, checks: []check{length("tokens", 3)}}),
		api(step{name: "a wrong method", method: "PUT", path: "/api/v1/tokens/{{oktaID}}", body: `{}`, status: 405}),
	})
}
