package caddymodule

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
	"github.com/ssogate/ssogate/internal/testidp"
)

// acsFixture is a saml_sso handler set up as Provision sets it up (store,
// provider with the store's replay cache, tracker, sessions), next to an
// in-process test IdP that knows its metadata.
type acsFixture struct {
	h     *SSOHandler
	st    *sqlitestore.Store
	idp   *testidp.IdP
	email string
}

func newACSFixture(tb testing.TB) *acsFixture {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(tb.TempDir(), "acs.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	org, err := st.EnsureOrg(ctx, "acme", true)
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.SyncConfigDomains(ctx, org.ID, []string{"acme.com"}); err != nil {
		tb.Fatal(err)
	}
	idp, err := testidp.New("http://idp.test", testidp.User{Email: "alice@acme.com", GivenName: "Alice", FamilyName: "Archer"})
	if err != nil {
		tb.Fatal(err)
	}
	base, _ := url.Parse("http://app.test")
	key := make([]byte, 64)
	sessions, err := gate.New(st, gate.Config{Key: key, Lifetime: defaultSessionLifetime, Idle: defaultSessionIdle})
	if err != nil {
		tb.Fatal(err)
	}
	reg := tenant.NewRegistry(st)
	if err := reg.Load(ctx); err != nil {
		tb.Fatal(err)
	}
	h := &SSOHandler{
		Org: "acme", PathPrefix: "/sso", store: st, org: org, baseURL: base, registry: reg,
		spBase:   sso.Config{AllowIDPInitiated: true, ClockSkew: defaultClockSkew, ReplayCache: replayCache{st}},
		sessions: sessions,
		tracker:  sso.NewTracker(gate.DeriveKey(key, "ssogate tracker hmac"), gate.DeriveKey(key, "ssogate tracker aes")),
		logger:   zap.NewNop(),
	}
	h.providers = newProviderCache()
	h.static = new(atomic.Pointer[staticIDP])
	h.static.Store(&staticIDP{md: sso.IDPMetadata(idp.SSOURL(), idp.EntityID(), []*x509.Certificate{idp.Cert})})
	p, err := h.provider(ctx, h.pinned(), siteLegacy)
	if err != nil {
		tb.Fatal(err)
	}
	md, err := p.Metadata(base)
	if err != nil {
		tb.Fatal(err)
	}
	if err := idp.AddSPMetadata(md); err != nil {
		tb.Fatal(err)
	}
	return &acsFixture{h: h, st: st, idp: idp, email: "alice@acme.com"}
}

// login is one SP-initiated login up to the ACS post: the gate's redirect
// to the IdP (with its tracking cookie), and the IdP's fresh answer.
type login struct {
	requestID string
	acs       *http.Request
}

// mint starts a login at the gate and has the IdP answer it.
func (f *acsFixture) mint(tb testing.TB) login {
	tb.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "http://app.test/sso/login?start=sso&rd=/reports", nil)
	if err := f.h.startLogin(w, r, f.h.pinned(), "/reports", loginOption{}); err != nil {
		tb.Fatal(err)
	}
	loc, err := w.Result().Location()
	if err != nil {
		tb.Fatal(err)
	}
	acs, form, err := f.idp.Answer(loc, f.email)
	if err != nil {
		tb.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, acs, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range w.Result().Cookies() {
		req.AddCookie(c)
	}
	pending, err := f.h.tracker.Resolve(req, form.Get("RelayState"))
	if err != nil {
		tb.Fatal(err)
	}
	return login{requestID: pending.RequestID, acs: req}
}

// timeMinted runs op b.N times, each on a fresh login minted outside the
// timer.
func (f *acsFixture) timeMinted(b *testing.B, op func(login) error) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := f.mint(b)
		b.StartTimer()
		if err := op(l); err != nil {
			b.Fatal(err)
		}
	}
}

// plainSP is crewjam's ServiceProvider as sso.Provider configures it (the
// same hardening) for an SP-initiated login, without a replay cache:
// ParseResponse alone.
func (f *acsFixture) plainSP() *saml.ServiceProvider {
	return f.provider().BaselineSP(f.h.baseURL)
}

// provider is the gate's provider of the pinned org's legacy site.
func (f *acsFixture) provider() *sso.Provider {
	p, err := f.h.provider(context.Background(), f.h.pinned(), siteLegacy)
	if err != nil {
		panic(err)
	}
	return p
}

