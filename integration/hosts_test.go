package integration

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crewjam/saml"

	"github.com/ssogate/ssogate/internal/testidp"
)

// hostsEnv is the built binary serving one gate without base_url, on two
// names: http://127.0.0.1:<port> (the first, whose entity ID it is) and
// http://localhost:<port>.
type hostsEnv struct {
	bin, home  string
	idp        *idpServer
	cert       string
	upstream   string
	port       int
	gate, alt  string // the site's two origins
	elsewhere  string // another app on the same machine: http://127.0.0.1:<other port>
	caddyfiles int
}

func startHostsEnv(t *testing.T) *hostsEnv {
	t.Helper()
	e := &hostsEnv{bin: ssogateBinary(t), home: t.TempDir()}
	e.idp = startIdP(t, testidp.User{Email: "alice@acme.com", GivenName: "Alice", FamilyName: "Archer"})
	e.cert = filepath.Join(e.home, "idp.pem")
	if err := os.WriteFile(e.cert, e.idp.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(&recorder{})
	t.Cleanup(up.Close)
	e.upstream = up.URL
	e.port = freePort(t)
	e.gate = fmt.Sprintf("http://127.0.0.1:%d", e.port)
	e.alt = fmt.Sprintf("http://localhost:%d", e.port)
	e.elsewhere = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	e.run(t, fmt.Sprintf("%s, %s {\n\tsaml_sso {\n%s\n\t}\n\treverse_proxy %s\n}\n", e.gate, e.alt, e.gateLines(""), e.upstream), e.port)
	e.idp.TrustSPMetadataURL(e.gate + "/sso/metadata")
	return e
}

// gateLines is the saml_sso block's body: the test IdP, pinned to acme.
func (e *hostsEnv) gateLines(extra string) string {
	return indent(fmt.Sprintf("org acme\nidp_sso_url %s\nidp_issuer %s\nidp_certificate %s\ndomain acme.com\n%s",
		e.idp.SSOURL(), e.idp.EntityID(), e.cert, extra), 2)
}

// caddyfile writes sites under the global options into a new folder, as
// a file named Caddyfile, and returns its path.
func (e *hostsEnv) caddyfile(t *testing.T, sites string) string {
	t.Helper()
	e.caddyfiles++
	dir := filepath.Join(e.home, fmt.Sprintf("cfg%d", e.caddyfiles))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("{\n\tadmin off\n\tstorage file_system %s\n\tssogate {\n\t\tdatabase sqlite %s\n\t}\n}\n\n%s",
		filepath.Join(dir, "caddy"), filepath.Join(dir, "ssogate.db"), sites)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// run starts the binary with sites until t ends.
func (e *hostsEnv) run(t *testing.T, sites string, port int) {
	t.Helper()
	startSSOGate(t, e.bin, e.home, e.caddyfile(t, sites), port)
}

// atHost sends a request to rawURL's listener with the Host header host,
// as any client may.
func atHost(t *testing.T, b *browser, method, rawURL, host string, form url.Values) *http.Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, rawURL, host, err)
	}
	return resp
}

// authnRequest decodes the HTTP-Redirect AuthnRequest in an IdP URL.
func authnRequest(t *testing.T, loc string) (acs, issuer string) {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(u.Query().Get("SAMLRequest"))
	if err != nil {
		t.Fatal(err)
	}
	inflated, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(raw)), 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		ACS    string `xml:"AssertionConsumerServiceURL,attr"`
		Issuer string `xml:"Issuer"`
	}
	if err := xml.Unmarshal(inflated, &req); err != nil {
		t.Fatalf("AuthnRequest (%v): %s", err, inflated)
	}
	return req.ACS, req.Issuer
}

// hasSessionCookie reports whether the response starts a session.
func hasSessionCookie(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if c.Name == "ssogate_session" && c.Value != "" {
			return true
		}
	}
	return false
}

