package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/crewjam/saml"
	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// A test sign-in runs a real SAML round trip with an org's connection as
// it is stored (a draft too) and reports what came back, signing nobody
// in. An admin starts one (POST /api/v1/sso/test, or `ssogate sso test`)
// and gets <PathPrefix>/o/<org>/test/<id>; opening it sends the browser to
// the IdP, whose answer at the org's ACS is checked, evaluated against the
// org's sign-in rules and recorded. Only a test that passes moves a draft
// connection to tested, the step before it may be enabled. The ID is 128
// random bits, single-use and short-lived: whoever holds it runs the test.

// serveTest starts a test sign-in.
func (h *SSOHandler) serveTest(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, id string) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return nil
	}
	test, ok := h.openTest(w, r, t, id)
	if !ok {
		return nil
	}
	tt, err := h.testTenant(r, t, test)
	if err != nil {
		writePage(w, http.StatusConflict, "Test sign-in", sentence(err.Error()), "")
		return nil
	}
	return h.startLogin(w, r, tt, "/", loginOption{test: test.ID})
}

// openTest loads a test that may still run, or answers why not.
func (h *SSOHandler) openTest(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, id string) (storage.SSOTest, bool) {
	test, err := h.store.SSOTest(r.Context(), t.Org.ID, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writePage(w, http.StatusNotFound, "Test sign-in", "There is no such test sign-in. Start a new one from your organization's SSO settings.", "")
	case err != nil:
		h.logger.Error("reading test sign-in", zap.Error(err))
		writePage(w, http.StatusInternalServerError, "Test sign-in", "The test sign-in could not be read; the server log has the cause.", "")
	case !test.FinishedAt.IsZero():
		writePage(w, http.StatusGone, "Test sign-in", "This test sign-in has run already. Start a new one to test again.", "")
	case time.Now().After(test.ExpiresAt):
		writePage(w, http.StatusGone, "Test sign-in", "This test sign-in has expired. Start a new one; each may be used within 15 minutes.", "")
	default:
		return test, true
	}
	return storage.SSOTest{}, false
}

// testTenant is the org with its connection as stored now: a test must
// not run on a registry that has not caught up with the admin's last
// edit. The Caddyfile's IdP, when it pins one, is tested as it is.
func (h *SSOHandler) testTenant(r *http.Request, t *tenant.Tenant, test storage.SSOTest) (*tenant.Tenant, error) {
	if h.staticFor(t) != nil {
		return t, nil
	}
	conn, err := h.store.Connection(r.Context(), t.Org.ID)
	if err != nil {
		return nil, fmt.Errorf("the organization has no SSO connection to test")
	}
	if conn.Version != test.ConnectionVersion {
		return nil, fmt.Errorf("the SSO settings changed after this test was started; start a new test")
	}
	tt := tenant.New(t.Org, &conn, t.Domains)
	if tt.IDP == nil {
		return nil, fmt.Errorf("the SSO settings are incomplete: %v", tt.IDPErr)
	}
	return tt, nil
}

// testProvider builds the provider of a test: never cached, since a
// draft changes between tests.
func (h *SSOHandler) testProvider(ctx context.Context, t *tenant.Tenant, s site) (*sso.Provider, error) {
	if st := h.staticFor(t); st != nil {
		return h.provider(ctx, t, s)
	}
	return h.newProvider(ctx, t, s, t.IDP)
}

// finishTest checks the IdP's answer to a test sign-in, records what it
// found and shows it. It signs nobody in.
func (h *SSOHandler) finishTest(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, s site, pending sso.Pending) error {
	test, ok := h.openTest(w, r, t, pending.Test)
	if !ok {
		return nil
	}
	out := tenant.TestOutcome{}
	tt, err := h.testTenant(r, t, test)
	if err != nil {
		out.Error = err.Error()
		return h.recordTest(w, r, t, test, out)
	}
	p, err := h.testProvider(r.Context(), tt, s)
	if err != nil {
		return err
	}
	ident, err := p.ParseACS(r, h.origin(r), []string{pending.RequestID})
	if err != nil {
		var ref *sso.Refusal
		if !errors.As(err, &ref) {
			return err
		}
		out.Error = ref.Reason
		if ref.Err != nil {
			// The admin runs the test to learn exactly this: the private
			// cause goes to the report (never to a sign-in page).
			out.Error += ": " + ref.Err.Error()
		}
		out.Fix = testFix(ref)
		out.Rules = []tenant.Rule{{Name: "response", Detail: ref.Reason, Fix: out.Fix}}
		return h.recordTest(w, r, t, test, out)
	}
	if err := p.Consume(ident); err != nil {
		h.logger.Error("recording a test assertion as used", zap.Error(err))
	}
	out.Issuer, out.NameID, out.NameIDFormat = ident.Issuer, ident.NameID, ident.NameIDFormat
	out.Email, out.GivenName, out.FamilyName = ident.Email, ident.GivenName, ident.FamilyName
	out.Attributes = ident.Attributes()
	ev, err := tenant.Evaluate(r.Context(), h.store, tt.Org, h.policy(tt), ident)
	if err != nil {
		return err
	}
	out.Rules = append([]tenant.Rule{{Name: "response", Passed: true,
		Detail: "the response is signed by the IdP's certificate, meant for this organization and in date"}}, ev.Rules...)
	out.OK = ev.Refusal == nil
	if ev.Refusal != nil {
		out.Error = sentence(ev.Refusal.Reason)
		for _, rule := range ev.Rules {
			if !rule.Passed {
				out.Fix = rule.Fix
			}
		}
	}
	return h.recordTest(w, r, t, test, out)
}

