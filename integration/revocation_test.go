package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/apitoken"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
)

// scimToken creates a SCIM token for org acme in the env's database.
func (e *env) scimToken() string {
	e.t.Helper()
	tok, hash, err := apitoken.New()
	if err != nil {
		e.t.Fatal(err)
	}
	e.withStore(func(st *sqlitestore.Store, org storage.Org) error {
		_, err := st.CreateToken(context.Background(), org.ID, "test", storage.ScopeSCIM, hash)
		return err
	})
	return tok
}

// scimCall sends a SCIM request and decodes the JSON answer.
func scimCall(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest(method, url, &buf)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// memberID finds a member's SCIM id by userName.
func memberID(t *testing.T, scimURL, token, email string) string {
	t.Helper()
	code, list := scimCall(t, http.MethodGet, scimURL+"/scim/v2/Users?filter="+url.QueryEscape(`userName eq "`+email+`"`), token, nil)
	res, _ := list["Resources"].([]any)
	if code != http.StatusOK || len(res) != 1 {
		t.Fatalf("finding %s over SCIM = %d %v", email, code, list)
	}
	return res[0].(map[string]any)["id"].(string)
}

func setActive(active bool) map[string]any {
	return map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": active}}},
	}
}

// signedIn logs a browser in as email and returns it.
func (e *env) signedIn(email string) *browser {
	e.t.Helper()
	b := newBrowser(e.t)
	resp := e.spLogin(b, "/", email)
	readBody(e.t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("sign-in as %s = %d", email, resp.StatusCode)
	}
	return b
}

func (b *browser) status(url string) int {
	resp := b.do(http.MethodGet, url, nil, map[string]string{"Accept": "application/json"})
	readBody(b.t, resp)
	return resp.StatusCode
}

// TestDeactivationSameProcess: a SCIM deactivation through the sidecar in
// the gate's own Caddy ends the member's live session on its next request;
// reactivation brings no old session back; a role or team change shows on
// the next request without a new sign-in.
func TestDeactivationSameProcess(t *testing.T) {
	e := startEnv(t, "")
	b := e.signedIn("alice@acme.com")
	other := e.signedIn("bob@acme.com")
	tok := e.scimToken()
	id := memberID(t, e.scim, tok, "alice@acme.com")

	// Teams: a group pushed by the IdP shows in the headers at once.
	code, group := scimCall(t, http.MethodPost, e.scim+"/scim/v2/Groups", tok, map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Analysts",
		"members": []any{map[string]any{"value": id}},
	})
	if code != http.StatusCreated {
		t.Fatalf("creating group = %d %v", code, group)
	}
	resp := b.do(http.MethodGet, e.gate+"/x", nil, nil)
	var seen map[string]string
	decode(t, resp, &seen)
	if seen["X-Forwarded-Groups"] != "Analysts" {
		t.Fatalf("after a group push, X-Forwarded-Groups = %q, want Analysts", seen["X-Forwarded-Groups"])
	}

	if code, body := scimCall(t, http.MethodPatch, e.scim+"/scim/v2/Users/"+id, tok, setActive(false)); code != http.StatusOK {
		t.Fatalf("deactivating = %d %v", code, body)
	}
	if got := b.status(e.gate + "/x"); got != http.StatusUnauthorized {
		t.Fatalf("deactivated member's next request = %d, want 401", got)
	}
	if got := other.status(e.gate + "/x"); got != http.StatusOK {
		t.Fatalf("another member's session = %d after alice's deactivation, want 200", got)
	}
	if code, _ := scimCall(t, http.MethodPatch, e.scim+"/scim/v2/Users/"+id, tok, setActive(true)); code != http.StatusOK {
		t.Fatalf("reactivating = %d", code)
	}
	if got := b.status(e.gate + "/x"); got != http.StatusUnauthorized {
		t.Fatalf("old session after reactivation = %d, want 401", got)
	}
	fresh := e.signedIn("alice@acme.com")
	if got := fresh.status(e.gate + "/x"); got != http.StatusOK {
		t.Fatalf("new sign-in after reactivation = %d", got)
	}

	// Deleting the member ends the session too.
	bobID := memberID(t, e.scim, tok, "bob@acme.com")
	if code, _ := scimCall(t, http.MethodDelete, e.scim+"/scim/v2/Users/"+bobID, tok, nil); code != http.StatusNoContent {
		t.Fatalf("deleting = %d", code)
	}
	if got := other.status(e.gate + "/x"); got != http.StatusUnauthorized {
		t.Fatalf("deleted member's next request = %d, want 401", got)
	}
}

// TestDeactivationOtherProcess runs the sidecar as its own process (the
// built binary) on the same SQLite file, deactivates a member there, and
// measures how long the gate takes to refuse the member's session.
func TestDeactivationOtherProcess(t *testing.T) {
	e := startEnv(t, "")
	bin := ssogateBinary(t)
	b := e.signedIn("alice@acme.com")
	tok := e.scimToken()

	port := freePort(t)
	sidecar := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := filepath.Join(e.dir, "sidecar.Caddyfile")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{
	admin off
	storage file_system %s
	ssogate {
		database sqlite %s
	}
}

%s {
	scim_server
}
`, filepath.Join(e.dir, "sidecar-caddy"), e.dbPath, sidecar)), 0o600); err != nil {
		t.Fatal(err)
	}
	startSSOGate(t, bin, e.dir, cfg, port)

	// A role change made by another process (the set-role subcommand)
	// reaches the headers without a new sign-in, within a second.
	run := runSSOGate(t, bin, e.dir, "", "user", "set-role", "alice@acme.com", "admin", "--org", "acme", "--db", e.dbPath)
	if run.code != 0 {
		t.Fatalf("ssogate user set-role: exit %d: %s", run.code, run.stderr)
	}
	roleStart := time.Now()
	for {
		resp := b.do(http.MethodGet, e.gate+"/x", nil, nil)
		var seen map[string]string
		decode(t, resp, &seen)
		if seen["X-Forwarded-Role"] == "admin" {
			break
		}
		if time.Since(roleStart) > time.Second {
			t.Fatalf("X-Forwarded-Role still %q %s after set-role in another process", seen["X-Forwarded-Role"], time.Since(roleStart))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("role change in another process shown after %s", time.Since(roleStart))

	id := memberID(t, sidecar, tok, "alice@acme.com")
	if got := b.status(e.gate + "/x"); got != http.StatusOK {
		t.Fatalf("session before deactivation = %d", got)
	}
	if code, body := scimCall(t, http.MethodPatch, sidecar+"/scim/v2/Users/"+id, tok, setActive(false)); code != http.StatusOK {
		t.Fatalf("deactivating through the other process = %d %v", code, body)
	}
	start := time.Now()
	for b.status(e.gate+"/x") != http.StatusUnauthorized {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("session still accepted %s after deactivation in another process", time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	t.Logf("deactivation in another process refused by the gate after %s", elapsed)
	if elapsed > time.Second {
		t.Fatalf("refusal took %s, want within 1s", elapsed)
	}
}

func waitForPort(t *testing.T, port int, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listening on %d after 20s; output:\n%s", port, logs.String())
}
