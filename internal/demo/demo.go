// Package demo runs `ssogate demo`: on 127.0.0.1, an embedded test IdP
// with demo people, the saml_sso gate (Caddy, in this process) in front of
// a small "analytics" app that shows who is signed in, the scim_server
// provisioning sidecar with a fresh SCIM token, and a tiny DNS server that
// publishes the record a domain claim asks for. Nothing needs an IdP
// account; the data lives in one folder.
//
// By default the demo org's SSO is not set up: its owner signs in with the
// printed password and walks the setup an org's IT admin does (paste the
// IdP's three values, claim the domain, test, enable, make a SCIM token),
// then members sign in through the IdP. Options.Ready starts with all of
// that done instead: the IdP and the domain are in the Caddyfile.
//
// The package does not import the Caddy modules it configures (the
// caddymodule package registers the demo command and imports this one);
// whoever calls Run must have linked them in, as the ssogate binary does.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/ssogate/ssogate/internal/apitoken"
	"github.com/ssogate/ssogate/internal/password"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
	"github.com/ssogate/ssogate/internal/testidp"
)

// The demo's fixed names.
const (
	// Org is the organization the demo gate serves.
	Org = "demo"
	// Domain is the email domain of the demo people, which the demo org
	// claims (in the Caddyfile with Options.Ready; else its owner does).
	Domain = "demo.example"
	// TokenName names the SCIM token each run creates; the previous run's
	// token of that name is revoked.
	TokenName = "ssogate demo"
)

// Default ports, used when free.
const (
	DefaultGatePort = 8080
	DefaultSCIMPort = 8081
	DefaultIdPPort  = 8082
)

// Person is one of the demo people the IdP knows.
type Person struct {
	Email      string
	GivenName  string
	FamilyName string
	Role       storage.Role
	Teams      []string
	Active     bool
	// Password is set for the owner only: the break-glass password,
	// fresh at every run.
	HasPassword bool
	// Note says what to expect when signing in as this person.
	Note string
}

// Name is "First Last".
func (p Person) Name() string { return p.GivenName + " " + p.FamilyName }

// People are the demo people: an owner, a member and a deactivated member.
var People = []Person{
	{Email: "grace@" + Domain, GivenName: "Grace", FamilyName: "Hopper", Role: storage.RoleMember,
		Teams: []string{"Analysts", "Marketing"}, Active: true,
		Note: "member: signs in through the IdP"},
	{Email: "ada@" + Domain, GivenName: "Ada", FamilyName: "Lovelace", Role: storage.RoleOwner,
		Teams: []string{"Analysts"}, Active: true, HasPassword: true,
		Note: "owner: the IdP, or the break-glass password form"},
	{Email: "alan@" + Domain, GivenName: "Alan", FamilyName: "Turing", Role: storage.RoleMember,
		Active: false,
		Note:   "deactivated member: refused at sign-in"},
}

// Options configure a demo run. The zero value is the `ssogate demo`
// default.
type Options struct {
	// Dir keeps the data (database, Caddy storage, logs). Empty: a fresh
	// folder from os.MkdirTemp("", "ssogate-demo-"). When it holds the
	// data of an earlier run, that data is used again.
	Dir string
	// GatePort, SCIMPort and IdPPort are the ports on 127.0.0.1. Zero: the
	// defaults (8080, 8081, 8082), or a free port when a default is taken.
	// A port given here must be free.
	GatePort, SCIMPort, IdPPort int
	// EventLog also writes the gate's and the sidecar's log lines
	// (sign-ins, refusals, provisioning) to stderr in a readable form. The
	// full log is always in <Dir>/caddy.log.
	EventLog bool
	// Ready starts with SSO set up: the IdP and the claimed domain are in
	// the Caddyfile, so members sign in through the IdP at once. Without
	// it, the org's SSO lives in the store and is set up by its owner.
	Ready bool
	// ReauthAfter is how recent a sign-in must be to change the org's SSO
	// settings or tokens on the Access Security pages (the saml_sso
	// reauth_after). Zero: the gate's default, 15 minutes. For tests.
	ReauthAfter time.Duration
}

