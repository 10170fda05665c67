package integration

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/ssptest"
)

// Interop tests against an IdP nobody here wrote: SimpleSAMLphp 1.19 from
// Debian's simplesamlphp package (internal/ssptest runs it with php -S),
// set up from ssogate's own SP metadata, with the built ssogate binary.

var sspUsers = []ssptest.User{
	{Email: "alice@example.com", Password: "alice-at-ssp", GivenName: "Alice", Surname: "Archer", Groups: []string{"Engineering", "Ops"}},
	{Email: "bob@example.com", Password: "bob-at-ssp", GivenName: "Bob", Surname: "Baker"},
}

// sspSetup shapes one SimpleSAMLphp and one gate.
type sspSetup struct {
	idp ssptest.Options // Users default to sspUsers
	// idpLines are the saml_sso lines naming the IdP; default
	// idp_metadata_url with SimpleSAMLphp's metadata URL.
	idpLines func(e *sspEnv) string
	extra    string     // more saml_sso lines
	sp       ssptest.SP // the gate's entry at the IdP; its metadata is the gate's /sso/metadata
}

// sspEnv is SimpleSAMLphp and an ssogate process with a gate pinned to org
// example (domain example.com) in front of a recording app.
type sspEnv struct {
	t          *testing.T
	bin, home  string
	config     string // the Caddyfile's path
	idp        *ssptest.IdP
	certPath   string // the IdP's certificate, PEM
	gate       string
	port       int
	spEntityID string
	upstream   *recorder
	logs       *lockedBuffer // every ssogate process's output
	proc       *gateProcess
}

func startSSP(t *testing.T, s sspSetup) *sspEnv {
	t.Helper()
	requireSSP(t)
	e := &sspEnv{t: t, bin: ssogateBinary(t), home: t.TempDir(), upstream: &recorder{}, logs: &lockedBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ssogate's output:\n%s", e.logs.String())
		}
	})
	if s.idp.Users == nil {
		s.idp.Users = sspUsers
	}
	e.idp = ssptest.Start(t, s.idp)
	e.certPath = filepath.Join(e.home, "ssp.pem")
	if err := os.WriteFile(e.certPath, e.idp.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(e.upstream)
	t.Cleanup(up.Close)
	e.port = freePort(t)
	e.gate = fmt.Sprintf("http://127.0.0.1:%d", e.port)
	idpLines := "idp_metadata_url " + e.idp.MetadataURL()
	if s.idpLines != nil {
		idpLines = s.idpLines(e)
	}
	lines := []string{"org example"}
	lines = append(lines, strings.Split(idpLines, "\n")...)
	lines = append(lines, "base_url "+e.gate, "domain example.com")
	lines = append(lines, strings.Split(s.extra, "\n")...)
	cfg := fmt.Sprintf(`{
	admin off
	storage file_system %s
	ssogate {
		database sqlite %s
	}
}

%s {
	saml_sso {
%s
	}
	reverse_proxy %s
}
`, filepath.Join(e.home, "caddy"), filepath.Join(e.home, "ssogate.db"), e.gate, indent(strings.Join(lines, "\n"), 2), up.URL)
	e.config = filepath.Join(e.home, "Caddyfile")
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.startGate(); err != nil {
		t.Fatal(err)
	}
	sp := s.sp
	sp.MetadataURL = e.gate + "/sso/metadata"
	e.spEntityID = e.idp.AddSP(t, sp)
	return e
}

