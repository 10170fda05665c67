package sso

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

const (
	protoNS   = `xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"`
	openResp  = `<samlp:Response ` + protoNS + ` ID="r" Version="2.0">`
	closeResp = `</samlp:Response>`

	shapeAssertion = `<saml:Assertion ID="a"><saml:Issuer>x</saml:Issuer></saml:Assertion>`
	shapeEncrypted = `<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedAssertion>`
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func refusalCode(err error) string {
	var ref *Refusal
	if errors.As(err, &ref) {
		return ref.Code
	}
	if err != nil {
		return "not a Refusal: " + err.Error()
	}
	return ""
}

// nestedResponse is a Response n elements deep, itself included.
func nestedResponse(n int) string {
	return openResp + strings.Repeat("<a>", n-1) + strings.Repeat("</a>", n-1) + closeResp
}

// wideResponse is a Response of nodes elements and attributes, its own
// included (the Response: 1 element, 4 attributes).
func wideResponse(nodes int) string {
	return openResp + strings.Repeat("<a/>", nodes-5) + closeResp
}

func TestCheckShape(t *testing.T) {
	assertion, encrypted, nest, wide := shapeAssertion, shapeEncrypted, nestedResponse, wideResponse
	wrapped := func(s string) string { // base64 as some IdPs send it: 76 columns, CRLF
		enc := b64(s)
		var out strings.Builder
		for len(enc) > 76 {
			out.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		out.WriteString(enc)
		return out.String()
	}
	for _, tc := range []struct {
		name   string
		b64    string
		code   string // "" = accepted
		status int
	}{
		{name: "one Assertion", b64: b64(`<?xml version="1.0" encoding="UTF-8"?>` + openResp + assertion + closeResp)},
		{name: "one EncryptedAssertion", b64: b64(openResp + encrypted + closeResp)},
		{name: "no assertion (left to crewjam)", b64: b64(openResp + closeResp)},
		{name: "unprefixed, default namespace", b64: b64(`<Response xmlns="urn:oasis:names:tc:SAML:2.0:protocol"><Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion"/></Response>`)},
		{name: "an assertion in Extensions is refused", b64: b64(openResp + `<samlp:Extensions>` + assertion + `</samlp:Extensions>` + assertion + closeResp), code: CodeMultipleAssertions, status: 403},
		{name: "comments, processing instructions, CDATA", b64: b64(`<!-- x --><?pi y?>` + openResp + `<!--c--><![CDATA[<saml:Assertion>]]>` + assertion + closeResp + `<!-- z -->`)},
		{name: "line-wrapped base64", b64: wrapped(openResp + assertion + strings.Repeat(" ", 300) + closeResp)},
		{name: "64 levels", b64: b64(nest(64))},
		{name: "20000 elements and attributes", b64: b64(wide(20_000))},

		{name: "two Assertions", b64: b64(openResp + assertion + assertion + closeResp), code: CodeMultipleAssertions, status: 403},
		{name: "Assertion and EncryptedAssertion", b64: b64(openResp + encrypted + assertion + closeResp), code: CodeMultipleAssertions, status: 403},
		{name: "two Assertions under other prefixes", b64: b64(openResp + `<a:Assertion xmlns:a="urn:oasis:names:tc:SAML:2.0:assertion"/><b:Assertion xmlns:b="urn:oasis:names:tc:SAML:2.0:assertion"/>` + closeResp), code: CodeMultipleAssertions, status: 403},

		{name: "not base64", b64: "<samlp:Response/>", code: CodeMalformed, status: 400},
		{name: "empty", b64: "", code: CodeMalformed, status: 400},
		{name: "whitespace only", b64: b64("  \n"), code: CodeMalformed, status: 400},
		{name: "DOCTYPE", b64: b64(`<!DOCTYPE r>` + openResp + closeResp), code: CodeMalformed, status: 400},
		{name: "ENTITY without DOCTYPE keyword", b64: b64(openResp + `<!ENTITY x "y">` + closeResp), code: CodeMalformed, status: 400},
		{name: "lower-case doctype", b64: b64(`<!doctype samlp:Response>` + openResp + assertion + closeResp), code: CodeMalformed, status: 400},
		{name: "directive inside the Response", b64: b64(openResp + `<!x>` + assertion + closeResp), code: CodeMalformed, status: 400},
		{name: "directive after the Response", b64: b64(openResp + assertion + closeResp + `<!doctype x>`), code: CodeMalformed, status: 400},
		{name: "undefined entity (left to crewjam's parser: TestParseACSUndefinedEntity)", b64: b64(openResp + `&x;` + assertion + closeResp)},
		{name: "root is an Assertion", b64: b64(`<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"/>`), code: CodeMalformed, status: 400},
		{name: "root is a LogoutResponse", b64: b64(`<samlp:LogoutResponse ` + protoNS + `/>`), code: CodeMalformed, status: 400},
		{name: "two roots", b64: b64(openResp + closeResp + openResp + assertion + closeResp), code: CodeMalformed, status: 400},
		{name: "mismatched end tag", b64: b64(openResp + `<saml:Assertion></saml:Issuer>` + closeResp), code: CodeMalformed, status: 400},
		{name: "unclosed", b64: b64(openResp + assertion), code: CodeMalformed, status: 400},
		{name: "stray end tag", b64: b64(openResp + closeResp + closeResp), code: CodeMalformed, status: 400},
		{name: "65 levels", b64: b64(nest(65)), code: CodeMalformed, status: 400},
		{name: "100000 levels", b64: b64(nest(100_000)), code: CodeMalformed, status: 400},
		{name: "20001 elements and attributes", b64: b64(wide(20_001)), code: CodeTooLarge, status: 413},
		{name: "attributes count too", b64: b64(`<samlp:Response ` + protoNS + strings.Repeat(` a=""`, 1) + `>` + strings.Repeat(`<a b="" c="" d=""/>`, 5000) + closeResp), code: CodeTooLarge, status: 413},
		{name: "over the decoded size bound", b64: strings.Repeat("A", (maxResponseXML+6)/3*4), code: CodeTooLarge, status: 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkShape(tc.b64)
			if got := refusalCode(err); got != tc.code {
				t.Fatalf("checkShape = %v (code %q), want code %q", err, got, tc.code)
			}
			if tc.code != "" {
				if st := err.(*Refusal).Status(); st != tc.status {
					t.Errorf("status %d, want %d", st, tc.status)
				}
			}
		})
	}
}

// memReplayCache is an in-memory ReplayCache.
type memReplayCache struct {
	mu   sync.Mutex
	seen map[string]bool
}

func newMemReplayCache() *memReplayCache { return &memReplayCache{seen: map[string]bool{}} }

func (c *memReplayCache) Consume(id string, _ time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[id] {
		return saml.ErrAssertionReplayed
	}
	if len(c.seen) > 10_000 { // bounded, for the fuzzer
		c.seen = map[string]bool{}
	}
	c.seen[id] = true
	return nil
}

func (c *memReplayCache) Seen(id string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[id], nil
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/crewjam/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	entraRequestID   = "id-4f6e2c9d8a7b1e3f5d0c2b4a6e8f1d3c5b7a9e0f"
	entraAssertionID = "_d4e7f2a9-3b1c-4e6d-8f0a-5c2b9e7d1a38"
)

var entraOrigin = &url.URL{Scheme: "https", Host: "sp.example.com"}

// entraProvider is the gate configured as the Entra fixtures' SP
// (https://sp.example.com, ACS /saml/acs), with every hardening on and
// the clock pinned at the fixtures' IssueInstant plus at.
func entraProvider(t testing.TB, at time.Duration, allowIDPInitiated bool) *Provider {
	t.Helper()
	md := &saml.EntityDescriptor{}
	if err := xml.Unmarshal(readFixture(t, "TestSPCanHandleEntraIDResponse_IDPMetadata"), md); err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{
		MetadataPath:      "/saml/metadata",
		ACSPath:           "/saml/acs",
		IDP:               md,
		AllowIDPInitiated: allowIDPInitiated,
		ClockSkew:         90 * time.Second,
		ReplayCache:       newMemReplayCache(),
		Clock:             dsig.NewFakeClockAt(time.Date(2025, 6, 2, 15, 4, 5, 123e6, time.UTC).Add(at)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// acsRequest is a parsed ACS post.
func acsRequest(form url.Values) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://sp.example.com/saml/acs", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_ = r.ParseForm()
	return r
}

func TestParseACSEntraFixtures(t *testing.T) {
	for _, tc := range []struct {
		fixture      string
		idpInitiated bool
	}{
		{fixture: "assertion_signed"},
		{fixture: "response_signed"},
		{fixture: "response_and_assertion_signed"},
		{fixture: "idp_initiated", idpInitiated: true},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			p := entraProvider(t, 20*time.Second, tc.idpInitiated)
			raw := readFixture(t, "TestSPCanHandleEntraIDResponse_"+tc.fixture)
			var ids []string
			if !tc.idpInitiated {
				ids = []string{entraRequestID}
			}
			r := acsRequest(url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(raw)}})
			id, err := p.ParseACS(r, entraOrigin, ids)
			if err != nil {
				t.Fatalf("ParseACS: %v", err)
			}
			want := Identity{
				Email: "alice@contoso.example", GivenName: "Alice", FamilyName: "Example",
				NameID: "alice@contoso.example", SessionIndex: entraAssertionID, AssertionID: entraAssertionID,
				Issuer:       "https://sts.windows.net/8c3a9b2e-4f1d-4e6a-9b7c-2d5e8f1a3c4b/",
				NameIDFormat: string(saml.EmailAddressNameIDFormat),
			}
			if id.ReplayUntil.IsZero() {
				t.Fatal("no ReplayUntil: the assertion could not be recorded")
			}
			if attrs := id.Attributes(); len(attrs["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"]) != 1 {
				t.Errorf("Attributes() = %v; want Entra's givenname claim", attrs)
			}
			id.SessionNotOnOrAfter, id.ReplayUntil, id.assertion = time.Time{}, time.Time{}, nil
			if !reflect.DeepEqual(*id, want) {
				t.Fatalf("identity = %+v\nwant       %+v", *id, want)
			}
			// ParseACS checks the replay cache but leaves the record
			// to the caller's write; once recorded, one use only.
			if again, err := p.ParseACS(r, entraOrigin, ids); err != nil || again.AssertionID != id.AssertionID {
				t.Fatalf("second ParseACS before the record = %v, %v", again, err)
			}
			if err := p.Consume(id); err != nil {
				t.Fatalf("Consume: %v", err)
			}
			_, err = p.ParseACS(r, entraOrigin, ids)
			if got := refusalCode(err); got != CodeReplayed {
				t.Fatalf("second ParseACS = %v, want %s", err, CodeReplayed)
			}
		})
	}
}

