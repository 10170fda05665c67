package integration

import (
	"bytes"
	"compress/flate"
	"context"
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

	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
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

// TestIdPMetadataRollover: the IdP rolls its signing key; the gate fetches
// idp_metadata_url again (every second here), takes the new certificate
// up with no restart, and keeps the new document in the store for the
// next start.
func TestIdPMetadataRollover(t *testing.T) {
	e := startEnvWith(t, envOptions{idp: func(e *env, _ string) string {
		return "idp_metadata_url " + e.idpURL + "/metadata\nidp_metadata_refresh 1s"
	}})
	if got := loginStatus(e); got != http.StatusSeeOther {
		t.Fatalf("login before the rollover = %d, want 303", got)
	}
	next, err := testidp.New(e.idpURL)
	if err != nil {
		t.Fatal(err)
	}
	e.idp.IDP.Key, e.idp.IDP.Certificate = next.Key, next.Cert
	e.idp.Key, e.idp.Cert = next.Key, next.Cert
	waitUntil(t, "the new IdP certificate taken up", func() bool { return loginStatus(e) == http.StatusSeeOther })
	newCert := base64.StdEncoding.EncodeToString(next.Cert.Raw)
	e.withStore(func(st *sqlitestore.Store, org storage.Org) error {
		c, err := st.Connection(context.Background(), org.ID)
		if err != nil {
			return err
		}
		if !strings.Contains(strings.Join(strings.Fields(c.IDPMetadataXML), ""), newCert) {
			t.Error("the store keeps the metadata from before the rollover")
		}
		return nil
	})
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

// TestSingleLogout: single logout both ways with an IdP that has an SLO
// endpoint (the test IdP's checks are crewjam's, run from the IdP's side):
// the gate's LogoutRequest is signed and answered; the IdP's
// LogoutRequest, by HTTP-Redirect or HTTP-POST, ends exactly the sessions
// of the NameID it names and gets a signed LogoutResponse; a forged or
// replayed one ends nothing.
func TestSingleLogout(t *testing.T) {
	e := startEnvWith(t, envOptions{idp: func(e *env, _ string) string {
		e.idp.EnableSingleLogout()
		return "idp_metadata_url " + e.idpURL + "/metadata"
	}})
	spEntity := e.gate + "/sso/metadata"

	t.Run("started at the gate", func(t *testing.T) {
		e := e.sub(t)
		b := e.signedIn("alice@acme.com")
		resp := b.signOut(e.gate, "/sso/logout?rd=/bye")
		readBody(t, resp)
		loc, err := resp.Location()
		if resp.StatusCode != http.StatusFound || err != nil || loc.Path != "/slo" {
			t.Fatalf("logout = %d to %v; want the IdP's SLO endpoint", resp.StatusCode, loc)
		}
		q := loc.Query()
		if q.Get("SigAlg") != "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" || q.Get("Signature") == "" {
			t.Errorf("LogoutRequest not signed in the query string: %s", loc)
		}
		raw, err := base64.StdEncoding.DecodeString(q.Get("SAMLRequest"))
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
		// The IdP checks the signature and answers with a LogoutResponse.
		resp = b.navigate(loc.String())
		body := readBody(t, resp)
		back, err := resp.Location()
		if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(back.String(), e.gate+"/sso/logout?") {
			t.Fatalf("IdP /slo = %d %v: %s", resp.StatusCode, back, body)
		}
		if got := e.idp.LoggedOut(); len(got) == 0 || got[len(got)-1] != "alice@acme.com" {
			t.Fatalf("IdP logged out %q, want alice", got)
		}
		resp = b.navigate(back.String())
		readBody(t, resp)
		if loc, _ := resp.Location(); resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/bye" {
			t.Fatalf("IdP's LogoutResponse at the gate = %d to %v, want 303 to /bye", resp.StatusCode, loc)
		}
		// Answered once: the same LogoutResponse again matches nothing.
		resp = b.navigate(back.String())
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "matches no sign-out") {
			t.Fatalf("replayed LogoutResponse = %d: %s", resp.StatusCode, body)
		}
	})

	t.Run("started at the IdP, HTTP-Redirect", func(t *testing.T) {
		e := e.sub(t)
		alice1, alice2, bob := e.signedIn("alice@acme.com"), e.signedIn("alice@acme.com"), e.signedIn("bob@acme.com")
		peer, err := e.idp.LogoutPeer(spEntity)
		if err != nil {
			t.Fatal(err)
		}
		u, id, err := peer.RedirectRequest("alice@acme.com", "", "idp-relay")
		if err != nil {
			t.Fatal(err)
		}
		resp := alice1.navigate(u.String())
		body := readBody(t, resp)
		answer, err := resp.Location()
		if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(answer.String(), e.idpURL+"/slo?") {
			t.Fatalf("gate's answer = %d %v: %s", resp.StatusCode, answer, body)
		}
		if answer.Query().Get("RelayState") != "idp-relay" {
			t.Errorf("RelayState %q not echoed", answer.Query().Get("RelayState"))
		}
		req, _ := http.NewRequest(http.MethodGet, answer.String(), nil)
		if err := peer.CheckResponse(req, id); err != nil {
			t.Fatalf("the IdP refuses the gate's LogoutResponse: %v", err)
		}
		for name, b := range map[string]*browser{"alice's first": alice1, "alice's second": alice2} {
			if got := b.status(e.gate + "/x"); got != http.StatusUnauthorized {
				t.Errorf("%s session after the IdP's logout = %d, want 401", name, got)
			}
		}
		if got := bob.status(e.gate + "/x"); got != http.StatusOK {
			t.Errorf("bob's session after alice's logout = %d, want 200", got)
		}
		// The same LogoutRequest again is refused (one use).
		resp = bob.navigate(u.String())
		if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not valid") {
			t.Errorf("replayed LogoutRequest = %d: %s", resp.StatusCode, body)
		}
		if got := bob.status(e.gate + "/x"); got != http.StatusOK {
			t.Errorf("bob's session after a replayed logout = %d, want 200", got)
		}
	})

	t.Run("started at the IdP, HTTP-POST", func(t *testing.T) {
		e := e.sub(t)
		alice := e.signedIn("alice@acme.com")
		peer, err := e.idp.LogoutPeer(spEntity)
		if err != nil {
			t.Fatal(err)
		}
		dest, form, id, err := peer.PostRequest("alice@acme.com", "", "post-relay")
		if err != nil {
			t.Fatal(err)
		}
		resp := alice.post(dest, form)
		body := readBody(t, resp)
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != http.StatusOK || !strings.Contains(csp, "script-src 'nonce-") {
			t.Fatalf("gate's POST answer = %d (CSP %q): %s", resp.StatusCode, csp, body)
		}
		answer := parseSAMLForm(t, body)
		if answer.Action != e.idpURL+"/slo" || answer.Values.Get("RelayState") != "post-relay" {
			t.Fatalf("answer posts to %s with RelayState %q", answer.Action, answer.Values.Get("RelayState"))
		}
		req, _ := http.NewRequest(http.MethodPost, answer.Action, strings.NewReader(answer.Values.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := peer.CheckResponse(req, id); err != nil {
			t.Fatalf("the IdP refuses the gate's LogoutResponse: %v", err)
		}
		if got := alice.status(e.gate + "/x"); got != http.StatusUnauthorized {
			t.Errorf("alice's session after the IdP's logout = %d, want 401", got)
		}
	})

	t.Run("forged at another IdP with the same entity ID", func(t *testing.T) {
		e := e.sub(t)
		alice := e.signedIn("alice@acme.com")
		forger, err := testidp.New(e.idpURL)
		if err != nil {
			t.Fatal(err)
		}
		forger.TrustSPMetadataURL(spEntity)
		peer, err := forger.LogoutPeer(spEntity)
		if err != nil {
			t.Fatal(err)
		}
		u, _, err := peer.RedirectRequest("alice@acme.com", "", "")
		if err != nil {
			t.Fatal(err)
		}
		resp := newBrowser(t).navigate(u.String())
		if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not valid") {
			t.Fatalf("forged LogoutRequest = %d: %s", resp.StatusCode, body)
		}
		if got := alice.status(e.gate + "/x"); got != http.StatusOK {
			t.Errorf("alice's session after a forged logout = %d, want 200", got)
		}
	})
}
