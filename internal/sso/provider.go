// Package sso is the SAML side of the gate, without Caddy: it builds
// crewjam/saml service providers with every hardening Okta and Entra can
// live with, starts SP-initiated logins (HTTP-Redirect AuthnRequests whose
// IDs are tied to the browser by a signed cookie), validates ACS posts and
// takes the signed-in person's email and names from the verified assertion
// only.
package sso

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"
)

// MaxClockSkew is the largest clock skew a gate may allow.
const MaxClockSkew = 180 * time.Second

// issueDelay is how long after its IssueInstant a response is accepted,
// before clock skew: crewjam's default, the time a browser takes from the
// IdP to the ACS.
const issueDelay = 90 * time.Second

// crewjam's time bounds are package variables, shared by every service
// provider in the process and not settable per provider. They are set once
// here to the widest window any gate may allow (the issue delay plus the
// largest skew, and the largest skew into the future), and checkWindow
// applies each gate's own clock_skew to every time in the response, in
// both directions. crewjam's replay records last as long as that widest
// window, so no assertion outlives its record.
func init() {
	saml.MaxIssueDelay = issueDelay + MaxClockSkew
	saml.MaxClockSkew = MaxClockSkew
}

// KeyPair is a service-provider key with its certificate. XML encryption
// needs RSA, so SP keys are RSA.
type KeyPair struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
}

// Config describes the service provider.
type Config struct {
	// EntityID is the SP entity ID. Empty means <origin><MetadataPath>,
	// on EntityHost when set.
	EntityID string
	// EntityHost is the host of the default entity ID whatever host the
	// request came on, so that an SP served on several names is one SP
	// (one audience); its ACS URL still follows the request's host.
	EntityHost string
	// MetadataPath and ACSPath are the paths of the metadata and ACS
	// endpoints, such as /sso/metadata and /sso/acs.
	MetadataPath string
	ACSPath      string
	// LogoutPath is where the IdP sends the browser back after single
	// logout; advertised in the metadata when set.
	LogoutPath string
	// RequestableACSURLs are more ACS URLs, listed in the metadata with
	// their index after the main one.
	RequestableACSURLs []*url.URL
	// IDP is the identity provider's metadata (built from settings or
	// parsed from a metadata document).
	IDP *saml.EntityDescriptor
	// AllowIDPInitiated accepts unsolicited responses.
	AllowIDPInitiated bool
	// AllowSHA1 accepts SHA-1 signatures; off by default.
	AllowSHA1 bool
	// SigningKeys are the SP's signing keys, all published in the
	// metadata (use="signing"); the first signs logout messages and,
	// when they are signed, AuthnRequests. The others are next keys,
	// published ahead of a roll.
	SigningKeys []KeyPair
	// EncryptionKeys are published (use="encryption") and each decrypts
	// assertions, so that during a roll the IdP may encrypt to the old
	// key or the new one.
	EncryptionKeys []KeyPair
	// SignRequests signs AuthnRequests (RSA-SHA256, in the HTTP-Redirect
	// binding's query string). They are signed anyway when the IdP's
	// metadata says WantAuthnRequestsSigned. Either needs a signing key.
	SignRequests bool
	// ClockSkew is the tolerance on the assertion's time window, at most
	// MaxClockSkew.
	ClockSkew time.Duration
	// GroupsAttribute names the attribute whose values are the member's
	// groups (Identity.Groups), such as Okta's "groups" or Entra's
	// http://schemas.microsoft.com/ws/2008/06/identity/claims/groups.
	// Empty: groups in the assertion are ignored.
	GroupsAttribute string
	// ReplayCache is the record of consumed assertion IDs. Required.
	ReplayCache ReplayCache
	// Clock, if set, replaces the real clock (tests).
	Clock *dsig.Clock
}

// ReplayCache is the one-time-use record of assertion IDs: crewjam's
// interface, whose Consume records at once (single logout uses it so), and
// Seen, with which ParseACS checks an assertion without recording it, so
// that the record can go into the same write as the session it grants.
type ReplayCache interface {
	saml.AssertionReplayCache
	// Seen reports whether id is recorded.
	Seen(id string) (bool, error)
}

// pendingReplay is the replay cache of one ACS post: crewjam's Consume
// checks the assertion and keeps its ID for the caller to record.
type pendingReplay struct {
	cache ReplayCache
	id    string
	until time.Time
}

