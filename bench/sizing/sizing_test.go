package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/internal/pgstore/pgtest"
)

// TestRun runs the tool's core on small numbers and checks that it
// counted what it wrote: the rows of each table, the cached sessions, the
// orgs of the registry.
func TestRun(t *testing.T) {
	for _, tc := range []struct {
		store                   string
		members, sessions, orgs int
	}{
		{"sqlite", 200, 200, 20},
		{"sqlite", 100, 250, 0}, // several sessions a member, no orgs
		{"postgres", 200, 200, 20},
	} {
		t.Run(fmt.Sprintf("%s/%d-members/%d-sessions/%d-orgs", tc.store, tc.members, tc.sessions, tc.orgs), func(t *testing.T) {
			cfg := config{store: tc.store, members: tc.members, sessions: tc.sessions, orgs: tc.orgs}
			if tc.store == "postgres" {
				cfg.postgres = pgtest.DSN(t)
			}
			res, err := run(context.Background(), cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			rows := []struct {
				p     phase
				table string
				want  int
			}{
				{res.members, "memberships", tc.members},
				{res.members, "accounts", tc.members},
				{res.members, "member_emails", tc.members}, // one email each, through the trigger
				{res.audit, "audit", tc.members},
				{res.sessions, "sessions", tc.sessions},
				{res.sessions, "replay", tc.sessions}, // one assertion per sign-in
				{res.orgs, "orgs", tc.orgs},
				{res.orgs, "domains", tc.orgs},
				{res.orgs, "sso_connections", tc.orgs},
				{res.orgs, "sp_keys", 2 * tc.orgs},
			}
			for _, r := range rows {
				got := r.p.table(r.table)
				if got.rows != int64(r.want) {
					t.Errorf("%s added %d rows to %s, want %d", r.p.name, got.rows, r.table, r.want)
				}
				// A few small rows may fit in pages the table had.
				if r.want*100 >= 16<<10 && got.bytes <= 0 {
					t.Errorf("%s added %d bytes to %s, want more than 0", r.p.name, got.bytes, r.table)
				}
			}
			if res.cached != tc.sessions {
				t.Errorf("the gate cached %d sessions, want %d", res.cached, tc.sessions)
			}
			if res.cacheHeap <= 0 {
				t.Errorf("the session cache holds %d bytes of heap, want more than 0", res.cacheHeap)
			}
			if tc.orgs > 0 {
				// And the org the members are in.
				if res.registryOrgs != tc.orgs+1 || res.registrySSO != tc.orgs {
					t.Errorf("the registry holds %d orgs, %d with SSO, want %d, %d", res.registryOrgs, res.registrySSO, tc.orgs+1, tc.orgs)
				}
				if res.registryHeap <= 0 {
					t.Errorf("the registry holds %d bytes of heap, want more than 0", res.registryHeap)
				}
			}

			var out bytes.Buffer
			report(&out, res)
			for _, want := range []string{
				fmt.Sprintf("| store: 100,000 members (memberships, accounts, member_emails) | %.0f B |", per(added(res.members, memberTables), tc.members)),
				fmt.Sprintf("computed from %d |", tc.members),
				fmt.Sprintf("| %d sessions | sessions | %d |", tc.sessions, tc.sessions),
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the report lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// TestPostgresDropsItsDatabase checks that a run leaves no database
// behind on the server.
func TestPostgresDropsItsDatabase(t *testing.T) {
	dsn := pgtest.DSN(t)
	b, err := openPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.close(); err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRow("SELECT COUNT(*) FROM pg_database WHERE datname = $1", b.dbName).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s is still there after close", b.dbName)
	}
}
