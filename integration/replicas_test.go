package integration

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver

	"github.com/ssogate/ssogate/internal/pgstore/pgtest"
)

// replicaHeader picks the replica the test load balancer sends a request
// to; without it, the balancer takes turns.
const replicaHeader = "X-Test-Replica"

// replicas is three gateway processes (the built binary) on one
// PostgreSQL database behind a load balancer without stickiness, each
// with a scim_server site too, plus a SCIM sidecar process.
type replicas struct {
	*env
	scims   []string // each replica's scim_server
	sidecar string   // the sidecar's scim_server
	token   string   // a SCIM token of org acme
	dsn     string   // the database
	logs    []*lockedBuffer
}

func startReplicas(t *testing.T) *replicas {
	t.Helper()
	dsn := pgtest.Database(t)
	bin := ssogateBinary(t)
	// The Caddyfiles name the database as an operator would, through the
	// environment.
	t.Setenv("SSOGATE_DATABASE_URL", dsn)

	e := &env{t: t, dir: t.TempDir(), upstream: &recorder{}}
	up, certPath := e.startIdPAndUpstream()

	// The load balancer: the replicas' one public address.
	var gates []*url.URL
	var turn atomic.Int64
	lb := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		i := int(turn.Add(1)) % len(gates)
		if v := r.In.Header.Get(replicaHeader); v != "" {
			i, _ = strconv.Atoi(v)
		}
		r.SetURL(gates[i])
		r.Out.Host = r.In.Host
	}})
	t.Cleanup(lb.Close)
	e.gate = lb.URL

	r := &replicas{env: e, dsn: dsn}
	for i := range 3 {
		gatePort, scimPort := freePort(t), freePort(t)
		gates = append(gates, &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", gatePort)})
		r.scims = append(r.scims, fmt.Sprintf("http://127.0.0.1:%d", scimPort))
		cfg := fmt.Sprintf(`{
	admin off
	storage file_system %s
	ssogate {
		database postgres {env.SSOGATE_DATABASE_URL}
	}
}

http://127.0.0.1:%d {
	saml_sso {
		org acme
		idp_sso_url %s
		idp_issuer %s
		idp_certificate %s
		base_url %s
		domain acme.com
	}
	reverse_proxy %s
}

http://127.0.0.1:%d {
	scim_server
}
`, filepath.Join(e.dir, fmt.Sprintf("caddy%d", i)), gatePort, e.idp.SSOURL(), e.idp.EntityID(), certPath, lb.URL, up.URL, scimPort)
		path := filepath.Join(e.dir, fmt.Sprintf("replica%d.Caddyfile", i))
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		_, logs := startSSOGate(t, bin, e.dir, path, gatePort)
		r.logs = append(r.logs, logs)
	}
	sidecarPort := freePort(t)
	r.sidecar = fmt.Sprintf("http://127.0.0.1:%d", sidecarPort)
	path := filepath.Join(e.dir, "sidecar.Caddyfile")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`{
	admin off
	storage file_system %s
	ssogate {
		database postgres {env.SSOGATE_DATABASE_URL}
	}
}

http://127.0.0.1:%d {
	scim_server
}
`, filepath.Join(e.dir, "caddy-sidecar"), sidecarPort)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, logs := startSSOGate(t, bin, e.dir, path, sidecarPort)
	r.logs = append(r.logs, logs)
	e.idp.TrustSPMetadataURL(lb.URL + "/sso/metadata")

	// The CLI on the same database (--db takes the URL).
	run := runSSOGate(t, bin, e.dir, "", "token", "create", "--scope", "scim", "--org", "acme", "--db", dsn)
	if run.code != 0 {
		t.Fatalf("ssogate token create --db postgres://...: exit %d: %s", run.code, run.stderr)
	}
	tok := strings.TrimSpace(run.stdout)
	r.token = tok
	return r
}

// statusOn is the status of GET /x on replica i with b's cookies.
func (r *replicas) statusOn(b *browser, i int) int {
	resp := b.do(http.MethodGet, r.gate+"/x", nil, map[string]string{"Accept": "application/json", replicaHeader: strconv.Itoa(i)})
	readBody(r.t, resp)
	return resp.StatusCode
}

