package scimserver_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssogate/ssogate/internal/sqlitestore"
)

// seedMembers adds n members to the org, shaped as SCIM creates them, and
// returns their emails. It writes the rows in one transaction straight
// into the SQLite file: through CreateMember, a transaction each, 100,000
// members take minutes, and the write path is measured elsewhere.
func seedMembers(tb testing.TB, e *env, n int) []string {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+e.path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	account, err := tx.Prepare("INSERT INTO accounts(email, created_at) VALUES (?, ?) RETURNING id")
	if err != nil {
		tb.Fatal(err)
	}
	member, err := tx.Prepare(`INSERT INTO memberships(id, org_id, account_id, given_name, family_name, active, attrs, created_at, updated_at)
		VALUES (?, ?, ?, 'Member', ?, 1, ?, ?, ?)`)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().Unix()
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("member%06d@acme.com", i)
		attrs, _ := json.Marshal(map[string]any{"emails": []any{map[string]any{"value": emails[i], "type": "work", "primary": true}}})
		var accountID int64
		if err := account.QueryRow(emails[i], now).Scan(&accountID); err != nil {
			tb.Fatal(err)
		}
		if _, err := member.Exec(uuid.NewString(), e.org.ID, accountID, fmt.Sprint(i), string(attrs), now, now); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return emails
}

// BenchmarkCreateUser is POST /Users over HTTP, one client.
func BenchmarkCreateUser(b *testing.B) {
	e := newEnv(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := e.do("POST", "/scim/v2/Users", e.scim, userBody(fmt.Sprintf("bench%d@acme.com", i), "B", "U"))
		if r.status != http.StatusCreated {
			b.Fatalf("create = %d %s", r.status, r.raw)
		}
	}
}

// BenchmarkFilterUserName is the lookup every IdP makes before a push,
// GET /Users?filter=userName eq "…", in an org of 100,000 members.
func BenchmarkFilterUserName(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds 100,000 members")
	}
	e := newEnv(b)
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("SSOGATE_BENCH_MEMBERS")); err == nil {
		n = v
	}
	emails := seedMembers(b, e, n)
	b.Run("http", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			email := emails[rand.IntN(len(emails))]
			r := e.do("GET", "/scim/v2/Users?filter="+q(`userName eq "`+email+`"`), e.scim, nil)
			if r.status != http.StatusOK || r.body["totalResults"] != float64(1) {
				b.Fatalf("lookup = %d %s", r.status, r.raw)
			}
		}
	})
	b.Run("page-of-100", func(b *testing.B) {
		// A page anywhere in the org, as an IdP's full import reads it.
		for i := 0; i < b.N; i++ {
			start := 1 + rand.IntN(len(emails)-100)
			r := e.do("GET", fmt.Sprintf("/scim/v2/Users?startIndex=%d&count=100", start), e.scim, nil)
			if r.status != http.StatusOK || r.body["itemsPerPage"] != float64(100) {
				b.Fatalf("page = %d %s", r.status, r.raw)
			}
		}
	})
	b.Run("work-email", func(b *testing.B) {
		// Entra's other matching attribute: not indexed, a scan of the
		// org's emails lists (run with -benchtime 10x).
		for i := 0; i < b.N; i++ {
			email := emails[rand.IntN(len(emails))]
			r := e.do("GET", "/scim/v2/Users?filter="+q(`emails[type eq "work"].value eq "`+email+`"`), e.scim, nil)
			if r.status != http.StatusOK || r.body["totalResults"] != float64(1) {
				b.Fatalf("lookup = %d %s", r.status, r.raw)
			}
		}
	})
}

// BenchmarkGroupPatch is Okta's membership PATCH: remove one member and
// add another in one request, on a group of 1,000.
func BenchmarkGroupPatch(b *testing.B) {
	e := newEnv(b)
	n := 1000
	if testing.Short() {
		n = 100
	}
	emails := seedMembers(b, e, n)
	ids := make([]string, n)
	for i, email := range emails {
		m, err := e.store.MemberByEmail(context.Background(), e.org.ID, email)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = m.ID
	}
	gid := e.mustCreateGroup(e.scim, "Bench", ids[:n/2]...)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, in := ids[i%(n/2)], ids[n/2+i%(n/2)]
		if i/(n/2)%2 == 1 {
			out, in = in, out
		}
		body := `{"schemas":[` + patchURN + `],"Operations":[{"op":"remove","path":"members[value eq \"` + out + `\"]"},
			{"op":"add","path":"members","value":[{"value":"` + in + `"}]}]}`
		if r := e.do("PATCH", "/scim/v2/Groups/"+gid, e.scim, body); r.status != http.StatusNoContent {
			b.Fatalf("patch = %d %s", r.status, r.raw)
		}
	}
}

