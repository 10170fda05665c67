package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/domainclaim"
	"github.com/ssogate/ssogate/internal/pgstore"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

func init() {
	caddy.RegisterModule(App{})
}

// storePool shares one open store per database (file or PostgreSQL DSN)
// across config reloads:
// Caddy starts a new config before it stops the old one, and both must use
// the same connections and change feed.
var storePool = caddy.NewUsagePool()

// DefaultDatabasePath is where the store lives when no database is
// configured: <Caddy data dir>/ssogate/ssogate.db.
func DefaultDatabasePath() string {
	return filepath.Join(caddy.AppDataDir(), "ssogate", "ssogate.db")
}

// App is the "ssogate" Caddy app. It owns the store shared by the saml_sso
// and scim_server handlers (and by config reloads), the feed that tells
// session caches about changes made by any process, and the background
// sweep of expired sessions and replay records.
//
// Handlers get it with ctx.App("ssogate"); a config that does not set the
// global option gets an app with the defaults.
type App struct {
	// Database says where the store is: a SQLite file, or a PostgreSQL
	// database that several gateway processes (replicas) share. Default:
	// SQLite at <Caddy data dir>/ssogate/ssogate.db.
	Database *DatabaseConfig `json:"database,omitempty"`

	// DNSResolver is the host:port of the DNS server used to verify domain
	// claims. Default: the system resolver.
	DNSResolver string `json:"dns_resolver,omitempty"`

	// AllowPrivateMetadataURLs lets org admins give an IdP metadata URL
	// that resolves to a loopback, private or link-local address, which
	// the sidecar then fetches. Off, the sidecar fetches only from public
	// addresses, so that no org's admin can make it reach into the
	// operator's network. Turn it on for a single-tenant setup with an
	// internal IdP. Default: false.
	AllowPrivateMetadataURLs bool `json:"allow_private_metadata_urls,omitempty"`
	// AllowRSA15KeyTransport accepts encrypted assertions whose key is
	// wrapped with RSA PKCS#1 v1.5, for an IdP that offers nothing else.
	// It holds for the whole process, and is weaker than RSA-OAEP (see
	// sso.AllowRSA15KeyTransport). Default: false.
	AllowRSA15KeyTransport bool `json:"allow_rsa15_key_transport,omitempty"`

	// ChangePollInterval is how often the store is checked for changes made
	// by other processes (deactivations, role and team changes), which
	// bounds how long a stale session can live across processes.
	// Default: 250ms.
	ChangePollInterval caddy.Duration `json:"change_poll_interval,omitempty"`

	shared *sharedStore
	path   string // the SQLite file, or "postgres:" and the DSN: the pool key
	logger *zap.Logger

	decl *declarations
	// gates are the session caches of this config's handlers, read by
	// the sessions_live gauge at scrape time (metrics.go).
	gates *gateSessions
	// dryRunDir holds the throwaway copy of the database a dry run works
	// on (dryrun.go).
	dryRunDir string
}

// declarations collects what handlers declare about orgs while the config
// is provisioned; Start writes it to the store.
type declarations struct {
	mu       sync.Mutex
	orgs     map[string]*orgDeclaration
	settings map[string]string // where gates and sidecars serve: tenant.GateURLKey, the SCIM URL
	err      error             // a conflict between two handlers
}

// orgDeclaration is what a Caddyfile says about one org: the domains it
// vouches for, and what it pins of the org's connection: its IdP (nil
// when the connection is the store's) and switches (field names).
type orgDeclaration struct {
	domains []string
	idp     *storage.Connection
	pins    []string
	// the switches' pinned values
	requireSSO, idpManagedAccess, allowIDPInitiated bool
	// groupsAttribute, when set, is pinned too.
	groupsAttribute string
}

// DatabaseConfig selects the store backend.
type DatabaseConfig struct {
	// Driver is the backend: sqlite or postgres. Default: sqlite.
	Driver string `json:"driver,omitempty"`
	// Path is the SQLite file. Default: <Caddy data dir>/ssogate/ssogate.db.
	Path string `json:"path,omitempty"`
	// DSN names the PostgreSQL database (driver postgres): a
	// postgres:// URL or a key=value string, TLS options included.
	// Placeholders such as {env.SSOGATE_DATABASE_URL} are replaced.
	DSN string `json:"dsn,omitempty"`
}

