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

// InvalidError says in a plain sentence why a domain cannot be claimed.
// It matches ErrInvalid. Cause, when set, is the IDNA library's own error:
// for a debug log, not for the person who typed the domain.
type InvalidError struct {
	Domain string // as typed
	Reason string // e.g. `"_" is not allowed`
	Cause  error
	// verdict replaces "is not a valid domain name" for a well-formed
	// name that cannot be claimed (a public suffix, a single label).
	verdict string
}

func (e *InvalidError) Error() string {
	verdict := e.verdict
	if verdict == "" {
		verdict = "is not a valid domain name"
	}
	return fmt.Sprintf("%q %s: %s", e.Domain, verdict, e.Reason)
}

func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func (e *InvalidError) Unwrap() error { return e.Cause }

// Normalize returns the canonical (lower-case, ASCII, no trailing dot) form
// of a domain, or an *InvalidError (matching ErrInvalid) that says why it
// cannot be claimed.
func Normalize(domain string) (string, error) {
	invalid := func(format string, args ...any) error {
		return &InvalidError{Domain: domain, Reason: fmt.Sprintf(format, args...)}
	}
	d := strings.TrimSuffix(strings.TrimSpace(domain), ".")
	if d == "" {
		return "", invalid("it is empty")
	}
	if len(d) > 253 {
		return "", invalid("it is longer than 253 characters")
	}
	ascii, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return "", &InvalidError{Domain: domain, Reason: idnaReason(d), Cause: err}
	}
	ascii = strings.ToLower(ascii)
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", &InvalidError{Domain: domain, verdict: "is not a registrable domain", Reason: "claim a domain such as example.com"}
	}
	for _, l := range labels {
		if reason := labelReason(l); reason != "" {
			return "", invalid("%s", reason)
		}
	}
	suffix, icann := publicsuffix.PublicSuffix(ascii)
	if suffix == ascii && (icann || strings.Contains(suffix, ".")) {
		return "", &InvalidError{Domain: domain, verdict: "is a public suffix", Reason: "many owners share it; claim a domain under it"}
	}
	if _, err := publicsuffix.EffectiveTLDPlusOne(ascii); err != nil {
		return "", &InvalidError{Domain: domain, Reason: "it is not under a known top-level domain", Cause: err}
	}
	return ascii, nil
}

// idnaReason names what made the IDNA conversion of d fail, in words: the
// first character a domain name cannot hold, or a malformed label.
func idnaReason(d string) string {
	for _, r := range d {
		switch {
		case r == '@':
			return `"@" is not allowed; type only the part after the @`
		case r < 0x80 && !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.'):
			if r <= ' ' || r == 0x7f {
				return fmt.Sprintf("the character %U is not allowed", r)
			}
			return fmt.Sprintf("%q is not allowed", string(r))
		case r >= 0x80:
			if _, err := idna.Lookup.ToASCII("a" + string(r)); err != nil {
				return fmt.Sprintf("%q (%U) is not allowed", string(r), r)
			}
		}
	}
	for _, l := range strings.Split(strings.ToLower(d), ".") {
		if !isASCII(l) {
			continue
		}
		if reason := labelReason(l); reason != "" {
			return reason
		}
		if len(l) >= 4 && l[2:4] == "--" && !strings.HasPrefix(l, "xn--") {
			return `a label cannot have "--" as its third and fourth characters`
		}
	}
	return "it is not a valid internationalized domain name"
}

// labelReason says what is wrong with one ASCII label, or "".
func labelReason(l string) string {
	switch {
	case l == "":
		return "it has an empty label (two dots in a row, or a leading dot)"
	case len(l) > 63:
		return "a label (a part between dots) is longer than 63 characters"
	case l[0] == '-' || l[len(l)-1] == '-':
		return `a label (a part between dots) cannot start or end with "-"`
	case !validLabel(l):
		return "only letters, digits, \"-\" and dots are allowed"
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
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