func TestParseACSEntraRefusals(t *testing.T) {
	signed := base64.StdEncoding.EncodeToString(readFixture(t, "TestSPCanHandleEntraIDResponse_response_and_assertion_signed"))
	unsolicited := base64.StdEncoding.EncodeToString(readFixture(t, "TestSPCanHandleEntraIDResponse_idp_initiated"))
	for _, tc := range []struct {
		name      string
		at        time.Duration
		allowIdP  bool
		origin    *url.URL
		form      url.Values
		ids       []string
		code      string
		errSubstr string
	}{
		{name: "another pending request", form: url.Values{"SAMLResponse": {signed}}, ids: []string{"id-other"},
			code: CodeInvalid, errSubstr: "InResponseTo"},
		{name: "answering a request, taken as unsolicited", allowIdP: true, form: url.Values{"SAMLResponse": {signed}},
			code: CodeInvalid, errSubstr: "InResponseTo"},
		{name: "unsolicited, not allowed", form: url.Values{"SAMLResponse": {unsolicited}}, code: CodeUnsolicited},
		{name: "unsolicited, posted with a pending request", allowIdP: true, form: url.Values{"SAMLResponse": {unsolicited}},
			ids: []string{entraRequestID}, code: CodeInvalid, errSubstr: "InResponseTo"},
		{name: "100s after IssueInstant", at: 100 * time.Second, form: url.Values{"SAMLResponse": {signed}},
			ids: []string{entraRequestID}, code: CodeInvalid, errSubstr: "expired"},
		{name: "4 minutes before IssueInstant", at: -4 * time.Minute, form: url.Values{"SAMLResponse": {signed}},
			ids: []string{entraRequestID}, code: CodeInvalid, errSubstr: "in the future"},
		{name: "2 minutes before IssueInstant (within crewjam's skew, not ours)", at: -2 * time.Minute, form: url.Values{"SAMLResponse": {signed}},
			ids: []string{entraRequestID}, code: CodeTime},
		{name: "another origin (ACS URL and audience)", origin: &url.URL{Scheme: "https", Host: "evil.example"},
			form: url.Values{"SAMLResponse": {signed}}, ids: []string{entraRequestID}, code: CodeInvalid, errSubstr: "Destination"},
		{name: "same host over http", origin: &url.URL{Scheme: "http", Host: "sp.example.com"},
			form: url.Values{"SAMLResponse": {signed}}, ids: []string{entraRequestID}, code: CodeInvalid, errSubstr: "Destination"},
		{name: "artifact", form: url.Values{"SAMLart": {"AAQAAA"}, "SAMLResponse": {signed}}, ids: []string{entraRequestID}, code: CodeUnsupported},
		{name: "no SAMLResponse", form: url.Values{}, ids: []string{entraRequestID}, code: CodeMalformed},
		{name: "encrypted assertion: no SP decryption key", form: url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(
			readFixture(t, "TestSPCanHandleEntraIDResponse_encrypted_assertion_signed"))}}, ids: []string{entraRequestID}, code: CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := tc.at
			if at == 0 {
				at = 20 * time.Second
			}
			origin := tc.origin
			if origin == nil {
				origin = entraOrigin
			}
			p := entraProvider(t, at, tc.allowIdP)
			id, err := p.ParseACS(acsRequest(tc.form), origin, tc.ids)
			if got := refusalCode(err); got != tc.code || id != nil {
				t.Fatalf("ParseACS = %+v, %v; want code %s", id, err, tc.code)
			}
			if !strings.Contains(err.Error(), tc.errSubstr) {
				t.Errorf("error %q does not mention %q", err, tc.errSubstr)
			}
			// A valid assertion refused by our own checks is used up; one
			// crewjam refused was never accepted, so never recorded.
			if seen, _ := p.cfg.ReplayCache.Seen(entraAssertionID); seen != (tc.code == CodeTime) {
				t.Errorf("assertion recorded as used: %v, want %v", seen, tc.code == CodeTime)
			}
		})
	}
}

