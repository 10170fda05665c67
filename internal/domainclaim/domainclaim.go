// Package domainclaim normalizes email domains an org claims and checks the
// DNS TXT record that proves a claim. Public suffixes come from the
// publicsuffix list of golang.org/x/net, so "com" and "co.uk" cannot be
// claimed.
package domainclaim

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// RecordPrefix is the label under which the challenge is published.
const RecordPrefix = "_ssogate-challenge."

// valuePrefix starts every challenge value.
const valuePrefix = "ssogate-verification="

// ErrInvalid reports a malformed domain or a public suffix.
var ErrInvalid = errors.New("invalid domain")

// ErrNotVerified reports that the TXT record was not found or did not match.
var ErrNotVerified = errors.New("domain not verified")

// Normalize returns the canonical (lower-case, ASCII, no trailing dot) form
// of a domain, or an error wrapping ErrInvalid that says why it cannot be
// claimed.
func Normalize(domain string) (string, error) {
	d := strings.TrimSuffix(strings.TrimSpace(domain), ".")
	if d == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalid)
	}
	if len(d) > 253 {
		return "", fmt.Errorf("%w: longer than 253 characters", ErrInvalid)
	}
	ascii, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalid, domain, err)
	}
	ascii = strings.ToLower(ascii)
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("%w: %q is not a registrable domain", ErrInvalid, domain)
	}
	for _, l := range labels {
		if !validLabel(l) {
			return "", fmt.Errorf("%w: %q has a malformed label", ErrInvalid, domain)
		}
	}
	suffix, icann := publicsuffix.PublicSuffix(ascii)
	if suffix == ascii && (icann || strings.Contains(suffix, ".")) {
		return "", fmt.Errorf("%w: %q is a public suffix", ErrInvalid, domain)
	}
	if _, err := publicsuffix.EffectiveTLDPlusOne(ascii); err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalid, domain, err)
	}
	return ascii, nil
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// RecordName returns the DNS name where a domain's challenge is published.
func RecordName(domain string) string { return RecordPrefix + domain }

// NewChallenge returns a fresh random TXT value to publish.
func NewChallenge() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return valuePrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Resolver looks up TXT records; *net.Resolver is one.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// NewResolver returns a resolver that asks the DNS server at addr
// (host:port), or the system resolver when addr is empty.
func NewResolver(addr string) *net.Resolver {
	if addr == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: 5 * time.Second}
			return d.DialContext(ctx, network, addr)
		},
	}
}

// Verify looks up the domain's challenge record and reports, wrapping
// ErrNotVerified, why it does not prove the claim.
func Verify(ctx context.Context, r Resolver, domain, want string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	name := RecordName(domain)
	records, err := r.LookupTXT(ctx, name)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return fmt.Errorf("%w: no TXT record at %s", ErrNotVerified, name)
		}
		return fmt.Errorf("%w: looking up TXT %s: %v", ErrNotVerified, name, err)
	}
	for _, rec := range records {
		if strings.TrimSpace(rec) == want {
			return nil
		}
	}
	return fmt.Errorf("%w: the TXT records at %s (%d found) do not hold the expected value", ErrNotVerified, name, len(records))
}
