package demo

import (
	"io"
	"net/http/httptest"
	"testing"

	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/testidp"
)

// TestFits checks how a rerun tells whether the org's stored IdP is this
// run's test IdP, for each way the owner may have given it.
func TestFits(t *testing.T) {
	mk := func(base string) (*Running, string) {
		idp, err := testidp.New(base)
		if err != nil {
			t.Fatal(err)
		}
		r := &Running{idp: idp, IdPSSOURL: idp.SSOURL(), IdPIssuer: idp.EntityID(),
			IdPCertificatePEM: string(idp.CertificatePEM()), IdPMetadataURL: base + "/metadata"}
		rec := httptest.NewRecorder()
		idp.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metadata", nil))
		md, _ := io.ReadAll(rec.Result().Body)
		return r, string(md)
	}
	r, md := mk("http://127.0.0.1:8082")
	other, otherMD := mk("http://127.0.0.1:9999")
	for _, tc := range []struct {
		name string
		conn storage.Connection
		want bool
	}{
		{"nothing set", storage.Connection{}, true},
		{"the three values", storage.Connection{IDPSSOURL: r.IdPSSOURL, IDPIssuer: r.IdPIssuer, IDPCertificates: other.IdPCertificatePEM + r.IdPCertificatePEM}, true},
		{"another port", storage.Connection{IDPSSOURL: other.IdPSSOURL, IDPIssuer: r.IdPIssuer, IDPCertificates: r.IdPCertificatePEM}, false},
		{"another certificate", storage.Connection{IDPSSOURL: r.IdPSSOURL, IDPIssuer: r.IdPIssuer, IDPCertificates: other.IdPCertificatePEM}, false},
		{"the metadata", storage.Connection{IDPMetadataURL: r.IdPMetadataURL, IDPMetadataXML: md}, true},
		{"another IdP's metadata", storage.Connection{IDPMetadataURL: r.IdPMetadataURL, IDPMetadataXML: otherMD}, false},
		{"a metadata URL alone", storage.Connection{IDPMetadataURL: r.IdPMetadataURL}, true},
		{"another metadata URL alone", storage.Connection{IDPMetadataURL: other.IdPMetadataURL}, false},
	} {
		if got := r.fits(&tc.conn); got != tc.want {
			t.Errorf("%s: fits = %v, want %v", tc.name, got, tc.want)
		}
	}
}