// postgres reports whether the config names a PostgreSQL database.
func (d *DatabaseConfig) postgres() bool { return d != nil && d.Driver == "postgres" }

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "ssogate",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision opens (or joins) the store.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.decl = &declarations{orgs: map[string]*orgDeclaration{}, settings: map[string]string{}}
	a.gates = &gateSessions{}
	if a.AllowRSA15KeyTransport {
		sso.AllowRSA15KeyTransport()
		a.logger.Warn("RSA 1.5 key transport is allowed for encrypted assertions; prefer RSA-OAEP at the IdP")
	}
	if a.ChangePollInterval <= 0 {
		a.ChangePollInterval = caddy.Duration(250 * time.Millisecond)
	}
	var open func() (caddy.Destructor, error)
	if a.Database.postgres() {
		dsn := caddy.NewReplacer().ReplaceAll(a.Database.DSN, "")
		if dsn == "" {
			return errors.New("database postgres: the DSN is empty")
		}
		a.path = "postgres:" + dsn
		open = func() (caddy.Destructor, error) {
			return openSharedPostgres(dsn, time.Duration(a.ChangePollInterval), a.logger)
		}
		if dryRun.Load() {
			var err error
			if a.path, a.dryRunDir, err = dryRunPostgres(ctx, dsn, a.logger); err != nil {
				return err
			}
			open = func() (caddy.Destructor, error) {
				return openShared(a.path, time.Duration(a.ChangePollInterval), a.logger)
			}
		}
	} else {
		a.path = DefaultDatabasePath()
		if a.Database != nil && a.Database.Path != "" {
			a.path = caddy.NewReplacer().ReplaceAll(a.Database.Path, "")
		}
		abs, err := filepath.Abs(a.path)
		if err != nil {
			return fmt.Errorf("resolving database path: %w", err)
		}
		a.path = abs
		if dryRun.Load() {
			if a.path, a.dryRunDir, err = dryRunCopy(ctx, a.path); err != nil {
				return err
			}
		}
		open = func() (caddy.Destructor, error) {
			return openShared(a.path, time.Duration(a.ChangePollInterval), a.logger)
		}
	}
	val, _, err := storePool.LoadOrNew(a.path, open)
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	a.shared = val.(*sharedStore)
	a.shared.allowPrivateMetadata.Store(a.AllowPrivateMetadataURLs)
	return nil
}

// Validate checks the configuration.
func (a *App) Validate() error {
	if d := a.Database; d != nil {
		switch d.Driver {
		case "", "sqlite":
		case "postgres":
			if d.DSN == "" {
				return errors.New("database postgres needs a DSN")
			}
		default:
			return fmt.Errorf("database driver %q is not supported (want sqlite or postgres)", d.Driver)
		}
	}
	return nil
}

// Start writes what the config declares about orgs to the store: the orgs
// themselves, their domain lines and what the Caddyfile pins of their
// connections, so that a sidecar in another process sees them; and where
// each gate serves. A domain line removed from the config is no longer
// claimed; a pin removed from a gate of this config is lifted.
func (a *App) Start() error {
	a.decl.mu.Lock()
	defer a.decl.mu.Unlock()
	if a.decl.err != nil {
		return a.decl.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := make([]string, 0, len(a.decl.orgs))
	for name := range a.decl.orgs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		d := a.decl.orgs[name]
		org, err := a.shared.EnsureOrg(ctx, name, true)
		if err != nil {
			return err
		}
		if err := a.shared.SyncConfigDomains(ctx, org.ID, d.domains); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("org %q: %w", name, err)
			}
			return err
		}
		if err := a.pinConnection(ctx, org.ID, d); err != nil {
			return fmt.Errorf("org %q: %w", name, err)
		}
	}
	for key, u := range a.decl.settings {
		if cur, err := a.shared.Setting(ctx, key); err == nil && string(cur) == u {
			continue
		}
		if err := a.shared.PutSetting(ctx, key, []byte(u)); err != nil {
			return err
		}
	}
	a.logger.Info("organizations loaded", zap.Stringer("registry", a.shared.registry))
	return nil
}