func (c *pendingReplay) Consume(id string, until time.Time) error {
	seen, err := c.cache.Seen(id)
	if err != nil {
		return err
	}
	if seen {
		return saml.ErrAssertionReplayed
	}
	c.id, c.until = id, until
	return nil
}

// Replayed is the refusal of an assertion found recorded when the sign-in
// it grants is written.
func Replayed(id string) *Refusal {
	return refuse(CodeReplayed, "the identity provider's response is not valid",
		fmt.Errorf("assertion %q: %w", id, saml.ErrAssertionReplayed))
}

// maxCachedSPs bounds the per-origin service providers kept.
const maxCachedSPs = 64

// Provider makes a crewjam ServiceProvider per ACS URL and validates
// responses with it.
type Provider struct {
	cfg Config

	mu  sync.Mutex
	sps map[string]*saml.ServiceProvider // keyed by ACS URL, then "+idp" for the unsolicited variant
}

// New checks cfg and returns a Provider.
func New(cfg Config) (*Provider, error) {
	if cfg.IDP == nil {
		return nil, errors.New("no identity provider configured")
	}
	if cfg.ReplayCache == nil {
		return nil, errors.New("a replay cache is required")
	}
	if cfg.ClockSkew > MaxClockSkew {
		return nil, fmt.Errorf("clock skew %s is above the supported %s", cfg.ClockSkew, MaxClockSkew)
	}
	if err := CheckIDP(cfg.IDP); err != nil {
		return nil, err
	}
	if len(cfg.SigningKeys) == 0 {
		switch {
		case cfg.SignRequests:
			return nil, errors.New("signing AuthnRequests needs an SP signing key")
		case wantsSignedRequests(cfg.IDP):
			return nil, errors.New("the identity provider wants signed AuthnRequests (WantAuthnRequestsSigned), and there is no SP signing key")
		}
	}
	return &Provider{cfg: cfg, sps: map[string]*saml.ServiceProvider{}}, nil
}

// wantsSignedRequests reports whether the IdP's metadata asks for signed
// AuthnRequests.
func wantsSignedRequests(ed *saml.EntityDescriptor) bool {
	for _, d := range ed.IDPSSODescriptors {
		if d.WantAuthnRequestsSigned != nil && *d.WantAuthnRequestsSigned {
			return true
		}
	}
	return false
}

// SignsRequests reports whether this provider signs its AuthnRequests.
func (p *Provider) SignsRequests() bool {
	return p.cfg.SignRequests || wantsSignedRequests(p.cfg.IDP)
}

// CheckIDP reports what makes IdP metadata unusable for sign-in: no IdP
// role, no signing certificate that parses, or no HTTP-Redirect
// SingleSignOnService.
func CheckIDP(ed *saml.EntityDescriptor) error {
	if ed == nil || len(ed.IDPSSODescriptors) == 0 {
		return errors.New("the metadata describes no identity provider (no IDPSSODescriptor)")
	}
	if n, err := countSigningCerts(ed); err != nil {
		return fmt.Errorf("the identity provider's signing certificate does not parse: %v", err)
	} else if n == 0 {
		return errors.New("the identity provider has no signing certificate")
	}
	if idpSSOURL(ed) == "" {
		return errors.New("the identity provider has no HTTP-Redirect SingleSignOnService")
	}
	return nil
}

// IDPMetadata builds IdP metadata from the three values an IdP's setup page
// shows: the SSO ("Authentication") URL, the issuer, and one or more
// signing certificates (trusted together, for rotation).
func IDPMetadata(ssoURL, issuer string, certs []*x509.Certificate) *saml.EntityDescriptor {
	keys := make([]saml.KeyDescriptor, 0, len(certs))
	for _, c := range certs {
		keys = append(keys, saml.KeyDescriptor{
			Use: "signing",
			KeyInfo: saml.KeyInfo{X509Data: saml.X509Data{X509Certificates: []saml.X509Certificate{
				{Data: base64.StdEncoding.EncodeToString(c.Raw)},
			}}},
		})
	}
	return &saml.EntityDescriptor{
		EntityID: issuer,
		IDPSSODescriptors: []saml.IDPSSODescriptor{{
			SSODescriptor: saml.SSODescriptor{RoleDescriptor: saml.RoleDescriptor{
				ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
				KeyDescriptors:             keys,
			}},
			SingleSignOnServices: []saml.Endpoint{{Binding: saml.HTTPRedirectBinding, Location: ssoURL}},
		}},
	}
}

