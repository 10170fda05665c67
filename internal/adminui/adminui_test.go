package adminui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
	"github.com/ssogate/ssogate/internal/testidp"
)

// fixture is the pages on a real store with two orgs, acme and globex,
// each with an owner, a member and a team.
type fixture struct {
	h             *Handler
	st            *sqlitestore.Store
	acme, globex  storage.Org
	owner, member orgadmin.MemberView
	other         orgadmin.MemberView // globex's member
	otherTeam     storage.Team
	now           time.Time
}

const goodToken = "good-csrf"

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "ui.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, now: time.Now()}
	svc := &orgadmin.Service{Store: st, Now: func() time.Time { return f.now }}
	op := orgadmin.Operator
	for _, o := range []struct {
		name string
		dst  *storage.Org
	}{{"acme", &f.acme}, {"globex", &f.globex}} {
		if *o.dst, err = st.CreateOrg(ctx, o.name); err != nil {
			t.Fatal(err)
		}
	}
	if f.owner, err = svc.InviteMember(ctx, f.acme, op, "olive@acme.com", storage.RoleOwner); err != nil {
		t.Fatal(err)
	}
	if f.member, err = svc.InviteMember(ctx, f.acme, op, "mo@acme.com", storage.RoleMember); err != nil {
		t.Fatal(err)
	}
	if f.other, err = svc.InviteMember(ctx, f.globex, op, "gus@globex.com", storage.RoleMember); err != nil {
		t.Fatal(err)
	}
	if f.otherTeam, err = svc.CreateTeam(ctx, f.globex, op, "Ops", ""); err != nil {
		t.Fatal(err)
	}
	f.h, err = New(Config{
		Service:   svc,
		Base:      "/sso/admin",
		ReauthURL: func(rd string) string { return "/sso/login?reauth=1&rd=" + url.QueryEscape(rd) },
		CSRFToken: func(http.ResponseWriter, *http.Request) (string, error) { return goodToken, nil },
		CSRFValid: func(r *http.Request) bool { return r.PostForm.Get("csrf") == goodToken },
		GateURL:   func(*http.Request) string { return "https://app.example.com/sso" },
		Now:       func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) as(m orgadmin.MemberView, org storage.Org, signedIn time.Time) Principal {
	return Principal{Org: org, MemberID: m.ID, Email: m.Email, Role: m.EffectiveRole, SignedInAt: signedIn}
}

func (f *fixture) serve(t testing.TB, p Principal, method, sub string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if form != nil {
		r = httptest.NewRequest(method, "https://app.example.com/sso/admin"+sub, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, "https://app.example.com/sso/admin"+sub, nil)
	}
	w := httptest.NewRecorder()
	if err := f.h.Serve(w, r, p, sub); err != nil {
		t.Fatalf("%s %s: %v", method, sub, err)
	}
	return w
}

func TestPagesRender(t *testing.T) {
	f := newFixture(t)
	owner := f.as(f.owner, f.acme, f.now)
	for _, s := range sections {
		t.Run(s.Name, func(t *testing.T) {
			w := f.serve(t, owner, http.MethodGet, "/"+s.Name, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET /%s = %d:\n%s", s.Name, w.Code, w.Body)
			}
			for h, want := range map[string]string{
				"Cache-Control": "no-store", "X-Frame-Options": "DENY",
				"Content-Security-Policy": "default-src 'none'",
			} {
				if got := w.Header().Get(h); !strings.Contains(got, want) {
					t.Errorf("%s = %q, want %q in it", h, got, want)
				}
			}
			body := w.Body.String()
			if !strings.Contains(body, `aria-current="page">`+htmlEscape(s.Title)+`</a>`) || !strings.Contains(body, "acme") {
				t.Errorf("the %s page does not mark itself in the navigation or name the org", s.Name)
			}
			if strings.Contains(body, "globex") || strings.Contains(body, "gus@") {
				t.Errorf("the %s page of acme shows globex's things", s.Name)
			}
		})
	}
}

func htmlEscape(s string) string { return strings.ReplaceAll(s, "&", "&amp;") }

func TestPagesRefuse(t *testing.T) {
	f := newFixture(t)
	owner := f.as(f.owner, f.acme, f.now)
	stale := f.as(f.owner, f.acme, f.now.Add(-DefaultFreshFor-time.Second))
	member := f.as(f.member, f.acme, f.now)
	csrf := func(v url.Values) url.Values { v.Set("csrf", goodToken); return v }
	for _, tc := range []struct {
		name   string
		p      Principal
		method string
		sub    string
		form   url.Values
		status int
		want   string // in the body, or the Location
	}{
		{"a member", member, http.MethodGet, "/sso", nil, http.StatusForbidden, "Only owners and admins"},
		{"a member's post", member, http.MethodPost, "/members", csrf(url.Values{"action": {"role"}, "id": {f.member.ID}, "role": {"owner"}}), http.StatusForbidden, "Only owners and admins"},
		{"unknown page", owner, http.MethodGet, "/secrets", nil, http.StatusNotFound, ""},
		{"the index", owner, http.MethodGet, "", nil, http.StatusSeeOther, "/sso/admin/sso"},
		{"no CSRF token", owner, http.MethodPost, "/domains", url.Values{"action": {"claim"}, "domain": {"acme.com"}}, http.StatusForbidden, "came from another site"},
		{"stale sign-in, SSO change", stale, http.MethodPost, "/sso", csrf(url.Values{"action": {"enable"}}), http.StatusSeeOther, "/sso/login?reauth=1&rd=%2Fsso%2Fadmin%2Fsso"},
		{"stale sign-in, token", stale, http.MethodPost, "/scim", csrf(url.Values{"action": {"create"}, "name": {"x"}}), http.StatusSeeOther, "reauth=1"},
		{"stale sign-in, domain claim is allowed", stale, http.MethodPost, "/domains", csrf(url.Values{"action": {"claim"}, "domain": {"acme.com"}}), http.StatusSeeOther, "?done=claimed"},
		{"public suffix", owner, http.MethodPost, "/domains", csrf(url.Values{"action": {"claim"}, "domain": {"co.uk"}}), http.StatusBadRequest, `id="domain-error"`},
		{"another org's member", owner, http.MethodPost, "/members", csrf(url.Values{"action": {"role"}, "id": {f.other.ID}, "role": {"admin"}}), http.StatusNotFound, "no longer exists"},
		{"another org's team", owner, http.MethodPost, "/teams", csrf(url.Values{"action": {"role"}, "id": {f.otherTeam.ID}, "role": {"admin"}}), http.StatusNotFound, "no longer exists"},
		{"a team granting owner", owner, http.MethodPost, "/teams", csrf(url.Values{"action": {"create"}, "name": {"Bosses"}, "role": {"owner"}}), http.StatusBadRequest, "cannot grant the owner role"},
		{"deactivating oneself", owner, http.MethodPost, "/members", csrf(url.Values{"action": {"deactivate"}, "id": {f.owner.ID}}), http.StatusConflict, "cannot deactivate yourself"},
		{"demoting the last owner", owner, http.MethodPost, "/members", csrf(url.Values{"action": {"role"}, "id": {f.owner.ID}, "role": {"member"}}), http.StatusConflict, "last owner"},
		{"bad email to invite", owner, http.MethodPost, "/members", csrf(url.Values{"action": {"invite"}, "email": {"Jo <jo@acme.com>"}, "role": {"member"}}), http.StatusBadRequest, `id="email-error"`},
		{"unknown action", owner, http.MethodPost, "/sso", csrf(url.Values{"action": {"explode"}}), http.StatusConflict, "Unknown action"},
		{"a method", owner, http.MethodDelete, "/sso", nil, http.StatusMethodNotAllowed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _, _ := f.st.ListAudit(context.Background(), f.acme.ID, storage.Page{})
			w := f.serve(t, tc.p, tc.method, tc.sub, tc.form)
			if w.Code != tc.status {
				t.Fatalf("= %d, want %d:\n%s", w.Code, tc.status, w.Body)
			}
			if got := w.Body.String() + w.Header().Get("Location"); !strings.Contains(got, tc.want) {
				t.Errorf("answer lacks %q:\n%s", tc.want, got)
			}
			after, _, _ := f.st.ListAudit(context.Background(), f.acme.ID, storage.Page{})
			if w.Code != http.StatusSeeOther && len(after) != len(before) {
				t.Errorf("a refused form recorded a change: %d → %d events", len(before), len(after))
			}
		})
	}
	// globex's things are untouched.
	m, err := f.st.MemberByID(context.Background(), f.globex.ID, f.other.ID)
	if err != nil || m.Role != storage.RoleMember {
		t.Fatalf("globex's member after acme's attempts: %+v, %v", m, err)
	}
}

