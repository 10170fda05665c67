package tenant

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/testcert"
	"github.com/ssogate/ssogate/internal/testidp"
)

// now is the clock of these tests; certificates are made around it.
var now = time.Now().UTC().Truncate(time.Second)

// newCert makes a self-signed signing certificate valid until notAfter
// and returns it as PEM.
func newCert(t testing.TB, cn string, notAfter time.Time) (string, *x509.Certificate) {
	t.Helper()
	c, pemText := testcert.New(t, cn, notAfter)
	return pemText, c
}

// The test IdP (an RSA key and a real certificate) is made once.
var testIdP = sync.OnceValues(func() (*testidp.IdP, error) {
	return testidp.New("https://idp.example.com/app")
})

// The test IdP's own metadata document, made once (it carries a
// validUntil time).
var testIdPMetadata = sync.OnceValues(func() (string, error) {
	p, err := testIdP()
	if err != nil {
		return "", err
	}
	b, err := xml.MarshalIndent(p.IDP.Metadata(), "", "  ")
	return string(b), err
})

func idpMetadataXML(t testing.TB) string {
	t.Helper()
	md, err := testIdPMetadata()
	if err != nil {
		t.Fatal(err)
	}
	return md
}

func ptr[T any](v T) *T { return &v }

// The explicit IdP values every test starts from.
const (
	ssoURL = "https://idp.example.com/sso"
	issuer = "https://idp.example.com"
)

var (
	certOnce sync.Once
	certPEM  string // valid for a year
	cert2PEM string // the next certificate of a rotation
)

func certs(t testing.TB) (string, string) {
	certOnce.Do(func() {
		certPEM, _ = newCert(t, "idp one", now.AddDate(1, 0, 0))
		cert2PEM, _ = newCert(t, "idp two", now.AddDate(2, 0, 0))
	})
	return certPEM, cert2PEM
}

// issuerOfTestIdP gives c the issuer of the test IdP's metadata, so that
// a switch to that metadata is the same IdP.
func issuerOfTestIdP(t testing.TB, c storage.Connection) storage.Connection {
	t.Helper()
	p, err := testIdP()
	if err != nil {
		t.Fatal(err)
	}
	c.IDPIssuer = p.EntityID()
	return c
}

// explicitConn is a connection with a complete explicit IdP in state.
func explicitConn(t testing.TB, state storage.ConnectionState) storage.Connection {
	c1, _ := certs(t)
	c := storage.NewConnection(1)
	c.IDPSSOURL, c.IDPIssuer, c.IDPCertificates, c.State = ssoURL, issuer, c1, state
	return c
}

// metadataConn is a connection with the test IdP's metadata in state.
func metadataConn(t testing.TB, state storage.ConnectionState, fromURL string) storage.Connection {
	c := storage.NewConnection(1)
	c.IDPMetadataURL, c.IDPMetadataXML, c.State = fromURL, idpMetadataXML(t), state
	return c
}

// serveMetadata is a fetcher for one URL, as a real client sees it.
func serveMetadata(doc string) Fetcher {
	return func(_ context.Context, rawURL string) ([]byte, error) {
		if rawURL != "https://idp.example.com/metadata" {
			return nil, fmt.Errorf("answered 404 Not Found, not 200 OK")
		}
		return []byte(doc), nil
	}
}

// change runs Prepare and Apply as the admin API does.
func change(t testing.TB, c *storage.Connection, in Settings, verifiedDomain bool) error {
	t.Helper()
	ch, err := Prepare(context.Background(), in, serveMetadata(idpMetadataXML(t)), now)
	if err != nil {
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("Prepare = %v (%T), want a *FieldError", err, err)
		}
		return err
	}
	return ch.Apply(c, verifiedDomain)
}