// SetSingleLogout makes sloURL the IdP's single logout endpoint, for both
// the HTTP-Redirect and HTTP-POST bindings: an IdP's setup page shows one
// URL (Okta's "Single Logout URL"), which takes either.
func SetSingleLogout(ed *saml.EntityDescriptor, sloURL string) {
	for i := range ed.IDPSSODescriptors {
		ed.IDPSSODescriptors[i].SingleLogoutServices = []saml.Endpoint{
			{Binding: saml.HTTPRedirectBinding, Location: sloURL},
			{Binding: saml.HTTPPostBinding, Location: sloURL},
		}
	}
}

// ParseCertificates reads every PEM certificate in data (a file's content
// or inline PEM); bare base64 DER, as some IdPs show it, is accepted too.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := bytes.TrimSpace(data)
	if !bytes.Contains(rest, []byte("-----BEGIN")) {
		der, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(rest), nil)))
		if err != nil {
			return nil, errors.New("not a PEM certificate")
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		return []*x509.Certificate{c}, nil
	}
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return certs, nil
}

// SigningCertificates returns the IdP's signing certificates that parse.
func SigningCertificates(ed *saml.EntityDescriptor) []*x509.Certificate {
	var out []*x509.Certificate
	for _, d := range ed.IDPSSODescriptors {
		for _, k := range d.KeyDescriptors {
			if k.Use != "" && k.Use != "signing" {
				continue
			}
			for _, c := range k.KeyInfo.X509Data.X509Certificates {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.Data), ""))
				if err != nil {
					continue
				}
				if cert, err := x509.ParseCertificate(der); err == nil {
					out = append(out, cert)
				}
			}
		}
	}
	return out
}

func countSigningCerts(ed *saml.EntityDescriptor) (int, error) {
	n := 0
	for _, d := range ed.IDPSSODescriptors {
		for _, k := range d.KeyDescriptors {
			if k.Use != "" && k.Use != "signing" {
				continue
			}
			for _, c := range k.KeyInfo.X509Data.X509Certificates {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.Data), ""))
				if err != nil {
					return n, err
				}
				if _, err := x509.ParseCertificate(der); err != nil {
					return n, err
				}
				n++
			}
		}
	}
	return n, nil
}

// SSOURL returns the IdP's HTTP-Redirect single sign-on URL, the one the
// gate sends browsers to, or "".
func SSOURL(ed *saml.EntityDescriptor) string { return idpSSOURL(ed) }

func idpSSOURL(ed *saml.EntityDescriptor) string {
	for _, d := range ed.IDPSSODescriptors {
		for _, e := range d.SingleSignOnServices {
			if e.Binding == saml.HTTPRedirectBinding {
				return e.Location
			}
		}
	}
	return ""
}

// IDPIssuer returns the IdP's entity ID.
func (p *Provider) IDPIssuer() string { return p.cfg.IDP.EntityID }

// EntityID returns the SP entity ID for requests arriving at origin.
func (p *Provider) EntityID(origin *url.URL) string {
	if p.cfg.EntityID != "" {
		return p.cfg.EntityID
	}
	host := origin.Host
	if p.cfg.EntityHost != "" {
		host = p.cfg.EntityHost
	}
	return origin.Scheme + "://" + host + p.cfg.MetadataPath
}

// ACSURL returns the ACS URL for origin: one of the requestable ACS URLs
// when one is on that origin, otherwise <origin><ACSPath>.
func (p *Provider) ACSURL(origin *url.URL) *url.URL {
	for _, u := range p.cfg.RequestableACSURLs {
		if u.Scheme == origin.Scheme && strings.EqualFold(u.Host, origin.Host) {
			return u
		}
	}
	return &url.URL{Scheme: origin.Scheme, Host: origin.Host, Path: p.cfg.ACSPath}
}

