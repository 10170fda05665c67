package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuditSinceThroughTheBinary: `ssogate audit --since` takes an RFC
// 3339 time or a duration and shows only the events from then on; a bad
// value is a usage error.
func TestAuditSinceThroughTheBinary(t *testing.T) {
	bin := ssogateBinary(t)
	home := t.TempDir()
	db := filepath.Join(home, "ssogate.db")
	run := func(args ...string) cliRun {
		t.Helper()
		return runSSOGate(t, bin, home, "", append(args, "--org", "acme", "--db", db)...)
	}
	if r := runSSOGate(t, bin, home, "", "org", "create", "acme", "--db", db); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	if r := run("token", "create", "--scope", "scim", "--name", "before"); r.code != 0 {
		t.Fatalf("token create: %+v", r)
	}
	// The log keeps seconds: the bound falls strictly between the events.
	time.Sleep(1500 * time.Millisecond)
	bound := time.Now().UTC().Truncate(time.Second)
	if r := run("domain", "claim", "acme.com"); r.code != 0 {
		t.Fatalf("domain claim: %+v", r)
	}

	for _, tc := range []struct {
		since       string
		code        int
		has, hasNot []string
	}{
		{since: bound.Format(time.RFC3339), has: []string{"domain.claim", "acme.com"}, hasNot: []string{"token.create"}},
		{since: "1h", has: []string{"domain.claim", "token.create"}},
		{since: bound.Add(time.Hour).Format(time.RFC3339), has: []string{"no recorded activity since"}, hasNot: []string{"domain.claim"}},
		{since: "yesterday", code: 2, has: []string{"--since takes an RFC 3339 time"}},
	} {
		r := run("audit", "--since", tc.since)
		out := r.stdout + r.stderr
		if r.code != tc.code {
			t.Errorf("audit --since %s: exit %d, want %d\n%s", tc.since, r.code, tc.code, out)
		}
		for _, s := range tc.has {
			if !strings.Contains(out, s) {
				t.Errorf("audit --since %s: no %q in\n%s", tc.since, s, out)
			}
		}
		for _, s := range tc.hasNot {
			if strings.Contains(out, s) {
				t.Errorf("audit --since %s: %q shown, though older than the bound\n%s", tc.since, s, out)
			}
		}
	}
	// With --json, one line per event since the bound.
	r := run("audit", "--json", "--since", bound.Format(time.RFC3339))
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(lines) != 1 || !strings.Contains(lines[0], `"domain.claim"`) {
		t.Errorf("audit --json --since: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
