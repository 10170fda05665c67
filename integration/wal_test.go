package integration

import (
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestWALBoundedAfterLongReaderThroughTheBinary holds a read transaction
// on the gate's database from another connection (as `sqlite3 .backup`
// does) for 20 s, or SSOGATE_WAL_READER (a Go duration), while SCIM
// creates push the -wal past 64 MiB; within seconds of the reader
// ending, with no restart and no further writes, the file is back to at
// most 64 MiB.
func TestWALBoundedAfterLongReaderThroughTheBinary(t *testing.T) {
	hold := 20 * time.Second
	if v := os.Getenv("SSOGATE_WAL_READER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SSOGATE_WAL_READER: %v", err)
		}
		hold = d
	}
	const limit = 64 << 20
	g := startIdentityGateDB(t, "", "rate_limit 100000 100000")
	r := runSSOGate(t, g.bin, g.home, "", "token", "create", "--org", "acme", "--scope", "scim", "--db", g.db)
	if r.code != 0 {
		t.Fatalf("token create: exit %d: %s", r.code, r.stderr)
	}
	scim := strings.TrimSpace(r.stdout)
	walSize := func() int64 {
		fi, err := os.Stat(g.db + "-wal")
		if err != nil {
			return 0
		}
		return fi.Size()
	}

	reader, err := sql.Open("sqlite", "file:"+g.db+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	tx, err := reader.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow("SELECT COUNT(*) FROM memberships").Scan(&n); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b := newBrowser(t)
	// Padding in an attribute the gate keeps, so that each create adds
	// a few pages to the WAL.
	pad := strings.Repeat("p", 3000)
	for i := 0; time.Since(start) < hold; i++ {
		if walSize() > limit+limit/4 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		email := fmt.Sprintf("wal%d@acme.com", i)
		resp := b.do("POST", g.sidecar+"/scim/v2/Users", strings.NewReader(fmt.Sprintf(
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"name":{"givenName":"W","familyName":%q},"emails":[{"value":%q,"primary":true}],"title":%q,"active":true}`, email, pad[:100], email, pad)),
			map[string]string{"Authorization": "Bearer " + scim, "Content-Type": "application/scim+json"})
		if body := readBody(t, resp); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create %d = %d %s", i, resp.StatusCode, body)
		}
	}
	grown := walSize()
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	ended := time.Now()
	t.Logf("the -wal grew to %d MiB during a %v reader", grown>>20, hold)
	if grown <= limit {
		t.Fatalf("the -wal grew only to %d bytes during the reader; the test needs more than %d", grown, limit)
	}
	for walSize() > limit {
		if time.Since(ended) > 5*time.Second {
			t.Fatalf("the -wal is %d bytes 5 s after the reader ended; want at most %d", walSize(), limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the -wal was %d bytes %v after the reader ended", walSize(), time.Since(ended).Round(100*time.Millisecond))
}