// serviceProvider returns the crewjam ServiceProvider for an ACS URL;
// unsolicited selects the variant that accepts IdP-initiated responses.
func (p *Provider) serviceProvider(origin, acs *url.URL, unsolicited bool) *saml.ServiceProvider {
	key := acs.String()
	if unsolicited {
		key += " idp-initiated"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if sp, ok := p.sps[key]; ok {
		return sp
	}
	metadataURL := url.URL{Scheme: origin.Scheme, Host: origin.Host, Path: p.cfg.MetadataPath}
	sp := &saml.ServiceProvider{
		EntityID:          p.EntityID(origin),
		MetadataURL:       metadataURL,
		AcsURL:            *acs,
		IDPMetadata:       p.cfg.IDP,
		AuthnNameIDFormat: saml.EmailAddressNameIDFormat,
		AllowIDPInitiated: unsolicited,
		Clock:             p.cfg.Clock,
		ReplayCache:       p.cfg.ReplayCache,
		// Hardening that Okta and Entra live with: both sign with
		// RSA-SHA256, send only AudienceRestriction conditions, keep the
		// RelayState short, and sign the Response when they encrypt with
		// CBC.
		RejectSHA1Signatures:        !p.cfg.AllowSHA1,
		RejectUnknownConditions:     true,
		RequireSignedResponseForCBC: true,
		RejectExpiredIDPMetadata:    true,
		LimitRelayStateLength:       true,
		RequireStandardArtifacts:    true,
		// Only HTTP-POST is advertised; artifacts are refused before
		// ParseResponse so that a posted SAMLart never makes us call out.
		AssertionConsumerServiceBindings: []string{saml.HTTPPostBinding},
		// An IdP that imported the metadata must not find it expired a
		// few days later (SimpleSAMLphp enforces validUntil): publish a
		// cacheDuration instead, a hint to fetch it again.
		MetadataOmitValidUntil: true,
	}
	if p.cfg.IDP != nil && wantsSignedRequests(p.cfg.IDP) || p.cfg.SignRequests {
		sp.SignatureMethod = dsig.RSASHA256SignatureMethod
	}
	if len(p.cfg.SigningKeys) > 0 {
		sp.Key, sp.Certificate = p.cfg.SigningKeys[0].Key, p.cfg.SigningKeys[0].Cert
		// The single logout profile wants logout messages signed
		// (saml-profiles §4.4.3.1, §4.4.3.4); Okta refuses unsigned ones.
		sp.LogoutSignatureMethod = dsig.RSASHA256SignatureMethod
	}
	if len(p.cfg.EncryptionKeys) > 0 {
		sp.EncryptionKey, sp.EncryptionCertificate = p.cfg.EncryptionKeys[0].Key, p.cfg.EncryptionKeys[0].Cert
		for _, k := range p.cfg.EncryptionKeys[1:] {
			sp.DecryptionKeys = append(sp.DecryptionKeys, k.Key)
		}
	}
	if p.cfg.LogoutPath != "" {
		sp.SloURL = url.URL{Scheme: origin.Scheme, Host: origin.Host, Path: p.cfg.LogoutPath}
		sp.LogoutBindings = []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding}
	}
	// A response with no InResponseTo is refused by the SP that tracks
	// requests, even when IdP-initiated login is allowed: the two cases are
	// told apart by whether the browser carries a tracked request.
	//
	// Without base_url the origin comes from the Host header: cache a
	// bounded number, build the rest each time.
	if len(p.sps) < maxCachedSPs {
		p.sps[key] = sp
	}
	return sp
}

// BaselineSP returns a copy of the crewjam ServiceProvider that ParseACS
// uses for an SP-initiated login at origin, with this package's hardening
// and no replay cache: crewjam alone, for benchmarks to compare with.
func (p *Provider) BaselineSP(origin *url.URL) *saml.ServiceProvider {
	sp := *p.serviceProvider(origin, p.ACSURL(origin), false)
	sp.ReplayCache = nil
	return &sp
}