// TestSSOFormKeepsValues: a refused form shows the reason beside the
// field and keeps what was typed.
func TestSSOFormKeepsValues(t *testing.T) {
	f := newFixture(t)
	owner := f.as(f.owner, f.acme, f.now)
	form := url.Values{"csrf": {goodToken}, "action": {"values"}, "idp_sso_url": {"http://idp.example.com/sso"},
		"idp_issuer": {"https://idp.example.com/kept"}, "idp_certificate": {""}}
	w := f.serve(t, owner, http.MethodPost, "/sso", form)
	body := w.Body.String()
	if w.Code != http.StatusBadRequest || !strings.Contains(body, `id="idp_sso_url-error"`) || !strings.Contains(body, "https://idp.example.com/kept") ||
		!strings.Contains(body, `value="http://idp.example.com/sso"`) {
		t.Fatalf("= %d:\n%s", w.Code, body)
	}
	if _, err := f.st.Connection(context.Background(), f.acme.ID); err == nil {
		t.Fatal("a refused form wrote a connection")
	}
}

// TestSSOGroupsAttribute: the rules form sets the groups attribute (no
// new test sign-in needed), refuses a bad one beside the field with what
// was typed, and shows a pinned one read-only.
func TestSSOGroupsAttribute(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	owner := f.as(f.owner, f.acme, f.now)
	body := f.serve(t, owner, http.MethodGet, "/sso", nil).Body.String()
	for _, want := range []string{`name="groups_attribute" type="text" value=""`,
		"Okta: groups; Entra: http://schemas.microsoft.com/ws/2008/06/identity/claims/groups; leave empty to ignore groups in the assertion"} {
		if !strings.Contains(body, want) {
			t.Errorf("the SSO page lacks %q", want)
		}
	}
	rules := func(attr string) url.Values {
		return url.Values{"csrf": {goodToken}, "action": {"switches"}, "allow_idp_initiated_shown": {"1"}, "allow_idp_initiated": {"on"},
			"groups_attribute": {attr}}
	}

	w := f.serve(t, owner, http.MethodPost, "/sso", rules(" groups "))
	if w.Code != http.StatusSeeOther || !strings.HasSuffix(w.Header().Get("Location"), "?done=switches") {
		t.Fatalf("POST switches = %d %s:\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	c, err := f.st.Connection(ctx, f.acme.ID)
	if err != nil || c.GroupsAttribute != "groups" || c.State != storage.ConnectionDraft {
		t.Fatalf("connection after the form = %+v, %v; want groups attribute groups", c, err)
	}
	if body := f.serve(t, owner, http.MethodGet, "/sso", nil).Body.String(); !strings.Contains(body, `name="groups_attribute" type="text" value="groups"`) {
		t.Error("the SSO page does not show the stored groups attribute")
	}
	events, _, err := f.st.ListAudit(ctx, f.acme.ID, storage.Page{})
	if err != nil || len(events) == 0 || events[0].Action != "sso.update" || !strings.Contains(string(events[0].After), `"groups_attribute":"groups"`) {
		t.Errorf("newest audit event = %+v, %v; want sso.update of groups_attribute", events, err)
	}

	w = f.serve(t, owner, http.MethodPost, "/sso", rules("gro\x01ups"))
	if body := w.Body.String(); w.Code != http.StatusBadRequest || !strings.Contains(body, `id="groups_attribute-error"`) ||
		!strings.Contains(body, "control character") || !strings.Contains(body, `value="gro`) {
		t.Fatalf("POST of a bad groups attribute = %d:\n%s", w.Code, body)
	}
	// A form without the field (an older page) leaves it alone.
	form := rules("")
	form.Del("groups_attribute")
	form.Set("allow_idp_initiated", "")
	if w := f.serve(t, owner, http.MethodPost, "/sso", form); w.Code != http.StatusSeeOther {
		t.Fatalf("POST switches without the field = %d:\n%s", w.Code, w.Body)
	}
	if c, _ := f.st.Connection(ctx, f.acme.ID); c.GroupsAttribute != "groups" || c.AllowIDPInitiated {
		t.Errorf("connection = %+v; want the groups attribute kept and IdP-initiated sign-in off", c)
	}

	if _, err := f.st.ModifyConnection(ctx, f.acme.ID, func(c *storage.Connection) error {
		c.Pinned = []string{tenant.FieldGroupsAttribute}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	body = f.serve(t, owner, http.MethodGet, "/sso", nil).Body.String()
	if !strings.Contains(body, `name="groups_attribute" type="text" value="groups" aria-describedby="groups_attribute-help" readonly>`) {
		t.Errorf("a pinned groups attribute is not read-only:\n%s", body)
	}
	// The read-only field posts its value: the other rules still save.
	if w := f.serve(t, owner, http.MethodPost, "/sso", rules("groups")); w.Code != http.StatusSeeOther {
		t.Fatalf("POST switches with a pinned groups attribute = %d:\n%s", w.Code, w.Body)
	}
	if w := f.serve(t, owner, http.MethodPost, "/sso", rules("roles")); w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "set by the operator") {
		t.Fatalf("POST of a new pinned groups attribute = %d:\n%s", w.Code, w.Body)
	}
}

// TestTokenShownOnce: a new token's secret is in the answer that made it,
// not in a URL, and never again.
func TestTokenShownOnce(t *testing.T) {
	f := newFixture(t)
	owner := f.as(f.owner, f.acme, f.now)
	w := f.serve(t, owner, http.MethodPost, "/scim", url.Values{"csrf": {goodToken}, "action": {"create"}, "name": {"okta"}, "scope": {"scim"}})
	if w.Code != http.StatusOK || w.Header().Get("Location") != "" {
		t.Fatalf("= %d, Location %q", w.Code, w.Header().Get("Location"))
	}
	body := w.Body.String()
	i := strings.Index(body, `<code id="secret">`)
	if i < 0 {
		t.Fatalf("no secret shown:\n%s", body)
	}
	secret := body[i+len(`<code id="secret">`):]
	secret = secret[:strings.IndexByte(secret, '<')]
	if len(secret) < 20 {
		t.Fatalf("secret %q", secret)
	}
	if again := f.serve(t, owner, http.MethodGet, "/scim", nil).Body.String(); strings.Contains(again, secret) || !strings.Contains(again, "okta") {
		t.Fatal("the secret is shown again, or the token is not listed")
	}
	es, _, _ := f.st.ListAudit(context.Background(), f.acme.ID, storage.Page{})
	for _, e := range es {
		if strings.Contains(string(e.Before)+string(e.After)+e.Target, secret) {
			t.Fatalf("the activity holds the secret: %+v", e)
		}
	}
}

// TestTestSignInRedirects: Test sign-in goes to the gate's test URL for
// the org, in this browser.
func TestTestSignInRedirects(t *testing.T) {
	f := newFixture(t)
	owner := f.as(f.owner, f.acme, f.now)
	idp, err := testidp.New("https://idp.example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, is, pem := idp.SSOURL(), idp.EntityID(), string(idp.CertificatePEM())
	if _, err := f.h.cfg.Service.UpdateSSO(context.Background(), f.acme, orgadmin.Operator, tenant.Settings{IDPSSOURL: &u, IDPIssuer: &is, IDPCertificates: &[]string{pem}}); err != nil {
		t.Fatal(err)
	}
	w := f.serve(t, owner, http.MethodPost, "/sso", url.Values{"csrf": {goodToken}, "action": {"test"}})
	loc := w.Header().Get("Location")
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "https://app.example.com/sso/o/acme/test/") {
		t.Fatalf("= %d to %q", w.Code, loc)
	}
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	if _, err := f.st.SSOTest(context.Background(), f.acme.ID, id); err != nil {
		t.Fatalf("the test %q is not recorded for acme: %v", id, err)
	}
}

// TestSSOPageFormActionAllowsTheIdP: a browser holds the redirects of a
// form's answer to the page's CSP form-action, so the SSO page, whose Test
// sign-in leads on to the IdP, allows the origin of the IdP's SSO URL
// there; the other pages allow only themselves.
func TestSSOPageFormActionAllowsTheIdP(t *testing.T) {
	f := newFixture(t)
	owner := f.as(f.owner, f.acme, f.now)
	formAction := func(sub string) string {
		t.Helper()
		w := f.serve(t, owner, http.MethodGet, sub, nil)
		for _, d := range strings.Split(w.Header().Get("Content-Security-Policy"), ";") {
			if d = strings.TrimSpace(d); strings.HasPrefix(d, "form-action ") {
				return d
			}
		}
		t.Fatalf("GET %s: no form-action in %q", sub, w.Header().Get("Content-Security-Policy"))
		return ""
	}
	if got := formAction("/sso"); got != "form-action 'self'" {
		t.Errorf("without an IdP: %q", got)
	}
	idp, err := testidp.New("https://idp.example.com:8443")
	if err != nil {
		t.Fatal(err)
	}
	u, is, pem := idp.SSOURL(), idp.EntityID(), string(idp.CertificatePEM())
	if _, err := f.h.cfg.Service.UpdateSSO(context.Background(), f.acme, orgadmin.Operator, tenant.Settings{IDPSSOURL: &u, IDPIssuer: &is, IDPCertificates: &[]string{pem}}); err != nil {
		t.Fatal(err)
	}
	if got := formAction("/sso"); got != "form-action 'self' https://idp.example.com:8443" {
		t.Errorf("with an IdP at %s: %q", u, got)
	}
	if got := formAction("/domains"); got != "form-action 'self'" {
		t.Errorf("the Domains page: %q", got)
	}
}

func TestAssets(t *testing.T) {
	f := newFixture(t)
	member := f.as(f.member, f.acme, f.now) // assets are not secret
	for _, tc := range []struct {
		name, ctype string
		status      int
	}{
		{"style.css", "text/css", 200}, {"copy.js", "text/javascript", 200}, {"nope.css", "", 404}, {"../adminui.go", "", 404},
	} {
		w := f.serve(t, member, http.MethodGet, "/assets/"+tc.name, nil)
		if w.Code != tc.status || !strings.HasPrefix(w.Header().Get("Content-Type"), tc.ctype) {
			t.Errorf("asset %s = %d %q, want %d %q", tc.name, w.Code, w.Header().Get("Content-Type"), tc.status, tc.ctype)
		}
	}
}

// FuzzPagePost: any form posted to any page answers with a status a
// person can act on (never a fault), and never changes another org.
func FuzzPagePost(f *testing.F) {
	for _, s := range []string{"action=values&idp_sso_url=x", "action=metadata&idp_metadata_xml=%3C", "action=claim&domain=..",
		"action=create&name=%00", "action=role&id=x&role=god", "action=invite&email=@", "action=switches&require_sso_shown=1&require_sso=on"} {
		for _, sec := range []string{"sso", "domains", "scim", "teams", "members"} {
			f.Add(sec, s)
		}
	}
	fx := newFixture(f)
	owner := fx.as(fx.owner, fx.acme, fx.now)
	f.Fuzz(func(t *testing.T, name, body string) {
		if _, ok := sectionNamed(name); !ok {
			return
		}
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		form.Set("csrf", goodToken)
		w := fx.serve(t, owner, http.MethodPost, "/"+name, form)
		if w.Code >= 500 {
			t.Fatalf("POST /%s %q = %d", name, body, w.Code)
		}
		if m, err := fx.st.MemberByID(context.Background(), fx.globex.ID, fx.other.ID); err != nil || m.Role != storage.RoleMember {
			t.Fatalf("globex's member changed: %+v %v", m, err)
		}
	})
}

// BenchmarkPages is each page's server time: the store reads and the
// render, for an org with a connection, a domain, a token, members and a
// team (p50 over the iterations, in µs).
func BenchmarkPages(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	svc, op := f.h.cfg.Service, orgadmin.Operator
	idp, err := testidp.New("https://idp.example.com")
	if err != nil {
		b.Fatal(err)
	}
	u, is, pem := idp.SSOURL(), idp.EntityID(), string(idp.CertificatePEM())
	if _, err := svc.UpdateSSO(ctx, f.acme, op, tenant.Settings{IDPSSOURL: &u, IDPIssuer: &is, IDPCertificates: &[]string{pem}}); err != nil {
		b.Fatal(err)
	}
	if _, err := svc.ClaimDomain(ctx, f.acme, op, "acme.com"); err != nil {
		b.Fatal(err)
	}
	if _, _, err := svc.CreateToken(ctx, f.acme, op, "okta", storage.ScopeSCIM); err != nil {
		b.Fatal(err)
	}
	for i := range 48 {
		if _, err := svc.InviteMember(ctx, f.acme, op, "m"+string(rune('a'+i%26))+string(rune('a'+i/26))+"@acme.com", storage.RoleMember); err != nil {
			b.Fatal(err)
		}
	}
	owner := f.as(f.owner, f.acme, f.now)
	for _, s := range sections {
		b.Run(s.Name, func(b *testing.B) {
			var times []time.Duration
			for b.Loop() {
				start := time.Now()
				if w := f.serve(b, owner, http.MethodGet, "/"+s.Name, nil); w.Code != http.StatusOK {
					b.Fatalf("GET /%s = %d", s.Name, w.Code)
				}
				times = append(times, time.Since(start))
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds()), "p50-µs")
		})
	}
}
