package caddymodule

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ssogate/ssogate/internal/apitoken"
	"github.com/ssogate/ssogate/internal/password"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// cliOutcome is what one run of a subcommand did.
type cliOutcome struct {
	code   int
	stdout string
	stderr string // notes the command wrote itself
	errMsg string // the error Caddy's wrapper reports on stderr
}

// runCLI runs the subcommands as the binary does: it builds a cobra tree
// from the commands the package registered with Caddy (so a command that
// is not registered fails the test), then executes args with stdin and
// captured stdout and stderr.
func runCLI(t *testing.T, stdin string, args ...string) cliOutcome {
	t.Helper()
	root := &cobra.Command{Use: "ssogate", SilenceUsage: true}
	registered := caddycmd.Commands()
	for _, name := range []string{"org", "token", "domain", "user", "team", "sso", "audit"} {
		c, ok := registered[name]
		if !ok {
			t.Fatalf("command %q is not registered with Caddy", name)
		}
		// As caddycmd does for a command with a CobraFunc.
		cc := &cobra.Command{Use: c.Name + " " + c.Usage, Short: c.Short, Long: c.Long}
		c.CobraFunc(cc)
		root.AddCommand(cc)
	}
	var stdout, stderr bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	err := root.Execute()
	out := cliOutcome{code: exitCodeOf(err), stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		out.errMsg = err.Error()
	}
	return out
}

// exitCodeOf returns the exit code caddycmd.Main would exit with after
// Execute returned err: the ExitCode of its (unexported) exitError, else 1.
func exitCodeOf(err error) int {
	if err == nil {
		return 0
	}
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		if f := v.Elem().FieldByName("ExitCode"); f.IsValid() && f.CanInt() {
			return int(f.Int())
		}
	}
	return 1
}

// cliTest is a database file and the commands to run on it.
type cliTest struct {
	t  *testing.T
	db string
}

func newCLITest(t *testing.T, orgs ...string) *cliTest {
	t.Helper()
	ct := &cliTest{t: t, db: filepath.Join(t.TempDir(), "ssogate.db")}
	for _, o := range orgs {
		ct.ok("", "org", "create", o)
	}
	return ct
}

// run runs a subcommand on the test's database.
func (ct *cliTest) run(stdin string, args ...string) cliOutcome {
	ct.t.Helper()
	return runCLI(ct.t, stdin, append(args, "--db", ct.db)...)
}

// ok runs a subcommand that must succeed and returns its stdout.
func (ct *cliTest) ok(stdin string, args ...string) string {
	ct.t.Helper()
	out := ct.run(stdin, args...)
	if out.code != 0 {
		ct.t.Fatalf("%v: exit %d, error %q, stderr %q", args, out.code, out.errMsg, out.stderr)
	}
	return out.stdout
}

// store opens the test's database for a look at its state.
func (ct *cliTest) store() *sqlitestore.Store {
	ct.t.Helper()
	st, err := sqlitestore.Open(context.Background(), ct.db)
	if err != nil {
		ct.t.Fatal(err)
	}
	ct.t.Cleanup(func() { st.Close() })
	return st
}

func (ct *cliTest) org(st storage.Store, name string) storage.Org {
	ct.t.Helper()
	o, err := st.OrgByName(context.Background(), name)
	if err != nil {
		ct.t.Fatal(err)
	}
	return o
}

var timeRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC`)

// stable replaces times, which the store takes from the clock, with a
// placeholder of the same width, so that columns stay aligned.
func stable(s string) string { return timeRE.ReplaceAllString(s, "YYYY-MM-DD hh:mm UTC") }

// wantOutcome checks an outcome's code, and that stdout and the error
// message hold the given parts.
func wantOutcome(t *testing.T, got cliOutcome, code int, stdout string, errParts ...string) {
	t.Helper()
	if got.code != code {
		t.Errorf("exit code = %d, want %d (error %q, stderr %q)", got.code, code, got.errMsg, got.stderr)
	}
	if got.stdout != stdout {
		t.Errorf("stdout = %q, want %q", got.stdout, stdout)
	}
	for _, p := range errParts {
		if !strings.Contains(got.errMsg, p) {
			t.Errorf("error = %q, want it to contain %q", got.errMsg, p)
		}
	}
}

func TestCLIOrgCreateList(t *testing.T) {
	ct := newCLITest(t)
	if got := ct.ok("", "org", "create", "acme"); got != "Created org acme.\n" {
		t.Errorf("org create acme: stdout = %q", got)
	}
	ct.ok("", "org", "create", "--org", "globex")
	ct.ok("", "org", "create", "initech", "--org", "initech")

	tests := []struct {
		name    string
		args    []string
		code    int
		errPart string
	}{
		{"exists", []string{"org", "create", "acme"}, 1, "org acme exists already"},
		{"no name", []string{"org", "create"}, 2, "needs the name of the org"},
		{"two names", []string{"org", "create", "a", "b"}, 2, "takes one name"},
		{"name and other --org", []string{"org", "create", "a", "--org", "b"}, 2, "two names given"},
		{"space", []string{"org", "create", "big corp"}, 2, "is not a slug"},
		{"control", []string{"org", "create", "a\x1bb"}, 2, "is not a slug"},
		{"upper case", []string{"org", "create", "Acme"}, 2, "is not a slug"},
		{"dot", []string{"org", "create", "acme.com"}, 2, "is not a slug"},
		{"trailing hyphen", []string{"org", "create", "acme-"}, 2, "is not a slug"},
		{"slash", []string{"org", "create", "a/b"}, 2, "is not a slug"},
		{"empty", []string{"org", "create", ""}, 2, "name is required"},
		{"too long", []string{"org", "create", strings.Repeat("a", 64)}, 2, "longer than 63"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOutcome(t, ct.run("", tt.args...), tt.code, "", tt.errPart)
		})
	}

	st := ct.store()
	ctx := context.Background()
	if _, err := st.EnsureOrg(ctx, "fromcfg", true); err != nil {
		t.Fatal(err)
	}
	acme := ct.org(st, "acme")
	if _, err := st.CreateMember(ctx, acme.ID, storage.NewMember{Email: "a@acme.com", Active: true}, true); err != nil {
		t.Fatal(err)
	}
	if err := st.SyncConfigDomains(ctx, acme.ID, []string{"acme.com"}); err != nil {
		t.Fatal(err)
	}
	want := `ORG      SOURCE  MEMBERS  DOMAINS  CREATED