// Metadata returns the SP metadata for origin: the entity ID and every ACS
// URL with its index.
func (p *Provider) Metadata(origin *url.URL) ([]byte, error) {
	main := p.ACSURL(origin)
	sp := p.serviceProvider(origin, main, false)
	md := sp.Metadata()
	desc := &md.SPSSODescriptors[0]
	desc.AssertionConsumerServices = desc.AssertionConsumerServices[:0]
	seen := map[string]bool{}
	add := func(u *url.URL) {
		if seen[u.String()] {
			return
		}
		seen[u.String()] = true
		desc.AssertionConsumerServices = append(desc.AssertionConsumerServices, saml.IndexedEndpoint{
			Binding:  saml.HTTPPostBinding,
			Location: u.String(),
			Index:    len(desc.AssertionConsumerServices),
		})
	}
	add(&url.URL{Scheme: origin.Scheme, Host: origin.Host, Path: p.cfg.ACSPath})
	for _, u := range p.cfg.RequestableACSURLs {
		add(u)
	}
	isDefault := true
	desc.AssertionConsumerServices[0].IsDefault = &isDefault
	desc.KeyDescriptors = p.keyDescriptors(desc.KeyDescriptors)
	out, err := xml.MarshalIndent(md, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding metadata: %w", err)
	}
	return append([]byte(xml.Header), out...), nil
}

// StartLogin makes an AuthnRequest for origin and returns the IdP URL to
// redirect the browser to (HTTP-Redirect binding) and the request ID.
// force asks the IdP to authenticate the person again (ForceAuthn) rather
// than reuse its own session: for a sign-in that must be recent.
func (p *Provider) StartLogin(origin *url.URL, relayState string, force bool) (*url.URL, string, error) {
	sp := p.serviceProvider(origin, p.ACSURL(origin), false)
	if force {
		forced := *sp
		yes := true
		forced.ForceAuthn = &yes
		sp = &forced
	}
	req, err := sp.MakeAuthenticationRequest(idpSSOURL(p.cfg.IDP), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return nil, "", fmt.Errorf("making AuthnRequest: %w", err)
	}
	u, err := req.Redirect(relayState, sp)
	if err != nil {
		return nil, "", fmt.Errorf("encoding AuthnRequest: %w", err)
	}
	return u, req.ID, nil
}

// MaxACSBody bounds an ACS post. Okta responses with many groups reach tens
// of kilobytes; nothing legitimate comes near a mebibyte.
const MaxACSBody = 1 << 20

// maxResponseXML bounds the decoded response.
const maxResponseXML = 768 << 10

// ParseACS validates the SAMLResponse posted to the ACS at origin. The
// request's form must be parsed already, from a body bounded by
// MaxACSBody. requestIDs are the IDs of requests this browser started
// (none for an IdP-initiated login). The assertion is checked against the
// replay cache but not recorded: the caller records it (see
// Identity.ReplayUntil).
func (p *Provider) ParseACS(r *http.Request, origin *url.URL, requestIDs []string) (*Identity, error) {
	if r.PostForm.Get("SAMLart") != "" || r.Form.Get("SAMLart") != "" {
		return nil, refuse(CodeUnsupported, "artifact binding is not supported", nil)
	}
	b64 := r.PostForm.Get("SAMLResponse")
	if b64 == "" {
		return nil, refuse(CodeMalformed, "no SAMLResponse in the form", nil)
	}
	raw, shape, err := checkShape(b64)
	if err != nil {
		return nil, err
	}
	acs := p.ACSURL(origin)
	unsolicited := len(requestIDs) == 0
	if unsolicited && !p.cfg.AllowIDPInitiated {
		return nil, refuse(CodeUnsolicited, "IdP-initiated login is not allowed; start from the app", nil)
	}
	// A copy of the cached provider with this post's own replay cache.
	sp := *p.serviceProvider(origin, acs, unsolicited)
	pending := &pendingReplay{cache: p.cfg.ReplayCache}
	sp.ReplayCache = pending
	// The form's response, already decoded, over HTTP-POST (the only
	// binding advertised); crewjam compares its Destination with the
	// configured ACS URL, never one rebuilt from Host headers.
	assertion, err := sp.ParseXMLResponse(raw, requestIDs, *acs)
	if err != nil {
		return nil, p.responseRefusal(err, shape)
	}
	if pending.id == "" {
		// crewjam consumes every assertion it accepts; never grant one
		// that could be used twice.
		return nil, refuse(CodeInvalid, "the identity provider's response is not valid", errors.New("assertion not checked against the replay cache"))
	}
	var ident *Identity
	err = p.checkWindow(assertion, shape)
	if err == nil {
		ident, err = identityFrom(assertion, p.cfg.GroupsAttribute)
	}
	if err != nil {
		// Valid but refused: used up all the same.
		if cerr := p.cfg.ReplayCache.Consume(pending.id, pending.until); cerr != nil && !errors.Is(cerr, saml.ErrAssertionReplayed) {
			return nil, errors.Join(err, cerr)
		}
		return nil, err
	}
	// The ID checked is the ID to record.
	ident.AssertionID, ident.ReplayUntil = pending.id, pending.until
	return ident, nil
}

