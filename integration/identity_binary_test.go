package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/testidp"
)

// identityGate is one ssogate binary: a gate pinned to acme in front of an
// app that records what reaches it, and a scim_server site.
type identityGate struct {
	t             *testing.T
	bin, home, db string
	gate, sidecar string
	idp           *idpServer
	app           *bodyRecorder
	logs          *lockedBuffer
	cmd           *exec.Cmd // the running binary
	cfg           string    // its Caddyfile
	gatePort      int
	sidecarPort   int
}

// bodyRecorder is an app that reads each request's body to its end, then
// records the headers, the body and the trailers it got.
type bodyRecorder struct {
	mu   sync.Mutex
	last *httpSeen
}

type httpSeen struct {
	header, trailer http.Header
	body            string
}

func (rec *bodyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec.mu.Lock()
	rec.last = &httpSeen{header: r.Header.Clone(), trailer: r.Trailer.Clone(), body: string(body)}
	rec.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (rec *bodyRecorder) take() *httpSeen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	s := rec.last
	rec.last = nil
	return s
}

func startIdentityGate(t *testing.T) *identityGate {
	t.Helper()
	return startIdentityGateDB(t, "", "")
}

// startIdentityGateDB is startIdentityGate with the database at db ("":
// in the gate's home) and scimExtra in the scim_server block.
func startIdentityGateDB(t *testing.T, db, scimExtra string) *identityGate {
	t.Helper()
	g := &identityGate{t: t, bin: ssogateBinary(t), home: t.TempDir(), app: &bodyRecorder{}}
	g.db = db
	if db == "" {
		g.db = filepath.Join(g.home, "ssogate.db")
	}
	g.idp = startIdP(t, testidp.User{Email: "alice@acme.com", GivenName: "Alice", FamilyName: "Archer"})
	app := httptest.NewServer(g.app)
	t.Cleanup(app.Close)
	gatePort, sidecarPort := freePort(t), freePort(t)
	g.gate = fmt.Sprintf("http://127.0.0.1:%d", gatePort)
	g.sidecar = fmt.Sprintf("http://127.0.0.1:%d", sidecarPort)
	cert := filepath.Join(g.home, "idp.pem")
	if err := os.WriteFile(cert, g.idp.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(g.home, "Caddyfile")
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
	reverse_proxy %[7]s
}

%[8]s {
	scim_server {
		%[9]s
	}
}
`, filepath.Join(g.home, "caddy"), g.db, g.gate, g.idp.SSOURL(), g.idp.EntityID(), cert, app.URL, g.sidecar, scimExtra)), 0o600); err != nil {
		t.Fatal(err)
	}
	g.cfg, g.gatePort, g.sidecarPort = cfg, gatePort, sidecarPort
	g.cmd, g.logs = startSSOGate(t, g.bin, g.home, cfg, gatePort)
	waitForPort(t, sidecarPort, &bytes.Buffer{})
	g.idp.TrustSPMetadataURL(g.gate + "/sso/metadata")
	return g
}

// signIn walks an SP-initiated sign-in of email from the gate's login page.
func (g *identityGate) signIn(email string) *browser {
	t := g.t
	t.Helper()
	b := newBrowser(t)
	page := readBody(t, b.navigate(g.gate+"/sso/login?rd=/"))
	resp := b.navigate(g.gate + loginLink(t, page))
	readBody(t, resp)
	resp = ssoVia(t, b, g.idp, follow(t, resp), email)
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in of %s = %d", email, resp.StatusCode)
	}
	return b
}

// TestGroupNamesWithCommasThroughTheBinary: a SCIM group named
// "Analysts,owners" must reach the app as one team, not as "Analysts" and
// "owners"; every team name reads back exactly once the header is split on
// commas and each part percent-decoded.
func TestGroupNamesWithCommasThroughTheBinary(t *testing.T) {
	g := startIdentityGate(t)
	r := runSSOGate(t, g.bin, g.home, "", "token", "create", "--org", "acme", "--scope", "scim", "--db", g.db)
	if r.code != 0 {
		t.Fatalf("token create: exit %d: %s", r.code, r.stderr)
	}
	scim := strings.TrimSpace(r.stdout)
	code, user := scimCall(t, http.MethodPost, g.sidecar+"/scim/v2/Users", scim, map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "alice@acme.com", "name": map[string]any{"givenName": "Alice", "familyName": "Archer"},
		"emails": []any{map[string]any{"primary": true, "value": "alice@acme.com"}}, "active": true,
	})
	if code != http.StatusCreated {
		t.Fatalf("SCIM user = %d %v", code, user)
	}
	teams := []string{"Analysts,owners", "Sales, EMEA", "100% Ünïcode+R&D", "Eng"}
	for _, name := range teams {
		if code, body := scimCall(t, http.MethodPost, g.sidecar+"/scim/v2/Groups", scim, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name,
			"members": []any{map[string]any{"value": user["id"]}},
		}); code != http.StatusCreated {
			t.Fatalf("SCIM group %q = %d %v", name, code, body)
		}
	}
	b := g.signIn("alice@acme.com")

	if resp := b.do(http.MethodGet, g.gate+"/reports", nil, map[string]string{"Accept": "application/json"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /reports with a session = %d", resp.StatusCode)
	}
	seen := g.app.take()
	if seen == nil {
		t.Fatal("the request did not reach the app")
	}
	header := seen.header["X-Forwarded-Groups"]
	if len(header) != 1 {
		t.Fatalf("X-Forwarded-Groups = %q, want one line", header)
	}
	var got []string
	for _, part := range strings.Split(header[0], ",") {
		name, err := url.PathUnescape(part)
		if err != nil {
			t.Errorf("X-Forwarded-Groups %q: part %q does not decode: %v", header[0], part, err)
			name = part
		}
		got = append(got, name)
	}
	want := slices.Sorted(slices.Values(teams))
	if slices.Sort(got); !slices.Equal(got, want) {
		t.Errorf("X-Forwarded-Groups %q reads as %q, want %q", header[0], got, want)
	}
	if slices.Contains(got, "owners") {
		t.Errorf("X-Forwarded-Groups %q makes the member a member of owners", header[0])
	}

	// /sso/userinfo gives the names as they are.
	code, info := b.getJSON(g.gate+"/sso/userinfo", nil)
	var infoTeams []string
	for _, v := range info["teams"].([]any) {
		infoTeams = append(infoTeams, v.(string))
	}
	if slices.Sort(infoTeams); code != http.StatusOK || !slices.Equal(infoTeams, want) {
		t.Errorf("/sso/userinfo = %d, teams %q; want %q", code, infoTeams, want)
	}
}

// TestIdentityTrailersThroughTheBinary: identity names sent as request
// trailers of a chunked body, announced or not and in any spelling, never
// reach the app; the other trailers do.
func TestIdentityTrailersThroughTheBinary(t *testing.T) {
	g := startIdentityGate(t)
	cookie := sessionCookie(t, g.signIn("alice@acme.com"), g.gate)
	trailers := "X-Forwarded-User: ceo@acme.com\r\nx-forwarded-role: owner\r\nX_Forwarded_Org: other\r\n" +
		"X-Forwarded-Groups: owners\r\nX-Checksum: sha256=abc\r\n"
	for _, tc := range []struct{ name, announce string }{
		{"announced", "Trailer: X-Forwarded-User, x-forwarded-role, X-Checksum\r\nTrailer: X_Forwarded_Org\r\n"},
		{"not announced", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := rawChunkedPost(t, g.gate, "POST /upload HTTP/1.1\r\nHost: "+strings.TrimPrefix(g.gate, "http://")+"\r\n"+
				"Cookie: "+gate.CookieName+"="+cookie+"\r\nAccept: application/json\r\nContent-Type: text/plain\r\n"+
				"Transfer-Encoding: chunked\r\n"+tc.announce+"\r\n"+
				"5\r\nhello\r\n6\r\n world\r\n0\r\n"+trailers+"\r\n")
			seen := g.app.take()
			if status != http.StatusOK || seen == nil {
				t.Fatalf("chunked POST with a session = %d, reached the app: %v", status, seen != nil)
			}
			if seen.body != "hello world" {
				t.Errorf("the app read the body %q", seen.body)
			}
			for k := range seen.trailer {
				if strings.Contains(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "x-forwarded-") {
					t.Errorf("the app got the trailer %s: %q (trailers %v)", k, seen.trailer[k], seen.trailer)
				}
			}
			if tc.announce != "" && seen.trailer.Get("X-Checksum") != "sha256=abc" {
				t.Errorf("the app's trailers %v lack X-Checksum", seen.trailer)
			}
			if v := seen.header.Values("Trailer"); len(v) > 0 && strings.Contains(strings.ToLower(strings.Join(v, ",")), "forwarded") {
				t.Errorf("the app was announced trailers %q", v)
			}
		})
	}
}

// rawChunkedPost writes a request as bytes (Go's client would not send
// trailers it was not told of) and returns the status of the answer.
func rawChunkedPost(t *testing.T, origin, raw string) int {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(origin, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	return resp.StatusCode
}
