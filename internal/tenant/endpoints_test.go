package tenant

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ssogate/ssogate/internal/sqlitestore"
)

func TestEndpointsAt(t *testing.T) {
	for _, tc := range []struct {
		name, gateURL, org string
		want               Endpoints
	}{
		{"base URL with a prefix", "https://app.example.com/sso", "acme", Endpoints{
			ACSURL: "https://app.example.com/sso/o/acme/acs", EntityID: "https://app.example.com/sso/o/acme/metadata",
			MetadataURL: "https://app.example.com/sso/o/acme/metadata", LogoutURL: "https://app.example.com/sso/o/acme/logout"}},
		{"trailing slash", "https://app.example.com/sso/", "acme-eu", Endpoints{
			ACSURL: "https://app.example.com/sso/o/acme-eu/acs", EntityID: "https://app.example.com/sso/o/acme-eu/metadata",
			MetadataURL: "https://app.example.com/sso/o/acme-eu/metadata", LogoutURL: "https://app.example.com/sso/o/acme-eu/logout"}},
		{"no gate URL", "", "acme", Endpoints{
			ACSURL: "/o/acme/acs", EntityID: "/o/acme/metadata", MetadataURL: "/o/acme/metadata", LogoutURL: "/o/acme/logout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := EndpointsAt(tc.gateURL, tc.org); got != tc.want {
				t.Errorf("EndpointsAt(%q, %q) = %+v, want %+v", tc.gateURL, tc.org, got, tc.want)
			}
		})
	}
	if got, want := TestPath(OrgPath("/sso", "acme"), "t1"), "/sso/o/acme/test/t1"; got != want {
		t.Errorf("TestPath(OrgPath(/sso, acme), t1) = %q, want %q", got, want)
	}
}

func TestGateURL(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "gate-url.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := GateURL(ctx, st, "acme"); err != nil || got != "" {
		t.Fatalf("GateURL(acme) with no gate = %q, %v; want \"\"", got, err)
	}
	if err := st.PutSetting(ctx, GateURLKey(""), []byte("https://shared.example.com/sso")); err != nil {
		t.Fatal(err)
	}
	if err := st.PutSetting(ctx, GateURLKey("acme"), []byte("https://acme.example.com/sso")); err != nil {
		t.Fatal(err)
	}
	for org, want := range map[string]string{
		"acme":   "https://acme.example.com/sso",
		"globex": "https://shared.example.com/sso",
		"":       "https://shared.example.com/sso",
	} {
		if got, err := GateURL(ctx, st, org); err != nil || got != want {
			t.Errorf("GateURL(%q) = %q, %v; want %q", org, got, err, want)
		}
	}
}
