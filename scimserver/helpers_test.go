package scimserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/apitoken"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/scimserver"
)

// env is a real server on a real SQLite file, with one org "acme" that
// has acme.com verified (as a Caddyfile domain line would) and a token of
// each scope.
type env struct {
	t     testing.TB
	store *sqlitestore.Store
	srv   *httptest.Server
	path  string

	org         storage.Org
	scim, admin string
}

func newEnv(t testing.TB, configure ...func(*scimserver.Config)) *env {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ssogate.db")
	st, err := sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, store: st, path: path}
	e.srv = e.serve(st, configure...)
	e.org, e.scim, e.admin = e.addOrg("acme", "acme.com")
	return e
}

func openStore(path string) (*sqlitestore.Store, error) {
	return sqlitestore.Open(context.Background(), path)
}

// serve starts a server on st.
func (e *env) serve(st storage.Store, configure ...func(*scimserver.Config)) *httptest.Server {
	cfg := scimserver.Config{Store: st, RequestsPerSecond: -1}
	for _, c := range configure {
		c(&cfg)
	}
	s, err := scimserver.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	e.t.Cleanup(srv.Close)
	return srv
}

// addOrg makes an org with verified domains and returns its scim and
// admin tokens.
func (e *env) addOrg(name string, domains ...string) (storage.Org, string, string) {
	e.t.Helper()
	ctx := context.Background()
	org, err := e.store.EnsureOrg(ctx, name, true)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.SyncConfigDomains(ctx, org.ID, domains); err != nil {
		e.t.Fatal(err)
	}
	return org, e.token(org, storage.ScopeSCIM), e.token(org, storage.ScopeAdmin)
}

func (e *env) token(org storage.Org, scope storage.Scope) string {
	e.t.Helper()
	tok, _ := e.revocableToken(org, scope)
	return tok
}

// revocableToken makes a token of org and returns it with a function
// that revokes it.
func (e *env) revocableToken(org storage.Org, scope storage.Scope) (string, func()) {
	e.t.Helper()
	tok, hash, err := apitoken.New()
	if err != nil {
		e.t.Fatal(err)
	}
	rec, err := e.store.CreateToken(context.Background(), org.ID, "test", scope, hash)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok, func() {
		e.t.Helper()
		if err := e.store.RevokeToken(context.Background(), org.ID, rec.ID); err != nil {
			e.t.Fatal(err)
		}
	}
}

// result is a response with its body decoded.
type result struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any // nil unless the body is a JSON object
}

// do sends a request. body is sent as is when a string or []byte,
// JSON-encoded otherwise; headers are name, value pairs.
func (e *env) do(method, path, token string, body any, headers ...string) result {
	e.t.Helper()
	return doURL(e.t, e.srv.URL, method, path, token, body, headers...)
}