// TestLoadFigures measures the figures the issue asks for, over HTTP on
// loopback against a SQLite file: users created per second by concurrent
// clients, and the latency of the userName lookup with 100,000 members.
// It takes about a minute, so it runs only with SSOGATE_LOAD=1:
//
//	SSOGATE_LOAD=1 go test ./scimserver -run TestLoadFigures -v -count=1
func TestLoadFigures(t *testing.T) {
	if os.Getenv("SSOGATE_LOAD") != "1" {
		t.Skip("set SSOGATE_LOAD=1 to measure")
	}
	// With synchronous=NORMAL for every write, FULL for every write, and
	// the default (FULL, NORMAL for creates and sessions), in the same
	// run, to price durable commits.
	for _, m := range syncModes {
		restore := m.set()
		t.Run("create users synchronous="+m.name, func(t *testing.T) { loadCreates(t, m.name, 16, 4000) })
		t.Run("create users one client synchronous="+m.name, func(t *testing.T) { loadCreates(t, m.name, 1, 1000) })
		restore()
	}
	t.Run("userName lookup with 100000 members", func(t *testing.T) {
		e := newEnv(t)
		seedStart := time.Now()
		emails := seedMembers(t, e, 100_000)
		t.Logf("seeded 100000 members in %v", time.Since(seedStart).Round(time.Millisecond))
		const lookups = 5000
		for i := range 200 { // warm the connection pools and page cache
			e.do("GET", "/scim/v2/Users?filter="+q(`userName eq "`+emails[i]+`"`), e.scim, nil)
		}
		// A lean client, so that the figure is the server's: requests
		// built beforehand, one kept-alive connection, the body checked
		// for the one match without decoding it.
		reqs := make([]*http.Request, lookups)
		for i := range reqs {
			email := emails[rand.IntN(len(emails))]
			req, err := http.NewRequest("GET", e.srv.URL+"/scim/v2/Users?filter="+q(`userName eq "`+email+`"`), nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+e.scim)
			reqs[i] = req
		}
		runtime.GC()
		lat := make([]time.Duration, lookups)
		buf := make([]byte, 0, 4096)
		for i, req := range reqs {
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := bytes.NewBuffer(buf[:0])
			_, err = body.ReadFrom(resp.Body)
			resp.Body.Close()
			lat[i] = time.Since(start)
			if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(body.Bytes(), []byte(`"totalResults":1,`)) {
				t.Fatalf("lookup = %d %s %v", resp.StatusCode, body, err)
			}
		}
		slices.Sort(lat)
		pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
		load := loadAverage()
		t.Logf("GET /Users?filter=userName eq, 100000 members, %d sequential lookups over HTTP: p50 %v, p99 %v, max %v (load average %s, %d CPUs)",
			lookups, pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond), load, runtime.NumCPU())
		if pct(0.99) > 2*time.Millisecond {
			// The tail is the scheduler's when other processes hold the
			// CPUs; the bound is for a machine that is not oversubscribed.
			if l, err := strconv.ParseFloat(strings.Fields(load + " x")[0], 64); err == nil && l < float64(runtime.NumCPU()) {
				t.Errorf("p99 %v is over 2 ms", pct(0.99))
			} else {
				t.Logf("p99 %v is over 2 ms, on a machine with load %s: not held against the bound", pct(0.99), load)
			}
		}

		// Entra's other matching attribute, the work email, is a scan of
		// the org's emails lists: shown for scale, not held to the bound.
		start := time.Now()
		const emailLookups = 5
		for i := range emailLookups {
			r := e.do("GET", "/scim/v2/Users?filter="+q(`emails[type eq "work"].value eq "`+emails[i*997]+`"`), e.scim, nil)
			if r.status != http.StatusOK || r.body["totalResults"] != float64(1) {
				t.Fatalf("email lookup = %d %s", r.status, r.raw)
			}
		}
		t.Logf("GET /Users?filter=emails[type eq \"work\"].value eq, 100000 members: %v per lookup", (time.Since(start) / emailLookups).Round(time.Millisecond))
	})
}

// loadAverage is the one-minute load average, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b) + " unknown")[0]
}

// loadCreates is TestLoadFigures' users created per second by clients
// concurrent clients.
func loadCreates(t *testing.T, mode string, clients int, total int64) {
	e := newEnv(t)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				r := doURL(t, e.srv.URL, "POST", "/scim/v2/Users", e.scim, userBody(fmt.Sprintf("load%d@acme.com", i), "L", "U"))
				if r.status != http.StatusCreated {
					t.Errorf("create = %d %s", r.status, r.raw)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("synchronous=%s: POST /Users: %d users by %d concurrent clients in %v: %.0f users/s", mode, total, clients, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
}

// syncModes are the writer's synchronous settings TestLoadFigures
// compares.
var syncModes = []syncMode{
	{"NORMAL", "NORMAL", "NORMAL"},
	{"FULL", "FULL", "FULL"},
	{"default", sqlitestore.WriterSynchronous, sqlitestore.GrantSynchronous},
}

type syncMode struct{ name, writer, grant string }

func (m syncMode) set() (restore func()) {
	w, g := sqlitestore.WriterSynchronous, sqlitestore.GrantSynchronous
	sqlitestore.WriterSynchronous, sqlitestore.GrantSynchronous = m.writer, m.grant
	return func() { sqlitestore.WriterSynchronous, sqlitestore.GrantSynchronous = w, g }
}
