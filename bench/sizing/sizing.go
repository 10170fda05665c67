package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// config is what to measure.
type config struct {
	store    string // sqlite or postgres
	postgres string // the server's DSN, for postgres
	members  int
	sessions int
	orgs     int
}

// backend is a fresh store and the SQL under it.
type backend interface {
	name() string
	store() storage.Store
	fillOrgs(ctx context.Context, n int, k orgKeys, now time.Time) error
	fillMembers(ctx context.Context, orgID int64, n int, now time.Time) error
	fillAudit(ctx context.Context, orgID int64, n int, now time.Time) error
	sizes(ctx context.Context) (sizes, error)
	close() error
}

// tableSize is a table's bytes (indexes included) and rows.
type tableSize struct {
	name        string
	bytes, rows int64
}

// sizes is the store's size at one moment.
type sizes struct {
	total  int64 // the file and its WAL; the database
	tables map[string]tableSize
}

// phase is what one step added to the store.
type phase struct {
	name   string
	count  int   // members, sessions, orgs added
	total  int64 // growth of the file or the database
	tables []tableSize
	took   time.Duration
}

// sum is the growth of the tables.
func (p phase) sum() int64 {
	var n int64
	for _, t := range p.tables {
		n += t.bytes
	}
	return n
}

// table returns the growth of one table.
func (p phase) table(name string) tableSize {
	for _, t := range p.tables {
		if t.name == name {
			return t
		}
	}
	return tableSize{name: name}
}

// result is everything measured.
type result struct {
	cfg                            config
	orgs, members, audit, sessions phase
	registryHeap                   int64 // heap of a registry of every org
	registryOrgs, registrySSO      int
	cacheHeap                      int64 // heap of a gate's cache of every session
	cached, cookieLen              int
	maxCached                      int
}

// maxCached is the gate's session cache bound when the config sets none
// (internal/gate Config.MaxCached; the Caddy handler sets none).
const maxCached = 100_000

// run fills a fresh store and measures it; log gets progress lines.
func run(ctx context.Context, cfg config, log io.Writer) (*result, error) {
	var b backend
	var err error
	switch cfg.store {
	case "sqlite":
		b, err = openSQLite(ctx)
	case "postgres":
		b, err = openPostgres(ctx, cfg.postgres)
	default:
		return nil, fmt.Errorf("unknown store %q (want sqlite or postgres)", cfg.store)
	}
	if err != nil {
		return nil, err
	}
	res, err := measure(ctx, b, cfg, log)
	return res, errors.Join(err, b.close())
}

func measure(ctx context.Context, b backend, cfg config, log io.Writer) (*result, error) {
	if cfg.sessions > 0 && cfg.members == 0 {
		return nil, errors.New("sessions need members")
	}
	res := &result{cfg: cfg, maxCached: maxCached}
	st := b.store()
	now := time.Now()
	acme, err := st.CreateOrg(ctx, "acme")
	if err != nil {
		return nil, err
	}
	cur, err := b.sizes(ctx)
	if err != nil {
		return nil, err
	}
	// step runs fill and returns what it added to the store.
	step := func(name string, count int, fill func() error) (phase, error) {
		start := time.Now()
		if err := fill(); err != nil {
			return phase{}, err
		}
		// The gate's periodic sweep: PostgreSQL folds member_counts.
		if err := st.DeleteExpired(ctx, time.Now().Unix()); err != nil {
			return phase{}, err
		}
		took := time.Since(start)
		next, err := b.sizes(ctx)
		if err != nil {
			return phase{}, err
		}
		p := diff(name, count, cur, next)
		p.took = took
		cur = next
		fmt.Fprintf(log, "%s: %d in %v, store +%s\n", name, count, took.Round(time.Millisecond), human(p.total))
		return p, nil
	}

	if cfg.orgs > 0 {
		keys, err := newOrgKeys(now)
		if err != nil {
			return nil, err
		}
		if res.orgs, err = step("orgs", cfg.orgs, func() error { return b.fillOrgs(ctx, cfg.orgs, keys, now) }); err != nil {
			return nil, err
		}
		if err := res.measureRegistry(ctx, st); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "tenant registry: %d orgs (%d with SSO enabled), heap +%s\n", res.registryOrgs, res.registrySSO, human(res.registryHeap))
	}
	if cfg.members > 0 {
		if res.members, err = step("members", cfg.members, func() error { return b.fillMembers(ctx, acme.ID, cfg.members, now) }); err != nil {
			return nil, err
		}
		if res.audit, err = step("activity log", cfg.members, func() error { return b.fillAudit(ctx, acme.ID, cfg.members, now) }); err != nil {
			return nil, err
		}
	}
	if cfg.sessions > 0 {
		key := make([]byte, 32)
		var cookies []string
		if res.sessions, err = step("sessions", cfg.sessions, func() error {
			var err error
			cookies, err = issue(ctx, st, key, acme.ID, cfg.members, cfg.sessions, now)
			return err
		}); err != nil {
			return nil, err
		}
		start := time.Now()
		if err := res.measureCache(ctx, st, key, acme.ID, cookies); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "session cache: %d sessions looked up in %v, %d cached, heap +%s\n",
			len(cookies), time.Since(start).Round(time.Millisecond), res.cached, human(res.cacheHeap))
	}
	return res, nil
}

