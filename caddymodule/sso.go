package caddymodule

import (
	"context"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/adminui"
	"github.com/ssogate/ssogate/internal/domainclaim"
	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
	"github.com/ssogate/ssogate/internal/throttle"
)

func init() {
	caddy.RegisterModule(SSOHandler{})
}

// SSOHandler (saml_sso) is the SAML service provider and session gate in
// front of an app. It serves its endpoints under PathPrefix (default /sso)
// and checks the session of every other request:
//
//   - valid session: the identity headers and placeholders are set and the
//     request goes on to the next handler;
//   - none, on a browser navigation: redirect to the IdP (RequireSSO) or to
//     the login page;
//   - none, anything else: 401 with {"error", "login_url"}.
//
// A gate is pinned or shared. A pinned gate (Org set, or IdP settings
// given, which pin the org "default") serves one org and accepts only that
// org's sessions; its IdP comes from the Caddyfile or, without IdP
// settings, from the org's connection in the store. A shared gate (neither
// Org nor IdP settings) serves every org: /sso/login asks for the work
// email and sends the browser to the IdP of the org that verified its
// domain, and any org's session passes, named in X-Forwarded-Org. Each org
// has its own SP endpoints, <PathPrefix>/o/<org>/acs, /metadata (its
// entity ID) and /logout; a pinned gate keeps <PathPrefix>/acs, /metadata
// and /logout for its org too.
//
// The identity headers are always removed from the client's request first
// (its headers and its trailers):
//
//	X-Forwarded-User    email
//	X-Forwarded-Email   email
//	X-Forwarded-Name    "First Last"
//	X-Forwarded-Groups  team names, comma-separated, each percent-encoded
//	                    (url.PathEscape: a comma in a name is %2C)
//	X-Forwarded-Role    owner, admin or member (the highest of the
//	                    member's own role and its teams' roles)
//	X-Forwarded-Org     the org's name
//
// Placeholders set for later handlers and the access log:
//
//	{http.auth.user.id}          email
//	{http.auth.user.email}       email
//	{http.auth.user.first_name}  given name
//	{http.auth.user.last_name}   family name
//	{http.auth.user.groups}      as X-Forwarded-Groups
//	{http.auth.user.role}        role
//	{http.auth.user.org}         org name
type SSOHandler struct {
	// Org pins the gate to this organization (a slug), created in the
	// store if absent. Default: "default" when IdP settings are given;
	// without them and without Org, the gate is shared by every org.
	Org string `json:"org,omitempty"`

	// IDPSSOURL is the IdP's SSO ("Authentication") URL, for the
	// HTTP-Redirect binding. Required unless IdP metadata is given.
	IDPSSOURL string `json:"idp_sso_url,omitempty"`
	// IDPIssuer is the IdP's entity ID ("Issuer URL"). Required unless IdP
	// metadata is given.
	IDPIssuer string `json:"idp_issuer,omitempty"`
	// IDPCertificates are the IdP's signing certificates, each a file path
	// or inline PEM. Several are trusted at once during rotation.
	IDPCertificates []string `json:"idp_certificates,omitempty"`
	// IDPMetadataURL is where to fetch the IdP's metadata instead of the
	// three settings above; it is refreshed every IDPMetadataRefresh.
	IDPMetadataURL string `json:"idp_metadata_url,omitempty"`
	// IDPMetadataFile is a file with the IdP's metadata.
	IDPMetadataFile string `json:"idp_metadata_file,omitempty"`
	// IDPMetadataRefresh is how often IDPMetadataURL is fetched again.
	// Default: 24h.
	IDPMetadataRefresh caddy.Duration `json:"idp_metadata_refresh,omitempty"`
	// IDPSLOURL is the IdP's single logout URL, for explicit IdP
	// settings; with metadata, the metadata's is used unless this is set.
	// Without one, logout ends only the gate's session.
	IDPSLOURL string `json:"idp_slo_url,omitempty"`

	// SPCertificate and SPKey are the SP's certificate and RSA private key
	// (each a file path or inline PEM; placeholders such as {env.SP_KEY}
	// are expanded), used to sign and to decrypt for the pinned org.
	// Default: a signing and an encryption key generated for the org and
	// kept in the store (see `ssogate sso keys`).
	SPCertificate string `json:"sp_certificate,omitempty"`
	SPKey         string `json:"sp_key,omitempty"`
	// SignRequests signs AuthnRequests. Default: false, or true when the
	// IdP's metadata says WantAuthnRequestsSigned.
	SignRequests bool `json:"sign_requests,omitempty"`
	// ForwardAuthCookies makes /sso/auth's 200 carry the request's other
	// cookies (X-Auth-Request-Cookie, and Cookie), for a proxy in front
	// to send the app instead of the browser's Cookie header, without
	// ssogate_session. Off by default: the answer shows HttpOnly cookies
	// to whoever calls /sso/auth, so it is only for a gate that nothing
	// but the proxy reaches there.
	ForwardAuthCookies bool `json:"forward_auth_cookies,omitempty"`
	// GroupsAttribute names the assertion attribute that lists the
	// member's groups (Okta: groups; Entra:
	// http://schemas.microsoft.com/ws/2008/06/identity/claims/groups): at
	// each sign-in the member's teams become exactly those, created as
	// needed. Set here it holds for every org the gate serves. Default:
	// each org's connection; without one, groups are ignored.
	GroupsAttribute string `json:"groups_attribute,omitempty"`

	// BaseURL is the app's external origin, such as
	// https://analytics.example.com. Default: from each request whose
	// Host is one of TrustedHosts.
	BaseURL string `json:"base_url,omitempty"`
	// TrustedHosts are, without BaseURL, the hosts (host or host:port)
	// the gate builds its URLs on: a request for another host gets 421
	// at the endpoints. The entity ID is built on the first. The
	// Caddyfile fills them from the site's addresses; one of BaseURL or
	// TrustedHosts is required.
	TrustedHosts []string `json:"trusted_hosts,omitempty"`
	// RequestableACSURLs are further ACS URLs ("Requestable SSO URLs"),
	// listed in the metadata with their index.
	RequestableACSURLs []string `json:"requestable_acs_urls,omitempty"`
	// EntityID is the SP entity ID. Default: <base_url>/sso/metadata.
	EntityID string `json:"entity_id,omitempty"`
	// Domains are email domains the operator vouches for: claimed and
	// verified for the org while they stay in the config.
	Domains []string `json:"domains,omitempty"`

	// RequireSSO sends members to the IdP only; owners and admins keep the
	// password form (break-glass). Set here, it holds whatever the org's
	// connection says (on a shared gate, for every org); unset, the org's
	// connection decides. Default: false.
	RequireSSO bool `json:"require_sso,omitempty"`
	// IDPManagedAccess lets in only members that exist and are active in
	// the store; sign-in creates no account. Like RequireSSO, set here it
	// holds over the org's own switch. Default: false.
	IDPManagedAccess bool `json:"idp_managed_access,omitempty"`
	// AllowIDPInitiated accepts IdP-initiated logins (Okta dashboard
	// tiles). Set here, it holds over the org's own switch. Default: the
	// org's switch, which is true until its admin turns it off.
	AllowIDPInitiated *bool `json:"allow_idp_initiated,omitempty"`
	// AllowSHA1 accepts SHA-1 signatures from the IdP. Default: false.
	AllowSHA1 bool `json:"allow_sha1,omitempty"`

	// SessionLifetime is a session's absolute lifetime. Default: 12h.
	SessionLifetime caddy.Duration `json:"session_lifetime,omitempty"`
	// SessionIdle ends a session unused for this long. Default: 2h.
	SessionIdle caddy.Duration `json:"session_idle,omitempty"`
	// SessionKey is the secret the session cookie keys derive from (at
	// least 32 characters); placeholders such as {env.X} are expanded.
	// Default: generated once and kept in the store, so restarts and
	// several processes agree.
	SessionKey string `json:"session_key,omitempty"`
	// ClockSkew is the tolerance on assertion times, at most 3m.
	// Default: 90s.
	ClockSkew caddy.Duration `json:"clock_skew,omitempty"`
	// PathPrefix is where the endpoints live. Default: /sso.
	PathPrefix string `json:"path_prefix,omitempty"`
	// ReauthAfter is how recent a sign-in must be to change SSO
	// settings, Require SSO or tokens on the Access Security pages
	// (<path_prefix>/admin); an older one signs in again first.
	// Default: 15m.
	ReauthAfter caddy.Duration `json:"reauth_after,omitempty"`

	app      *App
	store    storage.Store
	registry *tenant.Registry
	shared   bool        // serves every org
	org      storage.Org // the pinned org; zero (AnyOrg) on a shared gate
	baseURL  *url.URL
	hosts    trustedHosts // without baseURL
	acsURLs  []*url.URL
	static   *atomic.Pointer[staticIDP] // the Caddyfile's IdP; nil when the org's connection is in the store
	spPair   *sso.KeyPair               // the Caddyfile's SP key; nil when the store keeps the org's
	// metadataStale: idp_metadata_url was unreachable at start.
	metadataStale bool
	providers     *providerCache
	spBase        sso.Config // what every provider of this gate shares
	sessions      *gate.Sessions
	throttle      *throttle.Limiter
	csrfKey       []byte // form tokens
	csrfCookieKey []byte // CSRF cookies, so that only the gate makes them
	ticketKey     []byte
	tracker       *sso.Tracker
	heldCodec     *securecookie.SecureCookie // IdP-initiated sign-ins waiting for the person
	admin         *adminui.Handler
	orgadmin      *orgadmin.Service // records what the gate changes in an org's activity
	logger        *zap.Logger
	outage        *storage.Outage // the store's current ErrUnavailable episode
	health        *healthProbe    // the process's store probe, for /health
	unsub         func()
	cancel        context.CancelFunc
	done          chan struct{}
}

