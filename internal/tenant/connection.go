package tenant

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"

	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
)

// Field names of a connection, as the admin API, the CLI and SPEC §8 spell
// them; Connection.Pinned holds these too.
const (
	FieldIDPSSOURL         = "idp_sso_url"
	FieldIDPIssuer         = "idp_issuer"
	FieldIDPCertificates   = "idp_certificates"
	FieldIDPMetadataURL    = "idp_metadata_url"
	FieldIDPMetadataXML    = "idp_metadata_xml"
	FieldIDPSLOURL         = "idp_slo_url"
	FieldRequireSSO        = "require_sso"
	FieldIDPManagedAccess  = "idp_managed_access"
	FieldAllowIDPInitiated = "allow_idp_initiated"
	FieldGroupsAttribute   = "groups_attribute"
	FieldState             = "state"
)

// FieldError is a bad value for one field: the admin API answers 400
// naming it, the CLI names its flag.
type FieldError struct {
	Field  string
	Reason string
	// Cause is a library's error behind Reason, for a debug log only.
	Cause error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func (e *FieldError) Unwrap() error { return e.Cause }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// RuleError is a change the connection's rules refuse in its present
// state (enable before a test, require_sso without an enabled connection,
// a field the operator pinned): the admin API answers 409. Err, when set,
// is a sentinel saying which rule, for callers that word it their way.
type RuleError struct {
	Reason string
	Err    error
}

func (e *RuleError) Error() string { return e.Reason }

func (e *RuleError) Unwrap() error { return e.Err }

// ErrNotTested is the rule that a connection is enabled only after a test
// sign-in passed since its IdP last changed.
var ErrNotTested = errors.New("the connection has not passed a test sign-in")

// ErrUnchanged is returned by a ModifyConnection callback that has
// nothing to write.
var ErrUnchanged = errors.New("connection unchanged")

// Limits on what an admin may store.
const (
	maxURLLength   = 2048
	maxIssuer      = 1024
	maxCertificate = 64 << 10
	maxCerts       = 8
	// MaxGroupsAttribute bounds the name of the groups attribute.
	MaxGroupsAttribute = 256
	// MaxMetadataSize bounds an IdP metadata document, given or fetched.
	MaxMetadataSize = 1 << 20
)

// Settings is a change to a connection, as the admin API's PUT body and
// `ssogate sso set` give it: a nil field stays as it is, an empty one is
// cleared.
type Settings struct {
	IDPSSOURL       *string
	IDPIssuer       *string
	IDPCertificates *[]string // each PEM (one or more blocks) or base64 DER
	IDPMetadataURL  *string
	IDPMetadataXML  *string
	IDPSLOURL       *string

	RequireSSO        *bool
	IDPManagedAccess  *bool
	AllowIDPInitiated *bool
	// GroupsAttribute names the assertion attribute that sets the
	// member's teams at each sign-in; "" ignores the groups.
	GroupsAttribute *string
}

// Fetcher fetches IdP metadata from a URL.
type Fetcher func(ctx context.Context, rawURL string) ([]byte, error)

// Change is a checked Settings, ready to apply to a connection inside a
// store transaction: everything slow (parsing, fetching the metadata URL)
// is done by Prepare, before the transaction starts.
type Change struct {
	in Settings
	// the IdP fields as they will be stored, when the change names any
	idp      bool
	ssoURL   string
	issuer   string
	certsPEM string
	mdURL    string
	mdXML    string
	// the groups attribute as it will be stored, when the change names it
	groupsAttr string
}

// Prepare checks every value of in: URLs are absolute https (http only on
// loopback, for tests and local IdPs), certificates parse and are in date,
// metadata is SAML metadata of an identity provider. A metadata URL is
// fetched with fetch and its document kept. It returns a *FieldError
// naming the first bad field.
func Prepare(ctx context.Context, in Settings, fetch Fetcher, now time.Time) (*Change, error) {
	ch := &Change{in: in}
	explicit := in.IDPSSOURL != nil || in.IDPIssuer != nil || in.IDPCertificates != nil
	byExplicit := nonEmpty(in.IDPSSOURL) || nonEmpty(in.IDPIssuer) || in.IDPCertificates != nil && slices.ContainsFunc(*in.IDPCertificates, func(v string) bool { return nonEmpty(&v) })
	byURL := nonEmpty(in.IDPMetadataURL)
	byXML := nonEmpty(in.IDPMetadataXML)
	if n := boolCount(byExplicit, byURL, byXML); n > 1 {
		field := FieldIDPMetadataURL
		if !byURL {
			field = FieldIDPMetadataXML
		}
		return nil, fieldErr(field, "give the IdP either as idp_metadata_url, as idp_metadata_xml, or as idp_sso_url, idp_issuer and idp_certificates, not several at once")
	}
	ch.idp = explicit || in.IDPMetadataURL != nil || in.IDPMetadataXML != nil
	if in.IDPSSOURL != nil {
		ch.ssoURL = strings.TrimSpace(*in.IDPSSOURL)
		if ch.ssoURL != "" {
			if err := CheckURL(FieldIDPSSOURL, ch.ssoURL); err != nil {
				return nil, err
			}
		}
	}
	if in.IDPIssuer != nil {
		ch.issuer = strings.TrimSpace(*in.IDPIssuer)
		if len(ch.issuer) > maxIssuer {
			return nil, fieldErr(FieldIDPIssuer, "is longer than %d characters", maxIssuer)
		}
		if strings.ContainsFunc(ch.issuer, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, fieldErr(FieldIDPIssuer, "holds a control character")
		}
	}
	if in.IDPCertificates != nil {
		pemText, err := NormalizeCertificates(*in.IDPCertificates, now)
		if err != nil {
			return nil, err
		}
		ch.certsPEM = pemText
	}
	switch {
	case byURL:
		ch.mdURL = strings.TrimSpace(*in.IDPMetadataURL)
		if err := CheckURL(FieldIDPMetadataURL, ch.mdURL); err != nil {
			return nil, err
		}
		if fetch == nil {
			return nil, fieldErr(FieldIDPMetadataURL, "cannot be fetched here")
		}
		data, err := fetch(ctx, ch.mdURL)
		if err != nil {
			return nil, fieldErr(FieldIDPMetadataURL, "%v", err)
		}
		if err := checkMetadata(data, now); err != nil {
			return nil, fieldErr(FieldIDPMetadataURL, "the document at this URL %v", err)
		}
		ch.mdXML = string(data)
	case byXML:
		ch.mdXML = strings.TrimSpace(*in.IDPMetadataXML)
		if err := checkMetadata([]byte(ch.mdXML), now); err != nil {
			return nil, fieldErr(FieldIDPMetadataXML, "%v", err)
		}
	}
	if in.IDPSLOURL != nil {
		if v := strings.TrimSpace(*in.IDPSLOURL); v != "" {
			if err := CheckURL(FieldIDPSLOURL, v); err != nil {
				return nil, err
			}
		}
	}
	if in.GroupsAttribute != nil {
		ch.groupsAttr = strings.TrimSpace(*in.GroupsAttribute)
		if err := CheckGroupsAttribute(ch.groupsAttr); err != nil {
			return nil, err
		}
	}
	return ch, nil
}

// CheckGroupsAttribute checks the name of a SAML attribute, such as
// Okta's "groups" or Entra's claim URI: it is matched exactly, so it is
// valid UTF-8 without control characters (XML could not carry them).
func CheckGroupsAttribute(v string) error {
	switch {
	case len(v) > MaxGroupsAttribute:
		return fieldErr(FieldGroupsAttribute, "is longer than %d bytes", MaxGroupsAttribute)
	case !utf8.ValidString(v):
		return fieldErr(FieldGroupsAttribute, "is not valid UTF-8")
	case strings.ContainsFunc(v, unicode.IsControl):
		return fieldErr(FieldGroupsAttribute, "holds a control character")
	}
	return nil
}

func nonEmpty(p *string) bool { return p != nil && strings.TrimSpace(*p) != "" }

func boolCount(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// Apply writes the change over c, the connection as stored now, after the
// connection's rules:
//   - a field the operator pinned in a Caddyfile cannot change;
//   - the IdP is one complete source: explicit values (all three), or
//     metadata; an explicit change keeps the other explicit values and
//     drops any metadata, and metadata drops the explicit values;
//   - a new IdP makes a tested or disabled connection a draft again (it
//     must be tested before it is enabled); an enabled one stays enabled,
//     so that adding the next certificate during rotation cuts no one off,
//     but only with a complete IdP;
//   - require_sso needs an enabled connection and a verified domain
//     (hasVerifiedDomain): without both, nobody could sign in by SSO and
//     every member would be locked out.
//
// It returns ErrUnchanged when the change changes nothing.
func (ch *Change) Apply(c *storage.Connection, hasVerifiedDomain bool) error {
	next := *c
	if ch.idp {
		next.IDPMetadataURL, next.IDPMetadataXML = "", ""
		switch {
		case ch.mdXML != "":
			next.IDPSSOURL, next.IDPIssuer, next.IDPCertificates = "", "", ""
			next.IDPMetadataURL, next.IDPMetadataXML = ch.mdURL, ch.mdXML
		default:
			if ch.in.IDPSSOURL != nil {
				next.IDPSSOURL = ch.ssoURL
			}
			if ch.in.IDPIssuer != nil {
				next.IDPIssuer = ch.issuer
			}
			if ch.in.IDPCertificates != nil {
				next.IDPCertificates = ch.certsPEM
			}
		}
		if err := checkComplete(next); err != nil {
			return err
		}
	}
	if ch.in.IDPSLOURL != nil {
		next.IDPSLOURL = strings.TrimSpace(*ch.in.IDPSLOURL)
	}
	if ch.in.IDPManagedAccess != nil {
		next.IDPManagedAccess = *ch.in.IDPManagedAccess
	}
	if ch.in.AllowIDPInitiated != nil {
		next.AllowIDPInitiated = *ch.in.AllowIDPInitiated
	}
	if ch.in.RequireSSO != nil {
		next.RequireSSO = *ch.in.RequireSSO
	}
	// Which attribute carries the groups is no change of IdP: like the
	// switches, it needs no new test sign-in.
	if ch.in.GroupsAttribute != nil {
		next.GroupsAttribute = ch.groupsAttr
	}
	if err := checkPins(*c, next); err != nil {
		return err
	}
	idpChanged := next.IDPSSOURL != c.IDPSSOURL || next.IDPIssuer != c.IDPIssuer ||
		next.IDPCertificates != c.IDPCertificates || next.IDPMetadataURL != c.IDPMetadataURL ||
		next.IDPMetadataXML != c.IDPMetadataXML
	if idpChanged {
		switch next.State {
		case storage.ConnectionTested, storage.ConnectionDisabled:
			next.State = storage.ConnectionDraft
		case storage.ConnectionEnabled:
			md, err := IDPMetadata(next)
			if err != nil {
				return &RuleError{Reason: "the connection is enabled, so its IdP settings must stay complete: " + err.Error()}
			}
			// A new certificate, URL or metadata copy of the same IdP
			// keeps it enabled (rotation cuts nobody off); another IdP
			// (another issuer) signs people in only after a test.
			if cur, err := IDPMetadata(*c); err == nil && cur.EntityID != md.EntityID {
				return &RuleError{Err: ErrNotTested, Reason: "the connection is enabled, and these settings name another IdP (issuer " +
					md.EntityID + "): disable the connection, change it, run a test sign-in, then enable it again"}
			}
		}
	}
	if next.RequireSSO && !c.RequireSSO {
		if next.State != storage.ConnectionEnabled {
			return &RuleError{Reason: "require_sso needs an enabled SSO connection first: test the connection, enable it, then require SSO"}
		}
		if !hasVerifiedDomain {
			return &RuleError{Reason: "require_sso needs a verified domain first: claim and verify your email domain, so that SSO can sign your people in"}
		}
	}
	if equalConnections(*c, next) {
		return ErrUnchanged
	}
	*c = next
	return nil
}

// checkComplete says which IdP value is missing, when the explicit source
// is partly given.
func checkComplete(c storage.Connection) error {
	if c.IDPMetadataXML != "" {
		return nil
	}
	if c.IDPSSOURL == "" && c.IDPIssuer == "" && c.IDPCertificates == "" {
		return nil // cleared: a draft without an IdP
	}
	switch {
	case c.IDPSSOURL == "":
		return fieldErr(FieldIDPSSOURL, "is required with idp_issuer and idp_certificates: the IdP's Authentication (single sign-on) URL")
	case c.IDPIssuer == "":
		return fieldErr(FieldIDPIssuer, "is required with idp_sso_url and idp_certificates: the IdP's Issuer URL (entity ID)")
	case c.IDPCertificates == "":
		return fieldErr(FieldIDPCertificates, "is required with idp_sso_url and idp_issuer: the IdP's Public Certificate")
	}
	return nil
}

// checkPins refuses a change to a field a Caddyfile sets.
func checkPins(cur, next storage.Connection) error {
	changed := map[string]bool{
		FieldIDPSSOURL:         cur.IDPSSOURL != next.IDPSSOURL,
		FieldIDPIssuer:         cur.IDPIssuer != next.IDPIssuer,
		FieldIDPCertificates:   cur.IDPCertificates != next.IDPCertificates,
		FieldIDPMetadataURL:    cur.IDPMetadataURL != next.IDPMetadataURL,
		FieldIDPMetadataXML:    cur.IDPMetadataXML != next.IDPMetadataXML,
		FieldIDPSLOURL:         cur.IDPSLOURL != next.IDPSLOURL,
		FieldRequireSSO:        cur.RequireSSO != next.RequireSSO,
		FieldIDPManagedAccess:  cur.IDPManagedAccess != next.IDPManagedAccess,
		FieldAllowIDPInitiated: cur.AllowIDPInitiated != next.AllowIDPInitiated,
		FieldGroupsAttribute:   cur.GroupsAttribute != next.GroupsAttribute,
		FieldState:             cur.State != next.State,
	}
	for _, f := range cur.Pinned {
		if changed[f] {
			return &RuleError{Reason: fmt.Sprintf("%s is set by the operator (in the Caddyfile) and cannot be changed here", f)}
		}
	}
	return nil
}

func equalConnections(a, b storage.Connection) bool {
	return a.IDPSSOURL == b.IDPSSOURL && a.IDPIssuer == b.IDPIssuer && a.IDPCertificates == b.IDPCertificates &&
		a.IDPMetadataURL == b.IDPMetadataURL && a.IDPMetadataXML == b.IDPMetadataXML && a.IDPSLOURL == b.IDPSLOURL &&
		a.RequireSSO == b.RequireSSO && a.IDPManagedAccess == b.IDPManagedAccess &&
		a.AllowIDPInitiated == b.AllowIDPInitiated && a.GroupsAttribute == b.GroupsAttribute &&
		a.State == b.State && slices.Equal(a.Pinned, b.Pinned)
}

// Enable turns the connection on. It must have a complete IdP and have
// passed a test sign-in since its IdP last changed (state tested, or
// disabled after being enabled); untested skips the test for an operator
// who knows better (the CLI's --untested).
func Enable(c *storage.Connection, untested bool) error {
	if _, err := IDPMetadata(*c); err != nil {
		return &RuleError{Reason: "the connection cannot be enabled: " + err.Error()}
	}
	switch c.State {
	case storage.ConnectionEnabled:
		return ErrUnchanged
	case storage.ConnectionTested, storage.ConnectionDisabled:
	case storage.ConnectionDraft:
		if !untested {
			return &RuleError{Err: ErrNotTested,
				Reason: "the connection has not passed a test sign-in since its IdP settings changed: run a test sign-in first (POST /api/v1/sso/test, or the Test sign-in button)"}
		}
	default:
		return &RuleError{Reason: fmt.Sprintf("the connection is in an unknown state %q", c.State)}
	}
	c.State = storage.ConnectionEnabled
	return nil
}

// Disable turns the connection off; SSO sign-ins stop and the org's SAML
// sessions end. require_sso goes off with it (reported), since nobody
// could sign in by SSO any more.
func Disable(c *storage.Connection) (requireSSOCleared bool, err error) {
	if c.IsPinned(FieldState) {
		return false, &RuleError{Reason: "the connection is set by the operator (in the Caddyfile) and cannot be disabled here"}
	}
	if c.State != storage.ConnectionEnabled {
		return false, ErrUnchanged
	}
	if c.RequireSSO && c.IsPinned(FieldRequireSSO) {
		return false, &RuleError{Reason: "require_sso is set by the operator (in the Caddyfile), so the connection cannot be disabled here"}
	}
	c.State = storage.ConnectionDisabled
	requireSSOCleared = c.RequireSSO
	c.RequireSSO = false
	return requireSSOCleared, nil
}

// IDPMetadata builds the IdP's metadata from a connection: its metadata
// document, or its explicit values; the single-logout URL, when set,
// replaces the document's. It fails when the connection has no complete,
// usable IdP.
func IDPMetadata(c storage.Connection) (*saml.EntityDescriptor, error) {
	var ed *saml.EntityDescriptor
	switch {
	case c.IDPMetadataXML != "":
		md, err := samlsp.ParseMetadata([]byte(c.IDPMetadataXML))
		if err != nil {
			return nil, fmt.Errorf("the IdP metadata does not parse: %w", err)
		}
		ed = md
	case c.IDPSSOURL != "" && c.IDPIssuer != "" && c.IDPCertificates != "":
		certs, err := sso.ParseCertificates([]byte(c.IDPCertificates))
		if err != nil {
			return nil, fmt.Errorf("the IdP certificate does not parse: %w", err)
		}
		ed = sso.IDPMetadata(c.IDPSSOURL, c.IDPIssuer, certs)
	default:
		return nil, errors.New("no IdP is configured: give the IdP's Authentication URL, Issuer URL and Public Certificate, or its metadata")
	}
	if err := sso.CheckIDP(ed); err != nil {
		return nil, err
	}
	if c.IDPSLOURL != "" {
		for i := range ed.IDPSSODescriptors {
			ed.IDPSSODescriptors[i].SingleLogoutServices = []saml.Endpoint{{Binding: saml.HTTPRedirectBinding, Location: c.IDPSLOURL}}
		}
	}
	return ed, nil
}

// checkMetadata checks that data is SAML metadata of an IdP that could
// sign people in at now: it parses, describes an IdP with an HTTP-Redirect
// SSO endpoint, its validUntil has not passed (the SP refuses expired
// metadata at every sign-in), its endpoints are URLs an admin could type
// (https, or http on loopback), and a signing certificate is in date.
func checkMetadata(data []byte, now time.Time) error {
	if len(data) == 0 {
		return errors.New("is empty")
	}
	if len(data) > MaxMetadataSize {
		return fmt.Errorf("is larger than %d bytes", MaxMetadataSize)
	}
	md, err := samlsp.ParseMetadata(data)
	if err != nil {
		return errors.New("is not SAML metadata (an EntityDescriptor of an identity provider)")
	}
	if err := sso.CheckIDP(md); err != nil {
		return fmt.Errorf("is not usable: %v", err)
	}
	if !md.ValidUntil.IsZero() && now.After(md.ValidUntil) {
		return fmt.Errorf("expired on %s (its validUntil): download the IdP's current metadata", md.ValidUntil.UTC().Format("2006-01-02"))
	}
	inDate := 0
	var expired *x509.Certificate
	for _, d := range md.IDPSSODescriptors {
		if d.ValidUntil != nil && now.After(*d.ValidUntil) {
			return fmt.Errorf("describes an IdP role that expired on %s (its validUntil): download the IdP's current metadata", d.ValidUntil.UTC().Format("2006-01-02"))
		}
		for _, e := range append(append([]saml.Endpoint(nil), d.SingleSignOnServices...), d.SingleLogoutServices...) {
			if err := CheckURL("endpoint", e.Location); err != nil {
				var fe *FieldError
				errors.As(err, &fe)
				return fmt.Errorf("names the IdP endpoint %q, which %s", e.Location, strings.TrimPrefix(fe.Reason, fmt.Sprintf("%q ", e.Location)))
			}
		}
	}
	for _, c := range signingCertificates(md) {
		if now.After(c.NotAfter) {
			expired = c
		} else {
			inDate++
		}
	}
	if inDate == 0 && expired != nil {
		return fmt.Errorf("has only an expired signing certificate (%q, expired on %s): download the IdP's current metadata",
			expired.Subject.String(), expired.NotAfter.UTC().Format("2006-01-02"))
	}
	return nil
}

// CheckURL checks a URL an admin gives: absolute, at most 2048
// characters, https — or http on a loopback host (localhost, 127.0.0.0/8,
// ::1), where a local or test IdP runs.
func CheckURL(field, raw string) error {
	if len(raw) > maxURLLength {
		return fieldErr(field, "is longer than %d characters", maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fieldErr(field, "%q is not an absolute https URL", raw)
	}
	if u.User != nil {
		return fieldErr(field, "must not hold a user name or password")
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return fieldErr(field, "must use https (plain http is allowed only on localhost)")
	}
	return nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NormalizeCertificates parses certificates as an admin pastes or uploads
// them (PEM, several blocks allowed, or base64 DER) and returns them as
// PEM. Each must be in date: an IdP signing with an expired certificate
// fails every sign-in.
func NormalizeCertificates(values []string, now time.Time) (string, error) {
	var out bytes.Buffer
	n := 0
	for i, v := range values {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if len(v) > maxCertificate {
			return "", fieldErr(FieldIDPCertificates, "certificate %d is larger than %d bytes", i+1, maxCertificate)
		}
		certs, err := sso.ParseCertificates([]byte(v))
		if err != nil {
			return "", fieldErr(FieldIDPCertificates, "certificate %d is not a PEM or base64 DER X.509 certificate (%v)", i+1, err)
		}
		for _, c := range certs {
			n++
			if n > maxCerts {
				return "", fieldErr(FieldIDPCertificates, "more than %d certificates; two are enough for a rotation", maxCerts)
			}
			if now.After(c.NotAfter) {
				return "", fieldErr(FieldIDPCertificates, "certificate %q expired on %s; download the IdP's current certificate",
					c.Subject.String(), c.NotAfter.UTC().Format("2006-01-02"))
			}
			if err := pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
				return "", err
			}
		}
	}
	return out.String(), nil
}

// CertificateInfo is what an admin is shown of a certificate.
type CertificateInfo struct {
	Subject     string    `json:"subject"`
	Fingerprint string    `json:"sha256_fingerprint"`
	NotAfter    time.Time `json:"not_after"`
	// ExpiresSoon is set from 30 days before NotAfter.
	ExpiresSoon bool `json:"expires_soon"`
	Expired     bool `json:"expired"`
}

// Certificates describes the connection's signing certificates: its own,
// or those of its metadata.
func Certificates(c storage.Connection, now time.Time) []CertificateInfo {
	ed, err := IDPMetadata(c)
	if err != nil {
		return nil
	}
	var out []CertificateInfo
	for _, cert := range signingCertificates(ed) {
		out = append(out, describe(cert, now))
	}
	return out
}

// signingCertificates returns the IdP's signing certificates that parse.
func signingCertificates(ed *saml.EntityDescriptor) []*x509.Certificate {
	var out []*x509.Certificate
	for _, d := range ed.IDPSSODescriptors {
		for _, k := range d.KeyDescriptors {
			if k.Use != "" && k.Use != "signing" {
				continue
			}
			for _, xc := range k.KeyInfo.X509Data.X509Certificates {
				certs, err := sso.ParseCertificates([]byte(xc.Data))
				if err == nil {
					out = append(out, certs...)
				}
			}
		}
	}
	return out
}

// DescribeCertificates describes the certificates of PEM text; what does
// not parse is left out.
func DescribeCertificates(pemText string, now time.Time) []CertificateInfo {
	certs, err := sso.ParseCertificates([]byte(pemText))
	if err != nil {
		return nil
	}
	out := make([]CertificateInfo, len(certs))
	for i, c := range certs {
		out[i] = describe(c, now)
	}
	return out
}

func describe(c *x509.Certificate, now time.Time) CertificateInfo {
	sum := sha256.Sum256(c.Raw)
	hexed := strings.ToUpper(hex.EncodeToString(sum[:]))
	var pairs []string
	for i := 0; i < len(hexed); i += 2 {
		pairs = append(pairs, hexed[i:i+2])
	}
	return CertificateInfo{
		Subject:     c.Subject.String(),
		Fingerprint: strings.Join(pairs, ":"),
		NotAfter:    c.NotAfter.UTC(),
		ExpiresSoon: now.Add(30 * 24 * time.Hour).After(c.NotAfter),
		Expired:     now.After(c.NotAfter),
	}
}

// FetchMetadata fetches IdP metadata with client: 15 seconds at most, at
// most MaxMetadataSize bytes, 200 only. Its errors say what went wrong
// without quoting what the server sent.
func FetchMetadata(client *http.Client) Fetcher {
	return func(ctx context.Context, rawURL string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return nil, fmt.Errorf("cannot be fetched: %v", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("could not be fetched: %v", errors.Unwrap(err))
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("answered %s, not 200 OK", resp.Status)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, MaxMetadataSize+1))
		if err != nil {
			return nil, fmt.Errorf("could not be read: %v", err)
		}
		if len(data) > MaxMetadataSize {
			return nil, fmt.Errorf("serves more than %d bytes", MaxMetadataSize)
		}
		return data, nil
	}
}

// MetadataClient is the HTTP client for IdP metadata that an org's admin
// names by URL. It follows redirects only to https (or loopback http)
// URLs, at most five. Unless allowPrivate, it refuses to connect to any
// address that is not public (loopback, private, link-local, CGNAT,
// unspecified, multicast), checked on the address it dials, after DNS:
// in a service shared by many orgs, one org's admin must not make the
// gateway reach into its own network (the cloud metadata endpoint, the
// Caddy admin API, other services), and a DNS name that resolves to such
// an address is refused the same way. The operator (the CLI, a Caddyfile's
// own idp_metadata_url, a single-tenant deployment with an internal IdP)
// may allow them.
func MetadataClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if !allowPrivate {
		dialer.Control = refuseNonPublic
	}
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			DialContext:            dialer.DialContext,
			TLSHandshakeTimeout:    10 * time.Second,
			ResponseHeaderTimeout:  10 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
			// No proxy: the dialed address is the one checked.
			Proxy: nil,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if err := CheckURL("redirect", req.URL.String()); err != nil {
				return err
			}
			return nil
		},
	}
}