acme     manual  1        1        YYYY-MM-DD hh:mm UTC
fromcfg  config  0        0        YYYY-MM-DD hh:mm UTC
globex   manual  0        0        YYYY-MM-DD hh:mm UTC
initech  manual  0        0        YYYY-MM-DD hh:mm UTC
`
	if diff := cmp.Diff(want, stable(ct.ok("", "org", "list"))); diff != "" {
		t.Errorf("org list (-want +got):\n%s", diff)
	}
}

func TestCLIOrgListEmpty(t *testing.T) {
	ct := newCLITest(t)
	ct.store().Close() // an empty database
	out := ct.run("", "org", "list")
	wantOutcome(t, out, 0, "")
	if !strings.Contains(out.stderr, "No orgs yet") {
		t.Errorf("stderr = %q, want a note that there are no orgs", out.stderr)
	}
}

// TestCLIUnknownOrg runs every command that works on an org against one
// that does not exist.
func TestCLIUnknownOrg(t *testing.T) {
	ct := newCLITest(t, "acme")
	commands := [][]string{
		{"token", "create", "--scope", "scim"},
		{"token", "list"},
		{"token", "revoke", "tok_1"},
		{"domain", "claim", "acme.com"},
		{"domain", "verify", "acme.com"},
		{"domain", "list"},
		{"domain", "remove", "acme.com"},
		{"user", "list"},
		{"user", "show", "a@acme.com"},
		{"user", "invite", "a@acme.com"},
		{"user", "set-role", "a@acme.com", "admin"},
		{"user", "passwd", "a@acme.com"},
		{"team", "list"},
		{"audit"},
	}
	for _, args := range commands {
		t.Run(strings.Join(args[:min(2, len(args))], " "), func(t *testing.T) {
			out := ct.run("password123\n", append(args, "--org", "nope")...)
			want := "org nope does not exist; create it with `ssogate org create nope --db " + ct.db + "` or name it in a Caddyfile"
			wantOutcome(t, out, 1, "")
			if out.errMsg != want {
				t.Errorf("error = %q, want %q", out.errMsg, want)
			}
		})
	}
	// Without --org the org is "default", which does not exist either.
	wantOutcome(t, ct.run("", "user", "list"), 1, "", "org default does not exist")
}

func TestCLINoDatabase(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo.db")
	out := runCLI(t, "", "token", "list", "--db", missing)
	wantOutcome(t, out, 1, "", "no ssogate database at "+missing)
	if matches, _ := filepath.Glob(filepath.Join(dir, "*")); len(matches) != 0 {
		t.Errorf("token list on a missing database created %v", matches)
	}
}

func TestCLIUsageErrors(t *testing.T) {
	ct := newCLITest(t, "acme")
	tests := []struct {
		name    string
		args    []string
		errPart string
	}{
		{"unknown flag", []string{"token", "list", "--bogus"}, "unknown flag: --bogus"},
		{"missing scope", []string{"token", "create", "--org", "acme"}, "--scope is required"},
		{"bad scope", []string{"token", "create", "--org", "acme", "--scope", "root"}, `unknown scope "root"`},
		{"missing argument", []string{"token", "revoke", "--org", "acme"}, "takes <id>, got none"},
		{"extra argument", []string{"domain", "list", "x.com", "--org", "acme"}, "takes no arguments, got x.com"},
		{"missing role", []string{"user", "set-role", "a@acme.com", "--org", "acme"}, "takes <email> <role>"},
		{"bad role", []string{"user", "set-role", "a@acme.com", "root", "--org", "acme"}, `unknown role "root"`},
		{"bad invite role", []string{"user", "invite", "a@acme.com", "--role", "god", "--org", "acme"}, `unknown role "god"`},
		{"missing email", []string{"user", "passwd", "--org", "acme"}, "takes <email>, got none"},
		{"bad resolver", []string{"domain", "verify", "acme.com", "--dns-resolver", "1.2.3.4:dns", "--org", "acme"}, "is not host[:port]"},
		{"org list --org", []string{"org", "list", "--org", "acme"}, "unknown flag: --org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOutcome(t, ct.run("", tt.args...), 2, "", tt.errPart)
		})
	}
	// The groups take no --db.
	for _, tt := range []struct {
		name    string
		args    []string
		errPart string
	}{
		{"group alone", []string{"token"}, "token needs a subcommand: one of create, list, revoke"},
		{"unknown subcommand", []string{"user", "delete", "a@acme.com"}, `unknown command "delete" for "ssogate user"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantOutcome(t, runCLI(t, "", tt.args...), 2, "", tt.errPart)
		})
	}
}

