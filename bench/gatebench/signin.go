package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssogate/ssogate/internal/gate"
)

// signinResult is the ACS sign-in rate on one store.
type signinResult struct {
	store   string
	n, conc int
	elapsed time.Duration
	lat     []time.Duration
	others  float64 // share of the CPUs other processes used meanwhile
}

// mintedLogin is a sign-in up to the ACS: the browser's cookies (the
// login tracker) and the IdP's auto-posting form.
type mintedLogin struct {
	jar    http.CookieJar
	action string
	form   url.Values
}

// signinPhase measures sign-ins per second at each gate's ACS. The logins
// are minted first (the gate's redirect to the IdP with its AuthnRequest,
// the IdP's signed response), so that the IdP's signing, which runs in
// this process, is not in the figure; then concurrent clients post them
// to the ACS, which verifies the signatures, records the assertion
// against replay, finds the member and writes the session: every answer
// must be a 303 with a session cookie.
func (b *bench) signinPhase(ctx context.Context) error {
	cfg := b.cfg
	for _, be := range b.stores {
		fmt.Printf("\n== %s: sign-ins at the ACS: %d logins minted, then posted by %d clients ==\n", be.name, cfg.signins, cfg.signinConc)
		logins := make([]mintedLogin, cfg.signins)
		mintStart := time.Now()
		users := []string{"alice@acme.com", "bob@acme.com", "carol@acme.com"}
		for i := range logins {
			var err error
			if logins[i], err = mintLogin(be.gate.url, b.idpURL, users[i%len(users)]); err != nil {
				return fmt.Errorf("%s: minting login %d: %w", be.name, i, err)
			}
		}
		fmt.Printf("minted %d logins in %v\n", len(logins), time.Since(mintStart).Round(time.Millisecond))

		res := &signinResult{store: be.name, n: len(logins), conc: cfg.signinConc, lat: make([]time.Duration, len(logins))}
		var next atomic.Int64
		var mu sync.Mutex
		var firstErr error
		ours0, err1 := b.ourTicks()
		busy0, total0, err2 := machineTicks()
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		start := time.Now()
		var wg sync.WaitGroup
		for range cfg.signinConc {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= len(logins) || ctx.Err() != nil {
						return
					}
					t0 := time.Now()
					err := logins[i].post(be.gate.url)
					res.lat[i] = time.Since(t0)
					if err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = fmt.Errorf("%s: sign-in %d: %w", be.name, i, err)
						}
						mu.Unlock()
						return
					}
				}
			})
		}
		wg.Wait()
		res.elapsed = time.Since(start)
		ours1, err1 := b.ourTicks()
		busy1, total1, err2 := machineTicks()
		if err := errors.Join(err1, err2, firstErr); err != nil {
			return err
		}
		if total1 > total0 {
			res.others = max(float64((busy1-busy0)-(ours1-ours0)), 0) / float64(total1-total0)
		}
		b.report.signin = append(b.report.signin, res)
		fmt.Printf("%d sign-ins by %d clients in %v: %.0f sign-ins/s, p50 %v, p99 %v (other processes used %.0f%% of the CPUs)\n",
			res.n, res.conc, res.elapsed.Round(time.Millisecond), float64(res.n)/res.elapsed.Seconds(),
			pct(res.lat, 50).Round(10*time.Microsecond), pct(res.lat, 99).Round(10*time.Microsecond), 100*res.others)
	}
	return nil
}

// mintLogin walks an SP-initiated sign-in as email up to the IdP's form,
// as login does, and keeps it unposted.
func mintLogin(gateURL, idpURL, email string) (mintedLogin, error) {
	jar, _ := cookiejar.New(nil)
	iu, _ := url.Parse(idpURL)
	jar.SetCookies(iu, []*http.Cookie{{Name: "testidp_user", Value: email, Path: "/"}})
	br := &browser{c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	// Straight to the IdP: the login page's "Continue with SSO" link,
	// which login follows from the app's redirect.
	resp, _, err := br.navigate(gateURL + "/sso/login?start=sso&rd=%2F")
	if err != nil {
		return mintedLogin{}, err
	}
	loc, err := resp.Location()
	if err != nil || !strings.HasPrefix(loc.String(), idpURL+"/sso?") {
		return mintedLogin{}, fmt.Errorf("GET /sso/login?start=sso = %d to %v, want a redirect to the IdP", resp.StatusCode, loc)
	}
	resp, page, err := br.navigate(loc.String())
	if err != nil {
		return mintedLogin{}, err
	}
	action, form := samlForm(page)
	if resp.StatusCode != http.StatusOK || action == "" || form.Get("SAMLResponse") == "" {
		return mintedLogin{}, fmt.Errorf("IdP answered %d without a SAML form", resp.StatusCode)
	}
	return mintedLogin{jar: jar, action: action, form: form}, nil
}

// post sends the form to the ACS with the login's cookies and checks that
// the gate answered with a session.
func (l mintedLogin) post(gateURL string) error {
	br := &browser{c: &http.Client{Jar: l.jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, page, err := br.do(http.MethodPost, l.action, strings.NewReader(l.form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("ACS = %d, want 303: %.300s", resp.StatusCode, page)
	}
	gu, _ := url.Parse(gateURL)
	for _, c := range l.jar.Cookies(gu) {
		if c.Name == gate.CookieName {
			return nil
		}
	}
	return fmt.Errorf("the ACS set no %s cookie", gate.CookieName)
}
