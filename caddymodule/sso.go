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
	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/domainclaim"
	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
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
// The identity headers are always removed from the client's request first:
//
//	X-Forwarded-User    email
//	X-Forwarded-Email   email
//	X-Forwarded-Name    "First Last"
//	X-Forwarded-Groups  team names, comma-separated
//	X-Forwarded-Role    owner, admin or member
//	X-Forwarded-Org     the org's name
//
// Placeholders set for later handlers and the access log:
//
//	{http.auth.user.id}          email
//	{http.auth.user.email}       email
//	{http.auth.user.first_name}  given name
//	{http.auth.user.last_name}   family name
//	{http.auth.user.groups}      team names, comma-separated
//	{http.auth.user.role}        role
//	{http.auth.user.org}         org name
type SSOHandler struct {
	// Org is the organization this gate serves; created in the store if
	// absent. Default: default.
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

	// BaseURL is the app's external origin, such as
	// https://analytics.example.com. Default: from each request. Set it in
	// production, so that nothing depends on the Host header.
	BaseURL string `json:"base_url,omitempty"`
	// RequestableACSURLs are further ACS URLs ("Requestable SSO URLs"),
	// listed in the metadata with their index.
	RequestableACSURLs []string `json:"requestable_acs_urls,omitempty"`
	// EntityID is the SP entity ID. Default: <base_url>/sso/metadata.
	EntityID string `json:"entity_id,omitempty"`
	// Domains are email domains the operator vouches for: claimed and
	// verified for the org while they stay in the config.
	Domains []string `json:"domains,omitempty"`

	// RequireSSO sends members to the IdP only; owners and admins keep the
	// password form (break-glass).
	RequireSSO bool `json:"require_sso,omitempty"`
	// IDPManagedAccess lets in only members that exist and are active in
	// the store; sign-in creates no account.
	IDPManagedAccess bool `json:"idp_managed_access,omitempty"`
	// AllowIDPInitiated accepts IdP-initiated logins (Okta dashboard
	// tiles). Default: true.
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

	app      *App
	store    storage.Store
	org      storage.Org
	baseURL  *url.URL
	provider *atomic.Pointer[sso.Provider] // swapped when IdP metadata is refreshed
	spConfig sso.Config
	sessions *gate.Sessions
	throttle *throttle.Limiter
	csrfKey  []byte
	tracker  *sso.Tracker
	logger   *zap.Logger
	unsub    func()
	cancel   context.CancelFunc
	done     chan struct{}
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

// Provision loads the IdP settings, joins the store and sets up sessions.
func (h *SSOHandler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.Org == "" {
		h.Org = "default"
	}
	if h.PathPrefix == "" {
		h.PathPrefix = "/sso"
	}
	h.PathPrefix = "/" + strings.Trim(h.PathPrefix, "/")
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
		u, err := url.Parse(h.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("base_url %q must be an absolute http(s) URL", h.BaseURL)
		}
		h.baseURL = &url.URL{Scheme: u.Scheme, Host: u.Host}
	} else {
		h.logger.Warn("base_url is not set; the external origin is taken from each request's Host header")
	}
	domains := make([]string, 0, len(h.Domains))
	for _, d := range h.Domains {
		n, err := domainclaim.Normalize(d)
		if err != nil {
			return fmt.Errorf("domain %q: %w", d, err)
		}
		domains = append(domains, n)
	}

	appIface, err := ctx.App("ssogate")
	if err != nil {
		return fmt.Errorf("getting ssogate app: %w", err)
	}
	h.app = appIface.(*App)
	h.store = h.app.Store()
	h.app.declareOrg(h.Org, domains)
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if h.org, err = h.store.EnsureOrg(pctx, h.Org, true); err != nil {
		return err
	}

	idp, err := h.loadIDPMetadata(pctx)
	if err != nil {
		return err
	}
	var acsURLs []*url.URL
	for _, raw := range h.RequestableACSURLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("requestable_acs_url %q must be an absolute http(s) URL", raw)
		}
		acsURLs = append(acsURLs, u)
	}
	h.spConfig = sso.Config{
		EntityID:           h.EntityID,
		MetadataPath:       h.PathPrefix + "/metadata",
		ACSPath:            h.PathPrefix + "/acs",
		LogoutPath:         h.PathPrefix + "/logout",
		RequestableACSURLs: acsURLs,
		IDP:                idp,
		AllowIDPInitiated:  h.AllowIDPInitiated == nil || *h.AllowIDPInitiated,
		AllowSHA1:          h.AllowSHA1,
		ClockSkew:          time.Duration(h.ClockSkew),
		ReplayCache:        replayCache{h.store},
	}
	if h.EntityID == "" && h.baseURL != nil {
		h.spConfig.EntityID = h.baseURL.String() + h.PathPrefix + "/metadata"
	}
	p, err := sso.New(h.spConfig)
	if err != nil {
		return fmt.Errorf("setting up the service provider: %w", err)
	}
	h.provider = new(atomic.Pointer[sso.Provider])
	h.provider.Store(p)

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
	h.throttle = throttle.New()
	h.tracker = sso.NewTracker(gate.DeriveKey(key, "ssogate tracker hmac"), gate.DeriveKey(key, "ssogate tracker aes"))
	h.unsub = h.app.subscribe(h.sessions.Invalidate)

	bg, stop := context.WithCancel(context.Background())
	h.cancel, h.done = stop, make(chan struct{})
	go h.background(bg)
	return nil
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

