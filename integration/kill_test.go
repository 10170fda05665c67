package integration

import (
	"bytes"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestKillDuringSCIMPushLosesNothingAcknowledged pushes SCIM creates from
// eight clients into the binary, kills it with SIGKILL in the middle of
// the push, starts it again on the same database, and finds every create
// that was answered 201 there, through SCIM and in the file.
func TestKillDuringSCIMPushLosesNothingAcknowledged(t *testing.T) {
	g := startIdentityGateDB(t, "", "rate_limit 100000 100000")
	r := runSSOGate(t, g.bin, g.home, "", "token", "create", "--org", "acme", "--scope", "scim", "--db", g.db)
	if r.code != 0 {
		t.Fatalf("token create: exit %d: %s", r.code, r.stderr)
	}
	scim := strings.TrimSpace(r.stdout)
	client := &http.Client{Timeout: 5 * time.Second}
	post := func(email string) (int, error) {
		req, _ := http.NewRequest("POST", g.sidecar+"/scim/v2/Users", strings.NewReader(fmt.Sprintf(
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"name":{"givenName":"K","familyName":"N"},"emails":[{"value":%q,"primary":true}],"active":true}`, email, email)))
		req.Header.Set("Authorization", "Bearer "+scim)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	var (
		mu    sync.Mutex
		acked []string
		next  atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				email := fmt.Sprintf("kill%d@acme.com", next.Add(1))
				code, err := post(email)
				if err != nil {
					return // the process is gone
				}
				if code != http.StatusCreated {
					t.Errorf("create %s = %d", email, code)
					return
				}
				mu.Lock()
				acked = append(acked, email)
				mu.Unlock()
			}
		})
	}
	waitUntilFor(t, "300 creates acknowledged", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 300
	})
	if err := g.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = g.cmd.Wait()
	stop.Store(true)
	wg.Wait()
	t.Logf("%d creates acknowledged, %d sent, before SIGKILL", len(acked), next.Load())

	startSSOGate(t, g.bin, g.home, g.cfg, g.gatePort)
	waitForPort(t, g.sidecarPort, &bytes.Buffer{})
	// Through SCIM, as the IdP would look: each acknowledged user is there.
	b := newBrowser(t)
	for i, email := range acked {
		if i%10 != 0 && i != len(acked)-1 {
			continue // a sample over HTTP; the file is checked for all below
		}
		code, body := b.getJSON(g.sidecar+"/scim/v2/Users?filter="+strings.ReplaceAll(fmt.Sprintf("userName eq %q", email), " ", "%20"), map[string]string{"Authorization": "Bearer " + scim})
		if code != http.StatusOK || body["totalResults"] != float64(1) {
			t.Fatalf("after restart, %s = %d %v; want the acknowledged user", email, code, body)
		}
	}
	db, err := sql.Open("sqlite", "file:"+g.db+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	present := map[string]bool{}
	rows, err := db.Query("SELECT email FROM accounts")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			t.Fatal(err)
		}
		present[e] = true
	}
	rows.Close()
	lost := 0
	for _, email := range acked {
		if !present[email] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged creates are missing after SIGKILL and restart", lost, len(acked))
	}
}

// waitUntilFor is waitUntil with its own time limit.
func waitUntilFor(t *testing.T, what string, limit time.Duration, check func() bool) {
	t.Helper()
	start := time.Now()
	for !check() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not so after %s", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
