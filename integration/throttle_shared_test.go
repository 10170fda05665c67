package integration

import (
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/pgstore/pgtest"
)

// TestPasswordThrottleSharedSQLite: two gateway processes on one SQLite
// file meet one password limit, not one each.
func TestPasswordThrottleSharedSQLite(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ssogate.db")
	g1 := startPasswordGate(t, db)
	g2 := startPasswordProcess(t, "sqlite", db)
	testSharedThrottle(t, g1, g2)
}

// TestPasswordThrottleSharedPostgres: the same with two replicas on one
// PostgreSQL database.
func TestPasswordThrottleSharedPostgres(t *testing.T) {
	dsn := pgtest.Database(t)
	g1 := startPasswordProcess(t, "postgres", dsn)
	g1.cli("", "user", "invite", "pat@acme.com")
	g1.cli(patPassword+"\n", "user", "passwd", "pat@acme.com")
	g2 := startPasswordProcess(t, "postgres", dsn)
	testSharedThrottle(t, g1, g2)
}

// testSharedThrottle alternates wrong passwords between two gateway
// processes on one store: after accountLimit checked attempts in all,
// both answer 429; once the lock passes, the right password works.
func testSharedThrottle(t *testing.T, g1, g2 *passwordGate) {
	t.Helper()
	forms := []*passwordForm{openPasswordForm(t, g1.origin), openPasswordForm(t, g2.origin)}
	for i := range accountLimit {
		f := forms[i%2]
		if a := f.send(f.request("pat@acme.com", "wrong guess "+strconv.Itoa(i))); a.err != nil || a.status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d (process %d) = %d (error %v), want 401", i+1, i%2+1, a.status, a.err)
		}
	}
	var wait int
	for i, f := range forms {
		a := f.send(f.request("pat@acme.com", "one more guess"))
		ra, err := strconv.Atoi(a.retryAfter)
		if a.err != nil || a.status != http.StatusTooManyRequests || err != nil || ra < 1 {
			t.Fatalf("after %d wrong passwords over two processes, process %d answered %d (Retry-After %q, error %v); want 429: the limit is shared",
				accountLimit, i+1, a.status, a.retryAfter, a.err)
		}
		wait = max(wait, ra)
	}
	time.Sleep(time.Duration(wait) * time.Second)
	if a := forms[1].send(forms[1].request("pat@acme.com", patPassword)); a.status != http.StatusSeeOther {
		t.Fatalf("the right password after the lock passed = %d (error %v), want 303", a.status, a.err)
	}
}