// Running is a demo that has started. It stops when the context given to
// Run is done; Done is closed once everything has stopped.
type Running struct {
	// Dir is the data folder; Reused reports that it held an earlier run.
	Dir    string
	Reused bool
	// GateURL is the app behind the gate, SCIMURL the sidecar's origin,
	// IdPURL the test IdP's; none ends with a slash.
	GateURL, SCIMURL, IdPURL string
	// GatePort, SCIMPort and IdPPort are the ports in use.
	GatePort, SCIMPort, IdPPort int
	// PortNotes says which default ports were taken and what was used
	// instead.
	PortNotes []string
	// People are the demo people.
	People []Person
	// OwnerEmail and OwnerPassword sign in through the password form.
	// OwnerPassword is empty when the owner no longer exists (a reused
	// folder where the owner was deleted).
	OwnerEmail, OwnerPassword string
	// OwnerLoginURL is the password sign-in page, leading to the org's SSO
	// settings once signed in.
	OwnerLoginURL string
	// SCIMToken is a bearer token with scope scim for the demo org.
	SCIMToken string
	// Ready reports the ready-made setup (Options.Ready).
	Ready bool

	// The test IdP's three values for the org's SSO settings, as the
	// vendor guide names them: IdPSSOURL is the "Authentication URL",
	// IdPIssuer the "Issuer URL" (entity ID), IdPCertificatePEM the
	// "Public Certificate". IdPCertificateURL downloads the certificate,
	// IdPMetadataURL is the IdP's metadata; CertificateFile is the
	// certificate's copy in Dir.
	IdPSSOURL, IdPIssuer, IdPCertificatePEM string
	IdPCertificateURL, IdPMetadataURL       string
	CertificateFile                         string
	// DNSAddr is the demo's DNS server (host:port on 127.0.0.1), which the
	// ssogate app asks to verify domain claims: it publishes the TXT record
	// at ChallengeName that the org's claim on Domain asks for.
	DNSAddr string
	// SSOState is the state of the org's SSO connection when the demo
	// started ("" when it has none yet; draft, tested, enabled or
	// disabled); DomainState that of its claim on Domain ("" when none;
	// pending or verified).
	SSOState, DomainState string
	// SetupNotes say what an earlier run on the folder left that a
	// newcomer should know of.
	SetupNotes []string
	// Caddyfile is the path of the configuration the gate runs.
	Caddyfile string
	// LogFile is Caddy's full log.
	LogFile string
	// StartedIn is how long Run took.
	StartedIn time.Duration

	idp   *testidp.IdP
	store *sqlitestore.Store
	orgID int64
	done  chan struct{}
	err   error
}

// Done is closed when the demo has stopped.
func (r *Running) Done() <-chan struct{} { return r.done }

// Err is the error of stopping, once Done is closed.
func (r *Running) Err() error {
	<-r.done
	return r.err
}

// IdP is the embedded test IdP.
func (r *Running) IdP() *testidp.IdP { return r.idp }

// running guards against two demos in one process: Caddy has one running
// configuration per process.
var running sync.Mutex

// Run starts the demo and returns once every piece answers. It stops
// everything when ctx is done. Caddy runs one configuration per process:
// the demo's replaces any other running in this process, and a second
// demo is refused while one runs.
func Run(ctx context.Context, opts Options) (*Running, error) {
	start := time.Now()
	if !running.TryLock() {
		return nil, errors.New("a demo is already running in this process")
	}
	r, cleanup, err := start1(ctx, opts)
	if err != nil {
		cleanup()
		running.Unlock()
		return nil, err
	}
	r.StartedIn = time.Since(start)
	go func() {
		<-ctx.Done()
		cleanup()
		running.Unlock()
		close(r.done)
	}()
	return r, nil
}

