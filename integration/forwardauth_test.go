package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/testidp"
)

// Forward-auth mode: the gate as its own site, asked by another proxy
// (Debian's nginx with auth_request; the binary's own Caddy with
// forward_auth) about every request. The proxy configs and the gate's
// site block are the README's, with the example addresses replaced.

// echoApp is the app behind the proxy: it answers with the URI and every
// header it got.
type echoApp struct {
	mu   sync.Mutex
	hits int
}

type echoed struct {
	URI    string      `json:"uri"`
	Header http.Header `json:"header"`
}

func (a *echoApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.hits++
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(echoed{URI: r.RequestURI, Header: r.Header})
}

func (a *echoApp) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hits
}

// readmeBlock returns the README's fenced block of lang that contains
// marker.
func readmeBlock(t *testing.T, lang, marker string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```")
	for _, m := range re.FindAllStringSubmatch(string(readme), -1) {
		if strings.Contains(m[1], marker) {
			return m[1]
		}
	}
	t.Fatalf("no ```%s block with %q in README.md", lang, marker)
	return ""
}

// fwdEnv is one proxy in front of a gate site run by the ssogate binary,
// with a SCIM sidecar site in the same process, a test IdP and the app.
type fwdEnv struct {
	t       *testing.T
	bin     string
	home    string
	db      string
	idp     *idpServer
	app     *echoApp
	proxy   string // the public origin
	sidecar string
	// repl maps the README's example addresses to this env's.
	repl *strings.Replacer
}

// startFwd starts the IdP, the app and an ssogate process with the
// README's gate site (base_url the proxy's origin), extraSites (README
// text with the example addresses) and a sidecar.
func startFwd(t *testing.T, proxyPort int, extraSites string) *fwdEnv {
	t.Helper()
	e := &fwdEnv{t: t, bin: ssogateBinary(t), home: t.TempDir(), app: &echoApp{}}
	e.db = filepath.Join(e.home, "ssogate.db")
	e.idp = startIdP(t, testidp.User{Email: "alice@acme.com", GivenName: "Alice", FamilyName: "Archer"},
		testidp.User{Email: "bob@acme.com", GivenName: "Bob", FamilyName: "Baker"})
	app := httptest.NewServer(e.app)
	t.Cleanup(app.Close)
	cert := filepath.Join(e.home, "idp.pem")
	if err := os.WriteFile(cert, e.idp.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	gatePort, sidecarPort := freePort(t), freePort(t)
	e.proxy = fmt.Sprintf("http://127.0.0.1:%d", proxyPort)
	e.sidecar = fmt.Sprintf("http://127.0.0.1:%d", sidecarPort)
	e.repl = strings.NewReplacer(
		"https://acme.okta.com/app/acme_analytics/exk123/sso/saml", e.idp.SSOURL(),
		"http://www.okta.com/exk123", e.idp.EntityID(),
		"/etc/ssogate/okta.pem", cert,
		"https://app.example.com", e.proxy,
		"app.example.com {", e.proxy+" {",
		"127.0.0.1:9000", fmt.Sprintf("127.0.0.1:%d", gatePort),
		"127.0.0.1:8080", strings.TrimPrefix(app.URL, "http://"),
	)
	cfg := fmt.Sprintf(`{
	admin off
	storage file_system %s
	ssogate {
		database sqlite %s
	}
}

%s
%s
%s {
	scim_server
}
`, filepath.Join(e.home, "caddy"), e.db, e.repl.Replace(readmeBlock(t, "caddyfile", "bind 127.0.0.1")), e.repl.Replace(extraSites), e.sidecar)
	path := filepath.Join(e.home, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startSSOGate(t, e.bin, e.home, path, gatePort)
	waitForPort(t, sidecarPort, &lockedBuffer{})
	e.idp.TrustSPMetadataURL(fmt.Sprintf("http://127.0.0.1:%d/sso/metadata", gatePort))
	return e
}

// signIn walks a sign-in from a deep link through the proxy, as a person
// does, and returns the page the gate sends the browser back to.
func (e *fwdEnv) signIn(b *browser, deep, email string) string {
	t := e.t
	t.Helper()
	resp := b.navigate(e.proxy + deep)
	readBody(t, resp)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s without a session = %d, want 302 to sign in", deep, resp.StatusCode)
	}
	loc := follow(t, resp)
	if !strings.HasPrefix(loc, e.proxy+"/sso/login?") {
		t.Fatalf("GET %s without a session went to %s, want %s/sso/login", deep, loc, e.proxy)
	}
	resp = b.navigate(loc)
	page := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", loc, resp.StatusCode)
	}
	resp = b.navigate(e.proxy + loginLink(t, page))
	readBody(t, resp)
	resp = ssoVia(t, b, e.idp, follow(t, resp), email)
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in as %s = %d", email, resp.StatusCode)
	}
	return follow(t, resp)
}