// TestParseACSUndefinedEntity: what the shape check leaves to crewjam's
// parser is refused there, before any signature work.
func TestParseACSUndefinedEntity(t *testing.T) {
	raw := string(readFixture(t, "TestSPCanHandleEntraIDResponse_response_and_assertion_signed"))
	i := strings.Index(raw, "<saml:Assertion")
	if i < 0 {
		i = strings.Index(raw, "<Assertion")
	}
	if i < 0 {
		t.Fatal("no assertion in the fixture")
	}
	bad := raw[:i] + "&x;" + raw[i:]
	p := entraProvider(t, 20*time.Second, false)
	id, err := p.ParseACS(acsRequest(url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString([]byte(bad))}}), entraOrigin, []string{entraRequestID})
	if got := refusalCode(err); got != CodeInvalid || id != nil {
		t.Fatalf("ParseACS = %+v, %v; want %s", id, err, CodeInvalid)
	}
	if !strings.Contains(err.Error(), "entity") {
		t.Errorf("error %q does not name the entity", err)
	}
}

// TestParseACSOktaEncrypted: Okta's real response (fixture F1: Response
// signed, assertion encrypted to crewjam's test SP key). The Provider has
// no SP decryption key, so the encrypted assertion is refused, not
// skipped or read unverified.
func TestParseACSOktaEncrypted(t *testing.T) {
	md := &saml.EntityDescriptor{}
	if err := xml.Unmarshal(readFixture(t, "TestSPCanHandleOktaSignedResponseEncryptedAssertion_IDPMetadata"), md); err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{
		MetadataPath: "/saml/metadata", ACSPath: "/saml/acs", IDP: md, ClockSkew: 90 * time.Second,
		ReplayCache: newMemReplayCache(),
		Clock:       dsig.NewFakeClockAt(time.Date(2020, 3, 3, 19, 24, 40, 0, time.UTC)),
	})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"SAMLResponse": {strings.TrimSpace(string(readFixture(t, "TestSPCanHandleOktaSignedResponseEncryptedAssertion_response")))}}
	id, err := p.ParseACS(acsRequest(form), &url.URL{Scheme: "http", Host: "localhost:8000"},
		[]string{"id-a7364d1e4432aa9085a7a8bd824ea2fa8fa8f684"})
	if got := refusalCode(err); got != CodeInvalid || id != nil {
		t.Fatalf("ParseACS = %+v, %v; want %s", id, err, CodeInvalid)
	}
	if !strings.Contains(err.Error(), "decrypt") {
		t.Errorf("error %q does not say the assertion could not be decrypted", err)
	}
}

