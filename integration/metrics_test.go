package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/internal/testidp"
)

// observedGate is the binary serving a gate (org acme, domain acme.com),
// a SCIM sidecar and Caddy's metrics, with a test IdP that knows alice
// and dora of acme.com and eve of another domain.
type observedGate struct {
	bin, home, db                string
	idp                          *idpServer
	gateURL, sidecar, metricsURL string
}

func startObservedGate(t *testing.T) *observedGate {
	t.Helper()
	bin := ssogateBinary(t)
	home := t.TempDir()
	db := filepath.Join(home, "ssogate.db")
	idp := startIdP(t,
		testidp.User{Email: "alice@acme.com", GivenName: "Alice", FamilyName: "Archer"},
		testidp.User{Email: "dora@acme.com", GivenName: "Dora", FamilyName: "Doe"},
		testidp.User{Email: "eve@evil.example", GivenName: "Eve", FamilyName: "Evil"})
	gatePort, sidecarPort, metricsPort := freePort(t), freePort(t), freePort(t)
	gateURL := fmt.Sprintf("http://127.0.0.1:%d", gatePort)
	sidecar := fmt.Sprintf("http://127.0.0.1:%d", sidecarPort)
	cert := filepath.Join(home, "idp.pem")
	if err := os.WriteFile(cert, idp.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(home, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{
	admin off
	storage file_system %[1]s
	ssogate {
		database sqlite %[2]s
	}
}

%[3]s {
	saml_sso {
		org acme
		idp_sso_url %[4]s
		idp_issuer %[5]s
		idp_certificate %[6]s
		domain acme.com
		base_url %[3]s
	}
	respond "app"
}

%[7]s {
	scim_server
}

http://127.0.0.1:%[8]d {
	metrics
}
`, filepath.Join(home, "caddy"), db, gateURL, idp.SSOURL(), idp.EntityID(), cert, sidecar, metricsPort)), 0o600); err != nil {
		t.Fatal(err)
	}
	startSSOGate(t, bin, home, cfg, gatePort)
	waitForPort(t, sidecarPort, &bytes.Buffer{})
	waitForPort(t, metricsPort, &bytes.Buffer{})
	idp.TrustSPMetadataURL(gateURL + "/sso/metadata")
	return &observedGate{bin: bin, home: home, db: db, idp: idp, gateURL: gateURL, sidecar: sidecar,
		metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)}
}

// signIn walks an SP-initiated sign-in of email and returns the gate's
// answer to the IdP's response, and the form that carried it.
func (g *observedGate) signIn(t *testing.T, b *browser, email string) (*http.Response, samlForm) {
	t.Helper()
	page := readBody(t, b.navigate(g.gateURL+"/sso/login?rd=/"))
	resp := b.navigate(g.gateURL + loginLink(t, page))
	readBody(t, resp)
	b.signInAtIdP(g.idp.url, email)
	form := parseSAMLForm(t, readBody(t, b.navigate(follow(t, resp))))
	return b.post(form.Action, form.Values), form
}

// TestMetricsThroughTheBinary scrapes a running binary's metrics (Caddy's
// registry, served by a metrics handler) after a sign-in, a refused
// sign-in and a SCIM create, and checks each counter.
func TestMetricsThroughTheBinary(t *testing.T) {
	g := startObservedGate(t)
	bin, home, db, gateURL, sidecar := g.bin, g.home, g.db, g.gateURL, g.sidecar
	signIn := func(email string) int {
		resp, _ := g.signIn(t, newBrowser(t), email)
		readBody(t, resp)
		return resp.StatusCode
	}
	alice := newBrowser(t)
	if resp, _ := g.signIn(t, alice, "alice@acme.com"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in of alice = %d", resp.StatusCode)
	}
	// Two requests with the session: the gate's cache answers.
	for range 2 {
		if resp := alice.navigate(gateURL + "/"); readBody(t, resp) != "app" {
			t.Fatalf("alice's request = %d", resp.StatusCode)
		}
	}
	if code := signIn("eve@evil.example"); code != http.StatusForbidden {
		t.Fatalf("sign-in of eve = %d, want 403", code)
	}
	r := runSSOGate(t, bin, home, "", "token", "create", "--org", "acme", "--scope", "scim", "--db", db)
	if r.code != 0 {
		t.Fatalf("token create: %+v", r)
	}
	code, _ := scimCall(t, http.MethodPost, sidecar+"/scim/v2/Users", strings.TrimSpace(r.stdout), map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "jo@acme.com", "name": map[string]any{"givenName": "Jo", "familyName": "Doe"},
		"emails": []any{map[string]any{"primary": true, "value": "jo@acme.com"}}, "active": true,
	})
	if code != http.StatusCreated {
		t.Fatalf("SCIM create = %d", code)
	}

	// A wrong password: refused, counted, and the form keeps the email.
	if r := runSSOGate(t, bin, home, "", "user", "invite", "owner@acme.com", "--role", "owner", "--org", "acme", "--db", db); r.code != 0 {
		t.Fatalf("user invite: %+v", r)
	}
	if r := runSSOGate(t, bin, home, "right-horse-battery\n", "user", "passwd", "owner@acme.com", "--org", "acme", "--db", db); r.code != 0 {
		t.Fatalf("user passwd: %+v", r)
	}
	f := openPasswordForm(t, gateURL)
	pwResp, err := f.b.c.Do(f.request("owner@acme.com", "wrong-horse-battery"))
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, pwResp)
	if pwResp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, `value="owner@acme.com"`) {
		t.Errorf("wrong password = %d; want 401 with the email kept in the form:\n%s", pwResp.StatusCode, page)
	}

	resp, err := http.Get(g.metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(raw)
	value := func(series string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
		if m == nil {
			return -1
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	for series, want := range map[string]float64{
		`ssogate_sign_ins_total{method="saml",outcome="success",reason=""}`:                   1,
		`ssogate_sign_ins_total{method="saml",outcome="refused",reason="domain_not_claimed"}`: 1,
		`ssogate_scim_requests_total{method="POST",resource="Users",status="201"}`:            1,
		`ssogate_acs_duration_seconds_count`:                                                  2,
	} {
		if got := value(series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if hits, misses := value("ssogate_session_cache_hits_total"), value("ssogate_session_cache_misses_total"); hits < 1 || misses < 0 {
		t.Errorf("session cache hits %v, misses %v; want at least one hit", hits, misses)
	}
	// Alice's session is held by the gate; the feed is read every 250 ms.
	if n := value("ssogate_sessions_live"); n < 1 {
		t.Errorf("ssogate_sessions_live = %v, want alice's session at least", n)
	}
	if lag := value("ssogate_change_feed_lag_seconds"); lag < 0 || lag > 5 {
		t.Errorf("ssogate_change_feed_lag_seconds = %v, want a fresh feed (under 5 s)", lag)
	}
	if !regexp.MustCompile(`(?m)^ssogate_sign_ins_total\{method="password",outcome="refused",reason="[a-z_]+"\} 1$`).MatchString(text) {
		t.Errorf("no refused password sign-in counted")
	}
	if m := regexp.MustCompile(`(?m)^ssogate_idp_certificate_expiry_days\{org="acme"\} (\S+)$`).FindStringSubmatch(text); m == nil {
		t.Errorf("no ssogate_idp_certificate_expiry_days for acme")
	} else if days, _ := strconv.ParseFloat(m[1], 64); days < 1 {
		t.Errorf("ssogate_idp_certificate_expiry_days{org=acme} = %v, want the test IdP's certificate's days left", days)
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grepLines(text, "ssogate_"))
	}
}

func grepLines(text, part string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, part) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