// TestReplicasOnPostgres runs three gateway processes and a SCIM sidecar
// on one PostgreSQL database: a session made on one replica is valid on
// the others, an assertion used on one is refused on another, password
// guesses spread over the replicas meet one limit per account, a SCIM
// deactivation through the sidecar is refused on every replica within
// 250 ms, also when PostgreSQL has just dropped every connection, and
// concurrent SCIM creates spread over the processes make each member
// once.
func TestReplicasOnPostgres(t *testing.T) {
	r := startReplicas(t)
	t.Run("session on every replica", func(t *testing.T) {
		r := &replicas{env: r.env.sub(t), scims: r.scims, sidecar: r.sidecar, token: r.token}
		b := newBrowser(t)
		// The whole sign-in through replica 0.
		b.c.Transport = headerTransport{replicaHeader: "0"}
		resp := r.spLogin(b, "/", "alice@acme.com")
		readBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in on replica 0 = %d", resp.StatusCode)
		}
		b.c.Transport = nil
		for i := range 3 {
			if got := r.statusOn(b, i); got != http.StatusOK {
				t.Errorf("session made on replica 0, on replica %d = %d, want 200", i, got)
			}
		}
	})

	t.Run("assertion replayed on another replica", func(t *testing.T) {
		r := &replicas{env: r.env.sub(t), logs: r.logs}
		b := newBrowser(t)
		form := r.idpForm(b, "bob@acme.com", "/")
		post := func(b *browser, i int) (int, string) {
			resp := b.do(http.MethodPost, form.Action, strings.NewReader(form.Values.Encode()),
				map[string]string{"Content-Type": "application/x-www-form-urlencoded", replicaHeader: strconv.Itoa(i)})
			return resp.StatusCode, readBody(t, resp)
		}
		if code, body := post(b, 0); code != http.StatusSeeOther {
			t.Fatalf("first post on replica 0 = %d: %s", code, body)
		}
		for i := 1; i < 3; i++ {
			if code, body := post(newBrowser(t), i); code != http.StatusForbidden {
				t.Errorf("the same assertion on replica %d = %d: %s; want 403", i, code, body)
			}
			waitUntil(t, fmt.Sprintf("replica %d logs the replay", i), func() bool {
				return strings.Contains(r.logs[i].String(), "assertion_replayed")
			})
		}
	})

	t.Run("password guesses over the replicas meet one limit", func(t *testing.T) {
		r := &replicas{env: r.env.sub(t), dsn: r.dsn}
		testReplicasPasswordLimit(t, r)
	})

	t.Run("deactivation refused everywhere", func(t *testing.T) {
		r := &replicas{env: r.env.sub(t), scims: r.scims, sidecar: r.sidecar, token: r.token}
		var id string
		var took []time.Duration
		for round := range 20 {
			b := r.signedIn("alice@acme.com")
			if id == "" {
				id = memberID(t, r.sidecar, r.token, "alice@acme.com")
			}
			for i := range 3 {
				if got := r.statusOn(b, i); got != http.StatusOK {
					t.Fatalf("round %d: session on replica %d before deactivation = %d", round, i, got)
				}
			}
			if code, body := scimCall(t, http.MethodPatch, r.sidecar+"/scim/v2/Users/"+id, r.token, setActive(false)); code != http.StatusOK {
				t.Fatalf("deactivating through the sidecar = %d %v", code, body)
			}
			start := time.Now()
			refused := [3]bool{}
			for !refused[0] || !refused[1] || !refused[2] {
				for i := range 3 {
					if !refused[i] && r.statusOn(b, i) == http.StatusUnauthorized {
						refused[i] = true
					}
				}
				if time.Since(start) > 5*time.Second {
					t.Fatalf("round %d: refused on replicas %v only, 5s after the deactivation", round, refused)
				}
			}
			took = append(took, time.Since(start))
			if code, _ := scimCall(t, http.MethodPatch, r.sidecar+"/scim/v2/Users/"+id, r.token, setActive(true)); code != http.StatusOK {
				t.Fatalf("reactivating = %d", code)
			}
		}
		slices.Sort(took)
		median, worst := took[len(took)/2], took[len(took)-1]
		t.Logf("deactivation through the sidecar refused on all 3 replicas: median %s, worst %s (20 rounds)", median, worst)
		if worst > 250*time.Millisecond {
			t.Errorf("worst refusal took %s, want within 250ms", worst)
		}
	})

	t.Run("revocation after PostgreSQL drops every connection", func(t *testing.T) {
		r := &replicas{env: r.env.sub(t), scims: r.scims, sidecar: r.sidecar, token: r.token, dsn: r.dsn}
		b := r.signedIn("bob@acme.com")
		id := memberID(t, r.sidecar, r.token, "bob@acme.com")
		admin, err := sql.Open("pgx", r.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		// Every process's pool and listener, mid-run.
		var n int
		if err := admin.QueryRow(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid != pg_backend_pid()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		t.Logf("terminated %d connections", n)
		if code, body := scimCall(t, http.MethodPatch, r.sidecar+"/scim/v2/Users/"+id, r.token, setActive(false)); code != http.StatusOK {
			t.Fatalf("deactivating through the sidecar after the cut = %d %v", code, body)
		}
		start := time.Now()
		for i := range 3 {
			for r.statusOn(b, i) != http.StatusUnauthorized {
				if time.Since(start) > 5*time.Second {
					t.Fatalf("replica %d still accepts the session 5s after a deactivation made while it reconnected", i)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		t.Logf("refused on all 3 replicas %s after the deactivation", time.Since(start))
	})

	t.Run("concurrent SCIM creates over the processes", func(t *testing.T) {
		r := &replicas{env: r.env.sub(t), scims: r.scims, sidecar: r.sidecar, token: r.token, logs: r.logs}
		endpoints := append(slices.Clone(r.scims), r.sidecar)
		const n = 200
		var wg sync.WaitGroup
		codes := make([]int, n)
		bodies := make([]map[string]any, n)
		sem := make(chan struct{}, 32)
		for i := range n {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				email := fmt.Sprintf("user%03d@acme.com", i)
				codes[i], bodies[i] = scimCall(t, http.MethodPost, endpoints[i%len(endpoints)]+"/scim/v2/Users", r.token, map[string]any{
					"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
					"userName": email, "active": true,
					"name":   map[string]any{"givenName": "User", "familyName": strconv.Itoa(i)},
					"emails": []any{map[string]any{"primary": true, "value": email, "type": "work"}},
				})
			})
		}
		wg.Wait()
		if slices.ContainsFunc(codes, func(c int) bool { return c != http.StatusCreated }) {
			for i, l := range r.logs {
				for _, line := range strings.Split(l.String(), "\n") {
					if strings.Contains(line, "scim") && strings.Contains(line, "error") {
						t.Logf("replica %d: %.600s", i, line)
					}
				}
			}
		}
		for i, code := range codes {
			if code != http.StatusCreated {
				t.Errorf("POST #%d = %d %v, want 201", i, code, bodies[i])
			}
		}
		code, list := scimCall(t, http.MethodGet, r.scims[1]+"/scim/v2/Users?count=1&filter="+
			url.QueryEscape(`userName sw "user"`), r.token, nil)
		if code != http.StatusOK || list["totalResults"] != float64(n) {
			t.Errorf("members created = %v (%d), want %d", list["totalResults"], code, n)
		}
	})
}

// testReplicasPasswordLimit sends wrong passwords for one account to the
// three replicas in turn. The first refusal comes after accountLimit
// checked guesses in all, as on one process (a limit kept per process
// would check 3×accountLimit), and it holds on every replica, for the
// right password too; each guess after a lock has passed is checked once
// before the next, longer lock; another account signs in meanwhile from
// the same address; once the lock has passed, the right password works.
func testReplicasPasswordLimit(t *testing.T, r *replicas) {
	bin := ssogateBinary(t)
	const kimPassword = "another horse battery"
	for _, who := range []struct{ email, password string }{{"pat@acme.com", patPassword}, {"kim@acme.com", kimPassword}} {
		for _, args := range [][]string{{"user", "invite", who.email}, {"user", "passwd", who.email}} {
			args = append(args, "--org", "acme", "--db", r.dsn)
			if run := runSSOGate(t, bin, r.dir, who.password+"\n", args...); run.code != 0 {
				t.Fatalf("ssogate %s: exit %d: %s", strings.Join(args, " "), run.code, run.stderr)
			}
		}
	}
	// A browser per replica and account: a sign-in gives the browser new
	// form tokens.
	openForms := func() (forms [3]*passwordForm) {
		for i := range forms {
			b := newBrowser(t)
			b.c.Transport = headerTransport{replicaHeader: strconv.Itoa(i)}
			forms[i] = openPasswordFormIn(t, b, r.gate)
		}
		return forms
	}
	forms, kimForms := openForms(), openForms()
	turn := 0 // the replica the next wrong guess goes to
	guess := func() answer {
		f := forms[turn%len(forms)]
		turn++
		return f.send(f.request("pat@acme.com", "wrong guess "+strconv.Itoa(turn)))
	}
	// checkedUntilRefused sends wrong guesses in turn until one is
	// refused, and returns how many were checked and the refusal's
	// Retry-After.
	checkedUntilRefused := func() (checked, retryAfter int) {
		t.Helper()
		for range 4 * accountLimit {
			a := guess()
			switch {
			case a.err != nil:
				t.Fatalf("wrong password on replica %d: %v", (turn-1)%3, a.err)
			case a.status == http.StatusUnauthorized:
				checked++
			case a.status == http.StatusTooManyRequests:
				ra, err := strconv.Atoi(a.retryAfter)
				if err != nil || ra < 1 {
					t.Fatalf("429 on replica %d without a usable Retry-After: %q", (turn-1)%3, a.retryAfter)
				}
				return checked, ra
			default:
				t.Fatalf("wrong password on replica %d = %d, want 401 or 429", (turn-1)%3, a.status)
			}
		}
		t.Fatalf("%d wrong passwords over 3 replicas, none refused", 4*accountLimit)
		return 0, 0
	}
	// answers sends email's password to every replica.
	answers := func(forms [3]*passwordForm, email, pw string) [3]answer {
		var out [3]answer
		for i, f := range forms {
			out[i] = f.send(f.request(email, pw))
		}
		return out
	}

	checked, wait := checkedUntilRefused()
	if checked != accountLimit {
		t.Fatalf("%d wrong passwords over 3 replicas were checked before the first 429, want %d as on one process (a limit per process checks %d)",
			checked, accountLimit, 3*accountLimit)
	}
	for i, a := range answers(forms, "pat@acme.com", patPassword) {
		if a.status != http.StatusTooManyRequests {
			t.Errorf("the right password during the lock, on replica %d = %d (error %v), want 429", i, a.status, a.err)
		}
	}
	// Each failure past the free ones doubles the lock (1s, 2s, 4s): after
	// a lock passes, one guess is checked, on whichever replica, then the
	// next is refused.
	for round := 1; round <= 2; round++ {
		time.Sleep(time.Duration(wait) * time.Second)
		if checked, wait = checkedUntilRefused(); checked != 1 {
			t.Fatalf("after lock %d passed, %d wrong passwords were checked before the next 429, want 1", round, checked)
		}
	}
	// The limit is the account's: another one signs in on every replica,
	// from the same address, while pat@acme.com is locked.
	for i, a := range answers(kimForms, "kim@acme.com", kimPassword) {
		if a.status != http.StatusSeeOther {
			t.Errorf("kim@acme.com's right password on replica %d while pat@acme.com is locked = %d (error %v), want 303", i, a.status, a.err)
		}
	}
	for i, a := range answers(forms, "pat@acme.com", patPassword) {
		if a.status != http.StatusTooManyRequests {
			t.Errorf("pat@acme.com's right password on replica %d, still locked = %d (error %v), want 429", i, a.status, a.err)
		}
	}
	time.Sleep(time.Duration(wait) * time.Second)
	if a := forms[turn%3].send(forms[turn%3].request("pat@acme.com", patPassword)); a.status != http.StatusSeeOther {
		t.Errorf("the right password once the lock passed = %d (error %v), want 303", a.status, a.err)
	}
}

// headerTransport adds headers to every request.
type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}