// loadIDPMetadata builds the IdP metadata from whichever source is set.
func (h *SSOHandler) loadIDPMetadata(ctx context.Context) (*saml.EntityDescriptor, error) {
	switch {
	case h.IDPMetadataFile != "":
		data, err := os.ReadFile(h.IDPMetadataFile)
		if err != nil {
			return nil, fmt.Errorf("reading idp_metadata_file: %w", err)
		}
		md, err := samlsp.ParseMetadata(data)
		if err != nil {
			return nil, fmt.Errorf("parsing idp_metadata_file %s: %w", h.IDPMetadataFile, err)
		}
		return md, nil
	case h.IDPMetadataURL != "":
		return fetchIDPMetadata(ctx, h.IDPMetadataURL)
	}
	var certs []*x509.Certificate
	for _, c := range h.IDPCertificates {
		parsed, err := loadCertificates(c)
		if err != nil {
			return nil, err
		}
		certs = append(certs, parsed...)
	}
	return sso.IDPMetadata(h.IDPSSOURL, h.IDPIssuer, certs), nil
}

// maxMetadataSize bounds a fetched metadata document.
const maxMetadataSize = 1 << 20

func fetchIDPMetadata(ctx context.Context, rawURL string) (*saml.EntityDescriptor, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("idp_metadata_url: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching IdP metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching IdP metadata: %s answered %s", rawURL, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetching IdP metadata: %w", err)
	}
	if len(data) > maxMetadataSize {
		return nil, fmt.Errorf("IdP metadata at %s is larger than %d bytes", rawURL, maxMetadataSize)
	}
	md, err := samlsp.ParseMetadata(data)
	if err != nil {
		return nil, fmt.Errorf("parsing IdP metadata from %s: %w", rawURL, err)
	}
	return md, nil
}

// background flushes session last-seen times and refreshes IdP metadata
// fetched from a URL, until Cleanup.
func (h *SSOHandler) background(ctx context.Context) {
	defer close(h.done)
	flush := time.NewTicker(30 * time.Second)
	defer flush.Stop()
	var refresh <-chan time.Time
	if h.IDPMetadataURL != "" {
		t := time.NewTicker(time.Duration(h.IDPMetadataRefresh))
		defer t.Stop()
		refresh = t.C
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
		case <-refresh:
			md, err := fetchIDPMetadata(ctx, h.IDPMetadataURL)
			if err != nil {
				h.logger.Warn("refreshing IdP metadata; keeping the previous copy", zap.Error(err))
				continue
			}
			cfg := h.spConfig
			cfg.IDP = md
			p, err := sso.New(cfg)
			if err != nil {
				h.logger.Warn("refreshed IdP metadata is unusable; keeping the previous copy", zap.Error(err))
				continue
			}
			h.provider.Store(p)
			h.logger.Info("refreshed IdP metadata", zap.String("idp_issuer", md.EntityID))
		}
	}
}

// Validate checks the configuration without side effects.
func (h *SSOHandler) Validate() error {
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
	switch {
	case sources == 0:
		return errors.New("saml_sso: no identity provider: set idp_sso_url, idp_issuer and idp_certificate, or idp_metadata_url, or idp_metadata_file")
	case sources > 1:
		return errors.New("saml_sso: set only one of idp_metadata_url, idp_metadata_file, or idp_sso_url/idp_issuer/idp_certificate")
	}
	if manual {
		if h.IDPSSOURL == "" || h.IDPIssuer == "" || len(h.IDPCertificates) == 0 {
			return errors.New("saml_sso: idp_sso_url, idp_issuer and idp_certificate are all required together")
		}
		if u, err := url.Parse(h.IDPSSOURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("saml_sso: idp_sso_url %q must be an absolute http(s) URL", h.IDPSSOURL)
		}
	}
	if time.Duration(h.ClockSkew) > sso.MaxClockSkew {
		return fmt.Errorf("saml_sso: clock_skew %s is above the supported %s", time.Duration(h.ClockSkew), sso.MaxClockSkew)
	}
	if h.SessionLifetime < 0 || h.SessionIdle < 0 || h.ClockSkew < 0 {
		return errors.New("saml_sso: durations must not be negative")
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
	path := r.URL.Path
	if strings.HasPrefix(path, h.PathPrefix) && (len(path) == len(h.PathPrefix) || path[len(h.PathPrefix)] == '/') {
		return h.serveEndpoint(w, r, path[len(h.PathPrefix):])
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
	e, err := h.sessions.Lookup(r.Context(), c, h.org.ID)
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

// origin returns the external origin of the request.
func (h *SSOHandler) origin(r *http.Request) *url.URL {
	if h.baseURL != nil {
		return h.baseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: r.Host}
}

// unauthenticated answers a request without a valid session.
func (h *SSOHandler) unauthenticated(w http.ResponseWriter, r *http.Request) error {
	rd := r.URL.RequestURI()
	if !sso.SafeReturnPath(rd) {
		rd = "/"
	}
	loginURL := h.PathPrefix + "/login?rd=" + url.QueryEscape(rd)
	if isBrowserNavigation(r) {
		if h.RequireSSO {
			return h.startLogin(w, r, rd)
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