func TestPrepareFieldErrors(t *testing.T) {
	c1, c2 := certs(t)
	expired, _ := newCert(t, "old idp", time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC))
	var nine []string
	for i := range 9 {
		p, _ := newCert(t, fmt.Sprint("idp ", i), now.AddDate(1, 0, 0))
		nine = append(nine, p)
	}
	spMetadata := `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.com">
		<SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
		<AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/acs" index="1"/>
		</SPSSODescriptor></EntityDescriptor>`
	noCertMetadata := `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com">
		<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
		<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/>
		</IDPSSODescriptor></EntityDescriptor>`
	md := idpMetadataXML(t)
	draft := storage.NewConnection(1)

	for _, tc := range []struct {
		name   string
		conn   storage.Connection
		in     Settings
		field  string
		reason string
	}{
		{"ftp URL", draft, Settings{IDPSSOURL: ptr("ftp://idp.example.com/sso")}, FieldIDPSSOURL, "not an absolute https URL"},
		{"http URL", draft, Settings{IDPSSOURL: ptr("http://idp.example.com/sso")}, FieldIDPSSOURL, "must use https"},
		{"http on a name ending in localhost", draft, Settings{IDPSSOURL: ptr("http://localhost.evil.example/sso")}, FieldIDPSSOURL, "must use https"},
		{"http on a private address", draft, Settings{IDPSSOURL: ptr("http://10.0.0.1/sso")}, FieldIDPSSOURL, "must use https"},
		{"javascript URL", draft, Settings{IDPSSOURL: ptr("javascript:alert(1)")}, FieldIDPSSOURL, "not an absolute https URL"},
		{"data URL", draft, Settings{IDPSSOURL: ptr("data:text/html,x")}, FieldIDPSSOURL, "not an absolute https URL"},
		{"relative URL", draft, Settings{IDPSSOURL: ptr("/sso")}, FieldIDPSSOURL, "not an absolute https URL"},
		{"scheme-relative URL", draft, Settings{IDPSSOURL: ptr("//idp.example.com/sso")}, FieldIDPSSOURL, "not an absolute https URL"},
		{"URL without a host", draft, Settings{IDPSSOURL: ptr("https:///sso")}, FieldIDPSSOURL, "not an absolute https URL"},
		{"URL that does not parse", draft, Settings{IDPSSOURL: ptr("https://idp.example.com/%zz")}, FieldIDPSSOURL, "not an absolute https URL"},
		{"user name in URL", draft, Settings{IDPSSOURL: ptr("https://admin@idp.example.com/sso")}, FieldIDPSSOURL, "user name or password"},
		{"password in URL", draft, Settings{IDPSSOURL: ptr("https://admin:secret@idp.example.com/sso")}, FieldIDPSSOURL, "user name or password"},
		{"URL over 2048 characters", draft, Settings{IDPSSOURL: ptr("https://idp.example.com/" + strings.Repeat("a", 2048))}, FieldIDPSSOURL, "longer than 2048"},
		{"bad single-logout URL", draft, Settings{IDPSLOURL: ptr("http://idp.example.com/slo")}, FieldIDPSLOURL, "must use https"},
		{"issuer with a newline", draft, Settings{IDPIssuer: ptr("https://idp\n.example.com")}, FieldIDPIssuer, "control character"},
		{"issuer over 1024 characters", draft, Settings{IDPIssuer: ptr(strings.Repeat("i", 1025))}, FieldIDPIssuer, "longer than 1024"},
		{"PEM that does not decode", draft, Settings{IDPCertificates: &[]string{"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----"}}, FieldIDPCertificates, "not a PEM or base64 DER"},
		{"PEM of no certificate", draft, Settings{IDPCertificates: &[]string{"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"}}, FieldIDPCertificates, "certificate 1 is not"},
		{"text", draft, Settings{IDPCertificates: &[]string{"hello"}}, FieldIDPCertificates, "certificate 1 is not"},
		{"base64 of no certificate", draft, Settings{IDPCertificates: &[]string{base64.StdEncoding.EncodeToString([]byte("not DER"))}}, FieldIDPCertificates, "certificate 1 is not"},
		{"second of two is bad", draft, Settings{IDPCertificates: &[]string{c1, "nope"}}, FieldIDPCertificates, "certificate 2 is not"},
		{"expired certificate", draft, Settings{IDPCertificates: &[]string{expired}}, FieldIDPCertificates, "expired on 2020-01-02"},
		{"expired certificate among good ones", draft, Settings{IDPCertificates: &[]string{c1 + expired}}, FieldIDPCertificates, "expired on 2020-01-02"},
		{"nine certificates in one value", draft, Settings{IDPCertificates: &[]string{strings.Join(nine, "")}}, FieldIDPCertificates, "more than 8 certificates"},
		{"nine certificates in nine values", draft, Settings{IDPCertificates: &nine}, FieldIDPCertificates, "more than 8 certificates"},
		{"certificate over 64 KiB", draft, Settings{IDPCertificates: &[]string{c1 + strings.Repeat("\n", 64<<10) + c2}}, FieldIDPCertificates, "larger than"},
		{"metadata that is HTML", draft, Settings{IDPMetadataXML: ptr("<html><body>hi</body></html>")}, FieldIDPMetadataXML, "not SAML metadata"},
		{"metadata that is not XML", draft, Settings{IDPMetadataXML: ptr("{\"issuer\": \"x\"}")}, FieldIDPMetadataXML, "not SAML metadata"},
		{"metadata of an SP", draft, Settings{IDPMetadataXML: ptr(spMetadata)}, FieldIDPMetadataXML, "no IDPSSODescriptor"},
		{"metadata without a certificate", draft, Settings{IDPMetadataXML: ptr(noCertMetadata)}, FieldIDPMetadataXML, "no signing certificate"},
		{"metadata over 1 MiB", draft, Settings{IDPMetadataXML: ptr(md + "<!--" + strings.Repeat("x", 1<<20) + "-->")}, FieldIDPMetadataXML, "larger than"},
		{"metadata URL over http", draft, Settings{IDPMetadataURL: ptr("http://idp.example.com/metadata")}, FieldIDPMetadataURL, "must use https"},
		{"metadata URL that answers 404", draft, Settings{IDPMetadataURL: ptr("https://idp.example.com/missing")}, FieldIDPMetadataURL, "404"},
		{"explicit and metadata URL", draft, Settings{IDPSSOURL: ptr(ssoURL), IDPMetadataURL: ptr("https://idp.example.com/metadata")}, FieldIDPMetadataURL, "not several at once"},
		{"explicit and metadata XML", draft, Settings{IDPCertificates: &[]string{c1}, IDPMetadataXML: ptr(md)}, FieldIDPMetadataXML, "not several at once"},
		{"metadata URL and XML", draft, Settings{IDPMetadataURL: ptr("https://idp.example.com/metadata"), IDPMetadataXML: ptr(md)}, FieldIDPMetadataURL, "not several at once"},
		{"URL and issuer without a certificate", draft, Settings{IDPSSOURL: ptr(ssoURL), IDPIssuer: ptr(issuer)}, FieldIDPCertificates, "is required"},
		{"issuer and certificate without a URL", draft, Settings{IDPIssuer: ptr(issuer), IDPCertificates: &[]string{c1}}, FieldIDPSSOURL, "is required"},
		{"URL and certificate without an issuer", draft, Settings{IDPSSOURL: ptr(ssoURL), IDPCertificates: &[]string{c2}}, FieldIDPIssuer, "is required"},
		{"one explicit value over metadata", metadataConn(t, storage.ConnectionDraft, ""), Settings{IDPCertificates: &[]string{c2}}, FieldIDPSSOURL, "is required"},
		{"clearing the URL of an explicit IdP", explicitConn(t, storage.ConnectionDraft), Settings{IDPSSOURL: ptr("")}, FieldIDPSSOURL, "is required"},
		{"groups attribute over 256 bytes", draft, Settings{GroupsAttribute: ptr(strings.Repeat("g", 257))}, FieldGroupsAttribute, "longer than 256"},
		{"groups attribute with a newline", draft, Settings{GroupsAttribute: ptr("gro\nups")}, FieldGroupsAttribute, "control character"},
		{"groups attribute with a C1 control", draft, Settings{GroupsAttribute: ptr("gro\u0085ups")}, FieldGroupsAttribute, "control character"},
		{"groups attribute that is not UTF-8", draft, Settings{GroupsAttribute: ptr("groups\xff")}, FieldGroupsAttribute, "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.conn
			before := c
			err := change(t, &c, tc.in, true)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("change = %v (%T), want a *FieldError", err, err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Reason, tc.reason) {
				t.Errorf("change = FieldError{%q, %q}, want field %q with a reason containing %q", fe.Field, fe.Reason, tc.field, tc.reason)
			}
			if diff := cmp.Diff(before, c); diff != "" {
				t.Errorf("a refused change wrote to the connection (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://idp.example.com/sso", true},
		{"https://idp.example.com:8443/app/sso?x=1", true},
		{"http://localhost:8080/sso", true},
		{"http://LocalHost/sso", true},
		{"http://127.0.0.1/sso", true},
		{"http://127.0.0.2:9000/sso", true},
		{"http://[::1]:9000/sso", true},
		{"http://[::1]/sso", true},
		{"HTTPS://idp.example.com/sso", true}, // url.Parse lower-cases the scheme
		{"http://localhost.example.com/sso", false},
		{"http://127.0.0.1.nip.io/sso", false},
		{"http://[::2]/sso", false},
		{"http://0.0.0.0/sso", false},
		{"http://169.254.169.254/latest", false},
		{"file:///etc/passwd", false},
		{"gopher://localhost/", false},
		{"", false},
	} {
		err := CheckURL("f", tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
		var fe *FieldError
		if err != nil && (!errors.As(err, &fe) || fe.Field != "f") {
			t.Errorf("CheckURL(%q) = %v, want a FieldError for f", tc.url, err)
		}
	}
}

func TestPrepareLoopbackHTTP(t *testing.T) {
	c1, _ := certs(t)
	for _, tc := range []struct{ name, url string }{
		{"localhost", "http://localhost:8080/sso"},
		{"ipv4 loopback", "http://127.0.0.1/sso"},
		{"ipv6 loopback", "http://[::1]:9000/sso"},
		{"https with spaces around", "  https://idp.example.com/sso\n"},
	} {
		u := tc.url
		t.Run(tc.name, func(t *testing.T) {
			c := storage.NewConnection(1)
			err := change(t, &c, Settings{IDPSSOURL: &u, IDPIssuer: ptr(issuer), IDPCertificates: &[]string{c1}, IDPSLOURL: &u}, false)
			if err != nil {
				t.Fatalf("change(%q) = %v", u, err)
			}
			if c.IDPSSOURL != strings.TrimSpace(u) || c.IDPSLOURL != strings.TrimSpace(u) {
				t.Errorf("stored URLs %q and %q, want %q", c.IDPSSOURL, c.IDPSLOURL, strings.TrimSpace(u))
			}
			if _, err := IDPMetadata(c); err != nil {
				t.Errorf("IDPMetadata = %v", err)
			}
		})
	}
}

func TestApplySourceSwitching(t *testing.T) {
	c1, c2 := certs(t)
	md := idpMetadataXML(t)
	const mdURL = "https://idp.example.com/metadata"
	for _, tc := range []struct {
		name string
		conn storage.Connection
		in   Settings
		want func(storage.Connection) storage.Connection
	}{
		{"explicit to metadata document", explicitConn(t, storage.ConnectionDraft), Settings{IDPMetadataXML: &md},
			func(c storage.Connection) storage.Connection {
				c.IDPSSOURL, c.IDPIssuer, c.IDPCertificates, c.IDPMetadataXML = "", "", "", md
				return c
			}},
		{"explicit to metadata URL", explicitConn(t, storage.ConnectionDraft), Settings{IDPMetadataURL: ptr(mdURL)},
			func(c storage.Connection) storage.Connection {
				c.IDPSSOURL, c.IDPIssuer, c.IDPCertificates, c.IDPMetadataURL, c.IDPMetadataXML = "", "", "", mdURL, md
				return c
			}},
		{"metadata URL to explicit", metadataConn(t, storage.ConnectionDraft, mdURL),
			Settings{IDPSSOURL: ptr(ssoURL), IDPIssuer: ptr(issuer), IDPCertificates: &[]string{c1}},
			func(c storage.Connection) storage.Connection {
				c.IDPSSOURL, c.IDPIssuer, c.IDPCertificates, c.IDPMetadataURL, c.IDPMetadataXML = ssoURL, issuer, c1, "", ""
				return c
			}},
		{"metadata URL to document", metadataConn(t, storage.ConnectionDraft, mdURL), Settings{IDPMetadataXML: ptr(" " + md + " ")},
			func(c storage.Connection) storage.Connection {
				c.IDPMetadataURL = ""
				return c
			}},
		{"one explicit value kept", explicitConn(t, storage.ConnectionDraft), Settings{IDPCertificates: &[]string{c1, c2}},
			func(c storage.Connection) storage.Connection {
				c.IDPCertificates = c1 + c2
				return c
			}},
		{"metadata cleared", metadataConn(t, storage.ConnectionDraft, mdURL), Settings{IDPMetadataURL: ptr("")},
			func(c storage.Connection) storage.Connection {
				c.IDPMetadataURL, c.IDPMetadataXML = "", ""
				return c
			}},
		{"explicit cleared", explicitConn(t, storage.ConnectionDraft), Settings{IDPSSOURL: ptr(""), IDPIssuer: ptr(""), IDPCertificates: &[]string{}},
			func(c storage.Connection) storage.Connection {
				c.IDPSSOURL, c.IDPIssuer, c.IDPCertificates = "", "", ""
				return c
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.conn
			want := tc.want(tc.conn)
			if err := change(t, &c, tc.in, false); err != nil {
				t.Fatalf("change = %v", err)
			}
			if diff := cmp.Diff(want, c); diff != "" {
				t.Errorf("connection after the change (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyStateRules(t *testing.T) {
	_, c2 := certs(t)
	c1, _ := certs(t)
	pinned := func(c storage.Connection, fields ...string) storage.Connection {
		c.Pinned = fields
		return c
	}
	required := func(c storage.Connection) storage.Connection {
		c.RequireSSO = true
		return c
	}
	rotate := Settings{IDPCertificates: &[]string{c1, c2}}
	for _, tc := range []struct {
		name      string
		conn      storage.Connection
		in        Settings
		verified  bool
		wantErr   string // "rule", "unchanged", or "" for none
		wantState storage.ConnectionState
	}{
		{"IdP change on a draft", explicitConn(t, storage.ConnectionDraft), rotate, false, "", storage.ConnectionDraft},
		{"IdP change on a tested connection", explicitConn(t, storage.ConnectionTested), rotate, false, "", storage.ConnectionDraft},
		{"IdP change on a disabled connection", explicitConn(t, storage.ConnectionDisabled), Settings{IDPIssuer: ptr("https://other.example")}, false, "", storage.ConnectionDraft},
		{"IdP change on an enabled connection", explicitConn(t, storage.ConnectionEnabled), rotate, false, "", storage.ConnectionEnabled},
		{"source switch to the same IdP's metadata on an enabled connection", issuerOfTestIdP(t, explicitConn(t, storage.ConnectionEnabled)), Settings{IDPMetadataURL: ptr("https://idp.example.com/metadata")}, false, "", storage.ConnectionEnabled},
		{"source switch to another IdP on an enabled connection", explicitConn(t, storage.ConnectionEnabled), Settings{IDPMetadataURL: ptr("https://idp.example.com/metadata")}, false, "rule", storage.ConnectionEnabled},
		{"another issuer on an enabled connection", explicitConn(t, storage.ConnectionEnabled), Settings{IDPIssuer: ptr("https://other-idp.example.com")}, false, "rule", storage.ConnectionEnabled},
		{"another SSO URL of the same IdP on an enabled connection", explicitConn(t, storage.ConnectionEnabled), Settings{IDPSSOURL: ptr("https://idp.example.com/sso2")}, false, "", storage.ConnectionEnabled},
		{"IdP cleared on an enabled connection", explicitConn(t, storage.ConnectionEnabled), Settings{IDPSSOURL: ptr(""), IDPIssuer: ptr(""), IDPCertificates: &[]string{}}, false, "rule", storage.ConnectionEnabled},
		{"metadata cleared on an enabled connection", metadataConn(t, storage.ConnectionEnabled, "https://idp.example.com/metadata"), Settings{IDPMetadataURL: ptr("")}, false, "rule", storage.ConnectionEnabled},
		{"single-logout URL on a tested connection", explicitConn(t, storage.ConnectionTested), Settings{IDPSLOURL: ptr("https://idp.example.com/slo")}, false, "", storage.ConnectionTested},
		{"switches on a tested connection", explicitConn(t, storage.ConnectionTested), Settings{IDPManagedAccess: ptr(true), AllowIDPInitiated: ptr(false)}, false, "", storage.ConnectionTested},
		{"require_sso on a draft", explicitConn(t, storage.ConnectionDraft), Settings{RequireSSO: ptr(true)}, true, "rule", storage.ConnectionDraft},
		{"require_sso on a tested connection", explicitConn(t, storage.ConnectionTested), Settings{RequireSSO: ptr(true)}, true, "rule", storage.ConnectionTested},
		{"require_sso with an IdP change that makes a draft", explicitConn(t, storage.ConnectionTested), Settings{RequireSSO: ptr(true), IDPCertificates: &[]string{c2}}, true, "rule", storage.ConnectionTested},
		{"require_sso without a verified domain", explicitConn(t, storage.ConnectionEnabled), Settings{RequireSSO: ptr(true)}, false, "rule", storage.ConnectionEnabled},
		{"require_sso when enabled with a verified domain", explicitConn(t, storage.ConnectionEnabled), Settings{RequireSSO: ptr(true)}, true, "", storage.ConnectionEnabled},
		{"require_sso off", required(explicitConn(t, storage.ConnectionEnabled)), Settings{RequireSSO: ptr(false)}, false, "", storage.ConnectionEnabled},
		{"pinned field changed", pinned(explicitConn(t, storage.ConnectionEnabled), FieldIDPSSOURL), Settings{IDPSSOURL: ptr("https://other.example/sso")}, false, "rule", storage.ConnectionEnabled},
		{"pinned field given its value", pinned(explicitConn(t, storage.ConnectionEnabled), FieldIDPSSOURL), Settings{IDPSSOURL: ptr(ssoURL), IDPManagedAccess: ptr(true)}, false, "", storage.ConnectionEnabled},
		{"pinned field cleared by a source switch", pinned(explicitConn(t, storage.ConnectionEnabled), FieldIDPCertificates), Settings{IDPMetadataURL: ptr("https://idp.example.com/metadata")}, false, "rule", storage.ConnectionEnabled},
		{"pinned switch", pinned(explicitConn(t, storage.ConnectionEnabled), FieldRequireSSO), Settings{RequireSSO: ptr(true)}, true, "rule", storage.ConnectionEnabled},
		{"pinned single-logout URL", pinned(explicitConn(t, storage.ConnectionEnabled), FieldIDPSLOURL), Settings{IDPSLOURL: ptr("https://idp.example.com/slo")}, false, "rule", storage.ConnectionEnabled},
		{"groups attribute on a tested connection", explicitConn(t, storage.ConnectionTested), Settings{GroupsAttribute: ptr("groups")}, false, "", storage.ConnectionTested},
		{"groups attribute on an enabled connection", explicitConn(t, storage.ConnectionEnabled), Settings{GroupsAttribute: ptr(strings.Repeat("g", 256))}, false, "", storage.ConnectionEnabled},
		{"groups attribute cleared", withGroups(explicitConn(t, storage.ConnectionEnabled), "groups"), Settings{GroupsAttribute: ptr("")}, false, "", storage.ConnectionEnabled},
		{"groups attribute given again", withGroups(explicitConn(t, storage.ConnectionTested), "groups"), Settings{GroupsAttribute: ptr(" groups ")}, false, "unchanged", storage.ConnectionTested},
		{"pinned groups attribute", pinned(withGroups(explicitConn(t, storage.ConnectionEnabled), "groups"), FieldGroupsAttribute), Settings{GroupsAttribute: ptr("roles")}, false, "rule", storage.ConnectionEnabled},
		{"pinned groups attribute given its value", pinned(withGroups(explicitConn(t, storage.ConnectionEnabled), "groups"), FieldGroupsAttribute), Settings{GroupsAttribute: ptr("groups"), IDPManagedAccess: ptr(true)}, false, "", storage.ConnectionEnabled},
		{"nothing", explicitConn(t, storage.ConnectionEnabled), Settings{}, false, "unchanged", storage.ConnectionEnabled},
		{"the same values", explicitConn(t, storage.ConnectionTested), Settings{IDPSSOURL: ptr(ssoURL), IDPIssuer: ptr(" " + issuer + " "), IDPCertificates: &[]string{c1},
			AllowIDPInitiated: ptr(true), RequireSSO: ptr(false), IDPManagedAccess: ptr(false)}, true, "unchanged", storage.ConnectionTested},
		{"the same certificate as base64 DER", explicitConn(t, storage.ConnectionTested), Settings{IDPCertificates: &[]string{derBase64(t, c1)}}, false, "unchanged", storage.ConnectionTested},
		{"require_sso again when already on", required(explicitConn(t, storage.ConnectionEnabled)), Settings{RequireSSO: ptr(true)}, false, "unchanged", storage.ConnectionEnabled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.conn
			before := c
			err := change(t, &c, tc.in, tc.verified)
			var re *RuleError
			switch tc.wantErr {
			case "rule":
				if !errors.As(err, &re) || re.Reason == "" {
					t.Fatalf("change = %v (%T), want a *RuleError", err, err)
				}
			case "unchanged":
				if !errors.Is(err, ErrUnchanged) {
					t.Fatalf("change = %v, want ErrUnchanged", err)
				}
			default:
				if err != nil {
					t.Fatalf("change = %v, want nil", err)
				}
			}
			if err != nil {
				if diff := cmp.Diff(before, c); diff != "" {
					t.Errorf("a refused change wrote to the connection (-want +got):\n%s", diff)
				}
			} else if equalConnections(before, c) {
				t.Error("change = nil but the connection is the same")
			}
			if c.State != tc.wantState {
				t.Errorf("state after the change = %s, want %s", c.State, tc.wantState)
			}
		})
	}
}

func withGroups(c storage.Connection, attr string) storage.Connection {
	c.GroupsAttribute = attr
	return c
}

func derBase64(t testing.TB, pemText string) string {
	t.Helper()
	b, _ := pem.Decode([]byte(pemText))
	if b == nil {
		t.Fatal("no PEM block")
	}
	return base64.StdEncoding.EncodeToString(b.Bytes)
}

func TestEnable(t *testing.T) {
	incomplete := explicitConn(t, storage.ConnectionTested)
	incomplete.IDPCertificates = ""
	unknown := explicitConn(t, storage.ConnectionTested)
	unknown.State = "paused"
	for _, tc := range []struct {
		name     string
		conn     storage.Connection
		untested bool
		wantErr  string
	}{
		{"draft", explicitConn(t, storage.ConnectionDraft), false, "rule"},
		{"draft untested", explicitConn(t, storage.ConnectionDraft), true, ""},
		{"tested", explicitConn(t, storage.ConnectionTested), false, ""},
		{"tested from metadata", metadataConn(t, storage.ConnectionTested, ""), false, ""},
		{"disabled", explicitConn(t, storage.ConnectionDisabled), false, ""},
		{"enabled", explicitConn(t, storage.ConnectionEnabled), false, "unchanged"},
		{"tested without a certificate", incomplete, true, "rule"},
		{"no IdP", storage.NewConnection(1), true, "rule"},
		{"unknown state", unknown, true, "rule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.conn
			err := Enable(&c, tc.untested)
			var re *RuleError
			switch tc.wantErr {
			case "rule":
				if !errors.As(err, &re) {
					t.Fatalf("Enable = %v, want a *RuleError", err)
				}
			case "unchanged":
				if !errors.Is(err, ErrUnchanged) {
					t.Fatalf("Enable = %v, want ErrUnchanged", err)
				}
			default:
				if err != nil {
					t.Fatalf("Enable = %v", err)
				}
			}
			want := tc.conn.State
			if err == nil {
				want = storage.ConnectionEnabled
			}
			if c.State != want {
				t.Errorf("state after Enable = %s, want %s", c.State, want)
			}
		})
	}
}

func TestDisable(t *testing.T) {
	conn := func(state storage.ConnectionState, require bool, pins ...string) storage.Connection {
		c := explicitConn(t, state)
		c.RequireSSO, c.Pinned = require, pins
		return c
	}
	for _, tc := range []struct {
		name        string
		conn        storage.Connection
		wantErr     string
		wantCleared bool
	}{
		{"enabled", conn(storage.ConnectionEnabled, false), "", false},
		{"enabled with require_sso", conn(storage.ConnectionEnabled, true), "", true},
		{"state pinned", conn(storage.ConnectionEnabled, false, FieldState), "rule", false},
		{"state pinned while disabled", conn(storage.ConnectionDisabled, false, FieldState), "rule", false},
		{"require_sso pinned", conn(storage.ConnectionEnabled, true, FieldRequireSSO), "rule", false},
		{"require_sso pinned off", conn(storage.ConnectionEnabled, false, FieldRequireSSO), "", false},
		{"draft", conn(storage.ConnectionDraft, false), "unchanged", false},
		{"disabled", conn(storage.ConnectionDisabled, false), "unchanged", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.conn
			cleared, err := Disable(&c)
			var re *RuleError
			switch tc.wantErr {
			case "rule":
				if !errors.As(err, &re) {
					t.Fatalf("Disable = %v, want a *RuleError", err)
				}
			case "unchanged":
				if !errors.Is(err, ErrUnchanged) {
					t.Fatalf("Disable = %v, want ErrUnchanged", err)
				}
			default:
				if err != nil {
					t.Fatalf("Disable = %v", err)
				}
			}
			if cleared != tc.wantCleared {
				t.Errorf("Disable reported require_sso cleared = %v, want %v", cleared, tc.wantCleared)
			}
			want := tc.conn
			if err == nil {
				want.State, want.RequireSSO = storage.ConnectionDisabled, false
			}
			if diff := cmp.Diff(want, c); diff != "" {
				t.Errorf("connection after Disable (-want +got):\n%s", diff)
			}
		})
	}
}

// loopbackMetadataClient is MetadataClient as these tests need it: the
// test servers listen on loopback.
func loopbackMetadataClient() *http.Client { return MetadataClient(true) }

func TestFetchMetadata(t *testing.T) {
	md := idpMetadataXML(t)
	const secret = "SECRET-BODY-7d1f"
	mux := http.NewServeMux()
	mux.HandleFunc("/metadata", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, md) })
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) { http.Error(w, secret, http.StatusNotFound) })
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) { http.Error(w, secret, http.StatusInternalServerError) })
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>"+secret+"</html>") })
	mux.HandleFunc("/exactly-1mib", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", MaxMetadataSize)))
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(secret + strings.Repeat("x", MaxMetadataSize)))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	fetch := FetchMetadata(loopbackMetadataClient())
	ctx := context.Background()

	got, err := fetch(ctx, srv.URL+"/metadata")
	if err != nil || string(got) != md {
		t.Fatalf("fetch(/metadata) = %d bytes, %v; want the document", len(got), err)
	}
	if got, err := fetch(ctx, srv.URL+"/exactly-1mib"); err != nil || len(got) != MaxMetadataSize {
		t.Errorf("fetch(/exactly-1mib) = %d bytes, %v; want %d", len(got), err, MaxMetadataSize)
	}
	for _, tc := range []struct {
		path, want string
	}{
		{"/missing", "404"},
		{"/broken", "500"},
		{"/huge", "more than 1048576 bytes"},
	} {
		got, err := fetch(ctx, srv.URL+tc.path)
		if err == nil || got != nil {
			t.Errorf("fetch(%s) = %d bytes, %v; want a refusal", tc.path, len(got), err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), secret) {
			t.Errorf("fetch(%s) = %q, want it to say %q and not quote the body", tc.path, err, tc.want)
		}
	}

	// Through Prepare, as the admin API calls it.
	for _, path := range []string{"/missing", "/html", "/huge"} {
		_, err := Prepare(ctx, Settings{IDPMetadataURL: ptr(srv.URL + path)}, fetch, now)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != FieldIDPMetadataURL {
			t.Errorf("Prepare(%s) = %v, want a FieldError for %s", path, err, FieldIDPMetadataURL)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Prepare(%s) = %q quotes what the server sent", path, err)
		}
	}
	c := storage.NewConnection(1)
	ch, err := Prepare(ctx, Settings{IDPMetadataURL: ptr(srv.URL + "/metadata")}, fetch, now)
	if err != nil {
		t.Fatalf("Prepare(/metadata) = %v", err)
	}
	if err := ch.Apply(&c, false); err != nil {
		t.Fatal(err)
	}
	if c.IDPMetadataURL != srv.URL+"/metadata" || c.IDPMetadataXML != md {
		t.Errorf("Apply stored URL %q and %d bytes of metadata; want the URL and the fetched document", c.IDPMetadataURL, len(c.IDPMetadataXML))
	}
	p, _ := testIdP()
	ed, err := IDPMetadata(c)
	if err != nil || ed.EntityID != p.EntityID() {
		t.Errorf("IDPMetadata = %v, %v; want the test IdP %s", ed, err, p.EntityID())
	}

	_, err = Prepare(ctx, Settings{IDPMetadataURL: ptr(srv.URL + "/metadata")}, nil, now)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != FieldIDPMetadataURL {
		t.Errorf("Prepare(URL, no fetcher) = %v, want a FieldError", err)
	}
}

