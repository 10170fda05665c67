package integration

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/ssogate/ssogate/internal/testidp"
)

// loginStatus signs alice in and reports the ACS status.
func loginStatus(e *env) int {
	resp := e.spLogin(newBrowser(e.t), "/", "alice@acme.com")
	readBody(e.t, resp)
	return resp.StatusCode
}

func TestIdPFromMetadataURL(t *testing.T) {
	e := startEnvWith(t, envOptions{idp: func(e *env, _ string) string {
		return "idp_metadata_url " + e.idpURL + "/metadata"
	}})
	if got := loginStatus(e); got != http.StatusSeeOther {
		t.Fatalf("login with IdP metadata from a URL = %d, want 303", got)
	}
}

func TestIdPFromMetadataFile(t *testing.T) {
	e := startEnvWith(t, envOptions{idp: func(e *env, _ string) string {
		resp, err := http.Get(e.idpURL + "/metadata")
		if err != nil {
			e.t.Fatal(err)
		}
		body := readBody(e.t, resp)
		path := filepath.Join(e.dir, "idp-metadata.xml")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			e.t.Fatal(err)
		}
		return "idp_metadata_file " + path
	}})
	if got := loginStatus(e); got != http.StatusSeeOther {
		t.Fatalf("login with IdP metadata from a file = %d, want 303", got)
	}
}

// otherCert writes the certificate of an unrelated IdP.
func otherCert(e *env) string {
	other, err := testidp.New("http://127.0.0.1:1")
	if err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join(e.dir, "other.pem")
	if err := os.WriteFile(path, other.CertificatePEM(), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// TestCertificateRotation: during rotation both the old and the new
// certificate are trusted; a certificate that is not listed is not.
func TestCertificateRotation(t *testing.T) {
	e := startEnvWith(t, envOptions{idp: func(e *env, cert string) string {
		return fmt.Sprintf("idp_sso_url %s\nidp_issuer %s\nidp_certificate %s\nidp_certificate %s",
			e.idp.SSOURL(), e.idp.EntityID(), otherCert(e), cert)
	}})
	if got := loginStatus(e); got != http.StatusSeeOther {
		t.Fatalf("login with the IdP's certificate second in the list = %d, want 303", got)
	}

	e2 := startEnvWith(t, envOptions{idp: func(e *env, _ string) string {
		return fmt.Sprintf("idp_sso_url %s\nidp_issuer %s\nidp_certificate %s", e.idp.SSOURL(), e.idp.EntityID(), otherCert(e))
	}})
	b := newBrowser(t)
	resp := e2.spLogin(b, "/", "alice@acme.com")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not valid") {
		t.Fatalf("login signed by an untrusted certificate = %d: %s", resp.StatusCode, body)
	}
	assertNoSession(t, e2, b)
}

// TestRequestableACSURL: a login started on another hostname of the app is
// answered at that hostname's ACS URL, listed in the metadata with its
// index.
func TestRequestableACSURL(t *testing.T) {
	altOf := func(e *env) string { return strings.Replace(e.gate, "127.0.0.1", "localhost", 1) }
	e := startEnvWith(t, envOptions{noBaseURL: true, alias: altOf, idp: func(e *env, cert string) string {
		alt := altOf(e)
		return fmt.Sprintf("idp_sso_url %s\nidp_issuer %s\nidp_certificate %s\nentity_id %s/sso/metadata\nrequestable_acs_url %s/sso/acs",
			e.idp.SSOURL(), e.idp.EntityID(), cert, e.gate, alt)
	}})
	alt := altOf(e)
	b := newBrowser(t)
	b.signInAtIdP(e.idpURL, "alice@acme.com")
	resp := b.navigate(alt + "/sso/login?start=sso&rd=/eu")
	readBody(t, resp)
	loc := follow(t, resp)
	resp = b.navigate(loc)
	form := parseSAMLForm(t, readBody(t, resp))
	if form.Action != alt+"/sso/acs" {
		t.Fatalf("IdP posted to %s, want the requestable ACS URL %s/sso/acs", form.Action, alt)
	}
	resp = b.post(form.Action, form.Values)
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ACS on the requestable URL = %d, want 303", resp.StatusCode)
	}
}

