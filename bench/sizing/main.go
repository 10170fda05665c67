// Command sizing measures what members, live sessions and orgs cost:
// bytes in the store (SQLite or PostgreSQL) and heap in the gateway, and
// computes from them what 10,000 orgs and 10 million members need. It
// prints Markdown for the README's sizing note.
//
//	go run ./bench/sizing -store sqlite -members 100000 -sessions 100000
//	SSOGATE_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go run ./bench/sizing -store postgres -members 100000 -sessions 100000
//
// It works on a fresh store: a temporary SQLite file, or a database it
// creates on the PostgreSQL server (-postgres, default
// $SSOGATE_TEST_POSTGRES) and drops at the end. In that store it:
//
//  1. adds -orgs orgs as customers set them up (a verified domain, an
//     enabled SSO connection from Okta-like metadata, two SP key pairs)
//     through SQL, and loads the gate's tenant registry over them in
//     this process, measuring its heap;
//  2. fills one org with -members members shaped as a SCIM create leaves
//     them (the emails list in attrs, so the member_emails trigger fills
//     its table) through bulk SQL, and one activity-log row each as the
//     SCIM create records;
//  3. starts -sessions SAML sessions through the gate's own Issue (the
//     store's session-grant write);
//  4. looks each session up once with its cookie through a fresh
//     gate.Sessions, as a request does, so that the gate caches it, and
//     measures the heap the cache holds (runtime.ReadMemStats after GC).
//
// Store bytes: SQLite's file and WAL after a checkpoint, per table from
// dbstat; PostgreSQL's pg_database_size and pg_total_relation_size of
// each table after a VACUUM. Both after the gate's periodic sweep
// (DeleteExpired). It takes a few minutes at 100,000 on two cores.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"time"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.store, "store", "sqlite", "sqlite or postgres")
	flag.StringVar(&cfg.postgres, "postgres", os.Getenv("SSOGATE_TEST_POSTGRES"), "PostgreSQL server DSN (postgres:// URL) to create a scratch database on")
	flag.IntVar(&cfg.members, "members", 100_000, "members to fill one org with")
	flag.IntVar(&cfg.sessions, "sessions", 100_000, "live sessions to start and cache")
	flag.IntVar(&cfg.orgs, "orgs", 10_000, "orgs to add, each with a verified domain and an enabled SSO connection")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sizing:", err)
		os.Exit(1)
	}
	report(os.Stdout, res)
}

// transient tables are swept soon: change-feed rows after an hour, replay
// records when their assertion expires (minutes).
var transient = []string{"changes", "replay"}

// The tables that keep what each step adds. member_counts is left out: it
// keeps a row per org once the sweep has folded it (PostgreSQL adds one a
// member in between, whose space the next rows reuse).
var (
	memberTables  = []string{"memberships", "accounts", "member_emails"}
	auditTables   = []string{"audit"}
	sessionTables = []string{"sessions"}
	orgTables     = []string{"orgs", "domains", "sso_connections", "sp_keys"}
)

// added is what a step added to these tables.
func added(p phase, tables []string) int64 {
	var n int64
	for _, t := range tables {
		n += p.table(t).bytes
	}
	return n
}

func per(bytes int64, count int) float64 {
	if count == 0 {
		return 0
	}
	return float64(bytes) / float64(count)
}