func TestMetadataClientRedirects(t *testing.T) {
	md := idpMetadataXML(t)
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("/metadata", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, md) })
	mux.HandleFunc("/to-http", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.com/metadata", http.StatusFound)
	})
	mux.HandleFunc("/to-file", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	mux.HandleFunc("/to-userinfo", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(srv.URL, "http://", "http://admin:pw@", 1)+"/metadata", http.StatusFound)
	})
	mux.HandleFunc("/to-local", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/metadata", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	// /hops/N redirects N times before it reaches the document.
	mux.HandleFunc("/hops/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n == 0 {
			fmt.Fprint(w, md)
			return
		}
		http.Redirect(w, r, fmt.Sprint("/hops/", n-1), http.StatusFound)
	})
	srv = httptest.NewServer(mux)
	defer srv.Close()
	fetch := FetchMetadata(loopbackMetadataClient())
	ctx := context.Background()

	for _, path := range []string{"/to-local", "/hops/4"} {
		if got, err := fetch(ctx, srv.URL+path); err != nil || string(got) != md {
			t.Errorf("fetch(%s) = %d bytes, %v; want the document", path, len(got), err)
		}
	}
	for _, tc := range []struct{ path, want string }{
		{"/hops/5", "too many redirects"},
		{"/to-http", "https"},
		{"/to-file", "https"},
		{"/to-userinfo", "user name or password"},
		{"/loop", "too many redirects"},
	} {
		got, err := fetch(ctx, srv.URL+tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("fetch(%s) = %d bytes, %v; want a refusal saying %q", tc.path, len(got), err, tc.want)
		}
	}
}

