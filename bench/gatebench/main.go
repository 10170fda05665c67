// Command gatebench measures ssogate side by side with bare Caddy, through
// the real ssogate binary, and prints the figures of the README's
// "Performance" section. Run it with bench/run.sh, which installs wrk and
// builds the binaries:
//
//	bench/run.sh                                  # the full run, about 10 minutes
//	bench/run.sh -rounds 1 -duration 2s -members 10000   # a quick look
//
// Phases (-phases, default all of them, in this order):
//
//	gate   a tiny upstream (its own process, counting requests) behind the
//	       ssogate binary twice: a bare reverse_proxy config, and saml_sso in
//	       front of the same reverse_proxy. A real session comes from a real
//	       SP-initiated login against the embedded test IdP. wrk -t1 -c32
//	       drives bare, gate (member in 1 team) and gate (member in 200
//	       teams) in alternating rounds, with controls: a second bare Caddy
//	       (A/A, the method's own spread) and bare Caddy setting the gate's
//	       headers itself; each run is checked (no wrk error
//	       or status >= 400, the upstream's own count matches wrk's, and
//	       every request the gate passed carried the identity). CPU per
//	       request is the gateway process's utime+stime over the run.
//	deact  a SCIM sidecar as its own ssogate process on the same database
//	       deactivates a signed-in member; the time until the gate refuses
//	       the session, over several trials.
//	scim   users created per second over HTTP by concurrent clients, then
//	       the org filled to -members, the latency of the userName filter
//	       and of pages of 100, the database size and the gateway's RSS.
//	signin sign-ins per second through the binary: logins minted at the
//	       test IdP first, then their POSTs to the ACS by concurrent
//	       clients, each answered with a session.
//	acs    go test -bench BenchmarkACS ./caddymodule: a full sign-in at the
//	       ACS next to crewjam/saml's ParseResponse alone.
//
// With -store postgres every phase but acs also runs on PostgreSQL, beside
// SQLite in the same run: a second gate process on a database of its own
// on the server -postgres names (created for the run, dropped after).
//
// Only loopback traffic; every load loop is bounded in count and time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ssogate/ssogate/internal/testidp"
)