// responseRefusal turns crewjam's refusal of a response into ours. Most
// causes get one public reason, the cause going to the log only; those an
// admin can fix at the IdP (time, encryption) say what to change.
func (p *Provider) responseRefusal(err error, shape responseShape) *Refusal {
	private := err
	var ire *saml.InvalidResponseError
	if errors.As(err, &ire) {
		private = ire.PrivateErr
	}
	var notImplemented xmlenc.ErrAlgorithmNotImplemented
	switch {
	case errors.Is(private, saml.ErrAssertionReplayed):
		return refuse(CodeReplayed, "the identity provider's response is not valid", private)
	case errors.Is(private, saml.ErrRequestIDMismatch):
		// The browser that posted it did not start it (issue 15: it read
		// like garbage).
		return refuse(CodeInvalid, "this sign-in was finished already, or it was started in another browser or tab", private)
	case len(shape.issueInstant) > 0 && (errors.Is(private, saml.ErrExpired) || errors.Is(private, saml.ErrNotYetValid)):
		// (Without an IssueInstant, crewjam finds the response "expired":
		// it is malformed, not late.)
		return refuse(CodeTime, timeReason, private)
	case !shape.encrypted:
	case errors.As(private, &notImplemented):
		return refuse(CodeEncryption, encryptionAlgorithmReason(string(notImplemented)), private)
	case errors.Is(private, saml.ErrInvalidSignature) && strings.Contains(private.Error(), "RequireSignedResponseForCBC"):
		// crewjam has no sentinel for this one; TestParseACSEncrypted
		// pins the message it matches.
		return refuse(CodeEncryption, "the identity provider encrypts the assertion with AES-CBC but does not sign the Response: "+
			"have it sign the Response too (Okta: Response \"Signed\"; Entra: Signing Option \"Sign SAML response and assertion\"), or encrypt with AES-GCM", private)
	case errors.Is(private, saml.ErrDecryptionFailed):
		if len(p.cfg.EncryptionKeys) == 0 {
			return refuse(CodeEncryption, "the identity provider encrypts assertions but this organization has no SP key published: "+
				"download the SP metadata again and give it to the identity provider", private)
		}
		return refuse(CodeEncryption, "the identity provider encrypted the assertion for a key this organization does not hold: "+
			"download the SP metadata again and give its encryption certificate to the identity provider", private)
	}
	return refuse(CodeInvalid, "the identity provider's response is not valid", private)
}

// encryptionAlgorithmReason says what to change when the IdP encrypts with
// an algorithm that is refused.
func encryptionAlgorithmReason(algorithm string) string {
	switch {
	case strings.HasSuffix(algorithm, "#rsa-1_5"):
		return "the identity provider wraps the assertion's key with RSA 1.5, which is refused: set its key transport to RSA-OAEP " +
			"(or, if it offers nothing else, turn on allow_rsa15_key_transport)"
	case strings.HasSuffix(algorithm, "#tripledes-cbc"):
		return "the identity provider encrypts the assertion with Triple DES, which is refused: choose AES-256-GCM or AES-256-CBC"
	}
	return "the identity provider encrypts the assertion with an algorithm that is not supported: choose AES-256-GCM (or AES-CBC) with RSA-OAEP"
}

// Consume records a validated assertion as used, for a sign-in refused
// after ParseACS (by the org's rules) that grants no session.
func (p *Provider) Consume(ident *Identity) error {
	err := p.cfg.ReplayCache.Consume(ident.AssertionID, ident.ReplayUntil)
	if errors.Is(err, saml.ErrAssertionReplayed) {
		return nil
	}
	return err
}

// timeReason is the one reason shown for every refusal on time: which
// bound failed goes to the log.
const timeReason = "the response is outside its time window: check that the identity provider's clock and this server's agree"

