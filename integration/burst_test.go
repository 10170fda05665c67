package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// passwordGate is the ssogate binary serving one pinned gate (org acme,
// password sign-in, no IdP) in front of a small app, with pat@acme.com,
// who has a password; all set up through the binary and its CLI.
type passwordGate struct {
	t      *testing.T
	bin    string
	home   string
	db     string
	origin string
	cmd    *exec.Cmd
	logs   *lockedBuffer
}

const patPassword = "correct horse battery"

// accountLimit is how many attempts one account gets checked before it is
// locked: five free failures and the one that locks (accountRule).
const accountLimit = 6

// startPasswordGate starts the gate on the database at db, with extra
// lines in its saml_sso block.
func startPasswordGate(t *testing.T, db string, extra ...string) *passwordGate {
	t.Helper()
	g := startPasswordProcess(t, "sqlite", db, extra...)
	g.cli("", "user", "invite", "pat@acme.com")
	g.cli(patPassword+"\n", "user", "passwd", "pat@acme.com")
	return g
}

// startPasswordProcess starts the gate process alone on the kind
// (sqlite, postgres) of database at db, which --db also takes.
func startPasswordProcess(t *testing.T, kind, db string, extra ...string) *passwordGate {
	t.Helper()
	g := &passwordGate{t: t, bin: ssogateBinary(t), home: t.TempDir(), db: db}
	port := freePort(t)
	g.origin = fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := filepath.Join(g.home, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{
	admin off
	storage file_system %s
	ssogate {
		database %s %s
	}
}

%s {
	saml_sso {
		org acme
		domain acme.com
		base_url %[4]s
%[5]s
	}
	respond "app"
}
`, filepath.Join(g.home, "caddy"), kind, db, g.origin, indent(strings.Join(extra, "\n"), 2))), 0o600); err != nil {
		t.Fatal(err)
	}
	g.cmd, g.logs = startSSOGate(t, g.bin, g.home, cfg, port)
	return g
}

func (g *passwordGate) cli(stdin string, args ...string) {
	g.t.Helper()
	args = append(args, "--org", "acme", "--db", g.db)
	if r := runSSOGate(g.t, g.bin, g.home, stdin, args...); r.code != 0 {
		g.t.Fatalf("ssogate %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
}

// passwordForm is the password form as a browser has it after loading
// the page: the CSRF cookie in its jar, the token from the page. Its
// POSTs come from the gate's own origin, as a browser's do.
type passwordForm struct {
	b      *browser
	origin string
	csrf   string
}

func openPasswordForm(t *testing.T, origin string) *passwordForm {
	t.Helper()
	return openPasswordFormIn(t, newBrowser(t), origin)
}

// openPasswordFormIn is openPasswordForm in the browser b.
func openPasswordFormIn(t *testing.T, b *browser, origin string) *passwordForm {
	t.Helper()
	resp := b.navigate(origin + "/sso/password?rd=/")
	page := readBody(t, resp)
	m := csrfRE.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("password form = %d without a CSRF token:\n%s", resp.StatusCode, page)
	}
	return &passwordForm{b: b, origin: origin, csrf: m[1]}
}

// request is one POST of the form.
func (f *passwordForm) request(email, pw string) *http.Request {
	v := url.Values{"csrf": {f.csrf}, "rd": {"/"}, "email": {email}, "password": {pw}}
	req, _ := http.NewRequest(http.MethodPost, f.origin+"/sso/password", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", f.origin)
	return req
}

// answer is what a POST of the form got.
type answer struct {
	status     int
	retryAfter string
	err        error
}

// send posts a request; safe from any goroutine.
func (f *passwordForm) send(req *http.Request) answer {
	resp, err := f.b.c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
}

// burst sends the requests all at once and returns once each has been
// written to the gate; the answers arrive on the channel.
func (f *passwordForm) burst(reqs []*http.Request) <-chan answer {
	out := make(chan answer, len(reqs))
	var written sync.WaitGroup
	start := make(chan struct{})
	for _, req := range reqs {
		written.Add(1)
		var once sync.Once
		wrote := func() { once.Do(written.Done) }
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { wrote() },
		}))
		go func() {
			<-start
			a := f.send(req)
			wrote()
			out <- a
		}()
	}
	close(start)
	written.Wait()
	return out
}

// checkAnswers fails on a transport error, on an answer other than 401
// and 429, and on a 429 without a usable Retry-After; it returns how many
// were not 429 (were checked) and the longest Retry-After.
func checkAnswers(t *testing.T, answers []answer) (checked, longest int) {
	t.Helper()
	for _, a := range answers {
		switch {
		case a.err != nil:
			t.Fatalf("POST: %v", a.err)
		case a.status == http.StatusTooManyRequests:
			ra, err := strconv.Atoi(a.retryAfter)
			if err != nil || ra < 1 {
				t.Fatalf("429 without a usable Retry-After: %q", a.retryAfter)
			}
			longest = max(longest, ra)
		case a.status == http.StatusUnauthorized:
			checked++
		default:
			t.Fatalf("a wrong password got %d, want 401 or 429", a.status)
		}
	}
	return checked, longest
}

// TestPasswordThrottleRace sends 20 password POSTs for one account at
// once, 19 wrong and the right one last: no more are checked than one
// after another would be, the rest get 429 with Retry-After, and the right
// one does not slip through; once the lock has passed it works.
func TestPasswordThrottleRace(t *testing.T) {
	g := startPasswordGate(t, filepath.Join(t.TempDir(), "ssogate.db"))
	f := openPasswordForm(t, g.origin)
	var reqs []*http.Request
	for i := range 19 {
		reqs = append(reqs, f.request("pat@acme.com", "wrong guess "+strconv.Itoa(i)))
	}
	wrong := f.burst(reqs)
	// Send the right one last: once 13 of the 19 are answered (refused:
	// no hash is that fast), all 19 have passed the throttle. A gate that
	// counts only after hashing answers none so soon; 200ms bounds the
	// wait, well before its 19 hashes end.
	var answers []answer
	deadline := time.After(200 * time.Millisecond)
wait:
	for len(answers) < 19-accountLimit {
		select {
		case a := <-wrong:
			answers = append(answers, a)
		case <-deadline:
			break wait
		}
	}
	right := f.send(f.request("pat@acme.com", patPassword))
	for len(answers) < 19 {
		answers = append(answers, <-wrong)
	}
	if right.err != nil || right.status != http.StatusTooManyRequests || right.retryAfter == "" {
		t.Errorf("the right password, sent after 19 wrong ones at once, got %d (Retry-After %q, error %v); want 429",
			right.status, right.retryAfter, right.err)
	}
	checked, longest := checkAnswers(t, answers)
	t.Logf("19 wrong passwords at once: %d checked, the rest 429 (Retry-After up to %ds)", checked, longest)
	if checked > accountLimit {
		t.Fatalf("%d of 19 simultaneous wrong passwords were checked; one after another, only %d are", checked, accountLimit)
	}

	// The lock passes and the right password works.
	for range 3 {
		a := f.send(f.request("pat@acme.com", patPassword))
		if a.status == http.StatusSeeOther {
			return
		}
		ra, err := strconv.Atoi(a.retryAfter)
		if a.status != http.StatusTooManyRequests || err != nil {
			t.Fatalf("the right password after the burst = %d (Retry-After %q), want 303 or 429", a.status, a.retryAfter)
		}
		time.Sleep(time.Duration(ra) * time.Second)
	}
	t.Fatal("the right password still refused after waiting out the lock")
}

// TestPasswordBurstMemory sends 50 password POSTs for one account at once
// and measures the gate process's resident memory: its peak during the
// burst stays within 64 MiB of what it was before (each Argon2id hash
// holds 19 MiB).
func TestPasswordBurstMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	g := startPasswordGate(t, filepath.Join(t.TempDir(), "ssogate.db"))
	f := openPasswordForm(t, g.origin)
	pid := g.cmd.Process.Pid
	// Start the peak (VmHWM) from now: the start-up's own peak is not
	// the burst's.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Logf("cannot reset the peak (%v): it includes the start", err)
	}
	before := procKiB(t, pid, "VmRSS")
	var reqs []*http.Request
	for i := range 50 {
		reqs = append(reqs, f.request("pat@acme.com", "wrong guess "+strconv.Itoa(i)))
	}
	out := f.burst(reqs)
	var answers []answer
	for range 50 {
		answers = append(answers, <-out)
	}
	peak, after := procKiB(t, pid, "VmHWM"), procKiB(t, pid, "VmRSS")
	checked, _ := checkAnswers(t, answers)
	growth := peak - before
	t.Logf("50 simultaneous password POSTs (%d checked): RSS %.1f MiB before, peak %.1f MiB (+%.1f MiB), %.1f MiB after",
		checked, mib(before), mib(peak), mib(growth), mib(after))
	if growth >= 64<<10 {
		t.Fatalf("RSS grew by %.1f MiB during the burst; want under 64 MiB", mib(growth))
	}
}

func mib(kib int) float64 { return float64(kib) / 1024 }

// procKiB reads a field of /proc/<pid>/status, in KiB.
func procKiB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("%s: %q", field, v)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