// pinConnection writes what a Caddyfile sets of an org's connection, and
// marks those fields pinned: the admin API and the CLI show them, read
// only. Nothing is written when nothing changed, so a reload or a second
// replica does not make every cache reload.
func (a *App) pinConnection(ctx context.Context, orgID int64, d *orgDeclaration) error {
	_, err := a.shared.ModifyConnection(ctx, orgID, func(c *storage.Connection) error {
		before := *c
		before.Pinned = append([]string(nil), c.Pinned...)
		pins := append([]string(nil), d.pins...)
		if d.idp != nil {
			c.IDPSSOURL, c.IDPIssuer, c.IDPCertificates = d.idp.IDPSSOURL, d.idp.IDPIssuer, d.idp.IDPCertificates
			c.IDPMetadataURL, c.IDPMetadataXML, c.IDPSLOURL = d.idp.IDPMetadataURL, d.idp.IDPMetadataXML, d.idp.IDPSLOURL
			c.State = storage.ConnectionEnabled
			pins = append(pins, tenant.FieldIDPSSOURL, tenant.FieldIDPIssuer, tenant.FieldIDPCertificates,
				tenant.FieldIDPMetadataURL, tenant.FieldIDPMetadataXML, tenant.FieldIDPSLOURL, tenant.FieldState)
		}
		if d.groupsAttribute != "" {
			c.GroupsAttribute = d.groupsAttribute
			pins = append(pins, tenant.FieldGroupsAttribute)
		}
		for _, p := range d.pins {
			switch p {
			case tenant.FieldRequireSSO:
				c.RequireSSO = d.requireSSO
			case tenant.FieldIDPManagedAccess:
				c.IDPManagedAccess = d.idpManagedAccess
			case tenant.FieldAllowIDPInitiated:
				c.AllowIDPInitiated = d.allowIDPInitiated
			}
		}
		sort.Strings(pins)
		c.Pinned = pins
		if len(pins) == 0 {
			c.Pinned = nil
		}
		if reflect.DeepEqual(before, *c) {
			return tenant.ErrUnchanged
		}
		return nil
	})
	if errors.Is(err, tenant.ErrUnchanged) {
		return nil
	}
	return err
}

// Stop does nothing; the store closes when the last config using it is
// cleaned up.
func (a *App) Stop() error { return nil }

// Cleanup releases this config's hold on the store.
func (a *App) Cleanup() error {
	if a.shared == nil {
		return nil
	}
	_, err := storePool.Delete(a.path)
	endDryRun(a.dryRunDir)
	return err
}

// Store returns the store.
func (a *App) Store() storage.Store { return a.shared }

// Registry returns the orgs with their connections and verified domains,
// kept current by the change feed.
func (a *App) Registry() *tenant.Registry { return a.shared.registry }

// Resolver returns the resolver for domain-claim checks.
func (a *App) Resolver() domainclaim.Resolver { return domainclaim.NewResolver(a.DNSResolver) }

// declareOrg records what a handler's config says about an org. Handlers
// call it while provisioning; Start writes the union. Two handlers that
// pin different IdPs or switches for one org are a configuration error.
func (a *App) declareOrg(name string, d orgDeclaration) {
	a.decl.mu.Lock()
	defer a.decl.mu.Unlock()
	cur := a.decl.orgs[name]
	if cur == nil {
		cur = &orgDeclaration{}
		a.decl.orgs[name] = cur
	}
	for _, dom := range d.domains {
		dom = strings.ToLower(dom)
		if !slices.Contains(cur.domains, dom) {
			cur.domains = append(cur.domains, dom)
		}
	}
	if d.idp != nil {
		if cur.idp != nil && !sameIDP(*cur.idp, *d.idp) && a.decl.err == nil {
			a.decl.err = fmt.Errorf("org %q: two saml_sso blocks give it different IdP settings", name)
		}
		cur.idp = d.idp
	}
	for _, p := range d.pins {
		if !slices.Contains(cur.pins, p) {
			cur.pins = append(cur.pins, p)
		}
	}
	if d.groupsAttribute != "" {
		if cur.groupsAttribute != "" && cur.groupsAttribute != d.groupsAttribute && a.decl.err == nil {
			a.decl.err = fmt.Errorf("org %q: two saml_sso blocks give it different groups attributes", name)
		}
		cur.groupsAttribute = d.groupsAttribute
	}
	cur.requireSSO = cur.requireSSO || d.requireSSO
	cur.idpManagedAccess = cur.idpManagedAccess || d.idpManagedAccess
	if slices.Contains(d.pins, tenant.FieldAllowIDPInitiated) {
		cur.allowIDPInitiated = d.allowIDPInitiated
	}
}