func TestCertificates(t *testing.T) {
	soon, soonCert := newCert(t, "soon", now.Add(29*24*time.Hour))
	later, _ := newCert(t, "later", now.Add(31*24*time.Hour))
	expired, _ := newCert(t, "gone", now.Add(-time.Hour))
	c := explicitConn(t, storage.ConnectionEnabled)
	c.IDPCertificates = soon + later + expired
	got := Certificates(c, now)
	if len(got) != 3 {
		t.Fatalf("Certificates = %d, want 3", len(got))
	}
	type flags struct {
		Subject              string
		ExpiresSoon, Expired bool
	}
	var gotFlags []flags
	for _, ci := range got {
		gotFlags = append(gotFlags, flags{ci.Subject, ci.ExpiresSoon, ci.Expired})
	}
	want := []flags{{"CN=soon", true, false}, {"CN=later", false, false}, {"CN=gone", true, true}}
	if diff := cmp.Diff(want, gotFlags); diff != "" {
		t.Errorf("Certificates flags (-want +got):\n%s", diff)
	}
	sum := sha256.Sum256(soonCert.Raw)
	fp := strings.ToUpper(hex.EncodeToString(sum[:]))
	if strings.ReplaceAll(got[0].Fingerprint, ":", "") != fp || len(got[0].Fingerprint) != 32*3-1 {
		t.Errorf("Fingerprint = %q, want %s in colon-separated pairs", got[0].Fingerprint, fp)
	}
	if !got[0].NotAfter.Equal(now.Add(29*24*time.Hour)) || got[0].NotAfter.Location() != time.UTC {
		t.Errorf("NotAfter = %v, want %v in UTC", got[0].NotAfter, now.Add(29*24*time.Hour))
	}

	p, _ := testIdP()
	fromMetadata := Certificates(metadataConn(t, storage.ConnectionDraft, ""), now)
	if len(fromMetadata) != 1 || fromMetadata[0].Subject != p.Cert.Subject.String() || fromMetadata[0].ExpiresSoon {
		t.Errorf("Certificates(metadata) = %+v, want the test IdP's certificate", fromMetadata)
	}
	if got := Certificates(storage.NewConnection(1), now); got != nil {
		t.Errorf("Certificates(no IdP) = %+v, want nil", got)
	}
}

