package integration

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCLIHumanMessages runs the binary's commands as a person would and
// checks each answer: an error is one plain line "ssogate: …" on stderr
// (no log line), exit 1 for a failure and 2 for a usage error.
func TestCLIHumanMessages(t *testing.T) {
	bin := ssogateBinary(t)
	home := t.TempDir()
	db := filepath.Join(home, "ssogate.db")
	missing := filepath.Join(home, "missing.db")
	if r := runSSOGate(t, bin, home, "", "org", "create", "acme", "--db", db); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // the whole of stderr
	}{
		{"unknown subcommand with flags", []string{"user", "frobnicate", "--db", db}, 2,
			"ssogate: unknown command \"frobnicate\" for \"ssogate user\"; want one of list, show, invite, set-role, passwd (see `ssogate user --help`)\n"},
		{"unknown command", []string{"frobnicate"}, 2,
			"ssogate: unknown command \"frobnicate\" for \"ssogate\" (see `ssogate help`)\n"},
		{"mistyped command", []string{"tokn", "list"}, 2,
			"ssogate: unknown command \"tokn\" for \"ssogate\"; did you mean \"token\"? (see `ssogate help`)\n"},
		{"group alone", []string{"token"}, 2,
			"ssogate: token needs a subcommand: one of create, list, revoke (see `ssogate token --help`)\n"},
		{"unknown flag", []string{"token", "list", "--bogus", "--db", db}, 2,
			"ssogate: unknown flag: --bogus (see `ssogate token list --help`)\n"},
		{"unknown root flag", []string{"--bogus"}, 2,
			"ssogate: unknown flag: --bogus (see `ssogate --help`)\n"},
		{"missing argument", []string{"token", "revoke", "--db", db}, 2,
			"ssogate: `ssogate token revoke` takes <id>, got none (see `ssogate token revoke --help`)\n"},
		{"no database", []string{"token", "list", "--db", missing}, 1,
			"ssogate: no ssogate database at " + missing + "; pass --db with the path of your Caddyfile's database option, or create an org first with `ssogate org create NAME --db " + missing + "`\n"},
		{"unknown org", []string{"token", "list", "--org", "nope", "--db", db}, 1,
			"ssogate: org nope does not exist; create it with `ssogate org create nope --db " + db + "` or name it in a Caddyfile\n"},
		{"public suffix", []string{"domain", "claim", "co.uk", "--org", "acme", "--db", db}, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runSSOGate(t, bin, home, "", tt.args...)
			if r.code != tt.code {
				t.Errorf("exit code = %d, want %d (stderr %q)", r.code, tt.code, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if tt.stderr != "" && r.stderr != tt.stderr {
				t.Errorf("stderr = %q\nwant     %q", r.stderr, tt.stderr)
			}
			if !strings.HasPrefix(r.stderr, "ssogate: ") || strings.Count(r.stderr, "\n") != 1 || strings.Contains(r.stderr, `"level"`) {
				t.Errorf("stderr = %q, want one line starting \"ssogate: \"", r.stderr)
			}
		})
	}

	t.Run("help lists ssogate's commands first", func(t *testing.T) {
		r := runSSOGate(t, bin, home, "", "help")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("help: %+v", r)
		}
		own := strings.Index(r.stdout, "ssogate commands:")
		caddys := strings.Index(r.stdout, "Caddy commands:")
		if own < 0 || caddys < own || strings.Contains(r.stdout, "Caddy is an extensible server platform") {
			t.Fatalf("help does not list ssogate's commands, then Caddy's:\n%s", r.stdout)
		}
		for _, line := range []string{
			"  token    Creates, lists and revokes the sidecar's bearer tokens\n",
			"  user     Lists, invites and manages the members of an org\n",
		} {
			if i := strings.Index(r.stdout, line); i < own || i > caddys {
				t.Errorf("help lacks %q among ssogate's commands:\n%s", line, r.stdout)
			}
		}
		if i := strings.Index(r.stdout, "\n  adapt "); i < caddys {
			t.Errorf("help lacks adapt among Caddy's commands:\n%s", r.stdout)
		}
	})

	t.Run("version names ssogate and Caddy", func(t *testing.T) {
		r := runSSOGate(t, bin, home, "", "version")
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if r.code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "ssogate ") || !strings.HasPrefix(lines[1], "Caddy v2.") {
			t.Errorf("version: %+v, want \"ssogate <version>\" then \"Caddy v2.…\"", r)
		}
	})

	t.Run("list --json", func(t *testing.T) {
		for _, args := range [][]string{
			{"org", "list"}, {"token", "list"}, {"domain", "list"}, {"user", "list"}, {"team", "list"},
		} {
			if args[0] != "org" {
				args = append(args, "--org", "acme")
			}
			r := runSSOGate(t, bin, home, "", append(args, "--json", "--db", db)...)
			var rows []map[string]string
			if err := json.Unmarshal([]byte(r.stdout), &rows); r.code != 0 || err != nil {
				t.Errorf("%v --json: %+v: %v", args, r, err)
			}
			if args[0] == "org" && (len(rows) != 1 || rows[0]["org"] != "acme" || rows[0]["source"] != "manual") {
				t.Errorf("org list --json = %v", rows)
			}
		}
	})
}

// TestCLITokenLastUsed: after a SCIM request with a token, `token list`
// shows when it was last used, not "never".
func TestCLITokenLastUsed(t *testing.T) {
	bin, home, db, base := startSidecarProcess(t)
	r := runSSOGate(t, bin, home, "", "token", "create", "--org", "acme", "--scope", "scim", "--name", "okta", "--db", db)
	if r.code != 0 {
		t.Fatalf("token create: %+v", r)
	}
	token := strings.TrimSpace(r.stdout)
	lastUsed := func() string {
		r := runSSOGate(t, bin, home, "", "token", "list", "--org", "acme", "--json", "--db", db)
		var rows []map[string]string
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 {
			t.Fatalf("token list --json: %+v: %v", r, err)
		}
		return rows[0]["last_used"]
	}
	if got := lastUsed(); got != "never" {
		t.Fatalf("before any use: last used %q, want never", got)
	}
	if code, body := scimCall(t, http.MethodGet, base+"/scim/v2/Users", token, nil); code != http.StatusOK {
		t.Fatalf("GET /scim/v2/Users = %d %v", code, body)
	}
	waitUntil(t, "token list shows the token's use", func() bool { return lastUsed() != "never" })
	r = runSSOGate(t, bin, home, "", "token", "list", "--org", "acme", "--db", db)
	if !regexp.MustCompile(`okta\s+scim\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\n$`).MatchString(r.stdout) {
		t.Errorf("token list:\n%s\nwant a time in LAST USED", r.stdout)
	}
}