// TestTrustedHosts: without base_url the gate builds its SAML URLs only on
// the hosts its site serves, and its entity ID (the audience) on the
// first of them, whatever Host a client sends.
func TestTrustedHosts(t *testing.T) {
	e := startHostsEnv(t)
	host := func(origin string) string { return strings.TrimPrefix(origin, "http://") }

	t.Run("sign-in starts only on the site's own hosts", func(t *testing.T) {
		b := newBrowser(t)
		resp := atHost(t, b, http.MethodGet, e.gate+"/sso/login?start=sso&rd=/", host(e.gate), nil)
		readBody(t, resp)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, e.idp.url+"/sso?") {
			t.Fatalf("login at %s = %d to %q; want 302 to the IdP", e.gate, resp.StatusCode, loc)
		}
		if acs, issuer := authnRequest(t, loc); acs != e.gate+"/sso/acs" || issuer != e.gate+"/sso/metadata" {
			t.Fatalf("AuthnRequest ACS %s, issuer %s", acs, issuer)
		}
		// Another app on the same machine, and a name the site does not
		// serve at all (Caddy's host matcher keeps it from the gate).
		for _, h := range []string{host(e.elsewhere), "evil.test", "127.0.0.1"} {
			for _, path := range []string{"/sso/login?start=sso&rd=/", "/sso/metadata"} {
				resp := atHost(t, b, http.MethodGet, e.gate+path, h, nil)
				body := readBody(t, resp)
				if loc := resp.Header.Get("Location"); loc != "" {
					t.Errorf("GET %s with Host %s = %d to %s; want no redirect", path, h, resp.StatusCode, loc)
				}
				if strings.Contains(body, h+"/sso") {
					t.Errorf("GET %s with Host %s: the answer names %s/sso:\n%s", path, h, h, body)
				}
				if h == host(e.elsewhere) && resp.StatusCode != http.StatusMisdirectedRequest {
					t.Errorf("GET %s with Host %s = %d; want 421", path, h, resp.StatusCode)
				}
			}
		}
	})

	t.Run("an assertion for another app behind the same IdP is refused", func(t *testing.T) {
		// app2 is another service provider at the same IdP: same issuer,
		// same certificate.
		app2 := &saml.EntityDescriptor{
			EntityID: e.elsewhere + "/sso/metadata",
			SPSSODescriptors: []saml.SPSSODescriptor{{
				SSODescriptor: saml.SSODescriptor{RoleDescriptor: saml.RoleDescriptor{
					ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol"}},
				AssertionConsumerServices: []saml.IndexedEndpoint{{Binding: saml.HTTPPostBinding, Location: e.elsewhere + "/sso/acs", Index: 1}},
			}},
		}
		e.idp.AddSP(app2)
		b := newBrowser(t)
		q := url.Values{"sp": {app2.EntityID}, "user": {"alice@acme.com"}, "relay": {"/"}}
		resp := b.navigate(e.idp.url + "/start?" + q.Encode())
		form := parseSAMLForm(t, readBody(t, resp))
		if form.Action != e.elsewhere+"/sso/acs" {
			t.Fatalf("the IdP posts to %s, want app2's ACS", form.Action)
		}
		// Posted to the gate, claiming to be app2's host.
		resp = atHost(t, b, http.MethodPost, e.gate+"/sso/acs", host(e.elsewhere), form.Values)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusMisdirectedRequest || hasSessionCookie(resp) {
			t.Fatalf("app2's assertion with Host %s = %d (session: %v); want 421 and no session:\n%s",
				host(e.elsewhere), resp.StatusCode, hasSessionCookie(resp), body)
		}
		// At the gate's own host, app2's audience and ACS are not the gate's.
		resp = atHost(t, b, http.MethodPost, e.gate+"/sso/acs", host(e.gate), form.Values)
		body = readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden || hasSessionCookie(resp) {
			t.Fatalf("app2's assertion at the gate = %d (session: %v); want 403 and no session:\n%s",
				resp.StatusCode, hasSessionCookie(resp), body)
		}
		// The gate still signs people in.
		b.signInAtIdP(e.idp.url, "alice@acme.com")
		resp = b.navigate(e.gate + "/sso/login?start=sso&rd=/")
		readBody(t, resp)
		resp = b.navigate(follow(t, resp))
		form = parseSAMLForm(t, readBody(t, resp))
		resp = b.post(form.Action, form.Values)
		readBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther || !hasSessionCookie(resp) {
			t.Fatalf("a login at the gate = %d; want 303 with a session", resp.StatusCode)
		}
	})

	t.Run("the entity ID does not follow the site's other name", func(t *testing.T) {
		b := newBrowser(t)
		resp := b.navigate(e.alt + "/sso/metadata")
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `entityID="`+e.gate+`/sso/metadata"`) {
			t.Fatalf("metadata at %s = %d; want entity ID %s/sso/metadata:\n%s", e.alt, resp.StatusCode, e.gate, body)
		}
		resp = b.navigate(e.alt + "/sso/login?start=sso&rd=/")
		readBody(t, resp)
		if acs, issuer := authnRequest(t, resp.Header.Get("Location")); acs != e.alt+"/sso/acs" || issuer != e.gate+"/sso/metadata" {
			t.Fatalf("AuthnRequest at %s: ACS %s, issuer %s; want the ACS there, the entity ID of %s", e.alt, acs, issuer, e.gate)
		}
		// An assertion for the entity ID the other name would have (what
		// another app there is) is refused there.
		other := &saml.EntityDescriptor{
			EntityID: e.alt + "/sso/metadata",
			SPSSODescriptors: []saml.SPSSODescriptor{{
				SSODescriptor: saml.SSODescriptor{RoleDescriptor: saml.RoleDescriptor{
					ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol"}},
				AssertionConsumerServices: []saml.IndexedEndpoint{{Binding: saml.HTTPPostBinding, Location: e.alt + "/sso/acs", Index: 1}},
			}},
		}
		e.idp.AddSP(other)
		q := url.Values{"sp": {other.EntityID}, "user": {"alice@acme.com"}, "relay": {"/"}}
		resp = b.navigate(e.idp.url + "/start?" + q.Encode())
		form := parseSAMLForm(t, readBody(t, resp))
		resp = b.post(form.Action, form.Values)
		body = readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden || hasSessionCookie(resp) {
			t.Fatalf("an assertion for %s = %d; want 403 and no session:\n%s", other.EntityID, resp.StatusCode, body)
		}
	})

	t.Run("a site on any host name lists its trusted hosts", func(t *testing.T) {
		port := freePort(t)
		own := fmt.Sprintf("127.0.0.1:%d", port)
		e.run(t, fmt.Sprintf(":%d {\n\tsaml_sso {\n%s\n\t}\n\treverse_proxy %s\n}\n", port, e.gateLines("trusted_hosts "+own), e.upstream), port)
		b := newBrowser(t)
		for _, tc := range []struct {
			host   string
			status int
		}{{own, http.StatusFound}, {"evil.test", http.StatusMisdirectedRequest}, {"app2.test", http.StatusMisdirectedRequest}} {
			resp := atHost(t, b, http.MethodGet, "http://"+own+"/sso/login?start=sso&rd=/", tc.host, nil)
			readBody(t, resp)
			if resp.StatusCode != tc.status {
				t.Errorf("login with Host %s = %d; want %d", tc.host, resp.StatusCode, tc.status)
			}
			if loc := resp.Header.Get("Location"); loc != "" {
				if acs, _ := authnRequest(t, loc); acs != "http://"+own+"/sso/acs" {
					t.Errorf("login with Host %s asks the IdP for ACS %s", tc.host, acs)
				}
			}
		}
	})

	t.Run("a site on any host name without base_url or trusted_hosts does not start", func(t *testing.T) {
		for _, site := range []string{fmt.Sprintf(":%d", freePort(t)), "*.localhost", "http://"} {
			cfg := e.caddyfile(t, fmt.Sprintf("%s {\n\tsaml_sso {\n%s\n\t}\n\trespond ok\n}\n", site, e.gateLines("")))
			for _, cmd := range []string{"validate", "adapt"} {
				r := runSSOGate(t, e.bin, e.home, "", cmd, "--config", cfg)
				if r.code == 0 || !strings.Contains(r.stderr, "set base_url <origin>, or trusted_hosts <host...>") {
					t.Errorf("ssogate %s with site %s: exit %d; want an error naming the fix:\n%s", cmd, site, r.code, r.stderr)
				}
			}
		}
	})
}