// CaddyModule returns the Caddy module information.
func (SSOHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.saml_sso",
		New: func() caddy.Module { return new(SSOHandler) },
	}
}

const (
	defaultSessionLifetime = 12 * time.Hour
	defaultSessionIdle     = 2 * time.Hour
	defaultClockSkew       = 90 * time.Second
	sessionKeySetting      = "session_key"
)

// hasIDPSettings reports whether the Caddyfile names the IdP.
func (h *SSOHandler) hasIDPSettings() bool {
	return h.IDPSSOURL != "" || h.IDPIssuer != "" || len(h.IDPCertificates) > 0 ||
		h.IDPMetadataURL != "" || h.IDPMetadataFile != ""
}

// Provision loads the IdP settings, joins the store and sets up sessions.
func (h *SSOHandler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.outage = new(storage.Outage)
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	h.shared = h.Org == "" && !h.hasIDPSettings()
	if !h.shared && h.Org == "" {
		h.Org = "default"
	}
	if h.PathPrefix == "" {
		h.PathPrefix = "/sso"
	}
	if h.SessionLifetime == 0 {
		h.SessionLifetime = caddy.Duration(defaultSessionLifetime)
	}
	if h.SessionIdle == 0 {
		h.SessionIdle = caddy.Duration(defaultSessionIdle)
	}
	if h.ClockSkew == 0 {
		h.ClockSkew = caddy.Duration(defaultClockSkew)
	}
	if h.IDPMetadataRefresh == 0 {
		h.IDPMetadataRefresh = caddy.Duration(24 * time.Hour)
	}
	if err := h.Validate(); err != nil {
		return err
	}
	if h.BaseURL != "" {
		if err := checkBaseURL(h.BaseURL); err != nil {
			return err
		}
		u, _ := url.Parse(h.BaseURL)
		h.baseURL = &url.URL{Scheme: u.Scheme, Host: u.Host}
	} else {
		hosts, err := newTrustedHosts(h.TrustedHosts)
		if err != nil {
			return fmt.Errorf("saml_sso: trusted_hosts: %w", err)
		}
		h.hosts = hosts
		h.logger.Info("base_url is not set; the gate builds its URLs on the request's host, if it is one of these",
			zap.Strings("trusted_hosts", h.TrustedHosts))
	}
	domains := make([]string, 0, len(h.Domains))
	for _, d := range h.Domains {
		n, err := domainclaim.Normalize(d)
		if err != nil {
			return fmt.Errorf("domain %q: %w", d, err)
		}
		domains = append(domains, n)
	}
	for _, raw := range h.RequestableACSURLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("requestable_acs_url %q must be an absolute http(s) URL", raw)
		}
		h.acsURLs = append(h.acsURLs, u)
	}

	appIface, err := ctx.App("ssogate")
	if err != nil {
		return fmt.Errorf("getting ssogate app: %w", err)
	}
	h.app = appIface.(*App)
	if err := registerAppMetrics(ctx, h.app); err != nil {
		return err
	}
	h.store = h.app.Store()
	h.health = &h.app.shared.health
	h.registry = h.app.Registry()
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	h.spBase = sso.Config{
		// Every provider accepts unsolicited responses; whether the org
		// allows them is its policy, checked before the response is read.
		AllowIDPInitiated: true,
		AllowSHA1:         h.AllowSHA1,
		ClockSkew:         time.Duration(h.ClockSkew),
		SignRequests:      h.SignRequests,
		GroupsAttribute:   h.GroupsAttribute,
		ReplayCache:       replayCache{h.store},
	}
	if len(h.hosts) > 0 {
		h.spBase.EntityHost = h.hosts[0].name
	}
	if h.spPair, err = loadSPKeyPair(h.SPCertificate, h.SPKey, h.logger); err != nil {
		return err
	}
	h.providers = newProviderCache()
	decl := orgDeclaration{domains: domains, pins: h.switchPins(), requireSSO: h.RequireSSO,
		idpManagedAccess: h.IDPManagedAccess, allowIDPInitiated: h.AllowIDPInitiated == nil || *h.AllowIDPInitiated,
		groupsAttribute: h.GroupsAttribute}
	if !h.shared {
		if h.org, err = h.store.EnsureOrg(pctx, h.Org, true); err != nil {
			return err
		}
		h.warnNoDomain(pctx, domains)
		if h.hasIDPSettings() {
			idp, err := h.loadIDP(pctx)
			if err != nil {
				return err
			}
			h.static = new(atomic.Pointer[staticIDP])
			h.static.Store(&staticIDP{md: idp.md, xml: idp.conn.IDPMetadataXML})
			h.metadataStale = idp.stale
			h.logCertificates(idp.md)
			decl.idp = &idp.conn
		}
		h.app.declareOrg(h.Org, decl)
	} else if len(decl.pins) > 0 {
		h.logger.Info("saml_sso serves every organization with these switches forced on top of each org's own",
			zap.Strings("switches", decl.pins))
	}
	if h.baseURL != nil {
		h.app.declareGateURL(h.orgKey(), h.baseURL.String()+h.PathPrefix)
	}

	key, err := h.sessionKey(pctx)
	if err != nil {
		return err
	}
	h.sessions, err = gate.New(h.store, gate.Config{
		Key: key, Lifetime: time.Duration(h.SessionLifetime), Idle: time.Duration(h.SessionIdle),
	})
	if err != nil {
		return err
	}
	h.csrfKey = gate.DeriveKey(key, "ssogate csrf")
	h.csrfCookieKey = gate.DeriveKey(key, "ssogate csrf cookie")
	h.ticketKey = gate.DeriveKey(key, "ssogate org choice")
	h.throttle = throttle.New()
	h.heldCodec = newHeldCodec(key)
	h.tracker = sso.NewTracker(gate.DeriveKey(key, "ssogate tracker hmac"), gate.DeriveKey(key, "ssogate tracker aes"))
	h.unsub = h.app.subscribe(h.sessions.Invalidate)
	h.app.gates.add(h.sessions)
	if err := h.provisionAdmin(); err != nil {
		return err
	}

	bg, stop := context.WithCancel(context.Background())
	h.cancel, h.done = stop, make(chan struct{})
	go h.background(bg)
	return nil
}