func TestCheckWindow(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	p := &Provider{cfg: Config{ClockSkew: 90 * time.Second, Clock: dsig.NewFakeClockAt(now)}}
	at := func(d time.Duration) time.Time { return now.Add(d) }
	for _, tc := range []struct {
		name       string
		issue      time.Time
		nb, noa    time.Time
		noCond, ok bool
	}{
		{name: "now", issue: now, nb: at(-time.Minute), noa: at(5 * time.Minute), ok: true},
		{name: "no Conditions", issue: now, noCond: true, ok: true},
		{name: "NotBefore within skew", issue: now, nb: at(89 * time.Second), noa: at(5 * time.Minute), ok: true},
		{name: "NotBefore beyond skew", issue: now, nb: at(91 * time.Second), noa: at(5 * time.Minute)},
		{name: "NotOnOrAfter within skew", issue: now, nb: at(-time.Hour), noa: at(-89 * time.Second), ok: true},
		{name: "NotOnOrAfter at the skew (exclusive)", issue: now, nb: at(-time.Hour), noa: at(-90 * time.Second)},
		{name: "NotOnOrAfter beyond skew", issue: now, nb: at(-time.Hour), noa: at(-91 * time.Second)},
		{name: "IssueInstant within skew", issue: at(90 * time.Second), nb: at(-time.Minute), noa: at(5 * time.Minute), ok: true},
		{name: "IssueInstant beyond skew", issue: at(91 * time.Second), nb: at(-time.Minute), noa: at(5 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &saml.Assertion{IssueInstant: tc.issue}
			if !tc.noCond {
				a.Conditions = &saml.Conditions{NotBefore: tc.nb, NotOnOrAfter: tc.noa}
			}
			err := p.checkWindow(a)
			if tc.ok != (err == nil) {
				t.Fatalf("checkWindow = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && refusalCode(err) != CodeTime {
				t.Fatalf("code %q, want %s", refusalCode(err), CodeTime)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	md := &saml.EntityDescriptor{}
	if err := xml.Unmarshal(readFixture(t, "TestSPCanHandleEntraIDResponse_IDPMetadata"), md); err != nil {
		t.Fatal(err)
	}
	noCerts := IDPMetadata("https://idp.example/sso", "https://idp.example", nil)
	noRedirect := *md
	noRedirect.IDPSSODescriptors = append([]saml.IDPSSODescriptor(nil), md.IDPSSODescriptors...)
	noRedirect.IDPSSODescriptors[0].SingleSignOnServices = nil
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no IdP", Config{ReplayCache: newMemReplayCache()}},
		{"no replay cache", Config{IDP: md}},
		{"skew above crewjam's", Config{IDP: md, ReplayCache: newMemReplayCache(), ClockSkew: 181 * time.Second}},
		{"no signing certificate", Config{IDP: noCerts, ReplayCache: newMemReplayCache()}},
		{"no HTTP-Redirect SSO URL", Config{IDP: &noRedirect, ReplayCache: newMemReplayCache()}},
	} {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: New accepted the config", tc.name)
		}
	}
}

// TestServiceProvidersAreBounded: without base_url each Host header makes
// an origin; a client sending many must not grow memory without bound.
func TestServiceProvidersAreBounded(t *testing.T) {
	p := entraProvider(t, 0, false)
	for i := 0; i < 10*maxCachedSPs; i++ {
		origin := &url.URL{Scheme: "https", Host: fmt.Sprintf("h%d.example.com", i)}
		if sp := p.serviceProvider(origin, p.ACSURL(origin), false); sp.AcsURL.Host != origin.Host {
			t.Fatalf("SP for %s has ACS %s", origin.Host, sp.AcsURL.String())
		}
	}
	if n := len(p.sps); n > maxCachedSPs {
		t.Fatalf("%d service providers cached, bound is %d", n, maxCachedSPs)
	}
}
