package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProvisioningThroughTheBinary is the README's provisioning section,
// run as a user would: `ssogate token create`, then `ssogate run` with a
// scim_server site, then plain HTTP requests (what curl sends) for Okta's
// first steps: test the credentials, match, create, deactivate, push a
// group; and a domain claim over the API with an admin token.
func TestProvisioningThroughTheBinary(t *testing.T) {
	bin, home, db, base := startSidecarProcess(t)
	tokenOf := func(scope string) string { return createToken(t, bin, home, db, scope) }
	scim := tokenOf("scim")

	// Okta's "Test API Credentials".
	if code, body := scimCall(t, http.MethodGet, base+"/scim/v2/Users?startIndex=1&count=2", scim, nil); code != http.StatusOK || body["totalResults"] == nil {
		t.Fatalf("Users list = %d %v", code, body)
	}
	// Match, then create.
	filter := base + "/scim/v2/Users?filter=" + url.QueryEscape(`userName eq "jo@acme.com"`)
	if code, body := scimCall(t, http.MethodGet, filter, scim, nil); code != http.StatusOK || body["totalResults"] != float64(0) {
		t.Fatalf("match before create = %d %v", code, body)
	}
	code, user := scimCall(t, http.MethodPost, base+"/scim/v2/Users", scim, map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "jo@acme.com", "name": map[string]any{"givenName": "Jo", "familyName": "Doe"},
		"emails": []any{map[string]any{"primary": true, "value": "jo@acme.com", "type": "work"}},
		"active": true, "password": "not-stored-1",
	})
	if code != http.StatusCreated || user["id"] == nil || user["password"] != nil {
		t.Fatalf("create = %d %v", code, user)
	}
	id := user["id"].(string)
	// The seed's failure case: a domain the org has not claimed.
	code, refused := scimCall(t, http.MethodPost, base+"/scim/v2/Users", scim, map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "max@other.com", "name": map[string]any{"givenName": "Max", "familyName": "M"},
		"emails": []any{map[string]any{"primary": true, "value": "max@other.com"}},
	})
	if code != http.StatusBadRequest || refused["scimType"] != "invalidValue" || !strings.Contains(fmt.Sprint(refused["detail"]), "other.com") {
		t.Fatalf("create in an unclaimed domain = %d %v", code, refused)
	}
	// Deactivate: the user stays visible with active false.
	if code, body := scimCall(t, http.MethodPatch, base+"/scim/v2/Users/"+id, scim, setActive(false)); code != http.StatusOK || body["active"] != false {
		t.Fatalf("deactivate = %d %v", code, body)
	}
	// Push a group with the user in it.
	if code, body := scimCall(t, http.MethodPost, base+"/scim/v2/Groups", scim, map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Analysts",
		"members": []any{map[string]any{"value": id}},
	}); code != http.StatusCreated {
		t.Fatalf("group push = %d %v", code, body)
	}
	r := runSSOGate(t, bin, home, "", "team", "list", "--org", "acme", "--db", db)
	if r.code != 0 || !strings.Contains(r.stdout, "Analysts") || !strings.Contains(r.stdout, "jo@acme.com") {
		t.Fatalf("team list after the push: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A SCIM token cannot use the domain API; an admin token can.
	if code, _ := scimCall(t, http.MethodGet, base+"/api/v1/domains", scim, nil); code != http.StatusForbidden {
		t.Fatalf("domain API with a scim token = %d, want 403", code)
	}
	admin := tokenOf("admin")
	code, claim := scimCall(t, http.MethodPost, base+"/api/v1/domains", admin, map[string]any{"domain": "acme.org"})
	if code != http.StatusCreated || claim["status"] != "pending" || claim["txt_name"] != "_ssogate-challenge.acme.org" {
		t.Fatalf("domain claim = %d %v", code, claim)
	}
	code, list := scimCall(t, http.MethodGet, base+"/api/v1/domains", admin, nil)
	if code != http.StatusOK || !strings.Contains(fmt.Sprint(list["domains"]), "acme.com") {
		t.Fatalf("domain list = %d %v; want the Caddyfile's acme.com there", code, list)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// startSidecarProcess runs ssogate as a user would, on a SQLite file in a
// new home: a scim_server site and a gate for org acme (domain acme.com,
// from the Caddyfile when it loads). It returns the binary, the home, the
// database and the scim_server site's URL.
func startSidecarProcess(t *testing.T) (bin, home, db, base string) {
	t.Helper()
	bin = ssogateBinary(t)
	home = t.TempDir()
	db = filepath.Join(home, "ssogate.db")
	port := freePort(t)
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := filepath.Join(home, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{
	admin off
	ssogate {
		database sqlite %s
	}
}

%s {
	scim_server
}

http://127.0.0.1:%d {
	saml_sso {
		org acme
		idp_sso_url https://idp.example.com/sso
		idp_issuer https://idp.example.com
		idp_certificate %s
		domain acme.com
	}
	respond "app"
}
`, db, base, freePort(t), mustAbs(t, "testdata/idp.pem"))), 0o600); err != nil {
		t.Fatal(err)
	}
	startSSOGate(t, bin, home, cfg, port)
	return bin, home, db, base
}

// createToken makes an acme token of scope with `ssogate token create`.
func createToken(t *testing.T, bin, home, db, scope string) string {
	t.Helper()
	r := runSSOGate(t, bin, home, "", "token", "create", "--org", "acme", "--scope", scope, "--db", db)
	if r.code != 0 {
		t.Fatalf("token create --scope %s: exit %d: %s", scope, r.code, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}