// orgKey is the org whose gate URL this gate records: its own, or "" for
// a shared gate.
func (h *SSOHandler) orgKey() string {
	if h.shared {
		return ""
	}
	return h.Org
}

// switchPins names the org switches this Caddyfile sets.
func (h *SSOHandler) switchPins() []string {
	var pins []string
	if h.RequireSSO {
		pins = append(pins, tenant.FieldRequireSSO)
	}
	if h.IDPManagedAccess {
		pins = append(pins, tenant.FieldIDPManagedAccess)
	}
	if h.AllowIDPInitiated != nil {
		pins = append(pins, tenant.FieldAllowIDPInitiated)
	}
	return pins
}

// sessionKey returns the configured key, or the one kept in the store.
func (h *SSOHandler) sessionKey(ctx context.Context) ([]byte, error) {
	if h.SessionKey != "" {
		k := caddy.NewReplacer().ReplaceAll(h.SessionKey, "")
		if len(k) < 32 {
			return nil, errors.New("session_key must be at least 32 characters")
		}
		sum := sha512.Sum512([]byte(k))
		return sum[:], nil
	}
	fresh := make([]byte, 64)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	key, err := h.store.EnsureSetting(ctx, sessionKeySetting, fresh)
	if err != nil {
		return nil, fmt.Errorf("loading session key: %w", err)
	}
	return key, nil
}