type config struct {
	bin        string
	phases     map[string]bool
	rounds     int
	duration   time.Duration
	warmup     time.Duration
	threads    int
	conns      int
	teams      int
	pin        bool
	control    bool
	aa         bool
	concurrent bool
	maxOthers  float64
	retries    int
	trials     int
	members    int
	creates    int
	clients    int
	lookups    int
	pages      int
	benchtime  string
	profile    bool
	keep       bool
	verbose    bool
	markdown   bool
	store      string // sqlite, or postgres (beside sqlite)
	postgres   string // the server's DSN
	signins    int
	signinConc int
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "upstream" {
		if err := runUpstream(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "upstream:", err)
			os.Exit(1)
		}
		return
	}
	var cfg config
	var phases string
	flag.StringVar(&cfg.bin, "bin", "", "the ssogate binary (default: go build ./cmd/ssogate into the work directory)")
	flag.StringVar(&phases, "phases", "gate,deact,scim,signin,acs", "which measurements to run, comma-separated: gate, deact, scim, signin, acs")
	flag.StringVar(&cfg.store, "store", "sqlite", "sqlite, or postgres: PostgreSQL beside SQLite in the same run")
	flag.StringVar(&cfg.postgres, "postgres", defaultPostgres(), "with -store postgres: the server, as a postgres:// URL whose user may CREATE DATABASE (default $SSOGATE_TEST_POSTGRES, else the local server)")
	flag.IntVar(&cfg.signins, "signins", 1000, "sign-ins at the ACS for the signin phase")
	flag.IntVar(&cfg.signinConc, "signin-clients", 8, "concurrent clients posting to the ACS")
	flag.IntVar(&cfg.rounds, "rounds", 9, "alternating rounds of bare, gate and gate with -teams teams (and the controls)")
	flag.DurationVar(&cfg.duration, "duration", 6*time.Second, "length of each wrk run (whole seconds); more short rounds beat fewer long ones on a machine whose speed drifts")
	flag.DurationVar(&cfg.warmup, "warmup", 3*time.Second, "unrecorded wrk run per configuration before the rounds")
	flag.IntVar(&cfg.threads, "threads", 1, "wrk threads")
	flag.IntVar(&cfg.conns, "connections", 32, "wrk connections")
	flag.IntVar(&cfg.teams, "teams", 200, "teams of the second signed-in member")
	flag.Float64Var(&cfg.maxOthers, "max-others", 0.10, "measure a run again when other processes used more than this share of the CPUs during it")
	flag.IntVar(&cfg.retries, "retries", 3, "at most this many extra tries per run because of other processes")
	flag.BoolVar(&cfg.concurrent, "side-by-side", true, "after the alternating rounds, as many rounds driving bare Caddy and each gate at once (half the connections each)")
	flag.BoolVar(&cfg.aa, "aa", true, "also drive a second bare Caddy like the first: its ratio to bare Caddy is the method's own spread on this machine")
	flag.BoolVar(&cfg.control, "control", true, "also drive two controls: bare Caddy setting the gate's identity headers itself (request_header)")
	flag.BoolVar(&cfg.pin, "pin", false, "pin the gateways to CPU 1 and wrk and the upstream to CPU 0 (taskset): steadier figures, one core for the gateway")
	flag.IntVar(&cfg.trials, "trials", 10, "deactivation trials")
	flag.IntVar(&cfg.members, "members", 100_000, "members in the org for the SCIM read figures")
	flag.IntVar(&cfg.creates, "creates", 10_000, "users created over HTTP for the create rate (part of -members)")
	flag.IntVar(&cfg.clients, "clients", 16, "concurrent SCIM clients creating users")
	flag.IntVar(&cfg.lookups, "lookups", 5000, "userName filter requests")
	flag.IntVar(&cfg.pages, "pages", 1000, "page-of-100 requests")
	flag.StringVar(&cfg.benchtime, "benchtime", "3s", "-benchtime for the acs phase's go test")
	flag.BoolVar(&cfg.profile, "profile", false, "turn on the gate's admin endpoint and save a CPU profile of its first measured run")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory (configs, database, logs, profiles)")
	flag.BoolVar(&cfg.verbose, "v", false, "print wrk's own output for every run")
	flag.BoolVar(&cfg.markdown, "markdown", true, "print the final tables as Markdown")
	flag.Parse()
	if err := cfg.parse(phases); err != nil {
		fmt.Fprintln(os.Stderr, "gatebench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, &cfg)
	stop()
	stopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatebench:", err)
		os.Exit(1)
	}
}

// parse reads -phases and checks the flags, so that a bad value stops the
// harness at once with a reason, not minutes into a run.
func (c *config) parse(phases string) error {
	c.phases = map[string]bool{}
	for _, p := range strings.Split(phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case "":
		case "gate", "deact", "scim", "signin", "acs":
			c.phases[p] = true
		default:
			return fmt.Errorf("-phases: unknown phase %q (gate, deact, scim, signin or acs)", p)
		}
	}
	switch c.store {
	case "sqlite":
	case "postgres":
		if c.postgres == "" {
			return errors.New("-store postgres needs -postgres postgres://USER@HOST:PORT/DB")
		}
	default:
		return fmt.Errorf("-store: %q is not sqlite or postgres", c.store)
	}
	minConns := c.threads
	if c.concurrent {
		minConns = 2 * c.threads // half the connections for each side
	}
	for _, check := range []struct {
		ok  bool
		msg string
	}{
		{len(c.phases) > 0, "-phases names no phase"},
		{c.duration >= time.Second && c.rounds >= 1, "-duration must be at least 1s and -rounds at least 1"},
		{c.warmup >= 0 && c.retries >= 0, "-warmup and -retries cannot be negative"},
		{c.threads >= 1 && c.conns >= minConns, fmt.Sprintf("-threads must be at least 1 and -connections at least %d (wrk needs a connection per thread, per side with -side-by-side)", minConns)},
		{c.teams >= 1, "-teams must be at least 1"},
		{c.maxOthers >= 0 && c.maxOthers <= 1, "-max-others is a share of the CPUs, from 0 to 1"},
		{c.trials >= 1 && c.clients >= 1 && c.lookups >= 1 && c.pages >= 1, "-trials, -clients, -lookups and -pages must be at least 1"},
		{c.creates >= 1 && c.members >= c.creates && c.members > 100, "-creates must be at least 1, and -members more than 100 and at least -creates"},
		{c.benchtime != "", "-benchtime cannot be empty"},
		{c.signins >= 1 && c.signinConc >= 1, "-signins and -signin-clients must be at least 1"},
	} {
		if !check.ok {
			return errors.New(check.msg)
		}
	}
	return nil
}