// start1 starts every piece; cleanup stops whatever was started, also on
// failure.
func start1(ctx context.Context, opts Options) (_ *Running, cleanup func(), err error) {
	r := &Running{done: make(chan struct{}), People: People, Ready: opts.Ready}
	var stops []func() error
	cleanup = func() {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			if err := stops[i](); err != nil {
				errs = append(errs, err)
			}
		}
		r.err = errors.Join(errs...)
	}

	// The folder.
	if opts.Dir == "" {
		if r.Dir, err = os.MkdirTemp("", "ssogate-demo-"); err != nil {
			return nil, cleanup, err
		}
	} else {
		if r.Dir, err = filepath.Abs(opts.Dir); err != nil {
			return nil, cleanup, err
		}
		if err := os.MkdirAll(r.Dir, 0o700); err != nil {
			return nil, cleanup, fmt.Errorf("creating the data folder: %w", err)
		}
	}
	dbPath := filepath.Join(r.Dir, "ssogate.db")
	if _, err := os.Stat(dbPath); err == nil {
		r.Reused = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, cleanup, err
	}

	// The ports. The IdP and the app keep their listeners; Caddy binds
	// the gate's and the sidecar's itself, so those are only probed.
	idpLn, idpNote, err := listen("the test IdP", opts.IdPPort, DefaultIdPPort)
	if err != nil {
		return nil, cleanup, err
	}
	stops = append(stops, ignoreClosed(idpLn.Close))
	r.IdPPort = idpLn.Addr().(*net.TCPAddr).Port
	r.IdPURL = "http://127.0.0.1:" + strconv.Itoa(r.IdPPort)
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, cleanup, err
	}
	stops = append(stops, ignoreClosed(appLn.Close))

	// The IdP, with a fresh key each run.
	users := make([]testidp.User, len(People))
	for i, p := range People {
		users[i] = testidp.User{Email: p.Email, GivenName: p.GivenName, FamilyName: p.FamilyName}
	}
	idp, err := testidp.New(r.IdPURL, users...)
	if err != nil {
		return nil, cleanup, fmt.Errorf("starting the test IdP: %w", err)
	}
	r.idp = idp
	if r.CertificateFile, err = keepIdPKey(r.Dir, idp); err != nil {
		return nil, cleanup, err
	}
	r.IdPSSOURL, r.IdPIssuer, r.IdPCertificatePEM = idp.SSOURL(), idp.EntityID(), string(idp.CertificatePEM())
	r.IdPCertificateURL, r.IdPMetadataURL = r.IdPURL+"/certificate.pem", r.IdPURL+"/metadata"

	// The store: people, teams, the owner's password, a SCIM token. It
	// stays open for the DNS server and the IdP's page.
	st, err := sqlitestore.Open(ctx, dbPath)
	if err != nil {
		return nil, cleanup, fmt.Errorf("opening the demo database: %w", err)
	}
	r.store = st
	stops = append(stops, st.Close)
	if err := r.seed(ctx); err != nil {
		return nil, cleanup, err
	}

	// The DNS server that publishes the domain claim's record.
	dnsSrv, err := startDNS(r.claimValue)
	if err != nil {
		return nil, cleanup, err
	}
	stops = append(stops, dnsSrv.Close)
	r.DNSAddr = dnsSrv.addr

	// The gate and the sidecar, in Caddy. A probed port can be taken
	// between the probe and Caddy's bind; then probe again.
	r.LogFile = filepath.Join(r.Dir, "caddy.log")
	r.Caddyfile = filepath.Join(r.Dir, "Caddyfile")
	appAddr := appLn.Addr().String()
	var notes []string
	for attempt := 0; ; attempt++ {
		var gateNote, scimNote string
		if r.GatePort, gateNote, err = probe("the gate", opts.GatePort, DefaultGatePort, r.IdPPort); err != nil {
			return nil, cleanup, err
		}
		if r.SCIMPort, scimNote, err = probe("the SCIM sidecar", opts.SCIMPort, DefaultSCIMPort, r.IdPPort, r.GatePort); err != nil {
			return nil, cleanup, err
		}
		notes = nonEmpty(idpNote, gateNote, scimNote)
		r.GateURL = "http://127.0.0.1:" + strconv.Itoa(r.GatePort)
		r.SCIMURL = "http://127.0.0.1:" + strconv.Itoa(r.SCIMPort)
		r.OwnerLoginURL = r.GateURL + "/sso/password?rd=/sso/admin/sso"
		cfg := r.caddyfile(dbPath, appAddr, opts)
		if err := os.WriteFile(r.Caddyfile, []byte(cfg), 0o600); err != nil {
			return nil, cleanup, err
		}
		err = load(cfg)
		if err == nil {
			break
		}
		if attempt < 3 && errors.Is(err, syscall.EADDRINUSE) && (opts.GatePort == 0 || opts.SCIMPort == 0) {
			continue
		}
		return nil, cleanup, err
	}
	r.PortNotes = notes
	stops = append(stops, caddy.Stop)

	// The app and the IdP answer.
	app := &http.Server{Handler: newApp(r.GateURL), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = app.Serve(appLn) }()
	stops = append(stops, shutdown(app))
	// The IdP learns the gate's SP from its metadata: the gate's own
	// (where the Caddyfile's IdP answers) and the org's (where the
	// store's connection answers).
	idp.TrustSPMetadataURL(r.GateURL + "/sso/metadata")
	idp.TrustSPMetadataURL(r.GateURL + tenant.OrgPath("/sso", Org) + "/metadata")
	idpSrv := &http.Server{Handler: newIdPFront(idp, r), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = idpSrv.Serve(idpLn) }()
	stops = append(stops, shutdown(idpSrv))

	if err := waitReady(ctx, r.GateURL+"/sso/metadata", r.SCIMURL+"/scim/v2/ServiceProviderConfig", r.IdPURL+"/metadata"); err != nil {
		return nil, cleanup, err
	}
	if err := r.readSetup(ctx); err != nil {
		return nil, cleanup, err
	}
	return r, cleanup, nil
}