// get is a navigation through the proxy with extra headers; it returns
// what the app saw, or nil when the request did not reach the app.
func (e *fwdEnv) get(b *browser, path string, hdr map[string]string) (*http.Response, *echoed) {
	e.t.Helper()
	h := map[string]string{"Accept": "text/html,application/xhtml+xml"}
	for k, v := range hdr {
		h[k] = v
	}
	before := e.app.count()
	resp := b.do(http.MethodGet, e.proxy+path, nil, h)
	body := readBody(e.t, resp)
	if e.app.count() == before {
		return resp, nil
	}
	var seen echoed
	if err := json.Unmarshal([]byte(body), &seen); err != nil {
		e.t.Fatalf("app's answer %q: %v", body, err)
	}
	return resp, &seen
}

// checkForwardAuth is the whole contract, through one proxy.
func checkForwardAuth(t *testing.T, e *fwdEnv) {
	const deep = "/reports/q1?x=1&y=2&z=a%20b"
	b := newBrowser(t)

	t.Run("deep link comes back intact", func(t *testing.T) {
		e := *e
		e.t = t
		if got := e.signIn(b, deep, "alice@acme.com"); got != e.proxy+deep {
			t.Fatalf("after sign-in, back at %s, want %s", got, e.proxy+deep)
		}
	})
	t.Run("identity arrives, spoofs and the session cookie do not", func(t *testing.T) {
		u, _ := url.Parse(e.proxy)
		spoof := map[string]string{
			"X-Forwarded-User": "ceo@acme.com", "X-Forwarded-Email": "ceo@acme.com", "X-Forwarded-Name": "CEO",
			"X-Forwarded-Groups": "Admins", "X-Forwarded-Role": "owner", "X-Forwarded-Org": "other",
			"X_Forwarded_User": "ceo@acme.com", "X-Forwarded_Role": "owner",
		}
		for _, appCookie := range []string{"", "theme=dark"} {
			if appCookie != "" {
				b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "theme", Value: "dark", Path: "/"}})
			}
			resp, seen := e.get(b, deep, spoof)
			if seen == nil {
				t.Fatalf("signed-in request did not reach the app: %d", resp.StatusCode)
			}
			if seen.URI != deep {
				t.Errorf("app got %s, want %s", seen.URI, deep)
			}
			for k, v := range map[string]string{
				"X-Forwarded-User": "alice@acme.com", "X-Forwarded-Email": "alice@acme.com",
				"X-Forwarded-Name": "Alice Archer", "X-Forwarded-Role": "member", "X-Forwarded-Org": "acme",
			} {
				if got := seen.Header[k]; len(got) != 1 || got[0] != v {
					t.Errorf("app got %s %q, want %q", k, got, v)
				}
			}
			// alice is in no team: no X-Forwarded-Groups at all, not the client's.
			if got := seen.Header["X-Forwarded-Groups"]; len(got) > 0 && got[0] != "" {
				t.Errorf("app got X-Forwarded-Groups %q, want none", got)
			}
			for k := range seen.Header {
				if strings.Contains(k, "_") {
					t.Errorf("app got %s: %q", k, seen.Header[k])
				}
			}
			// The browser's other cookies, the test IdP's too (a jar does
			// not tell ports apart), arrive as they were.
			var want []string
			for _, c := range b.c.Jar.Cookies(u) {
				if c.Name != gate.CookieName {
					want = append(want, c.Name+"="+c.Value)
				}
			}
			cookies := strings.Join(seen.Header["Cookie"], "; ")
			if strings.Contains(cookies, gate.CookieName) || cookies != strings.Join(want, "; ") ||
				!strings.Contains(cookies, appCookie) {
				t.Errorf("app got Cookie %q, want %q", cookies, strings.Join(want, "; "))
			}
		}
	})
	t.Run("/sso/auth is not reachable from outside", func(t *testing.T) {
		resp := b.do(http.MethodGet, e.proxy+"/sso/auth", nil, nil)
		readBody(t, resp)
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Forwarded-User") != "" {
			t.Fatalf("GET /sso/auth from outside = %d, want 404", resp.StatusCode)
		}
	})
	t.Run("logout ends access on the next request", func(t *testing.T) {
		resp := b.signOut(e.proxy, "/sso/logout")
		if body := readBody(t, resp); resp.StatusCode >= 400 {
			t.Fatalf("sign-out = %d:\n%s", resp.StatusCode, body)
		}
		if resp, seen := e.get(b, deep, nil); seen != nil || resp.StatusCode != http.StatusFound {
			t.Fatalf("after sign-out = %d, app reached: %v", resp.StatusCode, seen != nil)
		}
	})
	t.Run("SCIM deactivation ends access on the next request", func(t *testing.T) {
		bob := newBrowser(t)
		e := *e
		e.t = t
		e.signIn(bob, "/", "bob@acme.com")
		if _, seen := e.get(bob, "/", nil); seen == nil {
			t.Fatal("bob's session does not reach the app")
		}
		r := runSSOGate(t, e.bin, e.home, "", "token", "create", "--org", "acme", "--scope", "scim", "--db", e.db)
		if r.code != 0 {
			t.Fatalf("token create: exit %d: %s", r.code, r.stderr)
		}
		tok := strings.TrimSpace(r.stdout)
		id := memberID(t, e.sidecar, tok, "bob@acme.com")
		if code, body := scimCall(t, http.MethodPatch, e.sidecar+"/scim/v2/Users/"+id, tok, setActive(false)); code != http.StatusOK {
			t.Fatalf("deactivating = %d %v", code, body)
		}
		if resp, seen := e.get(bob, "/", nil); seen != nil || resp.StatusCode != http.StatusFound {
			t.Fatalf("deactivated member's next request = %d, app reached: %v", resp.StatusCode, seen != nil)
		}
	})
}