func TestCLIToken(t *testing.T) {
	ct := newCLITest(t, "acme", "globex")
	out := ct.run("", "token", "create", "--org", "acme", "--scope", "scim", "--name", "okta")
	wantOutcome(t, out, 0, out.stdout)
	token, ok := strings.CutSuffix(out.stdout, "\n")
	if !ok || strings.Contains(token, "\n") || !strings.HasPrefix(token, apitoken.Prefix) {
		t.Fatalf("token create: stdout = %q, want one line holding a token", out.stdout)
	}
	st := ct.store()
	ctx := context.Background()
	rec, err := st.TokenByHash(ctx, apitoken.Hash(token))
	if err != nil {
		t.Fatalf("the printed token does not authenticate: %v", err)
	}
	acme := ct.org(st, "acme")
	if rec.OrgID != acme.ID || rec.Scope != storage.ScopeSCIM || rec.Name != "okta" {
		t.Errorf("stored token = %+v, want org %d, scope scim, name okta", rec, acme.ID)
	}
	for _, part := range []string{rec.ID, "shown once"} {
		if !strings.Contains(out.stderr, part) {
			t.Errorf("token create: stderr = %q, want it to contain %q", out.stderr, part)
		}
	}

	admin := strings.TrimSpace(ct.ok("", "token", "create", "--org", "acme", "--scope", "admin"))
	adminRec, err := st.TokenByHash(ctx, apitoken.Hash(admin))
	if err != nil || adminRec.Scope != storage.ScopeAdmin {
		t.Fatalf("admin token: %+v, %v", adminRec, err)
	}

	list := ct.ok("", "token", "list", "--org", "acme")
	if strings.Contains(list, token) || strings.Contains(list, admin) {
		t.Errorf("token list shows a secret:\n%s", list)
	}
	// Tokens made in one second list in ID order, so take the order from
	// the store.
	stored, err := st.ListTokens(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := "ID                NAME  SCOPE  CREATED               LAST USED\n"
	for _, tok := range stored {
		switch tok.ID {
		case rec.ID:
			want += rec.ID + "  okta  scim   YYYY-MM-DD hh:mm UTC  never\n"
		case adminRec.ID:
			want += adminRec.ID + "  -     admin  YYYY-MM-DD hh:mm UTC  never\n"
		default:
			t.Fatalf("unexpected token %+v", tok)
		}
	}
	if diff := cmp.Diff(want, stable(list)); diff != "" {
		t.Errorf("token list (-want +got):\n%s", diff)
	}
	if got := ct.run("", "token", "list", "--org", "globex"); got.stdout != "" || !strings.Contains(got.stderr, "no tokens") {
		t.Errorf("token list of an org without tokens: %+v", got)
	}

	// Another org cannot revoke acme's token.
	wantOutcome(t, ct.run("", "token", "revoke", rec.ID, "--org", "globex"), 1, "", "org globex has no token")
	if got := ct.ok("", "token", "revoke", rec.ID, "--org", "acme"); got != "Revoked token "+rec.ID+".\n" {
		t.Errorf("token revoke: stdout = %q", got)
	}
	if _, err := st.TokenByHash(ctx, apitoken.Hash(token)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("revoked token still found: %v", err)
	}
	if _, err := st.TokenByHash(ctx, apitoken.Hash(admin)); err != nil {
		t.Errorf("revoking one token removed another: %v", err)
	}
	wantOutcome(t, ct.run("", "token", "revoke", rec.ID, "--org", "acme"), 1, "", "has no token")
}

// txtServer is a DNS server on a random local UDP port that answers TXT
// queries from a map the test changes as it goes.
type txtServer struct {
	addr string
	mu   sync.Mutex
	txt  map[string][]string // FQDN, lower case → values
}

func startTXTServer(t *testing.T) *txtServer {
	t.Helper()
	s := &txtServer{txt: map[string][]string{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = pc.LocalAddr().String()
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(s.serve)}
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() {
		srv.Shutdown()
		<-done
	})
	return s
}

func (s *txtServer) set(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[dns.Fqdn(strings.ToLower(name))] = values
}

func (s *txtServer) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	s.mu.Lock()
	values, ok := s.txt[strings.ToLower(r.Question[0].Name)]
	s.mu.Unlock()
	switch {
	case !ok:
		m.Rcode = dns.RcodeNameError
	case r.Question[0].Qtype == dns.TypeTXT:
		for _, v := range values {
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
				Txt: []string{v},
			})
		}
	}
	_ = w.WriteMsg(m)
}

