package sso

import (
	"crypto/x509"
	"net/url"
	"testing"

	"github.com/ssogate/ssogate/internal/testidp"
)

// mintResponse returns a SAMLResponse from the test IdP for an
// SP-initiated login at a Provider: Okta-shaped, RSA-2048, response and
// assertion signed.
func mintResponse(tb testing.TB) string {
	tb.Helper()
	idp, err := testidp.New("http://idp.test", testidp.User{Email: "alice@acme.com", GivenName: "Alice", FamilyName: "Archer"})
	if err != nil {
		tb.Fatal(err)
	}
	origin := &url.URL{Scheme: "https", Host: "app.example.com"}
	p, err := New(Config{
		MetadataPath: "/sso/metadata", ACSPath: "/sso/acs",
		IDP:         IDPMetadata(idp.SSOURL(), idp.EntityID(), []*x509.Certificate{idp.Cert}),
		ReplayCache: newMemReplayCache(), ClockSkew: MaxClockSkew,
	})
	if err != nil {
		tb.Fatal(err)
	}
	md, err := p.Metadata(origin)
	if err != nil {
		tb.Fatal(err)
	}
	if err := idp.AddSPMetadata(md); err != nil {
		tb.Fatal(err)
	}
	u, _, err := p.StartLogin(origin, "relay", false)
	if err != nil {
		tb.Fatal(err)
	}
	_, form, err := idp.Answer(u, "alice@acme.com")
	if err != nil {
		tb.Fatal(err)
	}
	return form.Get("SAMLResponse")
}

// BenchmarkCheckShape is the pre-parse ParseACS runs before crewjam's
// ParseResponse, on a test IdP response (compare BenchmarkACS in
// caddymodule).
func BenchmarkCheckShape(b *testing.B) {
	resp := mintResponse(b)
	if _, _, err := checkShape(resp); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(resp)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := checkShape(resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanShape is the structural half of BenchmarkCheckShape, on the
// decoded response: the byte scanner that replaces encoding/xml's tokens.
func BenchmarkScanShape(b *testing.B) {
	raw := mintedXML(b)
	if err := scanShape(raw); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := scanShape(raw); err != nil {
			b.Fatal(err)
		}
	}
}