// seed puts in the demo org's people, teams, the owner's password and a
// fresh SCIM token. A folder with an earlier run's data keeps it: only the
// password and the token are renewed.
func (r *Running) seed(ctx context.Context) error {
	st := r.store
	org, err := st.OrgByName(ctx, Org)
	fresh := errors.Is(err, storage.ErrNotFound)
	if err != nil && !fresh {
		return err
	}
	if fresh {
		if org, err = st.EnsureOrg(ctx, Org, true); err != nil {
			return err
		}
		// The ready-made config claims the domain too when it loads;
		// claiming it here first keeps the store consistent on its own.
		// Without it, claiming the domain is the owner's to do.
		if r.Ready {
			if err := st.SyncConfigDomains(ctx, org.ID, []string{Domain}); err != nil {
				return err
			}
		}
		teams := map[string][]string{}
		var teamOrder []string
		for _, p := range People {
			m, err := st.CreateMember(ctx, org.ID, storage.NewMember{
				Email: p.Email, GivenName: p.GivenName, FamilyName: p.FamilyName,
				Role: p.Role, Active: p.Active, Source: storage.SourceInvite,
			}, false)
			if err != nil {
				return fmt.Errorf("adding %s: %w", p.Email, err)
			}
			for _, t := range p.Teams {
				if _, ok := teams[t]; !ok {
					teamOrder = append(teamOrder, t)
				}
				teams[t] = append(teams[t], m.ID)
			}
		}
		for _, name := range teamOrder {
			t, err := st.CreateTeam(ctx, org.ID, name, "")
			if err != nil {
				return fmt.Errorf("adding team %s: %w", name, err)
			}
			ids := teams[name]
			if _, err := st.UpdateTeam(ctx, org.ID, t.ID, func(t *storage.Team) error {
				t.MemberIDs = ids
				return nil
			}); err != nil {
				return fmt.Errorf("filling team %s: %w", name, err)
			}
		}
	}

	// A new break-glass password for the owner at every run: only its hash
	// is kept, so an earlier run's cannot be shown again.
	for _, p := range People {
		if !p.HasPassword {
			continue
		}
		r.OwnerEmail = p.Email
		if _, err := st.MemberByEmail(ctx, org.ID, p.Email); errors.Is(err, storage.ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		pw := newPassword()
		hash, err := password.Hash(pw)
		if err != nil {
			return err
		}
		if err := st.SetPasswordHash(ctx, p.Email, hash); err != nil {
			return fmt.Errorf("setting the owner's password: %w", err)
		}
		r.OwnerPassword = pw
	}

	// A new SCIM token, the previous run's revoked.
	toks, err := st.ListTokens(ctx, org.ID)
	if err != nil {
		return err
	}
	for _, t := range toks {
		if t.Name == TokenName {
			if err := st.RevokeToken(ctx, org.ID, t.ID); err != nil {
				return err
			}
		}
	}
	tok, hash, err := apitoken.New()
	if err != nil {
		return err
	}
	if _, err := st.CreateToken(ctx, org.ID, TokenName, storage.ScopeSCIM, hash); err != nil {
		return fmt.Errorf("creating the SCIM token: %w", err)
	}
	r.SCIMToken = tok
	r.orgID = org.ID
	return nil
}

// claimValue is the TXT value the demo org's claim on Domain asks to be
// published, "" when it has none.
func (r *Running) claimValue(ctx context.Context) (string, error) {
	d, err := r.store.DomainByName(ctx, r.orgID, Domain)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return d.TXTValue, nil
}

// setup is how far the org's SSO setup is: its connection's state ("" for
// none) and the state of its claim on Domain ("" for none).
func (r *Running) setup(ctx context.Context) (conn *storage.Connection, domain string, err error) {
	c, err := r.store.Connection(ctx, r.orgID)
	switch {
	case err == nil:
		conn = &c
	case !errors.Is(err, storage.ErrNotFound):
		return nil, "", err
	}
	d, err := r.store.DomainByName(ctx, r.orgID, Domain)
	switch {
	case err == nil:
		domain = d.Status
	case !errors.Is(err, storage.ErrNotFound):
		return nil, "", err
	}
	return conn, domain, nil
}

// readSetup records how far the setup is as the demo starts, and notes
// what an earlier run left that no longer fits.
func (r *Running) readSetup(ctx context.Context) error {
	conn, domain, err := r.setup(ctx)
	if err != nil {
		return fmt.Errorf("reading the demo org's SSO settings: %w", err)
	}
	r.DomainState = domain
	if conn == nil {
		return nil
	}
	r.SSOState = string(conn.State)
	if !r.Ready && !r.fits(conn) {
		r.SetupNotes = append(r.SetupNotes, "the org's SSO settings, from an earlier run, name another IdP address or certificate "+
			"than this run's test IdP: paste the three values again, then test and enable")
	}
	return nil
}

// fits reports whether the org's stored IdP, if it has one, is this run's
// test IdP: its address (the port may differ between runs) and its
// certificate. Given as IdP metadata, the document (the last good copy)
// must name the same.
func (r *Running) fits(conn *storage.Connection) bool {
	switch {
	case conn.IDPSSOURL != "" || conn.IDPIssuer != "" || conn.IDPCertificates != "":
		return conn.IDPSSOURL == r.IdPSSOURL && conn.IDPIssuer == r.IdPIssuer && holdsCertificate(conn.IDPCertificates, r.idp.Cert.Raw)
	case conn.IDPMetadataXML != "":
		xml := strings.Join(strings.Fields(conn.IDPMetadataXML), "")
		return strings.Contains(xml, r.IdPSSOURL) && strings.Contains(xml, base64.StdEncoding.EncodeToString(r.idp.Cert.Raw))
	case conn.IDPMetadataURL != "":
		return conn.IDPMetadataURL == r.IdPMetadataURL
	}
	return true
}

// holdsCertificate reports whether the PEM list holds the certificate.
func holdsCertificate(pemList string, der []byte) bool {
	rest := []byte(pemList)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return false
		}
		if bytes.Equal(b.Bytes, der) {
			return true
		}
	}
}