// TestSessionSurvivesReload: the generated session key is kept in the
// store, so a config reload (or a restart, or another process) accepts
// the same cookie.
func TestSessionSurvivesReload(t *testing.T) {
	e := startEnv(t, "")
	b := e.signedIn("alice@acme.com")
	// Reload with a change (a longer idle timeout): Caddy starts the new
	// config before stopping the old one.
	js, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(strings.Replace(e.config, "domain acme.com", "domain acme.com\n\t\tsession_idle 3h", 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(js, true); err != nil {
		t.Fatal(err)
	}
	if got := b.status(e.gate + "/x"); got != http.StatusOK {
		t.Fatalf("session after a config reload = %d, want 200", got)
	}
}

// TestSignInLogs: one line per sign-in, with a reason code for refusals,
// and no cookie, assertion or token in the log.
func TestSignInLogs(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "caddy.log")
	e := startEnvWith(t, envOptions{global: fmt.Sprintf("log {\n\toutput file %s\n\tformat json\n}", logPath)})
	b := newBrowser(t)
	resp := e.spLogin(b, "/", "alice@acme.com")
	readBody(t, resp)
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "ssogate_session" {
			cookie = c.Value
		}
	}
	resp = e.spLogin(newBrowser(t), "/", "mallory@evil.test")
	readBody(t, resp)
	form := e.idpForm(newBrowser(t), "bob@acme.com", "/")
	resp = newBrowser(t).post(form.Action, form.Values)
	readBody(t, resp)
	resp = newBrowser(t).post(form.Action, form.Values) // replayed
	readBody(t, resp)

	logs, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(logs)
	for _, want := range []string{
		`"msg":"sign-in"`, `"email":"alice@acme.com"`,
		`"reason":"domain_not_claimed"`, `"reason":"assertion_replayed"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if n := strings.Count(text, `"msg":"sign-in"`); n != 2 {
		t.Errorf("%d successful sign-in lines, want 2 (alice, bob)", n)
	}
	for _, secret := range []string{cookie, form.Values.Get("SAMLResponse")[:40], "SAMLResponse"} {
		if secret != "" && strings.Contains(text, secret) {
			t.Errorf("log contains a secret (%.20s...)", secret)
		}
	}
}

// TestSingleLogout: when the IdP's metadata lists a single logout
// endpoint, /sso/logout ends the local session and sends the browser to
// the IdP with a LogoutRequest for the same NameID and SessionIndex.
func TestSingleLogout(t *testing.T) {
	e := startEnvWith(t, envOptions{idp: func(e *env, _ string) string {
		e.idp.IDP.LogoutURL = *e.idp.IDP.SSOURL.JoinPath("..", "slo")
		return "idp_metadata_url " + e.idpURL + "/metadata"
	}})
	b := e.signedIn("alice@acme.com")
	resp := b.do(http.MethodPost, e.gate+"/sso/logout", nil, nil)
	readBody(t, resp)
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil || loc.Path != "/slo" {
		t.Fatalf("logout = %d to %v; want the IdP's SLO endpoint", resp.StatusCode, loc)
	}
	raw, err := base64.StdEncoding.DecodeString(loc.Query().Get("SAMLRequest"))
	if err != nil {
		t.Fatal(err)
	}
	xml, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"LogoutRequest", ">alice@acme.com<", "SessionIndex", `Destination="` + e.idpURL + `/slo"`} {
		if !strings.Contains(string(xml), want) {
			t.Errorf("LogoutRequest lacks %s:\n%s", want, xml)
		}
	}
	if got := b.status(e.gate + "/x"); got != http.StatusUnauthorized {
		t.Fatalf("after logout, a request = %d, want 401", got)
	}
	// The IdP's answer comes back to /sso/logout and gets the signed-out page.
	resp = b.navigate(e.gate + "/sso/logout?SAMLResponse=x")
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "signed out") {
		t.Fatalf("return from the IdP = %d: %s", resp.StatusCode, body)
	}
}