func doURL(t testing.TB, base, method, path, token string, body any, headers ...string) result {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := result{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// get reads a value at a slash-separated path ("Resources/0/name/givenName").
func get(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for _, part := range strings.Split(path, "/") {
		switch t := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = t[part]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func (r result) str(path string) string {
	v, _ := get(r.body, path)
	s, _ := v.(string)
	return s
}

// check is an assertion on a response body, in the spirit of the Runscope
// assertions of Okta's spec test.
type check struct {
	path string
	op   string // eq, nonEmpty, number, absent, len, contains, hasNoKey
	want any
}

func eq(path string, want any) check       { return check{path, "eq", want} }
func nonEmpty(path string) check           { return check{path, "nonEmpty", nil} }
func number(path string) check             { return check{path, "number", nil} }
func absent(path string) check             { return check{path, "absent", nil} }
func length(path string, n int) check      { return check{path, "len", n} }
func contains(path string, want any) check { return check{path, "contains", want} }

// normalize makes want comparable with decoded JSON (numbers are float64).
func normalize(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(raw, &out)
	return out
}

func (c check) verify(body map[string]any) error {
	got, ok := get(body, c.path)
	switch c.op {
	case "eq":
		if !ok {
			return fmt.Errorf("%s: missing, want %v", c.path, c.want)
		}
		if diff := cmp.Diff(normalize(c.want), got); diff != "" {
			return fmt.Errorf("%s (-want +got):\n%s", c.path, diff)
		}
	case "nonEmpty":
		if !ok || got == nil || got == "" || reflect.ValueOf(got).Kind() == reflect.Slice && reflect.ValueOf(got).Len() == 0 {
			return fmt.Errorf("%s: empty (%v)", c.path, got)
		}
	case "number":
		if _, isNum := got.(float64); !isNum {
			return fmt.Errorf("%s = %#v, want a number", c.path, got)
		}
	case "absent":
		if ok {
			return fmt.Errorf("%s = %v, want absent", c.path, got)
		}
	case "len":
		list, _ := got.([]any)
		if !ok || len(list) != c.want.(int) {
			return fmt.Errorf("%s has %d items, want %d: %v", c.path, len(list), c.want, got)
		}
	case "contains":
		switch t := got.(type) {
		case string:
			if !strings.Contains(t, c.want.(string)) {
				return fmt.Errorf("%s = %q, want it to contain %q", c.path, t, c.want)
			}
		case []any:
			for _, el := range t {
				if cmp.Equal(normalize(c.want), el) {
					return nil
				}
			}
			return fmt.Errorf("%s = %v, want it to contain %v", c.path, t, c.want)
		default:
			return fmt.Errorf("%s = %v, want it to contain %v", c.path, got, c.want)
		}
	}
	return nil
}

// step is one request of a recorded IdP sequence. Paths and bodies may
// hold {{var}}s, filled from vars; save copies response values into vars.
type step struct {
	name   string
	method string
	path   string
	token  string // "" means the scim token; "-" sends none
	hdr    []string
	body   string
	status int
	checks []check
	save   map[string]string // var -> path in the response
}

// run executes steps in order as subtests, stopping at the first
// failure (later steps depend on earlier ones).
func (e *env) run(t *testing.T, vars map[string]string, steps []step) {
	t.Helper()
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			token := e.scim
			switch s.token {
			case "":
			case "-":
				token = ""
			default:
				token = expand(s.token, vars)
			}
			var body any
			if s.body != "" {
				body = expand(s.body, vars)
			}
			hdr := make([]string, len(s.hdr))
			for i, h := range s.hdr {
				hdr[i] = expand(h, vars)
			}
			r := doURL(t, e.srv.URL, s.method, expand(s.path, vars), token, body, hdr...)
			if r.status != s.status {
				t.Fatalf("%s %s = %d, want %d; body: %s", s.method, expand(s.path, vars), r.status, s.status, r.raw)
			}
			wantCT := "application/scim+json"
			if strings.HasPrefix(s.path, "/api/") {
				wantCT = "application/json"
			}
			if ct := r.header.Get("Content-Type"); len(r.raw) > 0 && !strings.HasPrefix(ct, wantCT) {
				t.Errorf("Content-Type = %q, want %s", ct, wantCT)
			}
			for _, c := range s.checks {
				c.path = expand(c.path, vars)
				if w, ok := c.want.(string); ok {
					c.want = expand(w, vars)
				}
				if err := c.verify(r.body); err != nil {
					t.Error(err)
				}
			}
			for k, p := range s.save {
				v, ok := get(r.body, p)
				if !ok {
					t.Fatalf("saving %s: no %s in %s", k, p, r.raw)
				}
				vars[k] = fmt.Sprint(v)
			}
		})
		if !ok {
			t.FailNow()
		}
	}
}

// expand replaces {{name}} with vars[name].
func expand(s string, vars map[string]string) string {
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	return s
}

// q escapes a query value.
func q(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22", "@", "%40", "[", "%5B", "]", "%5D").Replace(s)
}

// mustCreateUser provisions a user through the API and returns its id.
func (e *env) mustCreateUser(token, email string) string {
	e.t.Helper()
	r := e.do("POST", "/scim/v2/Users", token, userBody(email, "Test", "User"))
	if r.status != http.StatusCreated {
		e.t.Fatalf("creating %s: %d %s", email, r.status, r.raw)
	}
	return r.str("id")
}

func userBody(email, given, family string) map[string]any {
	return map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": email,
		"name":     map[string]any{"givenName": given, "familyName": family},
		"emails":   []any{map[string]any{"primary": true, "value": email, "type": "work"}},
		"active":   true,
	}
}

// mustCreateGroup provisions a group and returns its id.
func (e *env) mustCreateGroup(token, name string, members ...string) string {
	e.t.Helper()
	ms := []any{}
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	r := e.do("POST", "/scim/v2/Groups", token, map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name, "members": ms,
	})
	if r.status != http.StatusCreated {
		e.t.Fatalf("creating group %s: %d %s", name, r.status, r.raw)
	}
	return r.str("id")
}
