package sso

import (
	"encoding/xml"
	"net/url"
	"strings"
	"testing"

	"github.com/crewjam/saml"
	"github.com/google/go-cmp/cmp"
)

func TestCheckIDP(t *testing.T) {
	md := &saml.EntityDescriptor{}
	if err := xml.Unmarshal(readFixture(t, "TestSPCanHandleEntraIDResponse_IDPMetadata"), md); err != nil {
		t.Fatal(err)
	}
	// with returns a copy of md's first IdP role changed by fn.
	with := func(fn func(d *saml.IDPSSODescriptor)) *saml.EntityDescriptor {
		c := *md
		d := md.IDPSSODescriptors[0]
		d.KeyDescriptors = append([]saml.KeyDescriptor(nil), d.KeyDescriptors...)
		d.SingleSignOnServices = append([]saml.Endpoint(nil), d.SingleSignOnServices...)
		fn(&d)
		c.IDPSSODescriptors = []saml.IDPSSODescriptor{d}
		return &c
	}
	for _, tc := range []struct {
		name string
		ed   *saml.EntityDescriptor
		want string // in the error; "" for none
	}{
		{"Entra metadata", md, ""},
		{"nil", nil, "no IDPSSODescriptor"},
		{"SP metadata", &saml.EntityDescriptor{EntityID: "sp", SPSSODescriptors: []saml.SPSSODescriptor{{}}}, "no IDPSSODescriptor"},
		{"no key", with(func(d *saml.IDPSSODescriptor) { d.KeyDescriptors = nil }), "no signing certificate"},
		{"encryption key only", with(func(d *saml.IDPSSODescriptor) {
			for i := range d.KeyDescriptors {
				d.KeyDescriptors[i].Use = "encryption"
			}
		}), "no signing certificate"},
		{"certificate that does not parse", with(func(d *saml.IDPSSODescriptor) {
			d.KeyDescriptors = []saml.KeyDescriptor{{Use: "signing", KeyInfo: saml.KeyInfo{X509Data: saml.X509Data{
				X509Certificates: []saml.X509Certificate{{Data: "bm90IGEgY2VydA=="}}}}}}
		}), "does not parse"},
		{"POST binding only", with(func(d *saml.IDPSSODescriptor) {
			d.SingleSignOnServices = []saml.Endpoint{{Binding: saml.HTTPPostBinding, Location: "https://idp.example/sso"}}
		}), "no HTTP-Redirect SingleSignOnService"},
		{"redirect binding without a location", with(func(d *saml.IDPSSODescriptor) {
			d.SingleSignOnServices = []saml.Endpoint{{Binding: saml.HTTPRedirectBinding}}
		}), "no HTTP-Redirect SingleSignOnService"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckIDP(tc.ed)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckIDP = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckIDP = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestSPMetadataWithoutIDP: an org's admin downloads its SP metadata
// (its own entity ID and ACS URL) before any IdP is configured.
func TestSPMetadataWithoutIDP(t *testing.T) {
	origin := &url.URL{Scheme: "https", Host: "app.example.com"}
	doc, err := SPMetadata(Config{
		MetadataPath: "/sso/o/acme/metadata",
		ACSPath:      "/sso/o/acme/acs",
		LogoutPath:   "/sso/o/acme/logout",
	}, origin)
	if err != nil {
		t.Fatalf("SPMetadata without an IdP = %v", err)
	}
	md := &saml.EntityDescriptor{}
	if err := xml.Unmarshal(doc, md); err != nil {
		t.Fatalf("SP metadata does not parse: %v\n%s", err, doc)
	}
	if md.EntityID != "https://app.example.com/sso/o/acme/metadata" || len(md.SPSSODescriptors) != 1 {
		t.Fatalf("SP metadata entity %q with %d SP roles, want https://app.example.com/sso/o/acme/metadata with 1", md.EntityID, len(md.SPSSODescriptors))
	}
	d := md.SPSSODescriptors[0]
	var acs []string
	for _, a := range d.AssertionConsumerServices {
		acs = append(acs, a.Binding+" "+a.Location)
	}
	if diff := cmp.Diff([]string{saml.HTTPPostBinding + " https://app.example.com/sso/o/acme/acs"}, acs); diff != "" {
		t.Errorf("ACS endpoints (-want +got):\n%s", diff)
	}
	var slo []string
	for _, e := range d.SingleLogoutServices {
		slo = append(slo, e.Binding+" "+e.Location)
	}
	wantSLO := []string{saml.HTTPRedirectBinding + " https://app.example.com/sso/o/acme/logout", saml.HTTPPostBinding + " https://app.example.com/sso/o/acme/logout"}
	if diff := cmp.Diff(wantSLO, slo); diff != "" {
		t.Errorf("single-logout services (-want +got):\n%s", diff)
	}
	if !md.ValidUntil.IsZero() || d.ValidUntil != nil || md.CacheDuration == 0 {
		t.Errorf("metadata validUntil %v / role %v, cacheDuration %v: want no validUntil, a cacheDuration", md.ValidUntil, d.ValidUntil, md.CacheDuration)
	}

	// With an entity ID set, it is used as is.
	doc, err = SPMetadata(Config{EntityID: "urn:acme:sp", MetadataPath: "/m", ACSPath: "/a"}, origin)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(doc, md); err != nil || md.EntityID != "urn:acme:sp" {
		t.Errorf("SP metadata with EntityID = %q, %v; want urn:acme:sp", md.EntityID, err)
	}
}