func TestACSFixture(t *testing.T) {
	f := newACSFixture(t)
	for i := 0; i < 2; i++ { // the first sign-in creates the member, the second finds it
		l := f.mint(t)
		w := httptest.NewRecorder()
		if err := f.h.serveACS(w, l.acs, f.h.pinned(), siteLegacy); err != nil {
			t.Fatal(err)
		}
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/reports" {
			t.Fatalf("ACS = %d %q: %s", w.Code, w.Header().Get("Location"), w.Body)
		}
		var cookie string
		for _, c := range w.Result().Cookies() {
			if c.Name == gate.CookieName {
				cookie = c.Value
			}
		}
		if e, err := f.h.sessions.Lookup(context.Background(), cookie, f.h.org.ID); err != nil || e.Identity.Email != f.email {
			t.Fatalf("session after the ACS: %v, %v", e, err)
		}
		// The same response again is a replay.
		l.acs.Body = http.NoBody
		w = httptest.NewRecorder()
		again := l.acs.Clone(context.Background())
		if err := f.h.serveACS(w, again, f.h.pinned(), siteLegacy); err != nil {
			t.Fatal(err)
		}
		if w.Code == http.StatusSeeOther {
			t.Fatal("the same response was accepted twice")
		}
	}
	l := f.mint(t)
	if err := l.acs.ParseForm(); err != nil {
		t.Fatal(err)
	}
	l.acs.URL = f.h.baseURL.JoinPath("/sso/acs")
	if _, err := f.plainSP().ParseResponse(l.acs, []string{l.requestID}); err != nil {
		t.Fatalf("crewjam ParseResponse of a minted response: %v", err)
	}
}

// BenchmarkACS is a full SAML sign-in at the ACS next to its parts, each
// on a fresh response from the test IdP (RSA-2048, response and assertion
// signed, as Okta sends), minted outside the timer:
//
//	ParseResponse  crewjam/saml's ParseForm and ParseResponse alone, same settings, no replay cache
//	ParseACS       ours: checkShape, ParseResponse with the SQLite replay record, time window, identity
//	full           serveACS: form, tracker cookie, ParseACS, domain and member checks, session issue, cookie
//	full-vs-ParseResponse  the two alternating, with the ratio of their medians (x-parse)
//	replay-record  the replay cache's SQLite insert alone
//	admit          domain claim and member lookup alone
//	session-issue  a session's and its assertion's SQLite inserts (one transaction) and cookie encoding alone
//
// Run: go test -run '^$' -bench BenchmarkACS -benchtime 500x ./caddymodule
func BenchmarkACS(b *testing.B) {
	benchACS(b, newACSFixture(b))
}