// newPassword returns a random password that is easy to type:
// four groups of four lowercase letters and digits.
func newPassword() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))[:16]
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// caddyfile is the configuration of the gate and the sidecar.
func (r *Running) caddyfile(dbPath, appAddr string, opts Options) string {
	events := opts.EventLog
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Written by `ssogate demo`; it is rewritten at every run.\n{\n")
	w("\tadmin off\n\tpersist_config off\n\tauto_https off\n")
	w("\tstorage file_system %s\n", quote(filepath.Join(r.Dir, "caddy")))
	// Everything goes to caddy.log; the terminal gets warnings and, with
	// events, what the gate and the sidecar do.
	// (admin off is this config's choice: no need to warn about it.)
	w("\tlog {\n\t\toutput stderr\n\t\tformat console\n\t\tlevel WARN\n")
	if events {
		w("\t\texclude admin http.handlers.saml_sso http.handlers.scim_server\n")
	} else {
		w("\t\texclude admin\n")
	}
	w("\t}\n")
	w("\tlog file {\n\t\toutput file %s\n\t\tlevel INFO\n\t}\n", quote(r.LogFile))
	if events {
		w("\tlog events {\n\t\toutput stderr\n\t\tformat console\n\t\tlevel INFO\n\t\tinclude http.handlers.saml_sso http.handlers.scim_server\n\t}\n")
	}
	// Plain HTTP on localhost: HTTP/1.1 only (h2 and h3 need TLS).
	w("\tservers {\n\t\tprotocols h1\n\t\ttimeouts {\n\t\t\tread_header 10s\n\t\t}\n\t}\n")
	w("\tgrace_period 2s\n")
	w("\tssogate {\n\t\tdatabase sqlite %s\n", quote(dbPath))
	w("\t\t# The demo's DNS server: it publishes the TXT record of the org's claim on %s.\n", Domain)
	w("\t\tdns_resolver %s\n", r.DNSAddr)
	w("\t\t# The test IdP is on 127.0.0.1: the org's admin may give its metadata URL.\n")
	w("\t\tallow_private_metadata_urls\n")
	w("\t}\n}\n\n")

	w("# The demo app, behind the gate.\n")
	w("http://127.0.0.1:%d, http://localhost:%d {\n", r.GatePort, r.GatePort)
	w("\tbind 127.0.0.1\n")
	w("\t# One origin for cookies and the ACS: localhost goes to 127.0.0.1.\n")
	w("\t@elsewhere not host 127.0.0.1\n\tredir @elsewhere %s{uri}\n", r.GateURL)
	w("\tsaml_sso {\n")
	w("\t\torg %s\n", Org)
	if r.Ready {
		w("\t\tidp_sso_url %s\n", r.IdPSSOURL)
		w("\t\tidp_issuer %s\n", r.IdPIssuer)
		w("\t\tidp_certificate %s\n", quote(r.CertificateFile))
	} else {
		w("\t\t# No idp_* lines: the org's owner sets its IdP up at /sso/admin/sso,\n")
		w("\t\t# and it is kept in the store.\n")
	}
	w("\t\tbase_url %s\n", r.GateURL)
	if r.Ready {
		w("\t\tdomain %s\n", Domain)
	}
	if opts.ReauthAfter > 0 {
		w("\t\treauth_after %s\n", opts.ReauthAfter)
	}
	w("\t}\n")
	w("\treverse_proxy %s\n}\n\n", appAddr)

	w("# The provisioning sidecar.\n")
	w("http://127.0.0.1:%d, http://localhost:%d {\n", r.SCIMPort, r.SCIMPort)
	w("\tbind 127.0.0.1\n")
	w("\t# base_url: the Access Security page shows <base_url>/scim/v2 to paste into the IdP.\n")
	w("\tscim_server {\n\t\tbase_url %s\n\t}\n}\n", r.SCIMURL)
	return b.String()
}

// quote makes s one Caddyfile token.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"'`{}#\\") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// load adapts the Caddyfile and runs it in this process.
func load(cfg string) error {
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		return errors.New("the caddyfile adapter is not linked in")
	}
	js, _, err := adapter.Adapt([]byte(cfg), nil)
	if err != nil {
		return fmt.Errorf("adapting the demo Caddyfile: %w", err)
	}
	if err := caddy.Load(js, true); err != nil {
		return fmt.Errorf("starting the gate: %w", err)
	}
	return nil
}