// gateProcess is one `ssogate run`.
type gateProcess struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// startGate runs ssogate on the env's Caddyfile and waits until it
// listens; an ssogate that exits first is an error with its output.
func (e *sspEnv) startGate() error {
	e.t.Helper()
	cmd := ssogateCmd(e.bin, e.home, "run", "--config", e.config)
	cmd.Stdout, cmd.Stderr = e.logs, e.logs
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &gateProcess{cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	e.proc = p
	e.t.Cleanup(func() { e.stopGate(p) })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("ssogate exited at start (%v): %s", p.err, lastLines(e.logs.String(), 1))
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", e.port), 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("ssogate not listening on %d after 20s", e.port)
}

func (e *sspEnv) stopGate(p *gateProcess) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// lockedBuffer collects a process's output while tests read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// requireSSP skips the test when SimpleSAMLphp is not installed, or fails
// it when SSOGATE_REQUIRE_INTEROP is set (CI installs it: a skip there
// would hide that the interop tests never ran).
func requireSSP(t *testing.T) {
	t.Helper()
	if err := ssptest.Available(); err != nil {
		if os.Getenv("SSOGATE_REQUIRE_INTEROP") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// sspUser is the SimpleSAMLphp user with email.
func sspUser(t *testing.T, email string) ssptest.User {
	for _, u := range sspUsers {
		if u.Email == email {
			return u
		}
	}
	t.Fatalf("no SimpleSAMLphp user %s", email)
	return ssptest.User{}
}

// toIdP browses to path without a session and returns where the gate
// sends the browser to sign in (the IdP's SSO URL with an AuthnRequest).
func (e *sspEnv) toIdP(b *browser, path string) string {
	e.t.Helper()
	resp := b.navigate(e.gate + path)
	readBody(e.t, resp)
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("GET %s without a session = %d, want a redirect", path, resp.StatusCode)
	}
	loc := follow(e.t, resp)
	if strings.Contains(loc, "/sso/login") {
		resp = b.navigate(loc)
		page := readBody(e.t, resp)
		resp = b.navigate(e.gate + loginLink(e.t, page))
		readBody(e.t, resp)
		loc = follow(e.t, resp)
	}
	if !strings.HasPrefix(loc, e.idp.SSOURL()+"?") {
		e.t.Fatalf("sign-in went to %s, want SimpleSAMLphp's SSO URL %s", loc, e.idp.SSOURL())
	}
	return loc
}

// post submits a form the IdP's page would post, to the gate.
func (e *sspEnv) post(b *browser, f *ssptest.Form) *http.Response {
	e.t.Helper()
	if !strings.HasPrefix(f.Action, e.gate+"/") {
		e.t.Fatalf("the IdP posts to %s, not to the gate %s", f.Action, e.gate)
	}
	return b.post(f.Action, f.Values)
}

// spSignIn walks an SP-initiated sign-in from a navigation to path, with
// SimpleSAMLphp's login form, and returns the gate's answer to the ACS
// post.
func (e *sspEnv) spSignIn(b *browser, path, email string) *http.Response {
	e.t.Helper()
	loc := e.toIdP(b, path)
	u := sspUser(e.t, email)
	f, err := e.idp.SignIn(b.c, loc, u.Email, u.Password)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.post(b, f)
}

// wantSignedIn checks that the gate's ACS answer went to path and that the
// app then sees email with the name from the assertion.
func (e *sspEnv) wantSignedIn(b *browser, resp *http.Response, path, email string) {
	e.t.Helper()
	body := readBody(e.t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != path {
		e.t.Fatalf("ACS = %d to %q, want 303 to %s: %s", resp.StatusCode, resp.Header.Get("Location"), path, body)
	}
	seen := headersVia(e.t, b, e.gate, nil)
	u := sspUser(e.t, email)
	if seen == nil || seen["X-Forwarded-User"] != email || seen["X-Forwarded-Email"] != email ||
		seen["X-Forwarded-Name"] != u.GivenName+" "+u.Surname || seen["X-Forwarded-Org"] != "example" {
		e.t.Fatalf("the app saw %v, want %s (%s %s) of org example", seen, email, u.GivenName, u.Surname)
	}
}

// wantNoGateSession checks that the browser has no session at the gate.
func (e *sspEnv) wantNoGateSession(b *browser) {
	e.t.Helper()
	if seen := headersVia(e.t, b, e.gate, nil); seen != nil {
		e.t.Fatalf("still signed in at the gate: the app saw %v", seen)
	}
}

// idpSession says whether the browser still has an IdP session: an
// IdP-initiated sign-in then skips the login form.
func (e *sspEnv) idpSession(b *browser) bool {
	e.t.Helper()
	p, err := e.idp.Visit(b.c, http.MethodGet, e.idp.IdPInitiatedURL(e.spEntityID, ""), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if p.IsLogin() {
		return false
	}
	if _, err := p.Form(); err != nil {
		e.t.Fatalf("IdP-initiated sign-in with an IdP session: %v", err)
	}
	return true
}

// refusal is the gate's last "sign-in refused" log line, or "".
func (e *sspEnv) refusal() string {
	var last string
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "sign-in refused") {
			last = line
		}
	}
	return last
}

func TestSimpleSAMLphp(t *testing.T) {
	requireSSP(t)
	start := time.Now()
	defer func() { t.Logf("SimpleSAMLphp interop tests took %s", time.Since(start).Round(time.Millisecond)) }()

	t.Run("metadata URL", func(t *testing.T) {
		e := startSSP(t, sspSetup{})
		t.Run("SP-initiated sign-in", func(t *testing.T) {
			e := e.sub(t)
			b := newBrowser(t)
			e.wantSignedIn(b, e.spSignIn(b, "/reports?q=1", "alice@example.com"), "/reports?q=1", "alice@example.com")
			// A second app visit in a new gate session rides the IdP
			// session: no login form.
			b.c.Jar.SetCookies(mustURL(t, e.gate), []*http.Cookie{{Name: gate.CookieName, Value: "", MaxAge: -1}})
			f, err := e.idp.SignIn(b.c, e.toIdP(b, "/again"), "", "")
			if err != nil {
				t.Fatalf("with an IdP session: %v", err)
			}
			e.wantSignedIn(b, e.post(b, f), "/again", "alice@example.com")
		})
		t.Run("IdP-initiated sign-in", func(t *testing.T) {
			e := e.sub(t)
			b := newBrowser(t)
			u := sspUser(t, "bob@example.com")
			f, err := e.idp.SignIn(b.c, e.idp.IdPInitiatedURL(e.spEntityID, "/dashboard"), u.Email, u.Password)
			if err != nil {
				t.Fatal(err)
			}
			e.wantSignedIn(b, e.post(b, f), "/dashboard", "bob@example.com")
		})
	})

	t.Run("explicit values", func(t *testing.T) {
		e := startSSP(t, sspSetup{idpLines: func(e *sspEnv) string {
			return fmt.Sprintf("idp_sso_url %s\nidp_issuer %s\nidp_certificate %s", e.idp.SSOURL(), e.idp.EntityID(), e.certPath)
		}})
		t.Run("SP-initiated sign-in", func(t *testing.T) {
			e := e.sub(t)
			b := newBrowser(t)
			e.wantSignedIn(b, e.spSignIn(b, "/", "bob@example.com"), "/", "bob@example.com")
		})
		t.Run("IdP-initiated sign-in", func(t *testing.T) {
			e := e.sub(t)
			b := newBrowser(t)
			u := sspUser(t, "alice@example.com")
			f, err := e.idp.SignIn(b.c, e.idp.IdPInitiatedURL(e.spEntityID, ""), u.Email, u.Password)
			if err != nil {
				t.Fatal(err)
			}
			e.wantSignedIn(b, e.post(b, f), "/", "alice@example.com")
		})
	})

	t.Run("encrypted assertion", func(t *testing.T) {
		for _, tc := range []struct{ name, cipher string }{
			{"AES-256-GCM", ssptest.AES256GCM},
			{"AES-256-CBC", ssptest.AES256CBC},
			// SimpleSAMLphp's own choice: AES-128-CBC, key by RSA-OAEP-MGF1P.
			{"AES-128-CBC", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := startSSP(t, sspSetup{idp: ssptest.Options{ContentEncryption: tc.cipher}, sp: ssptest.SP{EncryptAssertion: true}})
				b := newBrowser(t)
				e.wantSignedIn(b, e.spSignIn(b, "/secret", "alice@example.com"), "/secret", "alice@example.com")
				u := sspUser(t, "bob@example.com")
				f, err := e.idp.SignIn(newBrowser(t).c, e.idp.IdPInitiatedURL(e.spEntityID, "/x"), u.Email, u.Password)
				if err != nil {
					t.Fatal(err)
				}
				cipher := tc.cipher
				if cipher == "" {
					cipher = ssptest.AES128CBC
				}
				if resp := decodeSAML(t, f.Values.Get("SAMLResponse")); !strings.Contains(resp, "EncryptedAssertion") ||
					!strings.Contains(resp, `Algorithm="`+cipher+`"`) {
					t.Fatalf("SimpleSAMLphp sent no EncryptedAssertion in %s:\n%s", cipher, resp)
				}
			})
		}
	})

	t.Run("signed AuthnRequest", func(t *testing.T) {
		e := startSSP(t, sspSetup{idp: ssptest.Options{WantAuthnRequestsSigned: true}, sp: ssptest.SP{ValidateAuthnRequest: true}})
		b := newBrowser(t)
		e.wantSignedIn(b, e.spSignIn(b, "/", "alice@example.com"), "/", "alice@example.com")
	})

	// Logout both ways, with SimpleSAMLphp taking unsigned messages and
	// with validate.logout (signed messages only, as Okta).
	for _, tc := range []struct {
		name     string
		signed   bool
		idpLines func(e *sspEnv) string
	}{
		{name: "unsigned"},
		{name: "signed", signed: true},
		{name: "explicit values", idpLines: func(e *sspEnv) string {
			return fmt.Sprintf("idp_sso_url %s\nidp_issuer %s\nidp_certificate %s\nidp_slo_url %s",
				e.idp.SSOURL(), e.idp.EntityID(), e.certPath, e.idp.SLOURL())
		}},
	} {
		t.Run("SP-initiated logout, "+tc.name, func(t *testing.T) {
			e := startSSP(t, sspSetup{idpLines: tc.idpLines, sp: ssptest.SP{ValidateLogout: tc.signed}})
			e.spLogout(t)
		})
	}
	t.Run("IdP-initiated logout, signed", func(t *testing.T) {
		e := startSSP(t, sspSetup{sp: ssptest.SP{ValidateLogout: true, SignLogout: true}})
		e.idpLogout(t)
	})
	t.Run("IdP-initiated logout, unsigned, is refused", func(t *testing.T) {
		// The single logout profile wants LogoutRequests signed on the
		// front channel (saml-profiles §4.4.3.1): anyone could send an
		// unsigned one to end someone's session.
		e := startSSP(t, sspSetup{})
		b := newBrowser(t)
		e.wantSignedIn(b, e.spSignIn(b, "/", "alice@example.com"), "/", "alice@example.com")
		p, err := e.idp.Visit(b.c, http.MethodGet, e.idp.LogoutURL(e.gate+"/goodbye"), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp := e.deliver(b, p)
		if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "logout message is not valid") {
			t.Fatalf("the gate's answer to an unsigned LogoutRequest = %d: %s", resp.StatusCode, body)
		}
		// The log line reaches e.logs through the process's stderr pipe,
		// which may lag the HTTP answer on a loaded machine.
		waitUntil(t, "the log says why the logout was refused", func() bool {
			return strings.Contains(e.logs.String(), "signature element not present")
		})
		if seen := headersVia(t, b, e.gate, nil); seen == nil {
			t.Error("the unsigned LogoutRequest ended the gate session")
		}
	})

	t.Run("IdP metadata URL down at start", func(t *testing.T) {
		// The metadata URL is a proxy to SimpleSAMLphp's that can be
		// closed; SimpleSAMLphp itself stays up.
		var proxy *httptest.Server
		e := startSSP(t, sspSetup{idpLines: func(e *sspEnv) string {
			proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				resp, err := http.Get(e.idp.MetadataURL())
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				defer resp.Body.Close()
				w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
				w.WriteHeader(resp.StatusCode)
				_, _ = io.Copy(w, resp.Body)
			}))
			t.Cleanup(proxy.Close)
			return "idp_metadata_url " + proxy.URL + "/metadata"
		}})
		b := newBrowser(t)
		e.wantSignedIn(b, e.spSignIn(b, "/", "alice@example.com"), "/", "alice@example.com")
		e.stopGate(e.proc)
		proxy.Close()
		if err := e.startGate(); err != nil {
			t.Fatalf("with the IdP metadata URL down: %v", err)
		}
		b = newBrowser(t)
		e.wantSignedIn(b, e.spSignIn(b, "/kept", "bob@example.com"), "/kept", "bob@example.com")
	})

	for _, tc := range []struct {
		name   string
		offset time.Duration
	}{
		{"IdP clock 2 minutes behind", -2 * time.Minute},
		{"IdP clock 2 minutes ahead", 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startSSP(t, sspSetup{idp: ssptest.Options{ClockOffset: tc.offset}, extra: "clock_skew 150s"})
			b := newBrowser(t)
			resp := e.spSignIn(b, "/", "alice@example.com")
			if resp.StatusCode != http.StatusSeeOther {
				t.Logf("refusal: %s", e.refusal())
			}
			e.wantSignedIn(b, resp, "/", "alice@example.com")
			u := sspUser(t, "bob@example.com")
			b = newBrowser(t)
			f, err := e.idp.SignIn(b.c, e.idp.IdPInitiatedURL(e.spEntityID, "/idp"), u.Email, u.Password)
			if err != nil {
				t.Fatal(err)
			}
			e.wantSignedIn(b, e.post(b, f), "/idp", "bob@example.com")
		})
	}

	t.Run("SP metadata still valid at the IdP 3 days on", func(t *testing.T) {
		// The IdP's clock is 3 days ahead: it imported the metadata
		// that long ago. Its assertions are then from the future for the
		// gate, so only the IdP's side is checked.
		e := startSSP(t, sspSetup{idp: ssptest.Options{ClockOffset: 72 * time.Hour}})
		b := newBrowser(t)
		u := sspUser(t, "alice@example.com")
		if _, err := e.idp.SignIn(b.c, e.idp.IdPInitiatedURL(e.spEntityID, ""), u.Email, u.Password); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("groups from the assertion", func(t *testing.T) {
		e := startSSP(t, sspSetup{extra: "groups_attribute groups"})
		b := newBrowser(t)
		e.wantSignedIn(b, e.spSignIn(b, "/", "alice@example.com"), "/", "alice@example.com")
		if seen := headersVia(t, b, e.gate, nil); seen["X-Forwarded-Groups"] != "Engineering,Ops" {
			t.Errorf("X-Forwarded-Groups = %q, want Engineering,Ops", seen["X-Forwarded-Groups"])
		}
	})
}

// spLogout signs alice in, then out at the gate: the gate sends a
// LogoutRequest to the IdP, which ends its session and answers with a
// LogoutResponse that brings the browser to the gate's signed-out page.
func (e *sspEnv) spLogout(t *testing.T) {
	b := newBrowser(t)
	e.wantSignedIn(b, e.spSignIn(b, "/", "alice@example.com"), "/", "alice@example.com")
	resp := b.signOut(e.gate, "/sso/logout")
	readBody(t, resp)
	loc := follow(t, resp)
	if !strings.HasPrefix(loc, e.idp.SLOURL()+"?") {
		t.Fatalf("logout went to %s, want SimpleSAMLphp's SLO URL", loc)
	}
	e.wantNoGateSession(b)
	p, err := e.idp.Visit(b.c, http.MethodGet, loc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Location == "" || !strings.Contains(p.Location, "SAMLResponse=") {
		t.Fatalf("SimpleSAMLphp's answer to the LogoutRequest (%d): %s", p.Status, p.Message())
	}
	resp = e.deliver(b, p)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "signed out") {
		t.Fatalf("the gate's answer to the IdP's LogoutResponse = %d: %s", resp.StatusCode, body)
	}
	if e.idpSession(b) {
		t.Error("the IdP session outlived the logout")
	}
}

// idpLogout signs alice in, then out at the IdP: the IdP sends a
// LogoutRequest to the gate, the gate ends the session and answers with a
// LogoutResponse, and the IdP sends the browser to the RelayState.
func (e *sspEnv) idpLogout(t *testing.T) {
	b := newBrowser(t)
	e.wantSignedIn(b, e.spSignIn(b, "/", "alice@example.com"), "/", "alice@example.com")
	returnTo := e.gate + "/goodbye"
	p, err := e.idp.Visit(b.c, http.MethodGet, e.idp.LogoutURL(returnTo), nil)
	if err != nil {
		t.Fatal(err)
	}
	for hop := 0; p.Location != returnTo; hop++ {
		if hop == 5 {
			t.Fatalf("the logout did not come back to %s", returnTo)
		}
		resp := e.deliver(b, p)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("the gate's answer to the IdP's logout message = %d: %s", resp.StatusCode, body)
		}
		next := follow(t, resp)
		if !strings.HasPrefix(next, e.idp.SLOURL()+"?") {
			t.Fatalf("the gate sent the browser to %s, not back to the IdP's SLO URL", next)
		}
		if p, err = e.idp.Visit(b.c, http.MethodGet, next, nil); err != nil {
			t.Fatal(err)
		}
		if p.Location == "" {
			t.Fatalf("SimpleSAMLphp's answer to the gate (%d): %s", p.Status, p.Message())
		}
	}
	e.wantNoGateSession(b)
	if e.idpSession(b) {
		t.Error("the IdP session outlived the logout")
	}
}

// sub is e for a subtest.
func (e *sspEnv) sub(t *testing.T) *sspEnv {
	c := *e
	c.t = t
	return &c
}

// deliver takes where the IdP left the browser (a redirect or an
// auto-posting form to the gate) to the gate, and returns its answer.
func (e *sspEnv) deliver(b *browser, p *ssptest.Page) *http.Response {
	e.t.Helper()
	if p.Location != "" {
		if !strings.HasPrefix(p.Location, e.gate+"/") {
			e.t.Fatalf("the IdP sent the browser to %s, not to the gate", p.Location)
		}
		return b.navigate(p.Location)
	}
	f, err := p.Form()
	if err != nil {
		e.t.Fatal(err)
	}
	return e.post(b, f)
}

func decodeSAML(t *testing.T, v string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