// TestForwardAuthCaddy runs the README's Caddy forward_auth site in the
// same ssogate process as the gate's site.
func TestForwardAuthCaddy(t *testing.T) {
	port := freePort(t)
	e := startFwd(t, port, readmeBlock(t, "caddyfile", "forward_auth 127.0.0.1"))
	checkForwardAuth(t, e)
	t.Run("API call gets the 401 with the login URL", func(t *testing.T) {
		resp := newBrowser(t).do(http.MethodGet, e.proxy+"/api/x?a=1&b=2", nil, map[string]string{"Accept": "application/json"})
		readBody(t, resp)
		if want := "/sso/login?rd=" + url.QueryEscape("/api/x?a=1&b=2"); resp.StatusCode != http.StatusUnauthorized ||
			resp.Header.Get("X-Auth-Request-Redirect") != want {
			t.Fatalf("= %d, X-Auth-Request-Redirect %q; want 401, %q", resp.StatusCode, resp.Header.Get("X-Auth-Request-Redirect"), want)
		}
	})
}

// requireNginx skips the test when nginx is not installed, or fails it
// when SSOGATE_REQUIRE_INTEROP is set (CI installs it).
func requireNginx(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil {
				return p
			}
		}
		if os.Getenv("SSOGATE_REQUIRE_INTEROP") != "" {
			t.Fatalf("nginx is not installed (apt-get install nginx): %v", err)
		}
		t.Skipf("nginx is not installed (apt-get install nginx), skipping: %v", err)
	}
	return path
}

// startNginx runs nginx in the foreground with server (the README's
// server block, addresses replaced) in its own prefix, until the test
// ends.
func startNginx(t *testing.T, server string, port int) {
	t.Helper()
	bin := requireNginx(t)
	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // the worker reads the test's private temp dir
	}
	conf := fmt.Sprintf(`%[2]s
worker_processes 1;
error_log %[1]s/error.log info;
pid %[1]s/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[3]s
}
`, dir, user, server)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path, "-g", "daemon off;")
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			errs, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error log:\n%s", errs)
		}
	})
	waitForPort(t, port, logs)
}

