package tenant

import (
	"context"
	"errors"
	"strings"

	"github.com/ssogate/ssogate/internal/storage"
)

// A gate records where it serves an org, so that the sidecar (perhaps in
// another process) can tell an admin what to paste into the IdP and where
// a test sign-in runs. The value is the gate's base URL with its path
// prefix, such as https://app.example.com/sso.
const (
	gateURLSetting       = "gate_url:"
	sharedGateURLSetting = "gate_url:*"
)

// GateURLKey is the setting under which a gate pinned to org (or, for
// org "", the shared gate) records its URL.
func GateURLKey(org string) string {
	if org == "" {
		return sharedGateURLSetting
	}
	return gateURLSetting + org
}

// GateURL returns the URL of the gate serving org: a gate pinned to it,
// else the shared gate; "" when no gate with a base_url recorded one.
func GateURL(ctx context.Context, st storage.SettingStore, org string) (string, error) {
	for _, key := range []string{GateURLKey(org), GateURLKey("")} {
		v, err := st.Setting(ctx, key)
		if err == nil {
			return string(v), nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return "", err
		}
	}
	return "", nil
}

// Endpoints are an org's SP endpoints: what its admin copies into the IdP.
type Endpoints struct {
	// ACSURL is the "postback URL" (Okta's Single sign-on URL, Entra's
	// Reply URL).
	ACSURL string `json:"acs_url"`
	// EntityID is the audience (Okta's Audience URI, Entra's Identifier);
	// it is also where the SP metadata is served.
	EntityID    string `json:"entity_id"`
	MetadataURL string `json:"metadata_url"`
	LogoutURL   string `json:"logout_url"`
}

// OrgPath is the path of an org's SP endpoints under a gate's path
// prefix: <prefix>/o/<org>.
func OrgPath(prefix, org string) string { return strings.TrimRight(prefix, "/") + "/o/" + org }

// EndpointsAt returns an org's SP endpoints under gateURL (base URL and
// path prefix); with gateURL "" they are paths, to be put after the
// gate's origin.
func EndpointsAt(gateURL, org string) Endpoints {
	base := OrgPath(gateURL, org)
	return Endpoints{
		ACSURL:      base + "/acs",
		EntityID:    base + "/metadata",
		MetadataURL: base + "/metadata",
		LogoutURL:   base + "/logout",
	}
}

// TestPath is where a test sign-in runs, under an org's path.
func TestPath(orgPath, testID string) string { return orgPath + "/test/" + testID }
