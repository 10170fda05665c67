package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigChecks: `adapt` reads no files (the repository's own
// Caddyfile.example adapts though /etc/ssogate/okta.pem does not exist
// here), `validate` writes nothing, and both name what is wrong and where.
func TestConfigChecks(t *testing.T) {
	bin := ssogateBinary(t)
	home := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(home, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	if r := runSSOGate(t, bin, home, "", "adapt", "--config", mustAbs(t, "../Caddyfile.example")); r.code != 0 || !strings.Contains(r.stdout, "/etc/ssogate/okta.pem") {
		t.Errorf("adapt Caddyfile.example: exit %d, stderr %s", r.code, r.stderr)
	}

	dataDir := filepath.Join(home, "db")
	db := filepath.Join(dataDir, "ssogate.db")
	gate := func(extra string) string {
		return fmt.Sprintf(`{
	admin off
	ssogate {
		database sqlite %s
	}
}

http://127.0.0.1:%d {
	saml_sso {
		org acme
		idp_sso_url https://idp.example.com/sso
		idp_issuer https://idp.example.com
		%s
	}
	respond "app"
}
`, db, freePort(t), extra)
	}
	valid := write("valid.Caddyfile", gate("idp_certificate "+mustAbs(t, "testdata/idp.pem")+"\n\t\tdomain acme.com"))

	// No database yet: validate creates none, nor its folder.
	r := runSSOGate(t, bin, home, "", "validate", "--config", valid)
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "Valid configuration") {
		t.Fatalf("validate: exit %d, stderr %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "IdP signing certificate expires in ") || !strings.Contains(r.stderr, "not_after") {
		t.Errorf("validate does not show the IdP certificate's expiry:\n%s", r.stderr)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("validate created %s: %v", dataDir, err)
	}
	// A database: validate leaves it as it was (acme is not inserted).
	if r := runSSOGate(t, bin, home, "", "org", "create", "other", "--db", db); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if r := runSSOGate(t, bin, home, "", "validate", "--config", valid); r.code != 0 {
		t.Fatalf("validate: exit %d, stderr %s", r.code, r.stderr)
	}
	if r := runSSOGate(t, bin, home, "", "org", "list", "--db", db); strings.Contains(r.stdout, "acme") {
		t.Errorf("validate inserted org acme:\n%s", r.stdout)
	}
	if after, _ := os.ReadFile(db); string(after) != string(before) {
		t.Errorf("validate changed the database file")
	}

	for _, tt := range []struct {
		name, extra, want string
	}{
		{"missing certificate", "domain acme.com",
			"idp_certificate is missing: idp_sso_url and idp_issuer are set, and the IdP needs all three (or idp_metadata_url or idp_metadata_file instead), at " + filepath.Join(home, "missing.Caddyfile") + ":9"},
		{"base_url with a path", "base_url http://127.0.0.1/app\n\t\tidp_certificate /nonexistent.pem",
			"must be an origin only, such as http://127.0.0.1: the gate's paths are set by path_prefix, at " + filepath.Join(home, "missing.Caddyfile") + ":13"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := write("missing.Caddyfile", gate(tt.extra))
			for _, cmd := range []string{"adapt", "validate"} {
				r := runSSOGate(t, bin, home, "", cmd, "--config", cfg)
				if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
					t.Errorf("%s: exit %d, stderr %s\nwant it to contain %q", cmd, r.code, r.stderr, tt.want)
				}
			}
		})
	}

	t.Run("require_sso without a verified domain", func(t *testing.T) {
		cfg := write("nodomain.Caddyfile", gate("idp_certificate "+mustAbs(t, "testdata/idp.pem")+"\n\t\trequire_sso"))
		r := runSSOGate(t, bin, home, "", "validate", "--config", cfg)
		if want := "org acme has require_sso but no verified domain: every SSO sign-in will be refused"; r.code != 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("validate: exit %d, stderr %s\nwant it to contain %q", r.code, r.stderr, want)
		}
	})
}