func TestCLIDomainClaimVerify(t *testing.T) {
	ct := newCLITest(t, "acme", "globex")
	dnsSrv := startTXTServer(t)
	st := ct.store()
	ctx := context.Background()
	acme := ct.org(st, "acme")

	// Claim: stdout is the value alone, the instructions go to stderr.
	claim := ct.run("", "domain", "claim", "ACME.com.", "--org", "acme")
	wantOutcome(t, claim, 0, claim.stdout)
	value := strings.TrimSuffix(claim.stdout, "\n")
	if strings.Contains(value, "\n") || !strings.HasPrefix(value, "ssogate-verification=") {
		t.Fatalf("domain claim: stdout = %q, want the TXT value alone", claim.stdout)
	}
	for _, part := range []string{"_ssogate-challenge.acme.com", value, "ssogate domain verify acme.com --org acme --db " + ct.db} {
		if !strings.Contains(claim.stderr, part) {
			t.Errorf("domain claim: stderr = %q, want it to contain %q", claim.stderr, part)
		}
	}
	d, err := st.DomainByName(ctx, acme.ID, "acme.com")
	if err != nil || d.Status != storage.DomainPending || d.TXTValue != value {
		t.Fatalf("stored claim = %+v, %v; want pending with value %q", d, err, value)
	}
	// Claiming again shows the same challenge.
	if again := ct.ok("", "domain", "claim", "acme.com", "--org", "acme"); again != claim.stdout {
		t.Errorf("second domain claim: stdout = %q, want the same %q", again, claim.stdout)
	}

	verify := []string{"domain", "verify", "acme.com", "--org", "acme", "--dns-resolver", dnsSrv.addr}
	// Not published yet.
	wantOutcome(t, ct.run("", verify...), 1, "", "domain not verified: no TXT record at _ssogate-challenge.acme.com")
	// Published with the wrong value.
	dnsSrv.set("_ssogate-challenge.acme.com", "ssogate-verification=wrong", "v=spf1 -all")
	wantOutcome(t, ct.run("", verify...), 1, "", "(2 found) do not hold the expected value")
	if d, _ := st.DomainByName(ctx, acme.ID, "acme.com"); d.Status != storage.DomainPending {
		t.Fatalf("a failed verify changed the claim to %q", d.Status)
	}
	// Published right.
	dnsSrv.set("_ssogate-challenge.acme.com", "v=spf1 -all", value)
	wantOutcome(t, ct.run("", verify...), 0, "Verified acme.com for org acme.\n")
	if ok, err := st.DomainVerified(ctx, acme.ID, "acme.com"); err != nil || !ok {
		t.Fatalf("after verify, DomainVerified = %v, %v", ok, err)
	}
	// Verifying again is fine; claiming again is not.
	if got := ct.ok("", verify...); !strings.Contains(got, "is verified for org acme") {
		t.Errorf("second verify: stdout = %q", got)
	}
	wantOutcome(t, ct.run("", "domain", "claim", "acme.com", "--org", "acme"), 1, "", "org acme has acme.com verified already")
	// Another org cannot claim what acme verified.
	wantOutcome(t, ct.run("", "domain", "claim", "acme.com", "--org", "globex"), 1, "", "acme.com is verified by another org")

	ct.ok("", "domain", "claim", "sub.acme.io", "--org", "acme")
	want := "DOMAIN       STATUS    SOURCE  CLAIMED               VERIFIED              TXT VALUE\n" +
		"acme.com     verified  claim   YYYY-MM-DD hh:mm UTC  YYYY-MM-DD hh:mm UTC  -\n" +
		"sub.acme.io  pending   claim   YYYY-MM-DD hh:mm UTC  -                     " + mustDomain(t, st, acme.ID, "sub.acme.io").TXTValue + "\n"
	if diff := cmp.Diff(want, stable(ct.ok("", "domain", "list", "--org", "acme"))); diff != "" {
		t.Errorf("domain list (-want +got):\n%s", diff)
	}

	// Remove: not the last verified domain of an org that requires SSO.
	wantOutcome(t, ct.run("", "domain", "remove", "acme.com", "--org", "globex"), 1, "", "org globex has no claim on acme.com")
	if _, err := st.ModifyConnection(ctx, acme.ID, func(c *storage.Connection) error {
		c.State, c.RequireSSO = storage.ConnectionEnabled, true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, ct.run("", "domain", "remove", "acme.com", "--org", "acme"), 1, "",
		"acme.com is the organization's last verified domain and the organization requires single sign-on")
	if _, err := st.ModifyConnection(ctx, acme.ID, func(c *storage.Connection) error {
		c.RequireSSO = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rm := ct.ok("", "domain", "remove", "acme.com", "--org", "acme")
	if !strings.HasPrefix(rm, "Removed acme.com from org acme.") {
		t.Errorf("domain remove: stdout = %q", rm)
	}
	if _, err := st.DomainByName(ctx, acme.ID, "acme.com"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after remove, DomainByName = %v, want ErrNotFound", err)
	}
	// Now globex may claim it.
	ct.ok("", "domain", "claim", "acme.com", "--org", "globex")
	// Verify with no claim.
	wantOutcome(t, ct.run("", "domain", "verify", "nothing.org", "--org", "acme", "--dns-resolver", dnsSrv.addr),
		1, "", "org acme has no claim on nothing.org")
}

func mustDomain(t *testing.T, st storage.Store, orgID int64, name string) storage.Domain {
	t.Helper()
	d, err := st.DomainByName(context.Background(), orgID, name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCLIDomainClaimRefused(t *testing.T) {
	ct := newCLITest(t, "acme")
	tests := []struct {
		domain, errPart string
	}{
		{"com", `"com" is not a registrable domain`},
		{"co.uk", `"co.uk" is a public suffix`},
		{"github.io", `"github.io" is a public suffix`},
		{"localhost", "not a registrable domain"},
		{"bad_label.com", `"bad_label.com" is not a valid domain name: "_" is not allowed`},
		{"", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			wantOutcome(t, ct.run("", "domain", "claim", tt.domain, "--org", "acme"), 1, "", tt.errPart)
		})
	}
	st := ct.store()
	if ds, err := st.ListDomains(context.Background(), ct.org(st, "acme").ID); err != nil || len(ds) != 0 {
		t.Errorf("refused claims were stored: %+v, %v", ds, err)
	}
}

func TestCLIDomainRemoveConfigNote(t *testing.T) {
	ct := newCLITest(t, "acme")
	st := ct.store()
	if err := st.SyncConfigDomains(context.Background(), ct.org(st, "acme").ID, []string{"acme.com"}); err != nil {
		t.Fatal(err)
	}
	out := ct.run("", "domain", "remove", "acme.com", "--org", "acme")
	if out.code != 0 || !strings.Contains(out.stderr, "comes from a Caddyfile domain line") {
		t.Errorf("removing a config domain: %+v, want a note on stderr", out)
	}
}

func TestCLIUserInvite(t *testing.T) {
	ct := newCLITest(t, "acme", "globex")
	st := ct.store()
	ctx := context.Background()
	acme, globex := ct.org(st, "acme"), ct.org(st, "globex")
	if err := st.SyncConfigDomains(ctx, acme.ID, []string{"acme.com"}); err != nil {
		t.Fatal(err)
	}
	// Alice's account exists in globex only: SCIM would refuse her with
	// "the account exists outside the organization"; invite adds her.
	if _, err := st.CreateMember(ctx, globex.ID, storage.NewMember{
		Email: "alice@acme.com", GivenName: "Alice", FamilyName: "Liddell", Active: true,
	}, true); err != nil {
		t.Fatal(err)
	}
	out := ct.run("", "user", "invite", "alice@acme.com", "--org", "acme")
	wantOutcome(t, out, 0, "Added alice@acme.com to org acme as member.\n")
	if !strings.Contains(out.stderr, "existed already (member of globex)") {
		t.Errorf("invite of an existing account: stderr = %q", out.stderr)
	}
	m, err := st.MemberByEmail(ctx, acme.ID, "alice@acme.com")
	if err != nil {
		t.Fatalf("alice is not a member of acme after invite: %v", err)
	}
	got := []any{m.Role, m.Active, m.GivenName, m.FamilyName}
	if diff := cmp.Diff([]any{storage.RoleMember, true, "Alice", "Liddell"}, got); diff != "" {
		t.Errorf("invited member (-want +got):\n%s", diff)
	}
	if _, err := st.MemberByEmail(ctx, globex.ID, "alice@acme.com"); err != nil {
		t.Errorf("invite removed the globex membership: %v", err)
	}

	// A new account, with role and names; its domain is not verified.
	out = ct.run("", "user", "invite", "Bob@Example.ORG", "--org", "acme", "--role", "admin", "--first", "Bob", "--last", "Builder")
	wantOutcome(t, out, 0, "Added Bob@example.org to org acme as admin.\n")
	if !strings.Contains(out.stderr, "has not verified example.org") {
		t.Errorf("invite from an unverified domain: stderr = %q, want a note", out.stderr)
	}
	bob, err := st.MemberByEmail(ctx, acme.ID, "bob@example.org")
	if err != nil || bob.Role != storage.RoleAdmin || bob.GivenName != "Bob" || bob.FamilyName != "Builder" {
		t.Errorf("bob = %+v, %v", bob, err)
	}

	tests := []struct {
		name, email, errPart string
	}{
		{"already a member", "alice@acme.com", "alice@acme.com is a member of org acme already (role member)"},
		{"already, other case", "ALICE@acme.com", "is a member of org acme already"},
		{"display name form", "Alice <alice@acme.com>", "is not an email address"},
		{"no domain", "alice", "is not an email address"},
		{"dotless domain", "alice@localhost", "with a domain name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOutcome(t, ct.run("", "user", "invite", tt.email, "--org", "acme"), 1, "", tt.errPart)
		})
	}
}

func TestCLIUserSetRole(t *testing.T) {
	ct := newCLITest(t, "acme", "globex")
	ct.ok("", "user", "invite", "alice@acme.com", "--org", "acme")
	st := ct.store()
	ctx := context.Background()
	acme := ct.org(st, "acme")

	wantOutcome(t, ct.run("", "user", "set-role", "alice@acme.com", "owner", "--org", "acme"), 0,
		"alice@acme.com is now owner in org acme (was member).\n")
	if m, _ := st.MemberByEmail(ctx, acme.ID, "alice@acme.com"); m.Role != storage.RoleOwner {
		t.Errorf("role after set-role owner = %q", m.Role)
	}
	wantOutcome(t, ct.run("", "user", "set-role", "ALICE@acme.com", "owner", "--org", "acme"), 0,
		"alice@acme.com is owner in org acme already.\n")
	wantOutcome(t, ct.run("", "user", "set-role", "alice@acme.com", "admin", "--org", "globex"), 1, "",
		"alice@acme.com is not a member of org globex")
	wantOutcome(t, ct.run("", "user", "set-role", "alice@acme.com", "superuser", "--org", "acme"), 2, "", "unknown role")
	if m, _ := st.MemberByEmail(ctx, acme.ID, "alice@acme.com"); m.Role != storage.RoleOwner {
		t.Errorf("a refused set-role changed the role to %q", m.Role)
	}
}

func TestCLIUserPasswd(t *testing.T) {
	ct := newCLITest(t, "acme", "globex")
	ct.ok("", "user", "invite", "alice@acme.com", "--org", "acme")
	st := ct.store()
	ctx := context.Background()

	tests := []struct {
		name    string
		stdin   string
		code    int
		errPart string
		want    string // the password that must verify afterwards
	}{
		{"empty stdin", "", 1, "no password on stdin", ""},
		{"empty line", "\n", 1, "is empty", ""},
		{"too short", "short\n", 1, "too short", ""},
		{"too long", strings.Repeat("x", password.MaxBytes+1) + "\n", 1, "too long", ""},
		{"huge stdin", strings.Repeat("x", 1<<20), 1, "too long", ""},
		{"ok", "correct horse\n", 0, "", "correct horse"},
		{"crlf, no trailing newline rules", "s3cret-passw0rd\r\n", 0, "", "s3cret-passw0rd"},
		{"no newline, longest", strings.Repeat("y", password.MaxBytes), 0, "", strings.Repeat("y", password.MaxBytes)},
		{"only the first line", "first-line-pw\nsecond line\n", 0, "", "first-line-pw"},
	}
	last := ""
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := ct.run(tt.stdin, "user", "passwd", "alice@acme.com", "--org", "acme")
			wantStdout := ""
			if tt.code == 0 {
				wantStdout = "Set the password of alice@acme.com; the sessions signed in with a password are ended.\n"
			}
			wantOutcome(t, out, tt.code, wantStdout, tt.errPart)
			if tt.want != "" {
				last = tt.want
			}
			hash, err := st.PasswordHash(ctx, "alice@acme.com")
			if last == "" {
				if !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("a refused password was stored: %q, %v", hash, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := password.Verify(context.Background(), last, hash); err != nil || !ok {
				t.Errorf("password.Verify(%q, stored) = %v, %v; want true", last, ok, err)
			}
			if strings.Contains(hash, last) {
				t.Error("the stored hash contains the password")
			}
		})
	}
	wantOutcome(t, ct.run("password123\n", "user", "passwd", "alice@acme.com", "--org", "globex"), 1, "",
		"alice@acme.com is not a member of org globex")
	wantOutcome(t, ct.run("password123\n", "user", "passwd", "nobody@acme.com", "--org", "acme"), 1, "",
		"nobody@acme.com is not a member of org acme")
}

func TestCLIUserListShowTeams(t *testing.T) {
	ct := newCLITest(t, "acme", "globex")
	ct.ok("", "user", "invite", "bob@acme.com", "--org", "acme", "--first", "Bob", "--last", "Builder", "--role", "admin")
	ct.ok("", "user", "invite", "alice@acme.com", "--org", "acme", "--first", "Alice", "--last", "Liddell")
	ct.ok("", "user", "invite", "eve@acme.com", "--org", "acme", "--first", "Eve\x1b[31m", "--last", "Tab\there")
	ct.ok("", "user", "invite", "alice@acme.com", "--org", "globex")
	ct.ok("password123\n", "user", "passwd", "alice@acme.com", "--org", "acme")
	st := ct.store()
	ctx := context.Background()
	acme := ct.org(st, "acme")
	member := func(email string) storage.Member {
		m, err := st.MemberByEmail(ctx, acme.ID, email)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	alice, bob, eve := member("alice@acme.com"), member("bob@acme.com"), member("eve@acme.com")
	if _, err := st.SetActive(ctx, acme.ID, eve.ID, false); err != nil {
		t.Fatal(err)
	}
	for name, ids := range map[string][]string{"Engineering": {alice.ID, bob.ID}, "Design": {alice.ID}, "Empty": nil} {
		team, err := st.CreateTeam(ctx, acme.ID, name, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.UpdateTeam(ctx, acme.ID, team.ID, func(t *storage.Team) error {
			t.MemberIDs = ids
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	wantList := `EMAIL           NAME                     ROLE    ACTIVE  TEAMS
alice@acme.com  Alice Liddell            member  yes     Design, Engineering
bob@acme.com    Bob Builder              admin   yes     Engineering
eve@acme.com    Eve\x1b[31m Tab\x09here  member  no      -
`
	if diff := cmp.Diff(wantList, ct.ok("", "user", "list", "--org", "acme")); diff != "" {
		t.Errorf("user list (-want +got):\n%s", diff)
	}

	wantShow := `Email:           alice@acme.com
Org:             acme
ID:              ` + alice.ID + `
First name:      Alice
Last name:       Liddell
Display name:    -
Role:            member
Active:          yes
External ID:     -
Teams:           Design, Engineering
Password:        set
Other orgs:      globex
SCIM attributes: -
Created:         YYYY-MM-DD hh:mm UTC
Updated:         YYYY-MM-DD hh:mm UTC
`
	if diff := cmp.Diff(wantShow, stable(ct.ok("", "user", "show", "ALICE@acme.com", "--org", "acme"))); diff != "" {
		t.Errorf("user show (-want +got):\n%s", diff)
	}
	if got := ct.ok("", "user", "show", "bob@acme.com", "--org", "acme"); !strings.Contains(got, "Password:        not set\n") {
		t.Errorf("user show bob: want no password set, got:\n%s", got)
	}
	wantOutcome(t, ct.run("", "user", "show", "nobody@acme.com", "--org", "acme"), 1, "", "nobody@acme.com is not a member of org acme")

	wantTeams := `TEAM         ROLE  MEMBERS  EMAILS
Design       -     1        alice@acme.com
Empty        -     0        -
Engineering  -     2        alice@acme.com, bob@acme.com
`
	if diff := cmp.Diff(wantTeams, ct.ok("", "team", "list", "--org", "acme")); diff != "" {
		t.Errorf("team list (-want +got):\n%s", diff)
	}
	if got := ct.run("", "team", "list", "--org", "globex"); got.code != 0 || got.stdout != "" || !strings.Contains(got.stderr, "no teams") {
		t.Errorf("team list of an org without teams: %+v", got)
	}
	if got := ct.run("", "user", "list", "--org", "globex"); got.code != 0 || !strings.HasPrefix(got.stdout, "EMAIL") {
		t.Errorf("user list globex: %+v", got)
	}
}

func TestCLIHelpDocumentsFlags(t *testing.T) {
	for _, c := range cliCommands() {
		for _, flag := range []string{"--db"} {
			if !strings.Contains(c.Long, flag) {
				t.Errorf("%s: Long does not document %s", c.Name, flag)
			}
		}
		cc := &cobra.Command{Use: c.Name}
		c.CobraFunc(cc)
		for _, sub := range cc.Commands() {
			sub.Flags().VisitAll(func(f *pflag.Flag) {
				if !strings.Contains(sub.Long, "--"+f.Name) {
					t.Errorf("%s %s: Long does not document --%s", c.Name, sub.Name(), f.Name)
				}
				if !strings.Contains(c.Long, "--"+f.Name) {
					t.Errorf("%s: Long does not document --%s of %s", c.Name, f.Name, sub.Name())
				}
			})
		}
	}
}

func TestCLIShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"acme":           "acme",
		"/var/lib/x.db":  "/var/lib/x.db",
		"a b":            "'a b'",
		"it's":           `'it'\''s'`,
		"":               "''",
		"$(rm -rf /)":    "'$(rm -rf /)'",
		"alice@acme.com": "alice@acme.com",
		"ünïcode":        "'ünïcode'",
	} {
		if got := cliShellQuote(in); got != want {
			t.Errorf("cliShellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCLIClean checks that no control character reaches the terminal
// through a table cell, whatever a name holds.
func FuzzCLIClean(f *testing.F) {
	for _, s := range []string{"", "plain", "Eve\x1b[31m", "tab\there", "nl\nx", "\u0085\u009b", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := cliClean(s)
		if strings.ContainsFunc(got, unicode.IsControl) {
			t.Errorf("cliClean(%q) = %q, which holds a control character", s, got)
		}
		if got == "" {
			t.Errorf("cliClean(%q) is empty, want \"-\"", s)
		}
	})
}

func TestCLIOrgCreateSlug(t *testing.T) {
	ct := newCLITest(t)
	ct.ok("", "org", "create", "acme-eu")
	ct.ok("", "org", "create", strings.Repeat("a", tenant.MaxOrgName))
	wantOutcome(t, ct.run("", "org", "create", "Acme Corp"), 2, "", `organization name "Acme Corp" is not a slug`)
	orgs, err := ct.store().ListOrgs(context.Background())
	if err != nil || len(orgs) != 2 {
		t.Errorf("orgs after a refused create = %+v, %v", orgs, err)
	}
}

func TestCLIUserSetRoleLastOwner(t *testing.T) {
	ct := newCLITest(t, "acme")
	ct.ok("", "user", "invite", "alice@acme.com", "--org", "acme", "--role", "owner")
	ct.ok("", "user", "invite", "bob@acme.com", "--org", "acme")
	st := ct.store()
	acme := ct.org(st, "acme")

	wantOutcome(t, ct.run("", "user", "set-role", "alice@acme.com", "admin", "--org", "acme"), 1, "",
		"alice@acme.com is the last owner of org acme, and an org needs one; make another member owner first with `ssogate user set-role EMAIL owner --org acme")
	if m, _ := st.MemberByEmail(context.Background(), acme.ID, "alice@acme.com"); m.Role != storage.RoleOwner {
		t.Errorf("the last owner was demoted to %q", m.Role)
	}
	ct.ok("", "user", "set-role", "bob@acme.com", "owner", "--org", "acme")
	wantOutcome(t, ct.run("", "user", "set-role", "alice@acme.com", "admin", "--org", "acme"), 0,
		"alice@acme.com is now admin in org acme (was owner).\n")
}

func TestCLITeamSetRole(t *testing.T) {
	ct := newCLITest(t, "acme", "globex")
	ct.ok("", "user", "invite", "alice@acme.com", "--org", "acme")
	ct.ok("", "user", "invite", "bob@acme.com", "--org", "acme")
	st := ct.store()
	ctx := context.Background()
	acme, globex := ct.org(st, "acme"), ct.org(st, "globex")
	var ids []string
	for _, e := range []string{"alice@acme.com", "bob@acme.com"} {
		m, err := st.MemberByEmail(ctx, acme.ID, e)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	eng, err := st.CreateTeam(ctx, acme.ID, "Engineering", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateTeam(ctx, acme.ID, eng.ID, func(t *storage.Team) error { t.MemberIDs = ids; return nil }); err != nil {
		t.Fatal(err)
	}
	other, err := st.CreateTeam(ctx, globex.ID, "Ops", "")
	if err != nil {
		t.Fatal(err)
	}
	role := func() storage.Role {
		t.Helper()
		team, err := st.TeamByID(ctx, acme.ID, eng.ID)
		if err != nil {
			t.Fatal(err)
		}
		return team.Role
	}

	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  string
		errPart string
		want    storage.Role
	}{
		{"by name, any case", []string{"engineering", "admin"}, 0, "Team Engineering now grants admin to its 2 members (was none).\n", "", storage.RoleAdmin},
		{"again", []string{"Engineering", "admin"}, 0, "Team Engineering grants admin already.\n", "", storage.RoleAdmin},
		{"by ID", []string{eng.ID, "member"}, 0, "Team Engineering now grants member to its 2 members (was admin).\n", "", storage.RoleMember},
		{"owner refused", []string{"Engineering", "owner"}, 2, "", "a team cannot grant the owner role", storage.RoleMember},
		{"unknown role", []string{"Engineering", "root"}, 2, "", `unknown team role "root" (want admin, member or none)`, storage.RoleMember},
		{"unknown team", []string{"Design", "admin"}, 1, "", `org acme has no team "Design"; see`, storage.RoleMember},
		{"another org's team", []string{other.ID, "admin"}, 1, "", "org acme has no team", storage.RoleMember},
		{"missing role", []string{"Engineering"}, 2, "", "takes <team> <role>", storage.RoleMember},
		{"none", []string{"Engineering", "none"}, 0, "Team Engineering now grants none to its 2 members (was member).\n", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"team", "set-role"}, tt.args...)
			wantOutcome(t, ct.run("", append(args, "--org", "acme")...), tt.code, tt.stdout, tt.errPart)
			if got := role(); got != tt.want {
				t.Errorf("team role = %q, want %q", got, tt.want)
			}
		})
	}
	if got, _ := st.TeamByID(ctx, globex.ID, other.ID); got.Role != "" {
		t.Errorf("globex's team got role %q", got.Role)
	}

	ct.ok("", "team", "set-role", "Engineering", "admin", "--org", "acme")
	want := "TEAM         ROLE   MEMBERS  EMAILS\nEngineering  admin  2        alice@acme.com, bob@acme.com\n"
	if diff := cmp.Diff(want, ct.ok("", "team", "list", "--org", "acme")); diff != "" {
		t.Errorf("team list (-want +got):\n%s", diff)
	}
	// user list and show say the effective role and which team gave it.
	if list := ct.ok("", "user", "list", "--org", "acme"); !strings.Contains(list, "member (admin by team Engineering)") {
		t.Errorf("user list does not show the role the team grants:\n%s", list)
	}
	if show := ct.ok("", "user", "show", "alice@acme.com", "--org", "acme"); !strings.Contains(show, "member (admin by team Engineering)") {
		t.Errorf("user show does not show the role the team grants:\n%s", show)
	}
}