// checkWindow applies the gate's clock skew to every time in the response,
// in both directions: crewjam checked them against the widest window any
// gate allows (see init), a gate may allow less. An IssueInstant is
// accepted from issueDelay+skew in the past to skew in the future; a
// NotBefore from skew in the future; a NotOnOrAfter until skew after it.
func (p *Provider) checkWindow(a *saml.Assertion, shape responseShape) error {
	now := time.Now()
	if p.cfg.Clock != nil {
		now = p.cfg.Clock.Now()
	}
	skew := p.cfg.ClockSkew
	var errs []error
	issued := func(what string, t time.Time) {
		if t.After(now.Add(skew)) {
			errs = append(errs, fmt.Errorf("%s %s is in the future (now %s, skew %s)", what, t.Format(time.RFC3339), now.Format(time.RFC3339), skew))
		} else if now.After(t.Add(issueDelay + skew)) {
			errs = append(errs, fmt.Errorf("%s %s is older than %s (now %s, skew %s)", what, t.Format(time.RFC3339), issueDelay+skew, now.Format(time.RFC3339), skew))
		}
	}
	notBefore := func(what string, t time.Time) {
		if !t.IsZero() && now.Add(skew).Before(t) {
			errs = append(errs, fmt.Errorf("%s %s is not reached yet (now %s, skew %s)", what, t.Format(time.RFC3339), now.Format(time.RFC3339), skew))
		}
	}
	notOnOrAfter := func(what string, t time.Time) {
		if !t.IsZero() && !now.Add(-skew).Before(t) {
			errs = append(errs, fmt.Errorf("%s %s has passed (now %s, skew %s)", what, t.Format(time.RFC3339), now.Format(time.RFC3339), skew))
		}
	}
	if len(shape.issueInstant) > 0 {
		t, err := time.Parse(time.RFC3339Nano, string(shape.issueInstant))
		if err != nil {
			// crewjam parsed it already; this cannot fail on what it took.
			errs = append(errs, fmt.Errorf("response IssueInstant %q: %w", shape.issueInstant, err))
		} else {
			issued("response IssueInstant", t)
		}
	}
	issued("assertion IssueInstant", a.IssueInstant)
	if c := a.Conditions; c != nil {
		notBefore("Conditions NotBefore", c.NotBefore)
		notOnOrAfter("Conditions NotOnOrAfter", c.NotOnOrAfter)
	}
	if a.Subject != nil {
		for _, sc := range a.Subject.SubjectConfirmations {
			if d := sc.SubjectConfirmationData; d != nil {
				notBefore("SubjectConfirmationData NotBefore", d.NotBefore)
				notOnOrAfter("SubjectConfirmationData NotOnOrAfter", d.NotOnOrAfter)
			}
		}
	}
	if len(errs) > 0 {
		return refuse(CodeTime, timeReason, errors.Join(errs...))
	}
	return nil
}

// Bounds on the response's XML, checked in one streaming pass before any
// tree is built. Real responses nest about ten deep and hold a few hundred
// elements and attributes (a few thousand with a large groups attribute);
// a megabyte of tiny elements would otherwise cost about a second of CPU
// in the three parses that follow (ours, crewjam's round-trip check and
// its tree).
const (
	maxResponseDepth = 64     // crewjam's own limit
	maxResponseNodes = 20_000 // elements plus attributes
)

// checkShape refuses, before the signature work, what no IdP sends: a
// DOCTYPE (or any other directive), an oversized or overly deep or large
// document, or a Response with other than exactly one assertion ("refused
// whole", even when one of them is valid).
func checkShape(b64 string) ([]byte, responseShape, error) {
	if base64.StdEncoding.DecodedLen(len(b64)) > maxResponseXML+3 {
		return nil, responseShape{}, refuse(CodeTooLarge, "the response is too large", nil)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
	if err != nil {
		return nil, responseShape{}, refuse(CodeMalformed, "SAMLResponse is not base64", err)
	}
	shape, err := scanResponse(raw)
	if err != nil {
		return nil, shape, err
	}
	return raw, shape, nil
}

// SPMetadata returns the SP metadata of cfg for origin. It needs no IdP
// (cfg.IDP may be nil), so an admin can download it before the IdP is
// configured: the IdP's setup asks for it first.
func SPMetadata(cfg Config, origin *url.URL) ([]byte, error) {
	p := &Provider{cfg: cfg, sps: map[string]*saml.ServiceProvider{}}
	return p.Metadata(origin)
}