// report prints the measured figures and the computed ones as Markdown.
func report(w io.Writer, r *result) {
	c := r.cfg
	fmt.Fprintf(w, "## Sizing: %s store, %d members, %d sessions, %d orgs\n\n", c.store, c.members, c.sessions, c.orgs)
	fmt.Fprintf(w, "Measured %s with %s on %s/%s, %d CPUs.\n\n", time.Now().UTC().Format(time.DateOnly), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())

	fmt.Fprintln(w, "### What each step added to the store (measured)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| step | table (with its indexes) | rows | bytes | bytes per item |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: |")
	for _, p := range []phase{r.orgs, r.members, r.audit, r.sessions} {
		if p.count == 0 {
			continue
		}
		tables := slices.Clone(p.tables)
		slices.SortFunc(tables, func(a, b tableSize) int { return int(b.bytes - a.bytes) })
		for _, t := range tables {
			note := ""
			if slices.Contains(transient, t.name) {
				note = " (transient)"
			}
			fmt.Fprintf(w, "| %d %s | %s%s | %d | %s | %.0f |\n", p.count, p.name, t.name, note, t.rows, human(t.bytes), per(t.bytes, p.count))
		}
		what := "file + WAL"
		if c.store == "postgres" {
			what = "pg_database_size"
		}
		fmt.Fprintf(w, "| %d %s | **all tables** (%s: %s) | | **%s** | **%.0f** |\n", p.count, p.name, what, human(p.total), human(p.sum()), per(p.sum(), p.count))
	}
	fmt.Fprintln(w)

	perMember := per(added(r.members, memberTables), r.members.count)
	perAudit := per(added(r.audit, auditTables), r.audit.count)
	perSession := per(added(r.sessions, sessionTables), r.sessions.count)
	perReplay := per(r.sessions.table("replay").bytes, r.sessions.count)
	perOrg := per(added(r.orgs, orgTables), r.orgs.count)
	perCached := per(r.cacheHeap, r.cached)
	perTenant := per(r.registryHeap, r.registryOrgs)
	how := func(measuredAt, n int) string {
		if measuredAt == n {
			return "measured"
		}
		return fmt.Sprintf("computed from %d", measuredAt)
	}
	b := func(f float64) string { return human(int64(f)) }

	fmt.Fprintln(w, "### Figures")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| figure | per item | total | how |")
	fmt.Fprintln(w, "| --- | ---: | ---: | --- |")
	fmt.Fprintf(w, "| store: 100,000 members (memberships, accounts, member_emails) | %.0f B | %s | %s |\n", perMember, b(perMember*1e5), how(r.members.count, 100_000))
	fmt.Fprintf(w, "| store: activity log of 100,000 SCIM creates (kept 400 days) | %.0f B | %s | %s |\n", perAudit, b(perAudit*1e5), how(r.audit.count, 100_000))
	fmt.Fprintf(w, "| store: 100,000 live sessions | %.0f B | %s | %s |\n", perSession, b(perSession*1e5), how(r.sessions.count, 100_000))
	fmt.Fprintf(w, "| store: replay records of 100,000 SAML sign-ins (kept until the assertion expires, minutes) | %.0f B | %s | %s |\n", perReplay, b(perReplay*1e5), how(r.sessions.count, 100_000))
	fmt.Fprintf(w, "| store: 10,000 orgs (org, verified domain, SSO connection with metadata, 2 SP keys) | %.0f B | %s | %s |\n", perOrg, b(perOrg*1e4), how(r.orgs.count, 10_000))
	fmt.Fprintf(w, "| gateway heap: 100,000 cached sessions | %.0f B | %s | %s |\n", perCached, b(perCached*1e5), how(r.cached, 100_000))
	fmt.Fprintf(w, "| gateway heap: session cache at its bound (%d sessions per gate site; past it, random eviction) | | %s | computed |\n", r.maxCached, b(perCached*float64(r.maxCached)))
	registry, registryHow := perTenant*1e4, how(r.orgs.count, 10_000)
	if r.orgs.count == 10_000 {
		registry = float64(r.registryHeap) // and the org the members are in
	}
	fmt.Fprintf(w, "| gateway heap: tenant registry of 10,000 orgs (SSO enabled, metadata parsed) | %.0f B | %s | %s |\n", perTenant, b(registry), registryHow)
	fmt.Fprintf(w, "| store: 10 million members | | %s | computed |\n", b(perMember*1e7))
	fmt.Fprintf(w, "| store: 10 million members with a year of their create log | | %s | computed |\n", b((perMember+perAudit)*1e7))
	fmt.Fprintf(w, "| store: 10,000 orgs and 10 million members, create log and 1 million live sessions | | %s | computed |\n",
		b(perOrg*1e4+(perMember+perAudit)*1e7+perSession*1e6))
	fmt.Fprintf(w, "| gateway heap: 10,000 orgs and a full session cache | | %s | computed |\n", b(registry+perCached*float64(r.maxCached)))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Computed figures scale the measured bytes per item linearly. The session cache holds at most")
	fmt.Fprintf(w, "%d sessions per gate site, whatever the number of members or sessions in the store. Not measured here:\n", r.maxCached)
	fmt.Fprintln(w, "the SAML service providers a gate builds for the orgs that sign in (at most 4,096 per gate site), and the")
	fmt.Fprintln(w, "SCIM list's page anchors (one key per 1,000 members, for at most 64 orgs).")
	if c.orgs > 0 {
		fmt.Fprintf(w, "The registry held %d orgs, %d with SSO enabled.\n", r.registryOrgs, r.registrySSO)
	}
	if r.cached > 0 {
		fmt.Fprintf(w, "A cached session's key is its cookie value, %d bytes here.\n", r.cookieLen)
	}
}