// errNonPublic reports a metadata URL that resolves to an address the
// gateway does not fetch from for an org's admin.
var errNonPublic = errors.New("its address is not a public one, and this server fetches IdP metadata only from public addresses")

func refuseNonPublic(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return errNonPublic
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !PublicAddr(ip) {
		return errNonPublic
	}
	return nil
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// PublicAddr reports whether ip is a public unicast address.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsValid() && ip.IsGlobalUnicast() && !ip.IsPrivate() && !cgnat.Contains(ip) &&
		!ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsUnspecified() && !ip.IsMulticast()
}

// domainRemovalStore is what CheckDomainRemoval reads.
type domainRemovalStore interface {
	Connection(ctx context.Context, orgID int64) (storage.Connection, error)
	ListDomains(ctx context.Context, orgID int64) ([]storage.Domain, error)
}

// CheckDomainRemoval refuses to remove the org's last verified domain
// while the org requires SSO: no SSO sign-in could pass the domain rule,
// and members have no password way in, so everyone but owners and admins
// would be locked out. It returns a *RuleError.
func CheckDomainRemoval(ctx context.Context, st domainRemovalStore, orgID int64, domain string) error {
	c, err := st.Connection(ctx, orgID)
	if errors.Is(err, storage.ErrNotFound) || err == nil && !c.RequireSSO {
		return nil
	}
	if err != nil {
		return err
	}
	ds, err := st.ListDomains(ctx, orgID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.Status == storage.DomainVerified && !strings.EqualFold(d.Name, domain) {
			return nil
		}
	}
	return &RuleError{Reason: fmt.Sprintf("%s is the organization's last verified domain and the organization requires single sign-on: "+
		"without a verified domain nobody could sign in by SSO. Verify another domain, or turn require_sso off first", domain)}
}