// caddyfileIDP is the IdP a Caddyfile gives: its metadata, and the same
// as the connection fields the store keeps (pinned) for the admin API to
// show.
type caddyfileIDP struct {
	md   *saml.EntityDescriptor
	conn storage.Connection
	// stale: the metadata URL was unreachable, md is the kept copy.
	stale bool
}

// loadIDP builds the IdP metadata from whichever source is set.
func (h *SSOHandler) loadIDP(ctx context.Context) (caddyfileIDP, error) {
	var data []byte
	var out caddyfileIDP
	switch {
	case h.IDPMetadataFile != "":
		b, err := os.ReadFile(h.IDPMetadataFile)
		if err != nil {
			return out, fmt.Errorf("reading idp_metadata_file: %w", err)
		}
		data = b
	case h.IDPMetadataURL != "":
		b, err := fetchIDPMetadata(ctx, h.IDPMetadataURL)
		if err != nil {
			// An IdP that is down must not take the site down: start on
			// the copy kept from the last fetch, and fetch again soon.
			kept, kerr := h.keptMetadata(ctx)
			if kerr != nil {
				return out, fmt.Errorf("%w (and no copy of it is kept in the store: %v)", err, kerr)
			}
			h.logger.Warn("the IdP metadata URL is unreachable; starting on the copy kept in the store, and fetching again with backoff",
				zap.String("idp_metadata_url", h.IDPMetadataURL), zap.Error(err))
			b, out.stale = kept, true
		}
		data = b
		out.conn.IDPMetadataURL = h.IDPMetadataURL
	default:
		var certs []*x509.Certificate
		for _, c := range h.IDPCertificates {
			parsed, err := loadCertificates(c)
			if err != nil {
				return out, err
			}
			certs = append(certs, parsed...)
		}
		out.md = sso.IDPMetadata(h.IDPSSOURL, h.IDPIssuer, certs)
		out.conn.IDPSSOURL, out.conn.IDPIssuer, out.conn.IDPCertificates = h.IDPSSOURL, h.IDPIssuer, encodeCertificates(certs)
	}
	if data != nil {
		md, err := h.parseIDPMetadata(data)
		if err != nil {
			return out, err
		}
		out.md = md
		out.conn.IDPMetadataXML = string(data)
	}
	if h.IDPSLOURL != "" {
		sso.SetSingleLogout(out.md, h.IDPSLOURL)
		out.conn.IDPSLOURL = h.IDPSLOURL
	}
	if err := sso.CheckIDP(out.md); err != nil {
		return out, fmt.Errorf("the IdP settings (%s): %w", h.metadataSource(), err)
	}
	return out, nil
}

