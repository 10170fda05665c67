package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"golang.org/x/net/html"

	_ "github.com/ssogate/ssogate/caddymodule"
	"github.com/ssogate/ssogate/internal/testidp"
)

// env is one end-to-end setup: a real Caddy (in this process) with the
// plugin, a test IdP, a SQLite file and an upstream app that echoes the
// identity headers it receives.
type env struct {
	t        *testing.T
	dir      string
	gate     string // http://127.0.0.1:port
	scim     string // the scim_server site in the same Caddy
	idp      *testidp.IdP
	idpURL   string
	upstream *recorder
	dbPath   string
	config   string // the Caddyfile it runs
}

// sub is e for a subtest: failures end the subtest, not its parent.
func (e *env) sub(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// recorder is the upstream app: it answers with the identity headers it
// got and counts requests.
type recorder struct {
	mu   sync.Mutex
	hits int
	last http.Header
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.hits++
	rec.last = r.Header.Clone()
	rec.mu.Unlock()
	out := map[string]string{"path": r.URL.Path}
	for _, h := range []string{"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Name",
		"X-Forwarded-Groups", "X-Forwarded-Role", "X-Forwarded-Org", "X-Forwarded_User", "X_Forwarded_User"} {
		if v, ok := r.Header[h]; ok {
			out[h] = strings.Join(v, "|")
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.hits
}

var demoUsers = []testidp.User{
	{Email: "alice@acme.com", GivenName: "Alice", FamilyName: "Archer"},
	{Email: "bob@acme.com", GivenName: "Bob", FamilyName: "Baker"},
	{Email: "mallory@evil.test", GivenName: "Mallory", FamilyName: "M"},
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// envOptions shape the Caddyfile of an env.
type envOptions struct {
	// extra lines inside saml_sso.
	extra string
	// idp replaces the idp_sso_url/idp_issuer/idp_certificate lines; it is
	// called once the IdP and its certificate file exist.
	idp func(e *env, certPath string) string
	// global lines inside the global options block.
	global string
	// noBaseURL leaves base_url out.
	noBaseURL bool
	// alias is another address of the gate's site (another hostname).
	alias func(e *env) string
}

// startIdPAndUpstream starts e's test IdP and its recording upstream
// (both closed at the test's end), writes the IdP's certificate into e.dir
// and returns the upstream and the certificate's path.
func (e *env) startIdPAndUpstream() (*httptest.Server, string) {
	t := e.t
	t.Helper()
	idpListener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.idpURL = "http://" + idpListener.Addr().String()
	e.idp, err = testidp.New(e.idpURL, demoUsers...)
	if err != nil {
		t.Fatal(err)
	}
	idpSrv := &httptest.Server{Listener: idpListener, Config: &http.Server{Handler: e.idp.Handler()}}
	idpSrv.Start()
	t.Cleanup(idpSrv.Close)

	up := httptest.NewServer(e.upstream)
	t.Cleanup(up.Close)

	certPath := filepath.Join(e.dir, "idp.pem")
	if err := os.WriteFile(certPath, e.idp.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return up, certPath
}

// startEnv starts the IdP, the upstream and Caddy with the saml_sso block
// given by extra (lines added inside saml_sso).
func startEnv(t *testing.T, extra string) *env {
	return startEnvWith(t, envOptions{extra: extra})
}

func startEnvWith(t *testing.T, o envOptions) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	e := &env{t: t, dir: t.TempDir(), upstream: &recorder{}}
	e.dbPath = filepath.Join(e.dir, "ssogate.db")

	up, certPath := e.startIdPAndUpstream()
	e.gate = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	e.scim = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	lines := []string{"org acme"}
	if o.idp != nil {
		lines = append(lines, strings.Split(o.idp(e, certPath), "\n")...)
	} else {
		lines = append(lines, "idp_sso_url "+e.idp.SSOURL(), "idp_issuer "+e.idp.EntityID(), "idp_certificate "+certPath)
	}
	if !o.noBaseURL {
		lines = append(lines, "base_url "+e.gate)
	}
	lines = append(lines, "domain acme.com")
	lines = append(lines, strings.Split(o.extra, "\n")...)
	cfg := fmt.Sprintf(`{
	admin off
	storage file_system %s
	ssogate {
		database sqlite %s
	}
%s}

%s {
	saml_sso {
%s
	}
	reverse_proxy %s
}

%s {
	scim_server
}
`, filepath.Join(e.dir, "caddy"), e.dbPath, indent(o.global, 1), e.gate, indent(strings.Join(lines, "\n"), 2), up.URL, e.scim)
	if o.alias != nil {
		cfg = strings.Replace(cfg, "\n"+e.gate+" {", "\n"+e.gate+", "+o.alias(e)+" {", 1)
	}
	e.config = cfg
	loadCaddyfile(t, cfg)
	e.idp.TrustSPMetadataURL(e.gate + "/sso/metadata")
	return e
}

// indent puts depth tabs before each non-empty line, each ending in a
// newline except the last.
func indent(s string, depth int) string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line = strings.TrimRight(line, " \t"); strings.TrimSpace(line) != "" {
			out = append(out, strings.Repeat("\t", depth)+strings.TrimLeft(line, " "))
		}
	}
	if depth == 1 && len(out) > 0 {
		return strings.Join(out, "\n") + "\n"
	}
	return strings.Join(out, "\n")
}

// loadCaddyfile adapts and runs a Caddyfile in this process until the test
// ends.
func loadCaddyfile(t *testing.T, cfg string) {
	t.Helper()
	adapter := caddyconfig.GetAdapter("caddyfile")
	js, warnings, err := adapter.Adapt([]byte(cfg), nil)
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v\n%s", err, cfg)
	}
	for _, w := range warnings {
		t.Logf("caddyfile warning: %v", w)
	}
	if err := caddy.Load(js, true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping caddy: %v", err)
		}
	})
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects by itself, so each hop can be checked.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{
		Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// signInAtIdP gives the browser an IdP session as email.
func (b *browser) signInAtIdP(idpURL, email string) {
	u, _ := url.Parse(idpURL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "testidp_user", Value: email, Path: "/"}})
}