// TestForwardAuthNginx runs Debian's nginx with the README's server block.
func TestForwardAuthNginx(t *testing.T) {
	requireNginx(t)
	port := freePort(t)
	e := startFwd(t, port, "")
	server := readmeBlock(t, "nginx", "auth_request")
	server = e.repl.Replace(strings.Replace(server, "listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port), 1))
	startNginx(t, server, port)
	checkForwardAuth(t, e)
	// The config most nginx admins write first:
	//   error_page 401 = @login; location @login { return 302 /sso/login?rd=$request_uri; }
	// nginx cannot escape $request_uri, so the query comes unescaped.
	t.Run("unescaped rd=$request_uri comes back intact", func(t *testing.T) {
		e := *e
		e.t = t
		const deep = "/reports/q2?x=1&y=2"
		b := newBrowser(t)
		resp := b.navigate(e.proxy + "/sso/login?rd=" + deep)
		page := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login page = %d", resp.StatusCode)
		}
		resp = b.navigate(e.proxy + loginLink(t, page))
		readBody(t, resp)
		resp = ssoVia(t, b, e.idp, follow(t, resp), "alice@acme.com")
		readBody(t, resp)
		if got := follow(t, resp); resp.StatusCode != http.StatusSeeOther || got != e.proxy+deep {
			t.Fatalf("after sign-in %d to %s, want %s", resp.StatusCode, got, e.proxy+deep)
		}
	})
}

// TestForwardAuthTraefikExample parses the README's Traefik file-provider
// YAML (Traefik itself is not in Debian): a router to the gate's pages,
// one to the app through the forwardAuth middleware at /sso/auth, which
// copies the six identity headers and the Cookie header the gate returns
// (Traefik removes each from the request first, and sets it when the
// answer has it: pkg/middlewares/auth/forward.go).
func TestForwardAuthTraefikExample(t *testing.T) {
	var cfg struct {
		HTTP struct {
			Routers map[string]struct {
				Rule        string   `yaml:"rule"`
				Service     string   `yaml:"service"`
				Middlewares []string `yaml:"middlewares"`
			} `yaml:"routers"`
			Middlewares map[string]struct {
				ForwardAuth *struct {
					Address             string   `yaml:"address"`
					AuthResponseHeaders []string `yaml:"authResponseHeaders"`
				} `yaml:"forwardAuth"`
			} `yaml:"middlewares"`
			Services map[string]struct {
				LoadBalancer struct {
					Servers []struct {
						URL string `yaml:"url"`
					} `yaml:"servers"`
				} `yaml:"loadBalancer"`
			} `yaml:"services"`
		} `yaml:"http"`
	}
	dec := yaml.NewDecoder(strings.NewReader(readmeBlock(t, "yaml", "forwardAuth")))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	h := cfg.HTTP
	app, gateRouter := h.Routers["app"], h.Routers["ssogate"]
	if len(app.Middlewares) != 1 || app.Service != "app" {
		t.Fatalf("app router %+v", app)
	}
	mw := h.Middlewares[app.Middlewares[0]].ForwardAuth
	if mw == nil || mw.Address != "http://127.0.0.1:9000/sso/auth" {
		t.Fatalf("the app's middleware is not forwardAuth at the gate's /sso/auth: %+v", mw)
	}
	want := []string{"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Name", "X-Forwarded-Groups", "X-Forwarded-Role", "X-Forwarded-Org", "Cookie"}
	if strings.Join(mw.AuthResponseHeaders, ",") != strings.Join(want, ",") {
		t.Errorf("authResponseHeaders %v, want %v", mw.AuthResponseHeaders, want)
	}
	if gateRouter.Service != "ssogate" || !strings.Contains(gateRouter.Rule, "PathPrefix(`/sso/`)") ||
		!strings.Contains(gateRouter.Rule, "!Path(`/sso/auth`)") || len(gateRouter.Middlewares) != 0 {
		t.Errorf("gate router %+v: want /sso/* but /sso/auth to the gate, without the middleware", gateRouter)
	}
	for name, svc := range map[string]string{"app": "http://127.0.0.1:8080", "ssogate": "http://127.0.0.1:9000"} {
		if s := h.Services[name].LoadBalancer.Servers; len(s) != 1 || s[0].URL != svc {
			t.Errorf("service %s = %+v, want %s", name, s, svc)
		}
	}
}

// TestForwardAuthLatency measures what forward auth adds per request:
// the README's nginx server block against a server block of the same
// nginx that proxies to the same app without auth_request, and the
// README's Caddy forward_auth site against a site of the same ssogate
// process with reverse_proxy alone; requests alternate between the two,
// one at a time over kept-alive connections, with a real session. Only
// with SSOGATE_MEASURE=1 (SSOGATE_MEASURE_N requests to each, default
// 2000):
//
//	SSOGATE_MEASURE=1 go test -count=1 -run TestForwardAuthLatency -v ./integration
func TestForwardAuthLatency(t *testing.T) {
	if os.Getenv("SSOGATE_MEASURE") != "1" {
		t.Skip("a measurement; set SSOGATE_MEASURE=1")
	}
	n := 2000
	if v := os.Getenv("SSOGATE_MEASURE_N"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n < 100 {
			t.Fatalf("SSOGATE_MEASURE_N=%q: want a number of at least 100", v)
		}
	}
	t.Run("nginx", func(t *testing.T) {
		requireNginx(t)
		port, barePort := freePort(t), freePort(t)
		e := startFwd(t, port, "")
		server := e.repl.Replace(strings.Replace(readmeBlock(t, "nginx", "auth_request"), "listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port), 1))
		bare := e.repl.Replace(fmt.Sprintf(`server {
    listen 127.0.0.1:%d;
    location / {
        proxy_pass http://127.0.0.1:8080;
    }
}
`, barePort))
		startNginx(t, server+bare, port)
		measureForwardAuth(t, e, fmt.Sprintf("http://127.0.0.1:%d", barePort), n)
	})
	t.Run("Caddy forward_auth", func(t *testing.T) {
		port, barePort := freePort(t), freePort(t)
		e := startFwd(t, port, readmeBlock(t, "caddyfile", "forward_auth 127.0.0.1")+
			fmt.Sprintf("\nhttp://127.0.0.1:%d {\n\treverse_proxy 127.0.0.1:8080\n}\n", barePort))
		measureForwardAuth(t, e, fmt.Sprintf("http://127.0.0.1:%d", barePort), n)
	})
	// For comparison, saml_sso proxying the app itself (the README's gate
	// block with reverse_proxy for respond), against bare reverse_proxy.
	t.Run("saml_sso", func(t *testing.T) {
		port, barePort := freePort(t), freePort(t)
		site := strings.NewReplacer("http://127.0.0.1:9000 {", fmt.Sprintf("http://127.0.0.1:%d {", port),
			"respond 404", "reverse_proxy 127.0.0.1:8080").Replace(readmeBlock(t, "caddyfile", "bind 127.0.0.1"))
		e := startFwd(t, port, site+fmt.Sprintf("\nhttp://127.0.0.1:%d {\n\treverse_proxy 127.0.0.1:8080\n}\n", barePort))
		measureForwardAuth(t, e, fmt.Sprintf("http://127.0.0.1:%d", barePort), n)
	})
}

// measureForwardAuth signs a browser in through e's proxy and times n
// requests through it and n through bare, alternating.
func measureForwardAuth(t *testing.T, e *fwdEnv, bare string, n int) {
	b := newBrowser(t)
	e.t = t
	e.signIn(b, "/", "alice@acme.com")
	bareURL, authURL := bare+"/reports?x=1", e.proxy+"/reports?x=1"
	hdr := map[string]string{"Accept": "application/json"}
	get := func(u string) time.Duration {
		start := time.Now()
		resp := b.do(http.MethodGet, u, nil, hdr)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", u, resp.StatusCode)
		}
		return d
	}
	for range 100 { // warm up both
		get(bareURL)
		get(authURL)
	}
	hits := e.app.count()
	bareT, authT := make([]time.Duration, n), make([]time.Duration, n)
	for i := range n {
		bareT[i] = get(bareURL)
		authT[i] = get(authURL)
	}
	if got := e.app.count() - hits; got != 2*n {
		t.Fatalf("the app counted %d requests, want %d", got, 2*n)
	}
	pct := func(d []time.Duration, p float64) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[int(float64(len(s)-1)*p)]
	}
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
	t.Logf("%d sequential requests each, alternating, kept-alive client, loopback", n)
	t.Logf("without auth:      p50 %s  p99 %s", us(pct(bareT, .5)), us(pct(bareT, .99)))
	t.Logf("with the gate:     p50 %s  p99 %s", us(pct(authT, .5)), us(pct(authT, .99)))
	t.Logf("the gate adds:     p50 +%s  p99 +%s", us(pct(authT, .5)-pct(bareT, .5)), us(pct(authT, .99)-pct(bareT, .99)))
}
