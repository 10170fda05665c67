package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/internal/pgstore/pgtest"
)

// TestStoreCopyToPostgres moves a SQLite install to PostgreSQL with
// `ssogate store copy`: the counts match, a second copy is refused
// without --force and gives the same result with it, and a SCIM sidecar
// on PostgreSQL accepts the token made on SQLite and lists its member.
func TestStoreCopyToPostgres(t *testing.T) {
	dsn := pgtest.Database(t)
	bin := ssogateBinary(t)
	home := t.TempDir()
	db := filepath.Join(home, "ssogate.db")
	run := func(stdin string, args ...string) cliRun {
		t.Helper()
		return runSSOGate(t, bin, home, stdin, args...)
	}
	must := func(r cliRun, what string) cliRun {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", what, r.code, r.stderr)
		}
		return r
	}
	must(run("", "org", "create", "acme", "--db", db), "org create")
	must(run("", "user", "invite", "jo@acme.com", "--role", "owner", "--org", "acme", "--db", db), "user invite")
	must(run("correct horse battery staple\n", "user", "passwd", "jo@acme.com", "--org", "acme", "--db", db), "user passwd")
	tok := strings.TrimSpace(must(run("", "token", "create", "--scope", "scim", "--org", "acme", "--db", db), "token create").stdout)

	copyArgs := []string{"store", "copy", "--from", "sqlite:" + db, "--to", "postgres:" + dsn}
	out := must(run("", copyArgs...), "store copy").stdout
	for _, want := range []string{"orgs", "memberships", "tokens", "passwords"} {
		if !strings.Contains(out, want) {
			t.Errorf("store copy output lacks %s:\n%s", want, out)
		}
	}
	if r := run("", copyArgs...); r.code == 0 || !strings.Contains(r.stderr, "not empty") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("second copy without --force = exit %d: %s; want refused as not empty", r.code, r.stderr)
	}
	again := must(run("", append(copyArgs, "--force")...), "store copy --force").stdout
	if again != out {
		t.Errorf("copy --force reported\n%s\nwant the first copy's\n%s", again, out)
	}
	if r := must(run("", "user", "list", "--org", "acme", "--db", dsn), "user list on PostgreSQL"); !strings.Contains(r.stdout, "jo@acme.com") {
		t.Errorf("user list on PostgreSQL lacks jo@acme.com:\n%s", r.stdout)
	}

	// The token's hash came over: a sidecar on PostgreSQL accepts it.
	port := freePort(t)
	cfg := filepath.Join(home, "sidecar.Caddyfile")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{
	admin off
	storage file_system %s
	ssogate {
		database postgres %s
	}
}

http://127.0.0.1:%d {
	scim_server
}
`, filepath.Join(home, "caddy"), dsn, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	startSSOGate(t, bin, home, cfg, port)
	code, list := scimCall(t, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/scim/v2/Users", port), tok, nil)
	if code != http.StatusOK || list["totalResults"] != float64(1) {
		t.Errorf("SCIM list on PostgreSQL with the copied token = %d %v; want 1 member", code, list)
	}
}
