package tenant

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
)

// View is an org's SSO connection as its admin sees it. The admin API's
// GET /api/v1/sso and `ssogate sso show --json` answer with this one
// shape, so that a settings page or a script binds to either.
type View struct {
	Org               string                  `json:"org"`
	State             storage.ConnectionState `json:"state"`
	IDPSSOURL         string                  `json:"idp_sso_url"`
	IDPIssuer         string                  `json:"idp_issuer"`
	IDPCertificates   []string                `json:"idp_certificates"` // one PEM block each
	IDPMetadataURL    string                  `json:"idp_metadata_url"`
	IDPMetadataXML    string                  `json:"idp_metadata_xml"`
	IDPSLOURL         string                  `json:"idp_slo_url"`
	RequireSSO        bool                    `json:"require_sso"`
	IDPManagedAccess  bool                    `json:"idp_managed_access"`
	AllowIDPInitiated bool                    `json:"allow_idp_initiated"`
	// GroupsAttribute names the assertion attribute whose values become
	// the member's teams at each sign-in; "" when the groups are ignored.
	GroupsAttribute string `json:"groups_attribute"`
	// Pinned lists the fields the operator set in a Caddyfile; they are
	// read-only.
	Pinned []string `json:"pinned"`
	// Certificates describes the IdP's signing certificates, explicit or
	// from the metadata.
	Certificates []CertificateInfo `json:"certificates"`
	// IDPProblem says why the IdP cannot sign anyone in, when it cannot.
	IDPProblem string `json:"idp_problem,omitempty"`
	// SP is what the admin copies into the IdP.
	SP                  SPView               `json:"sp"`
	AttributeStatements []AttributeStatement `json:"attribute_statements"`
	TestedAt            *time.Time           `json:"tested_at"`
	UpdatedAt           *time.Time           `json:"updated_at"`
	Version             int64                `json:"version"`
	// LastTest is the newest finished test sign-in, or nil.
	LastTest *TestView `json:"last_test"`
	// Notice tells what a change did beyond what was asked.
	Notice string `json:"notice,omitempty"`
}

// SPView is the org's SP endpoints: URLs when a gate recorded its URL,
// else paths under the default path prefix, with a note.
type SPView struct {
	Endpoints
	GateURLKnown bool   `json:"gate_url_known"`
	Note         string `json:"note,omitempty"`
}

// AttributeStatement is one attribute the IdP must send, in Okta's
// expression language (Entra offers the same claims under its own names).
type AttributeStatement struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// AttributeStatements are the attributes the gate reads first (it also
// knows mail, givenName, surname, Entra's claim URIs and a few more).
var AttributeStatements = []AttributeStatement{
	{Name: "email", Value: "user.email"},
	{Name: "firstName", Value: "user.firstName"},
	{Name: "lastName", Value: "user.lastName"},
}

// TestView is a test sign-in as an admin reads it.
type TestView struct {
	ID string `json:"id"`
	// Status is pending, passed, failed or expired.
	Status     string     `json:"status"`
	OK         bool       `json:"ok"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// Outcome is the TestOutcome the gate recorded, null before it ran.
	Outcome json.RawMessage `json:"outcome"`
}

// DefaultPathPrefix is saml_sso's default path_prefix, assumed for the
// endpoints of an org whose gate has not recorded its URL.
const DefaultPathPrefix = "/sso"

// SPEndpoints returns the org's endpoints under gateURL (tenant.GateURL);
// without one, paths under DefaultPathPrefix and a note saying so.
func SPEndpoints(gateURL, org string) SPView {
	if gateURL != "" {
		return SPView{Endpoints: EndpointsAt(gateURL, org), GateURLKnown: true}
	}
	e := EndpointsAt(DefaultPathPrefix, org)
	return SPView{Endpoints: e, Note: PathNote(e.ACSURL)}
}

// PathNote says what to do with a path of the gate when no gate recorded
// its URL.
func PathNote(path string) string {
	return fmt.Sprintf("no gate has recorded its URL yet (a saml_sso with base_url records it when it starts), so this is a path "+
		"assuming path_prefix %s: put the gate's origin before it, such as https://app.example.com%s", DefaultPathPrefix, path)
}

// Describe makes the View of an org's connection c; gateURL is the gate's
// recorded URL ("" when none), last the newest finished test (nil when
// none).
func Describe(org string, c storage.Connection, gateURL string, last *storage.SSOTest, now time.Time) View {
	v := View{
		Org:                 org,
		State:               c.State,
		IDPSSOURL:           c.IDPSSOURL,
		IDPIssuer:           c.IDPIssuer,
		IDPCertificates:     SplitPEM(c.IDPCertificates),
		IDPMetadataURL:      c.IDPMetadataURL,
		IDPMetadataXML:      c.IDPMetadataXML,
		IDPSLOURL:           c.IDPSLOURL,
		RequireSSO:          c.RequireSSO,
		IDPManagedAccess:    c.IDPManagedAccess,
		AllowIDPInitiated:   c.AllowIDPInitiated,
		GroupsAttribute:     c.GroupsAttribute,
		Pinned:              append([]string{}, c.Pinned...),
		Certificates:        append([]CertificateInfo{}, Certificates(c, now)...),
		SP:                  SPEndpoints(gateURL, org),
		AttributeStatements: AttributeStatements,
		TestedAt:            optTime(c.TestedAt),
		UpdatedAt:           optTime(c.UpdatedAt),
		Version:             c.Version,
	}
	if _, err := IDPMetadata(c); err != nil {
		v.IDPProblem = err.Error()
	}
	if last != nil {
		t := DescribeTest(*last, now)
		v.LastTest = &t
	}
	return v
}

// DescribeTest makes the view of a test sign-in at now.
func DescribeTest(t storage.SSOTest, now time.Time) TestView {
	v := TestView{ID: t.ID, OK: t.OK, CreatedAt: t.CreatedAt.UTC(), ExpiresAt: t.ExpiresAt.UTC(), FinishedAt: optTime(t.FinishedAt)}
	switch {
	case !t.FinishedAt.IsZero() && t.OK:
		v.Status = "passed"
	case !t.FinishedAt.IsZero():
		v.Status = "failed"
	case now.After(t.ExpiresAt):
		v.Status = "expired"
	default:
		v.Status = "pending"
	}
	// The gate writes the outcome; one that is not JSON must not make the
	// whole answer fail to encode.
	if len(t.Outcome) > 0 && json.Valid(t.Outcome) {
		v.Outcome = t.Outcome
	}
	return v
}

// SplitPEM returns each PEM block of text on its own; text that holds none
// (never stored by the API, but an operator's value might be) is returned
// whole.
func SplitPEM(text string) []string {
	out := []string{}
	rest := []byte(text)
	for {
		block, r := pem.Decode(rest)
		if block == nil {
			break
		}
		out = append(out, string(pem.EncodeToMemory(block)))
		rest = r
	}
	if len(out) == 0 && strings.TrimSpace(text) != "" {
		out = append(out, text)
	}
	return out
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
