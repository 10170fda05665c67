package scimserver_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/scimserver"
)

// FuzzSSOSettings sends arbitrary bytes as the body of PUT /api/v1/sso:
// never a panic or a 5xx, only 200, 400, 409 or 413, and a refusal
// always says why. Metadata URLs are answered by a canned transport, so
// the fuzzer never reaches the network.
func FuzzSSOSettings(f *testing.F) {
	a, _, mdB := testIdPs(f)
	seeds := []any{
		map[string]any{},
		explicitIdP(a),
		map[string]any{"idp_certificates": []string{string(a.CertificatePEM()), string(a.CertificatePEM())}},
		map[string]any{"idp_metadata_xml": mdB},
		map[string]any{"idp_metadata_url": "https://idp.example.com/metadata"},
		map[string]any{"idp_metadata_url": "https://idp.example.com/other"},
		map[string]any{"idp_sso_url": "http://localhost:1/sso", "idp_slo_url": nil, "require_sso": true},
		map[string]any{"idp_managed_access": true, "allow_idp_initiated": false},
		map[string]any{"groups_attribute": "groups"},
		map[string]any{"groups_attribute": nil, "allow_idp_initiated": true},
		map[string]any{"idp_certificates": nil, "idp_issuer": ""},
		map[string]any{"org": "acme"},
		map[string]any{"idp_certificates": []any{1, "x"}},
	}
	for _, s := range seeds {
		raw, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, s := range []string{``, `null`, `[]`, `{"a":1}{}`, `{"idp_issuer":"\u0000"}`, `{"require_sso":"true"}`, `{"idp_sso_url":1e400}`, strings.Repeat("[", 10000)} {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp := &http.Response{StatusCode: 404, Status: "404 Not Found", Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}, Request: r}
		if r.URL.Path == "/metadata" {
			resp.StatusCode, resp.Status, resp.Body = 200, "200 OK", io.NopCloser(strings.NewReader(mdB))
		}
		return resp, nil
	})}
	h, err := scimserver.New(scimserver.Config{Store: e.store, RequestsPerSecond: -1, MetadataClient: client})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("PUT", "/api/v1/sso", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.admin)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("= %d, body not JSON: %q", rec.Code, rec.Body.Bytes())
		}
		switch rec.Code {
		case 200:
			if out["org"] != "acme" {
				t.Fatalf("200 without the connection: %s", rec.Body.Bytes())
			}
		case 400, 409, 413:
			if s, _ := out["error"].(string); s == "" {
				t.Fatalf("%d without a reason: %s", rec.Code, rec.Body.Bytes())
			}
		default:
			t.Fatalf("= %d %s; want 200, 400, 409 or 413", rec.Code, rec.Body.Bytes())
		}
	})
}