// diff is what went from a to b, table by table.
func diff(name string, count int, a, b sizes) phase {
	p := phase{name: name, count: count, total: b.total - a.total}
	for n, t := range b.tables {
		d := tableSize{name: n, bytes: t.bytes - a.tables[n].bytes, rows: t.rows - a.tables[n].rows}
		if d.bytes != 0 || d.rows != 0 {
			p.tables = append(p.tables, d)
		}
	}
	return p
}

// workers is how many goroutines issue and look up sessions: enough to
// keep PostgreSQL's round trips overlapping.
const workers = 8

// parallel calls fn for each of [0, n) from workers goroutines and
// returns the first error.
func parallel(ctx context.Context, n int, fn func(i int) error) error {
	var next atomic.Int64
	var once sync.Once
	var first error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// issue starts sessions through the gate's own path (Sessions.Issue: the
// store's session-grant write, the assertion's replay record with it),
// as SAML sign-ins of the members in turn, and returns their cookies.
func issue(ctx context.Context, st storage.Store, key []byte, orgID int64, members, n int, now time.Time) ([]string, error) {
	g, err := gate.New(st, gateConfig(key))
	if err != nil {
		return nil, err
	}
	cookies := make([]string, n)
	err = parallel(ctx, n, func(i int) error {
		m := member(i % members)
		// Entra's IDs: "_" and a UUID, for the assertion and the session index.
		c, _, err := g.Issue(ctx, storage.Identity{MemberID: m.ID, OrgID: orgID}, storage.MethodSAML, gate.IdPSession{
			NameID: m.Email, SessionIndex: "_" + uuid.NewString(),
			Assertion: &storage.ConsumedAssertion{ID: "_" + uuid.NewString(), ExpiresAt: now.Add(5 * time.Minute).Unix()},
		})
		cookies[i] = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("issuing sessions: %w", err)
	}
	return cookies, nil
}

// gateConfig is the Caddy handler's, with its default lifetimes.
func gateConfig(key []byte) gate.Config {
	return gate.Config{Key: key, Lifetime: 12 * time.Hour, Idle: 2 * time.Hour}
}

// heap returns the live heap after a collection.
func heap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// measureCache looks every session up once through a fresh gate, as a
// request does, so that each is cached, and measures the heap it holds.
func (res *result) measureCache(ctx context.Context, st storage.Store, key []byte, orgID int64, cookies []string) error {
	lookup := func(g *gate.Sessions, i int) error {
		// A request's cookie is its own string, which the cache keeps.
		e, err := g.Lookup(ctx, strings.Clone(cookies[i]), orgID)
		if err != nil {
			return fmt.Errorf("looking up session %d: %w", i, err)
		}
		if want := member(i % res.cfg.members).ID; e.Identity.MemberID != want {
			return fmt.Errorf("session %d is member %s's, want %s's", i, e.Identity.MemberID, want)
		}
		return nil
	}
	// A first gate warms what the store keeps for any lookup (prepared
	// statements, pools), so that it does not count as the cache's.
	if err := func() error {
		warm, err := gate.New(st, gateConfig(key))
		if err != nil {
			return err
		}
		for i := range min(100, len(cookies)) {
			if err := lookup(warm, i); err != nil {
				return err
			}
		}
		return nil
	}(); err != nil {
		return err
	}
	before := heap()
	g, err := gate.New(st, gateConfig(key))
	if err != nil {
		return err
	}
	if err := parallel(ctx, len(cookies), func(i int) error { return lookup(g, i) }); err != nil {
		return err
	}
	// The gate writes last-seen times back every few seconds, which
	// empties what it kept for that.
	if err := g.Flush(ctx); err != nil {
		return err
	}
	res.cacheHeap = heap() - before
	res.cached = g.Cached()
	res.cookieLen = len(cookies[0])
	runtime.KeepAlive(g)
	return nil
}

// measureRegistry loads the tenant registry, as the gate does at start,
// and measures the heap it holds.
func (res *result) measureRegistry(ctx context.Context, st storage.Store) error {
	if err := tenant.NewRegistry(st).Load(ctx); err != nil {
		return err
	}
	before := heap()
	r := tenant.NewRegistry(st)
	if err := r.Load(ctx); err != nil {
		return err
	}
	res.registryHeap = heap() - before
	res.registryOrgs = r.Len()
	for _, t := range r.All() {
		if t.SSOEnabled() {
			res.registrySSO++
		}
	}
	if t := r.Discover("someone@" + org(0, orgKeys{}).Domain); t == nil || t.Org.Name != org(0, orgKeys{}).Name {
		return errors.New("the registry does not find the first org by its domain")
	}
	runtime.KeepAlive(r)
	return nil
}

// human formats bytes in binary units.
func human(n int64) string {
	f := float64(n)
	switch {
	case f >= 1<<30 || f <= -(1<<30):
		return fmt.Sprintf("%.2f GiB", f/(1<<30))
	case f >= 1<<20 || f <= -(1<<20):
		return fmt.Sprintf("%.1f MiB", f/(1<<20))
	case f >= 1<<10 || f <= -(1<<10):
		return fmt.Sprintf("%.1f KiB", f/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// readTables reads rows of (table, bytes) into tables, and counts each
// table's rows.
func readTables(ctx context.Context, db *sql.DB, rows *sql.Rows, tables map[string]tableSize) error {
	for rows.Next() {
		var t tableSize
		if err := rows.Scan(&t.name, &t.bytes); err != nil {
			rows.Close()
			return err
		}
		tables[t.name] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for name, t := range tables {
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+name+`"`).Scan(&t.rows); err != nil {
			return fmt.Errorf("counting %s: %w", name, err)
		}
		tables[name] = t
	}
	return nil
}