// testFix says what to change when the IdP's response was refused.
func testFix(ref *sso.Refusal) string {
	switch {
	case errors.Is(ref, saml.ErrAudienceMismatch):
		return "set the Audience URI (SP Entity ID) at the IdP to the entity ID shown in the SSO settings"
	case errors.Is(ref, saml.ErrDestinationMismatch):
		return "set the Single sign-on URL (the postback URL) at the IdP to the ACS URL shown in the SSO settings"
	case errors.Is(ref, saml.ErrIssuerMismatch):
		return "the response's issuer is not the Issuer URL saved here: copy the IdP's Issuer (entity ID) again"
	case errors.Is(ref, saml.ErrInvalidSignature), errors.Is(ref, saml.ErrUntrustedCertificate), errors.Is(ref, saml.ErrInvalidCertificate):
		return "the response is not signed with the Public Certificate saved here: download the IdP's current signing certificate and save it again"
	case errors.Is(ref, saml.ErrCertificateNotValidNow):
		return "the IdP signs with a certificate that is expired or not yet valid: rotate it at the IdP and save the new one here"
	case errors.Is(ref, saml.ErrExpired), errors.Is(ref, saml.ErrNotYetValid), ref.Code == sso.CodeTime:
		return "the response is outside its validity window: check that the clocks of the IdP and this server are right"
	case ref.Code == sso.CodeNoEmail:
		return "add an attribute statement email = user.email at the IdP (or send the NameID in the EmailAddress format)"
	case errors.Is(ref, saml.ErrDecryptionFailed):
		return "turn assertion encryption off at the IdP: this organization has no SP encryption key"
	}
	return "compare the IdP's settings with the values shown in the SSO settings"
}

// recordTest stores a test's outcome and shows it.
func (h *SSOHandler) recordTest(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, test storage.SSOTest, out tenant.TestOutcome) error {
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	if _, err := h.store.FinishSSOTest(r.Context(), t.Org.ID, test.ID, out.OK, body); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			writePage(w, http.StatusGone, "Test sign-in", "This test sign-in has run already. Start a new one to test again.", "")
			return nil
		}
		return err
	}
	h.logger.Info("test sign-in", zap.String("org", t.Org.Name), zap.Bool("ok", out.OK), zap.String("email", out.Email))
	if h.orgadmin != nil {
		// The person who ran the test, as the IdP named them.
		actor := orgadmin.Actor{Kind: storage.ActorMember, Name: out.Email}
		if out.Email == "" {
			actor.Name = "test sign-in " + test.ID
		}
		action := "sso.test.failed"
		if out.OK {
			action = "sso.test.passed"
		}
		h.orgadmin.Record(r.Context(), t.Org, actor, action, "SSO connection", nil, map[string]any{"version": test.ConnectionVersion})
	}
	status := http.StatusOK
	setPageHeaders(w)
	w.WriteHeader(status)
	return testResultPage.Execute(w, struct {
		Org, Back string
		tenant.TestOutcome
	}{t.Org.Name, h.PathPrefix + "/admin/sso", out})
}

var testResultPage = template.Must(template.New("test").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Test sign-in {{if .OK}}passed{{else}}failed{{end}}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
.ok{color:#0b6b2e}.fail{color:#b3261e}.fix{background:#fff6d6;border-left:4px solid #f4b400;padding:.6rem .8rem}
code{word-break:break-all}
</style></head>
<body><main>
<h1 id="result" class="{{if .OK}}ok{{else}}fail{{end}}">Test sign-in {{if .OK}}passed{{else}}failed{{end}}</h1>
<p>Organization <strong>{{.Org}}</strong>. Nobody was signed in. <a id="back" href="{{.Back}}">Back to the SSO settings</a></p>
{{if .Error}}<p class="fail" role="alert">{{.Error}}</p>{{end}}
{{if .Fix}}<p class="fix">What to change: {{.Fix}}</p>{{end}}
<h2>Rules</h2>
<table id="rules"><tr><th>Rule</th><th>Result</th><th>Detail</th></tr>
{{range .Rules}}<tr><td>{{.Name}}</td><td class="{{if .Passed}}ok{{else}}fail{{end}}">{{if .Passed}}passed{{else}}failed{{end}}</td><td>{{.Detail}}{{if .Fix}}<br><em>{{.Fix}}</em>{{end}}</td></tr>
{{end}}</table>
{{if .NameID}}<h2>What the IdP sent</h2>
<table id="sent">
<tr><th>Issuer</th><td><code>{{.Issuer}}</code></td></tr>
<tr><th>NameID</th><td><code>{{.NameID}}</code>{{if .NameIDFormat}} ({{.NameIDFormat}}){{end}}</td></tr>
<tr><th>Email</th><td>{{.Email}}</td></tr>
<tr><th>First name</th><td>{{.GivenName}}</td></tr>
<tr><th>Last name</th><td>{{.FamilyName}}</td></tr>
{{range $name, $values := .Attributes}}<tr><th>{{$name}}</th><td>{{range $values}}<code>{{.}}</code> {{end}}</td></tr>
{{end}}</table>{{end}}
</main></body></html>
`))