func TestIDPMetadataUsesSingleLogoutURL(t *testing.T) {
	for _, c := range []storage.Connection{explicitConn(t, storage.ConnectionEnabled), metadataConn(t, storage.ConnectionEnabled, "")} {
		c.IDPSLOURL = "https://idp.example.com/slo"
		ed, err := IDPMetadata(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ed.IDPSSODescriptors {
			if len(d.SingleLogoutServices) != 1 || d.SingleLogoutServices[0].Location != c.IDPSLOURL {
				t.Errorf("IDPMetadata single-logout services = %+v, want only %s", d.SingleLogoutServices, c.IDPSLOURL)
			}
		}
	}
}

// TestPrepareChecksMetadataURLs: the URLs inside a metadata document are
// held to the same rule as the ones an admin types: https, or http on
// loopback. The gate sends browsers to the IdP's SSO URL.
func TestPrepareChecksMetadataURLs(t *testing.T) {
	md := idpMetadataXML(t)
	p, _ := testIdP()
	for _, tc := range []struct{ name, url string }{
		{"javascript", "javascript:alert(1)"},
		{"http", "http://idp.example.com/app/sso"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.ReplaceAll(md, p.SSOURL(), tc.url)
			if doc == md {
				t.Fatal("the metadata does not hold the SSO URL")
			}
			c := storage.NewConnection(1)
			err := change(t, &c, Settings{IDPMetadataXML: &doc}, false)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != FieldIDPMetadataXML {
				t.Errorf("change(metadata with SSO URL %q) = %v, want a FieldError for %s", tc.url, err, FieldIDPMetadataXML)
			}
		})
	}
}