// bench is the running setup shared by the phases.
type bench struct {
	cfg    *config
	dir    string
	bin    string
	up     *upstream
	idp    *testidp.IdP
	idpURL string
	bare   *gateway
	bare2  *gateway // the A/A control: bare Caddy again
	gate   *gateway // SQLite's gate: stores[0].gate
	stores []*backend
	report *report
}

// gateway is one ssogate process serving one site.
type gateway struct {
	*proc
	url   string
	admin string // admin endpoint, when profiling
}

var demoUsers = []testidp.User{
	{Email: "alice@acme.com", GivenName: "Alice", FamilyName: "Archer"},
	{Email: "bob@acme.com", GivenName: "Bob", FamilyName: "Baker"},
	{Email: "carol@acme.com", GivenName: "Carol", FamilyName: "Cole"},
}

func run(ctx context.Context, cfg *config) error {
	dir, err := os.MkdirTemp("", "gatebench-")
	if err != nil {
		return err
	}
	if cfg.keep || cfg.profile {
		fmt.Printf("work directory: %s (kept)\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	b := &bench{cfg: cfg, dir: dir, report: &report{}}
	path := filepath.Join(dir, "ssogate.db")
	b.stores = []*backend{{name: "SQLite", database: "sqlite " + path, path: path}}
	if cfg.store == "postgres" && (!cfg.phases["acs"] || len(cfg.phases) > 1) {
		dsn, drop, err := createDatabase(ctx, cfg.postgres)
		if err != nil {
			return err
		}
		if cfg.keep {
			fmt.Printf("PostgreSQL database: %s (kept)\n", dsn)
		} else {
			defer drop()
		}
		b.stores = append(b.stores, &backend{name: "PostgreSQL", database: "postgres " + dsn, dsn: dsn})
	}
	b.report.machine = machineLine()
	fmt.Println(b.report.machine)

	// The acs phase alone needs neither the binary nor the processes.
	if !cfg.phases["acs"] || len(cfg.phases) > 1 {
		if b.bin = cfg.bin; b.bin == "" {
			b.bin = filepath.Join(dir, "ssogate")
			fmt.Println("building ./cmd/ssogate ...")
			cmd := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "./cmd/ssogate")
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go build ./cmd/ssogate (run from the repository root): %v\n%s", err, out)
			}
		}
		if err := b.start(ctx); err != nil {
			return err
		}
	}
	for _, p := range []struct {
		name string
		run  func(context.Context) error
	}{{"gate", b.gatePhase}, {"deact", b.deactPhase}, {"scim", b.scimPhase}, {"signin", b.signinPhase}, {"acs", b.acsPhase}} {
		if !cfg.phases[p.name] {
			continue
		}
		if err := p.run(ctx); err != nil {
			return err
		}
	}
	b.report.print(cfg)
	return nil
}

// start runs the upstream, the IdP and both gateways.
func (b *bench) start(ctx context.Context) error {
	var err error
	if b.up, err = startUpstream(b.dir, b.cfg.pin); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b.idpURL = "http://" + l.Addr().String()
	if b.idp, err = testidp.New(b.idpURL, demoUsers...); err != nil {
		return err
	}
	srv := &http.Server{Handler: b.idp.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	go func() { <-ctx.Done(); srv.Close() }()
	certPath := filepath.Join(b.dir, "idp.pem")
	if err := os.WriteFile(certPath, b.idp.CertificatePEM(), 0o600); err != nil {
		return err
	}

	ports := make([]int, 4)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return err
		}
	}
	bareURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	bareAdmin, bare2Admin := "off", "off"
	if b.cfg.profile {
		bareAdmin = fmt.Sprintf("127.0.0.1:%d", ports[1])
		bare2Admin = fmt.Sprintf("127.0.0.1:%d", ports[3])
	}
	if b.bare, err = b.startGateway("bare", b.bareConfig("bare", bareAdmin, bareURL), bareURL, bareAdmin); err != nil {
		return err
	}
	if b.cfg.aa {
		bare2URL := fmt.Sprintf("http://127.0.0.1:%d", ports[2])
		if b.bare2, err = b.startGateway("bare2", b.bareConfig("bare2", bare2Admin, bare2URL), bare2URL, bare2Admin); err != nil {
			return err
		}
	}
	for i, be := range b.stores {
		name := "gate"
		if i > 0 {
			name = "gate-" + strings.ToLower(be.name)
		}
		if err := b.startGate(name, be, certPath); err != nil {
			return err
		}
	}
	b.gate = b.stores[0].gate
	return nil
}

