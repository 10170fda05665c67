package integration

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// sessionEnds is one org (acme) behind three gates of the built binary
// on one database: sites A and B in one process (each gate has its own
// session cache), site C in a second process. A session ended at one of
// them must be refused by all of them within a poll of the change feed.
type sessionEnds struct {
	t        *testing.T
	bin      string
	home, db string
	a, b, c  string // gate origins: A and B in process 1, C in process 2
	poll     time.Duration
}

const (
	endsEmail    = "pat@acme.com"
	endsPassword = "correct horse battery staple"
)

// startSessionEnds starts both processes with the change feed polled
// every poll (0: the default, 250ms) and gives pat@acme.com a password.
func startSessionEnds(t *testing.T, poll time.Duration) *sessionEnds {
	t.Helper()
	e := &sessionEnds{t: t, bin: ssogateBinary(t), home: t.TempDir(), poll: poll}
	e.db = filepath.Join(e.home, "ssogate.db")
	up := httptest.NewServer(&recorder{})
	t.Cleanup(up.Close)
	ports := []int{freePort(t), freePort(t), freePort(t)}
	origin := func(i int) string { return fmt.Sprintf("http://127.0.0.1:%d", ports[i]) }
	e.a, e.b, e.c = origin(0), origin(1), origin(2)

	global := func(caddyDir string) string {
		g := fmt.Sprintf("{\n\tadmin off\n\tstorage file_system %s\n\tssogate {\n\t\tdatabase sqlite %s\n", filepath.Join(e.home, caddyDir), e.db)
		if poll > 0 {
			g += fmt.Sprintf("\t\tchange_poll_interval %s\n", poll)
		}
		return g + "\t}\n}\n"
	}
	site := func(gateURL string) string {
		return fmt.Sprintf("\n%s {\n\tsaml_sso {\n\t\torg acme\n\t\tbase_url %s\n\t}\n\treverse_proxy %s\n}\n", gateURL, gateURL, up.URL)
	}
	e.start("one.Caddyfile", global("caddy1")+site(e.a)+site(e.b), ports[0])
	e.start("two.Caddyfile", global("caddy2")+site(e.c), ports[2])
	e.cli("", "user", "invite", endsEmail, "--org", "acme")
	e.cli(endsPassword+"\n", "user", "passwd", endsEmail, "--org", "acme")
	return e
}

func (e *sessionEnds) start(name, cfg string, port int) {
	path := filepath.Join(e.home, name)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
	startSSOGate(e.t, e.bin, e.home, path, port)
}