func (b *browser) do(method, rawURL string, body io.Reader, hdr map[string]string) *http.Response {
	b.t.Helper()
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	return resp
}

// navigate is a browser navigation (GET accepting HTML).
func (b *browser) navigate(rawURL string) *http.Response {
	return b.do(http.MethodGet, rawURL, nil, map[string]string{"Accept": "text/html,application/xhtml+xml"})
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// follow resolves a redirect's Location against the request URL.
func follow(t *testing.T, resp *http.Response) string {
	t.Helper()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("%s gave %d without a Location", resp.Request.URL, resp.StatusCode)
	}
	return loc.String()
}

// samlForm is the auto-submitting form an IdP sends to the browser.
type samlForm struct {
	Action string
	Values url.Values
}

func parseSAMLForm(t *testing.T, page string) samlForm {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	f := samlForm{Values: url.Values{}}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[a.Key] = a.Val
			}
			switch n.Data {
			case "form":
				f.Action = attrs["action"]
			case "input":
				if attrs["name"] != "" {
					f.Values.Set(attrs["name"], attrs["value"])
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if f.Action == "" || f.Values.Get("SAMLResponse") == "" {
		t.Fatalf("no SAML form in page:\n%s", page)
	}
	return f
}

// post submits a form.
func (b *browser) post(rawURL string, v url.Values) *http.Response {
	return b.do(http.MethodPost, rawURL, bytes.NewBufferString(v.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

// loginLink finds the "Continue with SSO" link on the login page.
func loginLink(t *testing.T, page string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var href string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "a" {
			for _, a := range n.Attr {
				if a.Key == "id" && a.Val == "sso" {
					for _, a2 := range n.Attr {
						if a2.Key == "href" {
							href = a2.Val
						}
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if href == "" {
		t.Fatalf("no Continue with SSO link in:\n%s", page)
	}
	return href
}

// spLogin walks an SP-initiated login from a navigation to path, as email,
// and returns the ACS response (not followed).
func (e *env) spLogin(b *browser, path, email string) *http.Response {
	e.t.Helper()
	b.signInAtIdP(e.idpURL, email)
	resp := b.navigate(e.gate + path)
	readBody(e.t, resp)
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("GET %s without a session = %d, want 302", path, resp.StatusCode)
	}
	loc := follow(e.t, resp)
	if strings.Contains(loc, "/sso/login") {
		resp = b.navigate(loc)
		page := readBody(e.t, resp)
		resp = b.navigate(e.gate + loginLink(e.t, page))
		readBody(e.t, resp)
		loc = follow(e.t, resp)
	}
	if !strings.HasPrefix(loc, e.idpURL+"/sso?") {
		e.t.Fatalf("login went to %s, want the IdP", loc)
	}
	resp = b.navigate(loc)
	form := parseSAMLForm(e.t, readBody(e.t, resp))
	return b.post(form.Action, form.Values)
}

// idpForm returns the IdP-initiated form for email, with relay.
func (e *env) idpForm(b *browser, email, relay string) samlForm {
	e.t.Helper()
	q := url.Values{"sp": {e.gate + "/sso/metadata"}, "user": {email}, "relay": {relay}}
	resp := b.navigate(e.idpURL + "/start?" + q.Encode())
	body := readBody(e.t, resp)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("IdP start = %d: %s", resp.StatusCode, body)
	}
	return parseSAMLForm(e.t, body)
}

// getJSON GETs a gate URL as an API client and decodes the JSON answer.
func (b *browser) getJSON(rawURL string, hdr map[string]string) (int, map[string]any) {
	b.t.Helper()
	resp := b.do(http.MethodGet, rawURL, nil, hdr)
	body := readBody(b.t, resp)
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		b.t.Fatalf("GET %s = %d, body not JSON: %q", rawURL, resp.StatusCode, body)
	}
	return resp.StatusCode, out
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// postFrom posts a form as a browser does from a page of origin: with
// that Origin.
func (b *browser) postFrom(origin, rawURL string, v url.Values) *http.Response {
	return b.do(http.MethodPost, rawURL, bytes.NewBufferString(v.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": origin})
}

// signOut signs b out of the gate at origin as a person does: it opens
// the sign-out page at path and posts its form. It returns the answer.
func (b *browser) signOut(origin, path string) *http.Response {
	b.t.Helper()
	resp := b.navigate(origin + path)
	page := readBody(b.t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="logout-form"`) {
		b.t.Fatalf("GET %s = %d without the sign-out form:\n%s", path, resp.StatusCode, page)
	}
	v := url.Values{"csrf": {inputValue(b.t, page, "csrf")}}
	if strings.Contains(page, `name="rd"`) {
		v.Set("rd", inputValue(b.t, page, "rd"))
	}
	return b.postFrom(origin, origin+formAction(b.t, page, "logout-form"), v)
}

// formAction is the action of the form with id in an HTML page.
func formAction(t *testing.T, page, id string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var action string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "form" {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[a.Key] = a.Val
			}
			if attrs["id"] == id {
				action = attrs["action"]
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if action == "" {
		t.Fatalf("no form %q in:\n%s", id, page)
	}
	return action
}
