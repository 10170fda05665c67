package integration

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver

	"github.com/ssogate/ssogate/internal/pgstore/pgtest"
)

// pgSnapshot is what a PostgreSQL database holds, for comparing before
// and after: its tables with their row counts, and its extensions.
func pgSnapshot(t *testing.T, dsn string) string {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT schemaname || '.' || tablename FROM pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, name := range tables {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %d\n", name, n)
	}
	var exts string
	if err := db.QueryRow("SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension").Scan(&exts); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "extensions %s\n", exts)
	return b.String()
}

// TestValidatePostgresWritesNothing: `ssogate validate` (and `adapt
// --validate`) on a config with `database postgres` checks the database
// and writes nothing to it: no tables in a fresh database, no org, pin or
// session key in a migrated one. A schema newer than the binary, a DSN
// that does not parse, a server that does not answer and a role it does
// not know are each one plain line and exit 1, without the password.
func TestValidatePostgresWritesNothing(t *testing.T) {
	bin := ssogateBinary(t)
	home := t.TempDir()
	cert := mustAbs(t, "testdata/idp.pem")
	config := func(name, dsn string) string {
		t.Helper()
		p := filepath.Join(home, name+".Caddyfile")
		if err := os.WriteFile(p, []byte(fmt.Sprintf(`{
	admin off
	storage file_system %s
	ssogate {
		database postgres "%s"
	}
}

http://127.0.0.1:%d {
	saml_sso {
		org acme
		idp_sso_url https://idp.example.com/sso
		idp_issuer https://idp.example.com
		idp_certificate %s
		domain acme.com
		require_sso
	}
	respond "app"
}

http://127.0.0.1:%d {
	saml_sso {
		org beta
		domain beta.example
	}
	respond "app"
}

http://127.0.0.1:%d {
	scim_server
}
`, filepath.Join(home, "caddy"), dsn, freePort(t), cert, freePort(t), freePort(t))), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	validate := func(t *testing.T, cfg string) cliRun {
		t.Helper()
		return runSSOGate(t, bin, home, "", "validate", "--config", cfg)
	}

	t.Run("fresh database", func(t *testing.T) {
		dsn := pgtest.Database(t)
		cfg := config("fresh", dsn)
		before := pgSnapshot(t, dsn)
		for _, args := range [][]string{{"validate", "--config", cfg}, {"adapt", "--validate", "--config", cfg}} {
			r := runSSOGate(t, bin, home, "", args...)
			if r.code != 0 {
				t.Fatalf("ssogate %s: exit %d: %s", args[0], r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "writing nothing") {
				t.Errorf("ssogate %s does not say it checked the database:\n%s", args[0], r.stderr)
			}
		}
		if after := pgSnapshot(t, dsn); after != before {
			t.Errorf("validate changed a fresh database:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("migrated database", func(t *testing.T) {
		dsn := pgtest.Database(t)
		// The CLI migrates the database and makes an org the config does
		// not name.
		if r := runSSOGate(t, bin, home, "", "org", "create", "other", "--db", dsn); r.code != 0 {
			t.Fatalf("org create: exit %d: %s", r.code, r.stderr)
		}
		cfg := config("migrated", dsn)
		before := pgSnapshot(t, dsn)
		if !strings.Contains(before, "public.orgs 1\n") {
			t.Fatalf("the database before validate:\n%s", before)
		}
		r := validate(t, cfg)
		if r.code != 0 || !strings.Contains(r.stdout, "Valid configuration") {
			t.Fatalf("validate: exit %d, stdout %q: %s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, `"organizations":1`) {
			t.Errorf("validate does not say it copied the database's one org:\n%s", r.stderr)
		}
		if after := pgSnapshot(t, dsn); after != before {
			t.Errorf("validate changed a migrated database:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("schema newer than the binary", func(t *testing.T) {
		dsn := pgtest.Database(t)
		if r := runSSOGate(t, bin, home, "", "org", "list", "--db", dsn); r.code != 0 {
			t.Fatalf("org list: exit %d: %s", r.code, r.stderr)
		}
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec("UPDATE schema_version SET version = 99"); err != nil {
			t.Fatal(err)
		}
		before := pgSnapshot(t, dsn)
		r := validate(t, config("newer", dsn))
		if want := "is version 99, newer than this ssogate knows"; r.code != 1 || !strings.Contains(lastLine(r.stderr), want) {
			t.Errorf("validate: exit %d, stderr:\n%s\nwant exit 1 and a last line containing %q", r.code, r.stderr, want)
		}
		if after := pgSnapshot(t, dsn); after != before {
			t.Errorf("validate changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	const password = "s3cret-Pw0rd"
	server, err := url.Parse(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	withUser := func(user, host string) string {
		u := *server
		u.User = url.UserPassword(user, password)
		u.Host = host
		return u.String()
	}
	deadPort := freePort(t)
	for _, tt := range []struct {
		name, dsn, want string
	}{
		{"server that does not answer", withUser("postgres", fmt.Sprintf("127.0.0.1:%d", deadPort)),
			fmt.Sprintf("ssogate: database postgres: cannot connect to PostgreSQL at 127.0.0.1:%d (user postgres, database %s): ", deadPort, strings.TrimPrefix(server.Path, "/"))},
		{"role the server does not know", withUser("nosuch_role", server.Host),
			fmt.Sprintf(`ssogate: database postgres: cannot connect to PostgreSQL at %s (user nosuch_role, database %s): role "nosuch_role" does not exist`, server.Host, strings.TrimPrefix(server.Path, "/"))},
		{"DSN that does not parse", "postgres://postgres:" + password + "@127.0.0.1:notaport/x",
			"ssogate: database postgres: the PostgreSQL DSN is not a valid postgres:// URL or key=value string"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := validate(t, config("wrong", tt.dsn))
			if r.code != 1 || !strings.HasPrefix(lastLine(r.stderr), tt.want) {
				t.Errorf("validate: exit %d, stderr:\n%s\nwant exit 1 and a last line starting %q", r.code, r.stderr, tt.want)
			}
			if strings.Contains(r.stdout+r.stderr, password) {
				t.Errorf("validate shows the password:\n%s%s", r.stdout, r.stderr)
			}
			for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
				if strings.Contains(line, `"level":"error"`) {
					t.Errorf("besides the plain line, Caddy's error: %s", line)
				}
			}
		})
	}
}

// lastLine is the last line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