func (e *sessionEnds) cli(stdin string, args ...string) string {
	e.t.Helper()
	r := runSSOGate(e.t, e.bin, e.home, stdin, append(args, "--db", e.db)...)
	if r.code != 0 {
		e.t.Fatalf("ssogate %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

func (e *sessionEnds) gates() []string { return []string{e.a, e.b, e.c} }

// passwordSignInAt signs b in at gateURL with the password form and
// returns the session cookie.
func passwordSignInAt(t *testing.T, b *browser, gateURL, email, pw string) string {
	t.Helper()
	resp := passwordPostAt(t, b, gateURL, email, pw)
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password sign-in of %s at %s = %d, want 303", email, gateURL, resp.StatusCode)
	}
	return sessionCookie(t, b, gateURL)
}

// passwordPostAt loads the password form at gateURL and posts it, from
// the gate's own origin.
func passwordPostAt(t *testing.T, b *browser, gateURL, email, pw string) *http.Response {
	t.Helper()
	page := readBody(t, b.navigate(gateURL+"/sso/password?rd=/"))
	form := url.Values{"csrf": {inputValue(t, page, "csrf")}, "rd": {"/"}, "email": {email}, "password": {pw}}
	return b.do(http.MethodPost, gateURL+"/sso/password", strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": gateURL})
}

// logoutAt signs b out at gateURL the way a browser does: the sign-out
// page, then its form's POST with the CSRF token from the gate's origin.
func logoutAt(t *testing.T, b *browser, gateURL string) {
	t.Helper()
	resp := b.signOut(gateURL, "/sso/logout")
	body := readBody(t, resp)
	if resp.StatusCode >= 400 {
		t.Fatalf("logout at %s = %d:\n%s", gateURL, resp.StatusCode, body)
	}
}

// accepted reports whether gateURL lets a request with this session
// cookie through to the app (200) rather than refusing it (401).
func accepted(t *testing.T, cookie, gateURL string) bool {
	t.Helper()
	switch code := withCookie(t, cookie).status(gateURL + "/whoami"); code {
	case http.StatusOK:
		return true
	case http.StatusUnauthorized:
		return false
	default:
		t.Fatalf("GET %s/whoami with a session cookie = %d, want 200 or 401", gateURL, code)
		return false
	}
}

// TestSessionEndsReachEveryGate is issue 13's parts 1 and 8 through the
// built binary: a logout at one site, and a new password set with the
// CLI, end the session at every site of the org and in every process, not
// only where they happened.
func TestSessionEndsReachEveryGate(t *testing.T) {
	e := startSessionEnds(t, 0)

	t.Run("logout at one site", func(t *testing.T) {
		b := newBrowser(t)
		cookie := passwordSignInAt(t, b, e.a, endsEmail, endsPassword)
		// The same person on another device: that session must live on.
		other := passwordSignInAt(t, newBrowser(t), e.c, endsEmail, endsPassword)
		for _, g := range e.gates() {
			// Each gate caches the session now, as a browser in use has it.
			if !accepted(t, cookie, g) || !accepted(t, other, g) {
				t.Fatalf("%s refuses the sessions before the logout", g)
			}
		}
		logoutAt(t, b, e.a)
		if accepted(t, cookie, e.a) {
			t.Fatalf("%s still accepts the session right after the logout there", e.a)
		}
		waitUntil(t, "the logged-out session is refused at site B (same process)", func() bool { return !accepted(t, cookie, e.b) })
		waitUntil(t, "the logged-out session is refused at site C (other process)", func() bool { return !accepted(t, cookie, e.c) })
		for _, g := range e.gates() {
			if !accepted(t, other, g) {
				t.Errorf("%s refuses the person's other session after one logout", g)
			}
		}
	})

	t.Run("new password", func(t *testing.T) {
		cookie := passwordSignInAt(t, newBrowser(t), e.a, endsEmail, endsPassword)
		for _, g := range e.gates() {
			if !accepted(t, cookie, g) {
				t.Fatalf("%s refuses the session before the password change", g)
			}
		}
		const newPassword = "a new and different passphrase"
		e.cli(newPassword+"\n", "user", "passwd", endsEmail, "--org", "acme")
		for _, g := range e.gates() {
			waitUntil(t, "the session of the old password is refused at "+g, func() bool { return !accepted(t, cookie, g) })
		}
		resp := passwordPostAt(t, newBrowser(t), e.c, endsEmail, endsPassword)
		readBody(t, resp)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("sign-in with the old password = %d, want 401", resp.StatusCode)
		}
		fresh := passwordSignInAt(t, newBrowser(t), e.c, endsEmail, newPassword)
		if !accepted(t, fresh, e.b) {
			t.Fatalf("a session of the new password is refused")
		}
	})
}

// TestLogoutEverywhereDelay measures, 20 times, how long after a logout
// at process 1 returns the same cookie is refused at another site of
// process 1 and at process 2 (the default 250ms poll), polling every
// 2ms, and reports the median and worst. It runs with SSOGATE_MEASURE=1:
//
//	SSOGATE_MEASURE=1 go test -count=1 -run TestLogoutEverywhereDelay -v ./integration
func TestLogoutEverywhereDelay(t *testing.T) {
	if os.Getenv("SSOGATE_MEASURE") == "" {
		t.Skip("a measurement; run with SSOGATE_MEASURE=1")
	}
	const runs, poll = 20, 250 * time.Millisecond
	e := startSessionEnds(t, 0)
	refusedAfter := func(cookie, gateURL string, since time.Time) time.Duration {
		for accepted(t, cookie, gateURL) {
			if time.Since(since) > 5*time.Second {
				t.Fatalf("%s still accepts the session %s after the logout", gateURL, time.Since(since))
			}
			time.Sleep(2 * time.Millisecond)
		}
		return time.Since(since)
	}
	var sameProcess, otherProcess []time.Duration
	for range runs {
		b := newBrowser(t)
		cookie := passwordSignInAt(t, b, e.a, endsEmail, endsPassword)
		if !accepted(t, cookie, e.b) || !accepted(t, cookie, e.c) {
			t.Fatal("a fresh session is refused")
		}
		// A random pause, so that the logouts fall at random points of
		// process 2's poll cycle rather than at one phase of it that the
		// loop's own rhythm would keep.
		time.Sleep(rand.N(poll))
		logoutAt(t, b, e.a)
		done := time.Now()
		// Site B first: it learns at once (the write's own OnChange hook),
		// so C's clock loses nothing measurable waiting for it.
		sameProcess = append(sameProcess, refusedAfter(cookie, e.b, done))
		otherProcess = append(otherProcess, refusedAfter(cookie, e.c, done))
	}
	for _, m := range []struct {
		where string
		d     []time.Duration
	}{{"site B, same process", sameProcess}, {"site C, other process", otherProcess}} {
		slices.Sort(m.d)
		median, worst := (m.d[runs/2-1]+m.d[runs/2])/2, m.d[runs-1]
		t.Logf("logout at site A → refused at %s: median %s, worst %s of %d (poll %s)",
			m.where, median.Round(time.Millisecond), worst.Round(time.Millisecond), runs, poll)
		// One poll, plus the feed read and this loop's 2ms steps.
		if worst > poll+50*time.Millisecond {
			t.Errorf("%s: worst %s, want within one poll (%s)", m.where, worst, poll)
		}
	}
}