// parseIDPMetadata parses the Caddyfile's IdP metadata document, with
// idp_slo_url in place of its single logout endpoints when set.
func (h *SSOHandler) parseIDPMetadata(data []byte) (*saml.EntityDescriptor, error) {
	md, err := samlsp.ParseMetadata(data)
	if err != nil {
		return nil, fmt.Errorf("parsing the IdP metadata (%s): %w", h.metadataSource(), err)
	}
	if h.IDPSLOURL != "" {
		sso.SetSingleLogout(md, h.IDPSLOURL)
	}
	return md, nil
}

// keptMetadata is the copy of idp_metadata_url's document that the store
// keeps from the last good fetch (the pinned connection's).
func (h *SSOHandler) keptMetadata(ctx context.Context) ([]byte, error) {
	c, err := h.store.Connection(ctx, h.org.ID)
	if err != nil {
		return nil, err
	}
	if c.IDPMetadataURL != h.IDPMetadataURL || c.IDPMetadataXML == "" {
		return nil, errors.New("none was fetched from this URL before")
	}
	return []byte(c.IDPMetadataXML), nil
}

func (h *SSOHandler) metadataSource() string {
	switch {
	case h.IDPMetadataFile != "":
		return h.IDPMetadataFile
	case h.IDPMetadataURL != "":
		return h.IDPMetadataURL
	}
	return "idp_sso_url, idp_issuer, idp_certificate"
}

// fetchIDPMetadata fetches the Caddyfile's idp_metadata_url. The operator
// chose it, so unlike an org admin's URL it may be any http(s) URL.
func fetchIDPMetadata(ctx context.Context, rawURL string) ([]byte, error) {
	data, err := tenant.FetchMetadata(http.DefaultClient)(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("fetching IdP metadata from %s: %w", rawURL, err)
	}
	return data, nil
}

// background flushes session last-seen times, refreshes IdP metadata
// fetched from a URL and warns of certificates about to expire, until
// Cleanup.
func (h *SSOHandler) background(ctx context.Context) {
	defer close(h.done)
	flush := time.NewTicker(30 * time.Second)
	defer flush.Stop()
	daily := time.NewTicker(24 * time.Hour)
	defer daily.Stop()
	h.warnExpiring(time.Now())
	var refresh *time.Timer
	var refreshC <-chan time.Time // nil, never ready, without a metadata URL
	spacing := newBackoff(time.Duration(h.IDPMetadataRefresh))
	if h.IDPMetadataURL != "" {
		refresh = time.NewTimer(spacing.next(!h.metadataStale))
		defer refresh.Stop()
		refreshC = refresh.C
	}
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = h.sessions.Flush(fctx)
			cancel()
			return
		case <-flush.C:
			if err := h.sessions.Flush(ctx); err != nil && ctx.Err() == nil {
				h.logger.Warn("recording session activity", zap.Error(err))
			}
		case <-daily.C:
			h.warnExpiring(time.Now())
		case <-refreshC:
			refresh.Reset(spacing.next(h.refreshMetadata(ctx)))
		}
	}
}

// refreshMetadata fetches idp_metadata_url again. A good copy replaces
// the IdP's metadata (certificate rollover) and is kept in the store for
// the next start; a failure keeps the current one. It reports success.
func (h *SSOHandler) refreshMetadata(ctx context.Context) bool {
	data, err := fetchIDPMetadata(ctx, h.IDPMetadataURL)
	if err != nil {
		h.logger.Warn("refreshing IdP metadata; keeping the previous copy", zap.Error(err))
		return false
	}
	cur := h.static.Load()
	if string(data) == cur.xml {
		return true
	}
	md, err := h.parseIDPMetadata(data)
	if err == nil {
		err = sso.CheckIDP(md)
	}
	if err != nil {
		h.logger.Warn("refreshed IdP metadata is unusable; keeping the previous copy", zap.Error(err))
		return false
	}
	h.static.Store(&staticIDP{md: md, xml: string(data)})
	h.logger.Info("refreshed IdP metadata", zap.String("idp_issuer", md.EntityID))
	h.warnExpiring(time.Now())
	// Kept for the next start, should the IdP be down then.
	_, err = h.store.ModifyConnection(ctx, h.org.ID, func(c *storage.Connection) error {
		if c.IDPMetadataURL != h.IDPMetadataURL || c.IDPMetadataXML == string(data) {
			return tenant.ErrUnchanged
		}
		c.IDPMetadataXML = string(data)
		return nil
	})
	if err != nil && !errors.Is(err, tenant.ErrUnchanged) && ctx.Err() == nil {
		h.logger.Warn("keeping the refreshed IdP metadata in the store", zap.Error(err))
	}
	return true
}

// backoff spaces metadata fetches: every interval while they succeed;
// after a failure 30 s, doubling up to the interval.
type backoff struct {
	interval, wait time.Duration
}

func newBackoff(interval time.Duration) *backoff { return &backoff{interval: interval} }

const firstRetry = 30 * time.Second

// next is the wait before the next fetch, after one that went ok or not.
func (b *backoff) next(ok bool) time.Duration {
	if ok {
		b.wait = 0
		return b.interval
	}
	if b.wait == 0 {
		b.wait = firstRetry
	} else {
		b.wait *= 2
	}
	b.wait = min(b.wait, b.interval)
	return b.wait
}