// TestPrepareChecksMetadataDates: metadata is held to the rule explicit
// certificates are (an IdP signing with an expired certificate fails
// every sign-in), and metadata past its validUntil is refused by the SP
// (RejectExpiredIDPMetadata), so neither should be accepted.
func TestPrepareChecksMetadataDates(t *testing.T) {
	_, old := newCert(t, "old idp", time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC))
	b, err := xml.Marshal(sso.IDPMetadata(ssoURL, issuer, []*x509.Certificate{old}))
	if err != nil {
		t.Fatal(err)
	}
	expiredCert := string(b)
	p, _ := testIdP()
	md := p.IDP.Metadata()
	md.ValidUntil = now.Add(-time.Hour)
	if b, err = xml.Marshal(md); err != nil {
		t.Fatal(err)
	}
	pastValidUntil := string(b)
	for _, tc := range []struct{ name, doc, reason string }{
		{"expired certificate", expiredCert, "expired on 2020-01-02"},
		{"past validUntil", pastValidUntil, "validUntil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := storage.NewConnection(1)
			err := change(t, &c, Settings{IDPMetadataXML: &tc.doc}, false)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != FieldIDPMetadataXML || !strings.Contains(fe.Reason, tc.reason) {
				t.Errorf("change(%s) = %v, want a FieldError for %s saying %q", tc.name, err, FieldIDPMetadataXML, tc.reason)
			}
		})
	}
}