func sameIDP(a, b storage.Connection) bool {
	return a.IDPSSOURL == b.IDPSSOURL && a.IDPIssuer == b.IDPIssuer && a.IDPCertificates == b.IDPCertificates &&
		a.IDPMetadataURL == b.IDPMetadataURL && a.IDPMetadataXML == b.IDPMetadataXML && a.IDPSLOURL == b.IDPSLOURL
}

// declareGateURL records where a gate serves an org ("" for the shared
// gate): its base URL and path prefix.
func (a *App) declareGateURL(org, gateURL string) {
	a.declareSetting(tenant.GateURLKey(org), gateURL)
}

// declareSetting records a value Start writes to the store's settings,
// for other processes and pages to read.
func (a *App) declareSetting(key, value string) {
	a.decl.mu.Lock()
	defer a.decl.mu.Unlock()
	a.decl.settings[key] = value
}

// subscribe registers fn to receive the IDs of members that changed, and
// returns the function that unregisters it.
func (a *App) subscribe(fn func(memberIDs []string)) (unsubscribe func()) {
	return a.shared.feed.subscribe(fn)
}

// sharedStore is the pooled store with its change feed and the registry
// of orgs the feed keeps current.
type sharedStore struct {
	storage.Store
	feed     *changeFeed
	registry *tenant.Registry
	upkeep   *orgUpkeep
	health   healthProbe
	// allowPrivateMetadata is the current config's
	// allow_private_metadata_urls, for the upkeep's fetches.
	allowPrivateMetadata atomic.Bool
	stop                 context.CancelFunc
	done                 chan struct{}
}

func openShared(path string, poll time.Duration, logger *zap.Logger) (*sharedStore, error) {
	ctx, cancel := context.WithCancel(context.Background())
	// Before Open: SQLite recovers from these silently.
	for _, w := range sqlitestore.InspectFiles(path) {
		logger.Error("DATABASE FILES INCOMPLETE: "+w, zap.String("database", path))
	}
	st, err := sqlitestore.Open(ctx, path)
	if err != nil {
		cancel()
		return nil, err
	}
	// It holds the session key and live session IDs.
	warnOpenFiles(logger, "the database file", "can sign in as anyone", sqlitestore.Files(path)...)
	return startShared(ctx, cancel, st, poll, logger)
}

// openSharedPostgres is openShared on PostgreSQL. Other processes' changes
// arrive through LISTEN/NOTIFY (the store runs the OnChange callback for
// them); the poll stays as a backstop.
func openSharedPostgres(dsn string, poll time.Duration, logger *zap.Logger) (*sharedStore, error) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := pgstore.Open(ctx, dsn)
	if err != nil {
		cancel()
		return nil, err
	}
	return startShared(ctx, cancel, st, poll, logger)
}

// startShared starts the change feed, the registry and the upkeep on st.
func startShared(ctx context.Context, cancel context.CancelFunc, st storage.Store, poll time.Duration, logger *zap.Logger) (*sharedStore, error) {
	s := &sharedStore{Store: st, stop: cancel, done: make(chan struct{})}
	s.registry = tenant.NewRegistry(st)
	s.feed = newChangeFeed(st, s.registry, logger)
	// The feed's position first, then the registry: a change between the
	// two is read twice, never missed.
	if err := s.feed.init(ctx); err != nil {
		cancel()
		st.Close()
		return nil, err
	}
	if err := s.registry.Load(ctx); err != nil {
		cancel()
		st.Close()
		return nil, fmt.Errorf("loading organizations: %w", err)
	}
	// Writes made through this process reach the caches before the write
	// call returns; writes by other processes are found by polling (and
	// on PostgreSQL pushed at once by the store's listener).
	st.OnChange(func() { s.feed.poll(context.Background()) })
	s.upkeep = newOrgUpkeep(s, s.registry, logger, &s.allowPrivateMetadata)
	go s.run(ctx, poll, logger)
	return s, nil
}

