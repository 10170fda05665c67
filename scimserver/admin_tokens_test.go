package scimserver_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/ssogate/ssogate/internal/storage"
)

// TestTokenLastUsed: a request records its token's use (issue 15: "token
// list" always said never), and a second request within the minute
// writes nothing new.
func TestTokenLastUsed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	lastUsed := func() map[storage.Scope]int64 {
		ts, err := e.store.ListTokens(ctx, e.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[storage.Scope]int64{}
		for _, tok := range ts {
			out[tok.Scope] = tok.LastUsedAt.Unix()
			if tok.LastUsedAt.IsZero() {
				out[tok.Scope] = 0
			}
		}
		return out
	}
	if got := lastUsed(); got[storage.ScopeSCIM] != 0 || got[storage.ScopeAdmin] != 0 {
		t.Fatalf("before any use: %v; want never", got)
	}
	if r := e.do("GET", "/scim/v2/Users", e.scim, nil); r.status != http.StatusOK {
		t.Fatalf("= %d %s", r.status, r.raw)
	}
	got := lastUsed()
	if got[storage.ScopeSCIM] == 0 || got[storage.ScopeAdmin] != 0 {
		t.Fatalf("after a SCIM request: %v; want the scim token used, the admin token not", got)
	}
	// A refused request (wrong scope) is not a use.
	if r := e.do("GET", "/scim/v2/Users", e.admin, nil); r.status != http.StatusForbidden {
		t.Fatalf("= %d %s", r.status, r.raw)
	}
	if got := lastUsed(); got[storage.ScopeAdmin] != 0 {
		t.Fatalf("after a 403: %v; want the admin token unused", got)
	}
}
