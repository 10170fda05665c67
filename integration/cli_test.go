package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ssogate/ssogate/internal/apitoken"
	"github.com/ssogate/ssogate/internal/password"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
	"github.com/ssogate/ssogate/internal/testidp"
)

// ssogateBinary builds cmd/ssogate once per test run and returns its
// path; the tests that run the real binary share it.
func ssogateBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the ssogate binary; skipped with -short")
	}
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ssogate-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "ssogate")
		cmd := exec.Command("go", "build", "-o", binaryPath, "./cmd/ssogate")
		cmd.Dir = ".." // the module root
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("building cmd/ssogate: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// TestMain removes the shared binary after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if binaryPath != "" {
		os.RemoveAll(filepath.Dir(binaryPath))
	}
	os.Exit(code)
}

// ssogateCmd is the binary with args, its Caddy directories inside home.
func ssogateCmd(bin, home string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
	)
	return cmd
}

// startSSOGate runs `ssogate run --config cfg` until the test ends,
// waits for port to listen, and returns the process and its output.
func startSSOGate(t *testing.T, bin, home, cfg string, port int) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := ssogateCmd(bin, home, "run", "--config", cfg)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	waitForPort(t, port, logs)
	return cmd, logs
}

type cliRun struct {
	code           int
	stdout, stderr string
}