// startGate starts a gate process on be's database: saml_sso in front of
// the upstream, and a scim_server site on another port that the gate's
// requests never reach. Its config differs from bare Caddy's only in
// saml_sso and the ssogate app it needs. Logging at WARN: saml_sso logs
// sign-ins at INFO, and no access log is on in either.
func (b *bench) startGate(name string, be *backend, certPath string) error {
	var ports [3]int
	for i := range ports {
		var err error
		if ports[i], err = freePort(); err != nil {
			return err
		}
	}
	gateURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	be.scim = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	admin := "off"
	if b.cfg.profile {
		admin = fmt.Sprintf("127.0.0.1:%d", ports[2])
	}
	cfg := b.ssogateConfig(name, admin, be, fmt.Sprintf(`%s {
	saml_sso {
		org acme
		idp_sso_url %s
		idp_issuer %s
		idp_certificate %s
		base_url %s
		domain acme.com
	}
	reverse_proxy %s
}
`, gateURL, b.idp.SSOURL(), b.idp.EntityID(), certPath, gateURL, b.up.addr), be.scim)
	g, err := b.startGateway(name, cfg, gateURL, admin)
	if err != nil {
		return err
	}
	be.gate = g
	b.idp.TrustSPMetadataURL(gateURL + "/sso/metadata")
	return nil
}

// bareConfig is bare Caddy's Caddyfile: reverse_proxy alone.
func (b *bench) bareConfig(name, admin, url string) string {
	return b.plainConfig(name, admin, url, "")
}

// plainConfig is a Caddyfile without ssogate's modules: the handlers
// lines, then reverse_proxy to the upstream.
func (b *bench) plainConfig(name, admin, url, handlers string) string {
	return fmt.Sprintf(`{
	admin %s
	storage file_system %s
	log {
		level WARN
	}
}

%s {
%s
	reverse_proxy %s
}
`, admin, filepath.Join(b.dir, "caddy-"+name), url, handlers, b.up.addr)
}

// ssogateConfig is a Caddyfile of the ssogate app on be's database: the
// sites, then a scim_server site at scimURL whose rate limit the load
// never reaches.
func (b *bench) ssogateConfig(name, admin string, be *backend, sites, scimURL string) string {
	return fmt.Sprintf(`{
	admin %s
	storage file_system %s
	log {
		level WARN
	}
	ssogate {
		database %s
	}
}

%s
%s {
	scim_server {
		rate_limit 1000000 1000000
	}
}
`, admin, filepath.Join(b.dir, "caddy-"+name), be.database, sites, scimURL)
}

func (b *bench) startGateway(name, caddyfile, url, admin string) (*gateway, error) {
	path := filepath.Join(b.dir, name+".Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		return nil, err
	}
	argv := pinned(b.cfg.pin, gatewayCPU, b.bin, "run", "--config", path, "--adapter", "caddyfile")
	p, err := startProc(name, filepath.Join(b.dir, name+"-home"), argv...)
	if err != nil {
		return nil, err
	}
	if err := p.waitHTTP(url + "/"); err != nil {
		return nil, err
	}
	g := &gateway{proc: p, url: url}
	if admin != "off" {
		g.admin = "http://" + admin
	}
	return g, nil
}

// defaultPostgres is -postgres's default: the test suite's server, or the
// one this machine kind runs.
func defaultPostgres() string {
	if dsn := os.Getenv("SSOGATE_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func machineLine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("machine: %d CPUs (%s)%s, %s", numCPU(), model, kernel, time.Now().UTC().Format("2006-01-02"))
}