// run polls the change feed and sweeps expired rows until the store is
// destroyed.
func (s *sharedStore) run(ctx context.Context, poll time.Duration, logger *zap.Logger) {
	var upkeep sync.WaitGroup
	upkeep.Go(func() { s.upkeep.run(ctx) })
	defer close(s.done)
	defer upkeep.Wait()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	sweep := time.NewTicker(5 * time.Minute)
	defer sweep.Stop()
	// A stat a second keeps SQLite's -wal bounded after a long reader;
	// PostgreSQL has no such file to watch.
	ckpt := time.NewTicker(time.Second)
	defer ckpt.Stop()
	wal, _ := s.Store.(interface {
		Checkpoint(context.Context) (bool, error)
	})
	if wal == nil {
		ckpt.Stop()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.feed.poll(ctx)
		case <-sweep.C:
			if err := s.DeleteExpired(ctx, time.Now().Unix()); err != nil && ctx.Err() == nil {
				logger.Warn("sweeping expired sessions", zap.Error(err))
			}
		case <-ckpt.C:
			if wal == nil {
				continue
			}
			if done, err := wal.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				logger.Warn("checkpointing the WAL", zap.Error(err))
			} else if done {
				logger.Info("the WAL grew past its limit and was checkpointed", zap.Int("limit_bytes", sqlitestore.WALLimit))
			}
		}
	}
}

// Destruct stops the background work and closes the store.
func (s *sharedStore) Destruct() error {
	s.stop()
	<-s.done
	return s.Store.Close()
}

// changeFeed fans the store's change feed out: org changes to the
// registry, member changes to the session caches.
type changeFeed struct {
	store    storage.ChangeFeed
	registry *tenant.Registry
	logger   *zap.Logger

	pollMu sync.Mutex // one poll at a time, so seq only moves forward
	seq    int64
	// readAt is when the feed was last read in full (Unix nanoseconds),
	// for the change-feed lag gauge.
	readAt atomic.Int64

	subMu  sync.Mutex
	nextID int
	subs   map[int]func([]string)
}

func newChangeFeed(st storage.ChangeFeed, reg *tenant.Registry, logger *zap.Logger) *changeFeed {
	return &changeFeed{store: st, registry: reg, logger: logger, subs: map[int]func([]string){}}
}

func (f *changeFeed) init(ctx context.Context) error {
	_, seq, err := f.store.ChangesSince(ctx, -1)
	f.seq = seq
	if err == nil {
		f.readAt.Store(time.Now().UnixNano())
	}
	return err
}

func (f *changeFeed) poll(ctx context.Context) {
	f.pollMu.Lock()
	defer f.pollMu.Unlock()
	ch, seq, err := f.store.ChangesSince(ctx, f.seq)
	if err != nil {
		if ctx.Err() == nil {
			f.logger.Warn("reading change feed", zap.Error(err))
		}
		return
	}
	if err := f.registry.Refresh(ctx, ch.Orgs); err != nil {
		// Keep the position: the next poll reads these changes again.
		if ctx.Err() == nil {
			f.logger.Warn("refreshing organizations", zap.Error(err))
		}
		return
	}
	f.seq = seq
	f.readAt.Store(time.Now().UnixNano())
	ids := ch.Members
	if len(ids) == 0 {
		return
	}
	f.subMu.Lock()
	fns := make([]func([]string), 0, len(f.subs))
	for _, fn := range f.subs {
		fns = append(fns, fn)
	}
	f.subMu.Unlock()
	for _, fn := range fns {
		fn(ids)
	}
}

func (f *changeFeed) subscribe(fn func([]string)) func() {
	f.subMu.Lock()
	defer f.subMu.Unlock()
	id := f.nextID
	f.nextID++
	f.subs[id] = fn
	return func() {
		f.subMu.Lock()
		delete(f.subs, id)
		f.subMu.Unlock()
	}
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