// listen listens on 127.0.0.1:port; with port zero, on the default port,
// else on any free port, with a note saying so.
func listen(what string, port, def int) (net.Listener, string, error) {
	if port != 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return nil, "", fmt.Errorf("port %d for %s: %w", port, what, err)
		}
		return ln, "", nil
	}
	if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(def)); err == nil {
		return ln, "", nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("finding a port for %s: %w", what, err)
	}
	return ln, fmt.Sprintf("port %d was taken, so %s uses %d", def, what, ln.Addr().(*net.TCPAddr).Port), nil
}

// probe finds a port for a server Caddy binds: port, the default or a
// free one, not one of the ports taken already by the demo.
func probe(what string, port, def int, taken ...int) (int, string, error) {
	for range 10 {
		ln, note, err := listen(what, port, def)
		if err != nil {
			return 0, "", err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		clash := false
		for _, t := range taken {
			clash = clash || t == p
		}
		if !clash {
			return p, note, nil
		}
		if port != 0 {
			return 0, "", fmt.Errorf("port %d for %s is used by the demo already", port, what)
		}
	}
	return 0, "", fmt.Errorf("finding a port for %s", what)
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func ignoreClosed(fn func() error) func() error {
	return func() error {
		if err := fn(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}
}

func shutdown(s *http.Server) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			return s.Close()
		}
		return nil
	}
}

// waitReady waits until every URL answers.
func waitReady(ctx context.Context, urls ...string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for _, u := range urls {
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			resp, err := c.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s does not answer: %w", u, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}