// runSSOGate runs the binary with args and stdin, in an environment whose
// Caddy directories are inside the test's temporary directory.
func runSSOGate(t *testing.T, bin, home, stdin string, args ...string) cliRun {
	t.Helper()
	cmd := ssogateCmd(bin, home, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := cliRun{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		run.code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running ssogate %v: %v", args, err)
	}
	return run
}

func TestCLIBinary(t *testing.T) {
	bin := ssogateBinary(t)
	home := t.TempDir()
	db := filepath.Join(home, "ssogate.db")
	run := func(stdin string, args ...string) cliRun {
		t.Helper()
		return runSSOGate(t, bin, home, stdin, args...)
	}
	want := func(r cliRun, code int, stderrPart string) {
		t.Helper()
		if r.code != code {
			t.Errorf("exit code = %d, want %d (stdout %q, stderr %q)", r.code, code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, stderrPart) {
			t.Errorf("stderr = %q, want it to contain %q", r.stderr, stderrPart)
		}
	}

	r := run("", "org", "create", "acme", "--db", db)
	want(r, 0, "")
	if r.stdout != "Created org acme.\n" {
		t.Errorf("org create: stdout = %q", r.stdout)
	}

	r = run("", "token", "create", "--org", "acme", "--scope", "scim", "--db", db)
	want(r, 0, "shown once")
	token, ok := strings.CutSuffix(r.stdout, "\n")
	if !ok || strings.Contains(token, "\n") || !strings.HasPrefix(token, apitoken.Prefix) {
		t.Fatalf("token create: stdout = %q, want the token alone on one line", r.stdout)
	}

	r = run("", "user", "invite", "root@acme.com", "--role", "owner", "--org", "acme", "--db", db)
	want(r, 0, "")
	want(run("hunter2-hunter2\n", "user", "passwd", "root@acme.com", "--org", "acme", "--db", db), 0, "")

	// What the commands wrote is in the database.
	st, err := sqlitestore.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	tok, err := st.TokenByHash(ctx, apitoken.Hash(token))
	if err != nil || tok.Scope != storage.ScopeSCIM {
		t.Errorf("the printed token: %+v, %v; want a scim token", tok, err)
	}
	hash, err := st.PasswordHash(ctx, "root@acme.com")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := password.Verify(context.Background(), "hunter2-hunter2", hash); !ok || err != nil {
		t.Errorf("password.Verify(stored hash) = %v, %v", ok, err)
	}

	// Failures exit 1 and usage errors 2, with the reason on stderr.
	want(run("", "token", "create", "--org", "nope", "--scope", "scim", "--db", db), 1,
		"org nope does not exist; create it with `ssogate org create nope --db "+db+"`")
	want(run("", "token", "create", "--org", "acme", "--db", db), 2, "--scope is required")
	want(run("", "token", "create", "--org", "acme", "--scope", "root", "--db", db), 2, "unknown scope")
	want(run("", "user", "set-role", "root@acme.com", "--org", "acme", "--db", db), 2, "takes <email> <role>")
	want(run("", "user", "list", "--bogus", "--db", db), 2, "unknown flag: --bogus")
	want(run("", "domain"), 2, "domain needs a subcommand")
	want(run("", "domain", "claim", "co.uk", "--org", "acme", "--db", db), 1, "is a public suffix")
	want(run("", "token", "list", "--db", filepath.Join(home, "missing.db")), 1, "no ssogate database at")
	if _, err := os.Stat(filepath.Join(home, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token list created the missing database: %v", err)
	}

	// The commands are listed in the binary's help.
	r = run("", "help")
	for _, name := range []string{"org", "token", "domain", "user", "team", "sso", "audit"} {
		if !strings.Contains(r.stdout, "\n  "+name+" ") {
			t.Errorf("help does not list %q:\n%s", name, r.stdout)
		}
	}
}

// TestCLIBinarySSO sets up an org's SSO connection through the built
// binary: stdout holds only what a script captures, refusals exit 1 or 2
// and write nothing.
func TestCLIBinarySSO(t *testing.T) {
	bin := ssogateBinary(t)
	home := t.TempDir()
	db := filepath.Join(home, "ssogate.db")
	run := func(args ...string) cliRun {
		t.Helper()
		return runSSOGate(t, bin, home, "", append(args, "--db", db)...)
	}
	want := func(r cliRun, code int, stderrPart string) {
		t.Helper()
		if r.code != code || !strings.Contains(r.stderr, stderrPart) {
			t.Errorf("exit %d, stderr %q; want %d and %q (stdout %q)", r.code, r.stderr, code, stderrPart, r.stdout)
		}
	}
	want(run("org", "create", "acme"), 0, "")
	want(run("org", "create", "Acme Corp"), 2, "is not a slug")

	idp, err := testidp.New("https://idp.example.com")
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(home, "idp.pem")
	if err := os.WriteFile(certFile, idp.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	want(run("sso", "set", "--org", "acme", "--idp-sso-url", "http://idp.example.com/sso"), 2, "--idp-sso-url: must use https")
	want(run("sso", "set", "--org", "acme", "--idp-sso-url", idp.SSOURL(), "--idp-issuer", idp.EntityID(),
		"--idp-certificate", certFile), 0, "Next: run a test sign-in")
	want(run("sso", "enable", "--org", "acme"), 1, "run a test sign-in first")

	st, err := sqlitestore.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.PutSetting(ctx, tenant.GateURLKey("acme"), []byte("https://app.example.com/sso")); err != nil {
		t.Fatal(err)
	}
	r := run("sso", "test", "--org", "acme")
	want(r, 0, "within 15 minutes")
	testURL, ok := strings.CutSuffix(r.stdout, "\n")
	if !ok || !strings.HasPrefix(testURL, "https://app.example.com/sso/o/acme/test/") || strings.Contains(testURL, "\n") {
		t.Fatalf("sso test: stdout = %q, want the URL alone on one line", r.stdout)
	}

	want(run("sso", "enable", "--org", "acme", "--untested"), 0, "--untested")
	r = run("sso", "show", "--org", "acme", "--json")
	want(r, 0, "")
	var show struct {
		State        string `json:"state"`
		Certificates []struct {
			Subject string `json:"subject"`
		} `json:"certificates"`
		SP struct {
			ACSURL string `json:"acs_url"`
		} `json:"sp"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &show); err != nil {
		t.Fatalf("sso show --json: %v\n%s", err, r.stdout)
	}
	if show.State != "enabled" || len(show.Certificates) != 1 || show.Certificates[0].Subject != "CN=ssogate test IdP" ||
		show.SP.ACSURL != "https://app.example.com/sso/o/acme/acs" {
		t.Errorf("sso show --json = %+v", show)
	}
	r = run("sso", "disable", "--org", "acme")
	want(r, 0, "")
	if !strings.HasPrefix(r.stdout, "Disabled SSO for org acme") {
		t.Errorf("sso disable: stdout = %q", r.stdout)
	}

	acme, err := st.OrgByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateTeam(ctx, acme.ID, "Engineering", ""); err != nil {
		t.Fatal(err)
	}
	want(run("team", "set-role", "Engineering", "owner", "--org", "acme"), 2, "a team cannot grant the owner role")
	want(run("team", "set-role", "Design", "admin", "--org", "acme"), 1, "org acme has no team")
	r = run("team", "set-role", "engineering", "admin", "--org", "acme")
	want(r, 0, "")
	if r.stdout != "Team Engineering now grants admin to its 0 members (was none).\n" {
		t.Errorf("team set-role: stdout = %q", r.stdout)
	}

	// Each change above is in the org's activity log, newest first.
	r = run("audit", "--org", "acme", "--limit", "3")
	want(r, 0, "The newest 3 of")
	rows := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(rows) != 4 || !strings.HasPrefix(rows[0], "WHEN") || !strings.Contains(rows[1], "team.role") ||
		!strings.Contains(rows[1], "role: \"\" → admin") || !strings.Contains(rows[2], "sso.disable") || !strings.Contains(rows[3], "sso.enable") {
		t.Errorf("audit: stdout = %q", r.stdout)
	}
}