// Validate checks the configuration without side effects.
func (h *SSOHandler) Validate() error {
	if h.Org != "" {
		if err := tenant.ValidateOrgName(h.Org); err != nil {
			return fmt.Errorf("saml_sso: org: %w", err)
		}
	}
	if err := h.checkShared(); err != nil {
		return fmt.Errorf("saml_sso: %w", err)
	}
	sources := 0
	if h.IDPMetadataURL != "" {
		sources++
	}
	if h.IDPMetadataFile != "" {
		sources++
	}
	manual := h.IDPSSOURL != "" || h.IDPIssuer != "" || len(h.IDPCertificates) > 0
	if manual {
		sources++
	}
	if sources > 1 {
		return errors.New("saml_sso: set only one of idp_metadata_url, idp_metadata_file, or idp_sso_url/idp_issuer/idp_certificate")
	}
	if manual {
		if err := h.checkIDPPieces(); err != nil {
			return fmt.Errorf("saml_sso: %w", err)
		}
		if u, err := url.Parse(h.IDPSSOURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("saml_sso: idp_sso_url %q must be an absolute http(s) URL", h.IDPSSOURL)
		}
	}
	if h.IDPSLOURL != "" {
		if u, err := url.Parse(h.IDPSLOURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("saml_sso: idp_slo_url %q must be an absolute http(s) URL", h.IDPSLOURL)
		}
		if !h.hasIDPSettings() {
			return errors.New("saml_sso: idp_slo_url needs the IdP settings beside it; an org's own connection has its own single logout URL")
		}
	}
	if (h.SPCertificate == "") != (h.SPKey == "") {
		return errors.New("saml_sso: sp_certificate and sp_key go together")
	}
	if h.SPCertificate != "" && h.shared {
		return errors.New("saml_sso: sp_certificate needs org: a gate without org gives each organization its own SP keys, kept in the store")
	}
	if time.Duration(h.ClockSkew) > sso.MaxClockSkew {
		return fmt.Errorf("saml_sso: clock_skew %s is above the supported %s", time.Duration(h.ClockSkew), sso.MaxClockSkew)
	}
	if h.SessionLifetime < 0 || h.SessionIdle < 0 || h.ClockSkew < 0 {
		return errors.New("saml_sso: durations must not be negative")
	}
	if err := h.checkHosts(); err != nil {
		return fmt.Errorf("saml_sso: %w", err)
	}
	if strings.Contains(h.PathPrefix, "/o/") {
		return fmt.Errorf("saml_sso: path_prefix %q must not contain /o/, where the per-organization endpoints live", h.PathPrefix)
	}
	return nil
}

// checkShared refuses, on a shared gate (no org, no IdP settings), what
// only one org can have: every org brings its own domains and SP identity.
func (h *SSOHandler) checkShared() error {
	if h.Org != "" || h.hasIDPSettings() {
		return nil
	}
	switch {
	case len(h.Domains) > 0:
		return errors.New("domain needs org: a gate without org serves every organization, and each claims its own domains")
	case h.EntityID != "":
		return errors.New("entity_id needs org: a gate without org gives each organization its own entity ID (<path_prefix>/o/<org>/metadata)")
	case len(h.RequestableACSURLs) > 0:
		return errors.New("requestable_acs_url needs org: a gate without org gives each organization its own ACS URL")
	}
	return nil
}

var errBaseURLAndHosts = errors.New("trusted_hosts is for a gate without base_url: with base_url every URL is built on it")

// checkHosts requires base_url or trusted_hosts, not both, so that no URL
// of the gate comes from a Host header it does not serve.
func (h *SSOHandler) checkHosts() error {
	switch {
	case h.BaseURL != "" && len(h.TrustedHosts) > 0:
		return errBaseURLAndHosts
	case h.BaseURL == "" && len(h.TrustedHosts) == 0:
		return errors.New(hostFix)
	}
	for _, host := range h.TrustedHosts {
		if _, err := parseTrustedHost(host); err != nil {
			return fmt.Errorf("trusted_hosts: %w", err)
		}
	}
	return nil
}

// Cleanup stops background work and leaves the change feed.
func (h *SSOHandler) Cleanup() error {
	if h.unsub != nil {
		h.unsub()
	}
	if h.cancel != nil {
		h.cancel()
		<-h.done
	}
	return nil
}

// replayCache is the sso package's replay cache on the store, so one use
// per assertion holds across every process sharing the database.
type replayCache struct{ store storage.ReplayStore }

// replayTimeout bounds the replay cache's queries, which crewjam's
// interface makes without a context.
const replayTimeout = 10 * time.Second

func (c replayCache) Consume(id string, until time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), replayTimeout)
	defer cancel()
	err := c.store.ConsumeAssertion(ctx, id, replayExpiry(until))
	if errors.Is(err, storage.ErrReplayed) {
		return saml.ErrAssertionReplayed
	}
	return err
}

func (c replayCache) Seen(id string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), replayTimeout)
	defer cancel()
	return c.store.AssertionConsumed(ctx, id)
}