// BenchmarkACSEncrypted is BenchmarkACS with the assertion encrypted to
// the org's SP encryption key, as Okta's "Assertion Encryption" and
// Entra's token encryption send it: RSA-OAEP key transport and AES-256-GCM
// content (the first method the SP metadata lists), inside a signed
// Response. ParseResponse is crewjam with the same decryption key.
//
// Run: go test -run '^$' -bench BenchmarkACSEncrypted -benchtime 500x ./caddymodule
func BenchmarkACSEncrypted(b *testing.B) {
	f := newACSFixture(b)
	f.idp.EncryptAssertions.Store(true)
	l := f.mint(b)
	if err := l.acs.ParseForm(); err != nil {
		b.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(l.acs.PostForm.Get("SAMLResponse"))
	if !strings.Contains(string(raw), "EncryptedAssertion") || !strings.Contains(string(raw), "aes256-gcm") {
		b.Fatal("the test IdP did not encrypt the assertion with AES-256-GCM")
	}
	benchACS(b, f)
}

func benchACS(b *testing.B, f *acsFixture) {
	ctx := context.Background()
	// One sign-in first, so the member exists (the usual case).
	first := f.mint(b)
	if err := f.h.serveACS(httptest.NewRecorder(), first.acs, f.h.pinned(), siteLegacy); err != nil {
		b.Fatal(err)
	}
	acsURL := f.h.baseURL.JoinPath("/sso/acs")

	b.Run("ParseResponse", func(b *testing.B) {
		sp := f.plainSP()
		f.timeMinted(b, func(l login) error {
			if err := l.acs.ParseForm(); err != nil {
				return err
			}
			l.acs.URL = acsURL
			_, err := sp.ParseResponse(l.acs, []string{l.requestID})
			return err
		})
	})
	b.Run("ParseACS", func(b *testing.B) {
		p := f.provider()
		f.timeMinted(b, func(l login) error {
			if err := l.acs.ParseForm(); err != nil {
				return err
			}
			_, err := p.ParseACS(l.acs, f.h.baseURL, []string{l.requestID})
			return err
		})
	})
	b.Run("full", func(b *testing.B) {
		f.timeMinted(b, func(l login) error {
			w := httptest.NewRecorder()
			if err := f.h.serveACS(w, l.acs, f.h.pinned(), siteLegacy); err != nil {
				return err
			}
			if w.Code != http.StatusSeeOther {
				return fmt.Errorf("ACS = %d: %s", w.Code, w.Body)
			}
			return nil
		})
	})
	// The two side by side, alternating which goes first within each
	// iteration, so that a machine busy with other work, and the garbage
	// collections the minting leaves behind, slow both alike. ns/op and
	// parse-ns/op are means; full-p50-ns and parse-p50-ns medians, and
	// x-parse their ratio, the figure compared with the 1.2x target
	// (medians, since one collection in a 4 ms op moves a mean).
	b.Run("full-vs-ParseResponse", func(b *testing.B) {
		sp := f.plainSP()
		fulls := make([]time.Duration, 0, b.N)
		parses := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			l, lp := f.mint(b), f.mint(b)
			timeParse := func() {
				t0 := time.Now()
				// As crewjam's own ACS handler (samlsp), which parses
				// the form first.
				if err := lp.acs.ParseForm(); err != nil {
					b.Fatal(err)
				}
				lp.acs.URL = acsURL
				if _, err := sp.ParseResponse(lp.acs, []string{lp.requestID}); err != nil {
					b.Fatal(err)
				}
				parses = append(parses, time.Since(t0))
			}
			if i%2 == 1 {
				timeParse()
			}
			w := httptest.NewRecorder()
			b.StartTimer()
			t0 := time.Now()
			if err := f.h.serveACS(w, l.acs, f.h.pinned(), siteLegacy); err != nil {
				b.Fatal(err)
			}
			fulls = append(fulls, time.Since(t0))
			b.StopTimer()
			if w.Code != http.StatusSeeOther {
				b.Fatalf("ACS = %d: %s", w.Code, w.Body)
			}
			if i%2 == 0 {
				timeParse()
			}
			b.StartTimer()
		}
		b.StopTimer()
		var parseSum time.Duration
		for _, d := range parses {
			parseSum += d
		}
		b.ReportMetric(float64(parseSum.Nanoseconds())/float64(b.N), "parse-ns/op")
		fullMed, parseMed := medianDuration(fulls), medianDuration(parses)
		b.ReportMetric(float64(fullMed.Nanoseconds()), "full-p50-ns")
		b.ReportMetric(float64(parseMed.Nanoseconds()), "parse-p50-ns")
		if parseMed > 0 {
			b.ReportMetric(float64(fullMed)/float64(parseMed), "x-parse")
		}
	})
	b.Run("replay-record", func(b *testing.B) {
		exp := time.Now().Add(time.Hour).Unix()
		for i := 0; i < b.N; i++ {
			if err := f.st.ConsumeAssertion(ctx, fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i), exp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("admit", func(b *testing.B) {
		ident := &sso.Identity{Email: f.email, GivenName: "Alice", FamilyName: "Archer"}
		for i := 0; i < b.N; i++ {
			if _, err := tenant.Admit(ctx, f.h.store, f.h.org, f.h.policy(f.h.pinned()), ident); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("session-issue", func(b *testing.B) {
		m, err := f.st.MemberByEmail(ctx, f.h.org.ID, f.email)
		if err != nil {
			b.Fatal(err)
		}
		ident, err := f.st.Identity(ctx, m.ID)
		if err != nil {
			b.Fatal(err)
		}
		exp := time.Now().Add(time.Hour).Unix()
		for i := 0; i < b.N; i++ {
			granted := &storage.ConsumedAssertion{ID: fmt.Sprintf("bench-issue-%d-%d", time.Now().UnixNano(), i), ExpiresAt: exp}
			if _, _, err := f.h.sessions.Issue(ctx, ident, storage.MethodSAML, gate.IdPSession{Assertion: granted}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// medianDuration returns the median of ds, which it sorts.
func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkACSSynchronous is the full sign-in (serveACS, whose session
// and replay record are one SQLite commit) with synchronous=NORMAL for
// every write, FULL for every write, and the default (FULL, NORMAL for
// sessions), in the same run, to price durable commits:
//
//	go test -run '^$' -bench BenchmarkACSSynchronous -benchtime 300x ./caddymodule
func BenchmarkACSSynchronous(b *testing.B) {
	w, g := sqlitestore.WriterSynchronous, sqlitestore.GrantSynchronous
	defer func() { sqlitestore.WriterSynchronous, sqlitestore.GrantSynchronous = w, g }()
	for _, m := range []struct{ name, writer, grant string }{
		{"NORMAL", "NORMAL", "NORMAL"}, {"FULL", "FULL", "FULL"}, {"default", w, g},
	} {
		sqlitestore.WriterSynchronous, sqlitestore.GrantSynchronous = m.writer, m.grant
		f := newACSFixture(b)
		first := f.mint(b)
		if err := f.h.serveACS(httptest.NewRecorder(), first.acs, f.h.pinned(), siteLegacy); err != nil {
			b.Fatal(err)
		}
		b.Run(m.name, func(b *testing.B) {
			f.timeMinted(b, func(l login) error {
				w := httptest.NewRecorder()
				if err := f.h.serveACS(w, l.acs, f.h.pinned(), siteLegacy); err != nil {
					return err
				}
				if w.Code != http.StatusSeeOther {
					return fmt.Errorf("ACS = %d: %s", w.Code, w.Body)
				}
				return nil
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sign-ins/s")
		})
	}
}