// TestCheckDomainRemoval: an org that requires SSO keeps a verified
// domain; otherwise any domain may go.
func TestCheckDomainRemoval(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	org, err := st.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckDomainRemoval(ctx, st, org.ID, "acme.com"); err != nil {
		t.Fatalf("CheckDomainRemoval(no connection) = %v, want nil", err)
	}
	if err := st.SyncConfigDomains(ctx, org.ID, []string{"acme.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ModifyConnection(ctx, org.ID, func(c *storage.Connection) error {
		c.RequireSSO, c.State = true, storage.ConnectionEnabled
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var re *RuleError
	if err := CheckDomainRemoval(ctx, st, org.ID, "ACME.com"); !errors.As(err, &re) || !strings.Contains(re.Reason, "require_sso") {
		t.Fatalf("CheckDomainRemoval(the last verified domain, require_sso) = %v, want a RuleError naming require_sso", err)
	}
	if _, err := st.ClaimDomain(ctx, org.ID, "acme.net", "x"); err != nil {
		t.Fatal(err)
	}
	if err := CheckDomainRemoval(ctx, st, org.ID, "acme.com"); !errors.As(err, &re) {
		t.Fatalf("CheckDomainRemoval with only a pending second claim = %v, want a RuleError", err)
	}
	if _, err := st.MarkDomainVerified(ctx, org.ID, "acme.net"); err != nil {
		t.Fatal(err)
	}
	if err := CheckDomainRemoval(ctx, st, org.ID, "acme.com"); err != nil {
		t.Fatalf("CheckDomainRemoval(one of two verified) = %v, want nil", err)
	}
}