// replayExpiry is until in unix seconds, rounded up.
func replayExpiry(until time.Time) int64 { return until.Unix() + 1 }

// identityHeaders are set only by the gate; a client's copies are removed.
var identityHeaders = []string{
	"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Name",
	"X-Forwarded-Groups", "X-Forwarded-Role", "X-Forwarded-Org",
}

// ServeHTTP serves the endpoints under PathPrefix and gates the rest.
func (h *SSOHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	stripIdentityHeaders(r.Header)
	if r.Trailer != nil {
		stripIdentityTrailers(r)
	}
	path := r.URL.Path
	if strings.HasPrefix(path, h.PathPrefix) && (len(path) == len(h.PathPrefix) || path[len(h.PathPrefix)] == '/') {
		err := h.serveEndpoint(w, r, path[len(h.PathPrefix):])
		if err == nil && h.outage != nil && h.outage.Recover() {
			h.logger.Info("the store is available again")
		}
		if h.storeFailed(w, r, err) {
			return nil
		}
		return err
	}
	e := h.session(r)
	if e == nil {
		return h.unauthenticated(w, r)
	}
	setIdentity(r, e)
	dropSessionCookie(r.Header)
	return next.ServeHTTP(w, r)
}

// stripIdentityHeaders removes the client's identity headers, including
// spellings with underscores that some upstreams (CGI, PHP) read as the
// same variable.
func stripIdentityHeaders(hdr http.Header) {
	for k := range hdr {
		// Cheap filters first: every identity header is 15-18 bytes long
		// and starts with "X-" or "X_".
		if len(k) < 15 || len(k) > 18 || (k[0] != 'X' && k[0] != 'x') || (k[1] != '-' && k[1] != '_') {
			continue
		}
		for _, name := range identityHeaders {
			if len(k) == len(name) && equalHeaderName(k, name) {
				delete(hdr, k)
				break
			}
		}
	}
}

// stripIdentityTrailers keeps the identity names out of the request's
// trailers, which reverse_proxy passes on to the app like headers. The
// server makes r.Trailer from the request's Trailer header and, only once
// the body has been read to its end, adds to it every trailer the client
// sent, announced or not. So the names announced are removed now (the
// proxy announces the rest upstream before the body) and the trailers
// received are cleaned as the body ends, before the proxy copies them.
// Without a Trailer header r.Trailer stays nil: the server keeps such
// trailers on its own request, not on the copy Caddy gives handlers.
func stripIdentityTrailers(r *http.Request) {
	stripIdentityHeaders(r.Trailer)
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &trailerCleaner{ReadCloser: r.Body, trailer: r.Trailer}
	}
}

// trailerCleaner removes the identity names from trailer, the map the
// server fills in, when the body it wraps ends.
type trailerCleaner struct {
	io.ReadCloser
	trailer http.Header
}

func (b *trailerCleaner) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		stripIdentityHeaders(b.trailer)
	}
	return n, err
}

// equalHeaderName compares header names case-insensitively, treating '_'
// as '-'.
func equalHeaderName(a, b string) bool {
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca == '_' {
			ca = '-'
		}
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// session returns the request's live session, or nil.
func (h *SSOHandler) session(r *http.Request) *gate.Entry {
	c := cookieValue(r.Header, gate.CookieName)
	if c == "" {
		return nil
	}
	e, err := h.sessions.Lookup(r.Context(), c, h.sessionOrg())
	if err != nil {
		if !errors.Is(err, gate.ErrNoSession) {
			h.logger.Error("checking session", zap.Error(err))
		}
		return nil
	}
	return e
}

// cookieValue finds a cookie in the Cookie headers without parsing (and
// allocating) all of them, as r.Cookie would.
func cookieValue(hdr http.Header, name string) string {
	for _, line := range hdr["Cookie"] {
		for i := 0; i < len(line); {
			start, end, next := nextCookiePair(line, i)
			i = next
			if part := line[start:end]; isCookiePair(part, name) {
				v := part[len(name)+1:]
				if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				return v
			}
		}
	}
	return ""
}

// nextCookiePair finds the pair of a Cookie line that starts at or after
// i: its bounds without surrounding spaces, and where the next one starts.
func nextCookiePair(line string, i int) (start, end, next int) {
	j := strings.IndexByte(line[i:], ';')
	if j < 0 {
		j = len(line)
	} else {
		j += i
	}
	start, end = i, j
	for start < end && (line[start] == ' ' || line[start] == '\t') {
		start++
	}
	for end > start && (line[end-1] == ' ' || line[end-1] == '\t') {
		end--
	}
	return start, end, j + 1
}

// dropSessionCookie removes the gate's session cookie from a request
// going upstream: the app has no use for it, and an app that logs its
// request headers would otherwise log a credential for the gate. The
// header's lines are rewritten in place; only a session cookie between
// two of the app's cookies costs an allocation (the line is rejoined).
func dropSessionCookie(hdr http.Header) {
	lines, ok := hdr["Cookie"]
	if !ok {
		return
	}
	n := 0
	for _, line := range lines {
		if strings.Contains(line, gate.CookieName) {
			line = withoutCookie(line, gate.CookieName)
		}
		if line != "" {
			lines[n] = line
			n++
		}
	}
	if n == 0 {
		delete(hdr, "Cookie")
		return
	}
	hdr["Cookie"] = lines[:n]
}

// withoutCookie returns a Cookie header line without the pairs named
// name: a substring of line when the pairs left are next to each other,
// else those pairs joined with "; ".
func withoutCookie(line, name string) string {
	first, last := -1, -1 // extent of the pairs kept
	dropped, gap := false, false
	size := -2 // of the pairs kept, joined with "; "
	for i := 0; i < len(line); {
		start, end, next := nextCookiePair(line, i)
		i = next
		switch part := line[start:end]; {
		case part == "":
		case isCookiePair(part, name):
			dropped = dropped || first >= 0
		default:
			if first < 0 {
				first = start
			}
			gap = gap || dropped
			last = end
			size += 2 + len(part)
		}
	}
	if first < 0 {
		return ""
	}
	if !gap {
		return line[first:last]
	}
	var b strings.Builder
	b.Grow(size)
	for i := first; i < last; {
		start, end, next := nextCookiePair(line, i)
		i = next
		if part := line[start:end]; part != "" && !isCookiePair(part, name) {
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(part)
		}
	}
	return b.String()
}

// isCookiePair reports whether a trimmed "name=value" pair is named name.
func isCookiePair(pair, name string) bool {
	return len(pair) > len(name) && pair[len(name)] == '=' && pair[:len(name)] == name
}

// setIdentity sets the identity headers and placeholders.
func setIdentity(r *http.Request, e *gate.Entry) {
	r.Header["X-Forwarded-User"] = e.HUser
	r.Header["X-Forwarded-Email"] = e.HUser
	r.Header["X-Forwarded-Name"] = e.HName
	r.Header["X-Forwarded-Groups"] = e.HGroups
	r.Header["X-Forwarded-Role"] = e.HRole
	r.Header["X-Forwarded-Org"] = e.HOrg
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", e.Boxed.Email)
		repl.Set("http.auth.user.email", e.Boxed.Email)
		repl.Set("http.auth.user.first_name", e.Boxed.GivenName)
		repl.Set("http.auth.user.last_name", e.Boxed.FamilyName)
		repl.Set("http.auth.user.groups", e.Boxed.Groups)
		repl.Set("http.auth.user.role", e.Boxed.Role)
		repl.Set("http.auth.user.org", e.Boxed.Org)
	}
}

// origin returns the external origin of the request: base_url, or the
// request's own when its Host is trusted. For any other Host it is the
// first trusted host's, never the Host given; the endpoints refuse such a
// request first (hostTrusted).
func (h *SSOHandler) origin(r *http.Request) *url.URL {
	if h.baseURL != nil {
		return h.baseURL
	}
	o, _ := h.hosts.lookup(r)
	return o
}

// siteOrigin is the origin the SP describes itself on, whichever of the
// site's names the request came on: base_url, or the first trusted host.
func (h *SSOHandler) siteOrigin(r *http.Request) *url.URL {
	if h.baseURL != nil || len(h.hosts) == 0 {
		return h.origin(r)
	}
	return h.hosts[0].origin(r.TLS != nil)
}

// hostTrusted reports whether the gate may build URLs for the request's
// Host; when not, it answers 421.
func (h *SSOHandler) hostTrusted(w http.ResponseWriter, r *http.Request) bool {
	if h.baseURL != nil {
		return true
	}
	if _, ok := h.hosts.lookup(r); ok {
		return true
	}
	writePage(w, http.StatusMisdirectedRequest, "Wrong address",
		"Single sign-on is not served at this host name. Open the app at its own address.", "")
	return false
}

// unauthenticated answers a request without a valid session.
func (h *SSOHandler) unauthenticated(w http.ResponseWriter, r *http.Request) error {
	rd := r.URL.RequestURI()
	if !sso.SafeReturnPath(rd) {
		rd = "/"
	}
	loginURL := h.PathPrefix + "/login?rd=" + url.QueryEscape(rd)
	if isBrowserNavigation(r) {
		if !h.shared {
			if t := h.pinned(); h.ssoEnabled(t) && h.policy(t).RequireSSO {
				if !h.hostTrusted(w, r) {
					return nil
				}
				return h.startLogin(w, r, t, rd, loginOption{})
			}
		}
		if cookieValue(r.Header, gate.CookieName) != "" {
			// A session cookie that no longer opens a session: it was
			// ended (signed out, revoked, deactivated) or it expired.
			loginURL += "&ended=1"
		}
		http.Redirect(w, r, loginURL, http.StatusFound)
		return nil
	}
	writeJSON(w, http.StatusUnauthorized, map[string]string{
		"error":     "authentication required",
		"login_url": loginURL,
	})
	return nil
}

// isBrowserNavigation reports a GET or HEAD that accepts HTML.
func isBrowserNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*SSOHandler)(nil)
	_ caddy.Validator             = (*SSOHandler)(nil)
	_ caddy.CleanerUpper          = (*SSOHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*SSOHandler)(nil)
)
