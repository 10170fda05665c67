package adminui

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// ssoPage is the 2FA & SSO page's data.
type ssoPage struct {
	View tenant.View
	// SP is what to copy into the IdP, on this gate.
	SP tenant.Endpoints
	// Explicit says the IdP is given as its three values (not metadata).
	Explicit bool
	// Certificates is the stored certificates' PEM, to edit.
	Certificates string
	// Outcome is the last test's outcome, decoded.
	Outcome *tenant.TestOutcome
	// idpOrigin is the origin of the IdP's single sign-on URL, where a
	// test sign-in leads: the page's form-action allows it.
	idpOrigin string
}

func (h *Handler) ssoData(r *http.Request, pg *page) (any, error) {
	v, err := h.cfg.Service.View(r.Context(), pg.Principal.Org)
	if err != nil {
		return nil, err
	}
	d := ssoPage{
		View:         v,
		SP:           tenant.EndpointsAt(h.cfg.GateURL(r), pg.Principal.Org.Name),
		Explicit:     v.IDPMetadataXML == "",
		Certificates: strings.Join(v.IDPCertificates, ""),
	}
	if c, err := h.cfg.Service.Connection(r.Context(), pg.Principal.Org); err == nil {
		if ed, err := tenant.IDPMetadata(c); err == nil {
			d.idpOrigin = origin(sso.SSOURL(ed))
		}
	}
	if v.LastTest != nil && len(v.LastTest.Outcome) > 0 {
		var o tenant.TestOutcome
		if json.Unmarshal(v.LastTest.Outcome, &o) == nil {
			d.Outcome = &o
		}
	}
	// A refused form shows what was typed, not what is stored.
	for _, f := range []string{tenant.FieldIDPSSOURL, tenant.FieldIDPIssuer, tenant.FieldIDPSLOURL, tenant.FieldIDPMetadataURL, tenant.FieldIDPMetadataXML,
		tenant.FieldGroupsAttribute} {
		if _, ok := pg.Values[f]; !ok {
			pg.Values[f] = storedValue(v, f)
		}
	}
	if c, ok := pg.Values["idp_certificate"]; ok {
		d.Certificates = c
	}
	return d, nil
}

func storedValue(v tenant.View, field string) string {
	switch field {
	case tenant.FieldIDPSSOURL:
		return v.IDPSSOURL
	case tenant.FieldIDPIssuer:
		return v.IDPIssuer
	case tenant.FieldIDPSLOURL:
		return v.IDPSLOURL
	case tenant.FieldIDPMetadataURL:
		return v.IDPMetadataURL
	case tenant.FieldGroupsAttribute:
		return v.GroupsAttribute
	case tenant.FieldIDPMetadataXML:
		if v.IDPMetadataURL != "" {
			return "" // fetched from the URL, not pasted
		}
		return v.IDPMetadataXML
	}
	return ""
}

// origin is the scheme and host of an http(s) URL, "" for anything else.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		strings.ContainsAny(u.Host, " ;,'\"*") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// maxUpload bounds an uploaded certificate file.
const maxUpload = 64 << 10

func (h *Handler) ssoAction(w http.ResponseWriter, r *http.Request, action string, pg *page) (string, int, error) {
	ctx, org, actor := r.Context(), pg.Principal.Org, orgadmin.Member(pg.Principal.Email)
	svc := h.cfg.Service
	switch action {
	case "values":
		// The seed's three values: Authentication URL, Issuer URL and
		// Public Certificate, pasted or uploaded (PEM or DER).
		pg.keep(r, tenant.FieldIDPSSOURL, tenant.FieldIDPIssuer, tenant.FieldIDPSLOURL, "idp_certificate")
		certs := []string{r.PostForm.Get("idp_certificate")}
		up, err := uploaded(r, "idp_certificate_file")
		if err != nil {
			return "", 0, err
		}
		if up != "" {
			certs = append(certs, up)
		}
		ssoURL, issuer, slo := r.PostForm.Get(tenant.FieldIDPSSOURL), r.PostForm.Get(tenant.FieldIDPIssuer), r.PostForm.Get(tenant.FieldIDPSLOURL)
		_, err = svc.UpdateSSO(ctx, org, actor, tenant.Settings{IDPSSOURL: &ssoURL, IDPIssuer: &issuer, IDPCertificates: &certs, IDPSLOURL: &slo})
		return "values", 0, err
	case "metadata":
		pg.keep(r, tenant.FieldIDPMetadataURL, tenant.FieldIDPMetadataXML)
		in := tenant.Settings{}
		mdURL, mdXML := strings.TrimSpace(r.PostForm.Get(tenant.FieldIDPMetadataURL)), strings.TrimSpace(r.PostForm.Get(tenant.FieldIDPMetadataXML))
		switch {
		case mdURL != "" && mdXML != "":
			return "", 0, &tenant.FieldError{Field: tenant.FieldIDPMetadataXML, Reason: "give the metadata URL or the document, not both"}
		case mdURL != "":
			in.IDPMetadataURL = &mdURL
		case mdXML != "":
			in.IDPMetadataXML = &mdXML
		default:
			return "", 0, &tenant.FieldError{Field: tenant.FieldIDPMetadataURL, Reason: "give the IdP's metadata URL, or paste its metadata document"}
		}
		_, err := svc.UpdateSSO(ctx, org, actor, in)
		return "metadata", 0, err
	case "switches":
		// A checkbox sends nothing when unchecked; each switch the form
		// shows sends a hidden "present" field, so that only those change.
		// The groups attribute, a text field beside them, changes when the
		// form sends it.
		in := tenant.Settings{}
		if _, ok := r.PostForm[tenant.FieldGroupsAttribute]; ok {
			pg.keep(r, tenant.FieldGroupsAttribute)
			v := r.PostForm.Get(tenant.FieldGroupsAttribute)
			in.GroupsAttribute = &v
		}
		for _, sw := range []struct {
			field string
			dst   **bool
		}{
			{tenant.FieldRequireSSO, &in.RequireSSO},
			{tenant.FieldIDPManagedAccess, &in.IDPManagedAccess},
			{tenant.FieldAllowIDPInitiated, &in.AllowIDPInitiated},
		} {
			if r.PostForm.Get(sw.field+"_shown") == "1" {
				on := r.PostForm.Get(sw.field) == "on"
				*sw.dst = &on
			}
		}
		_, err := svc.UpdateSSO(ctx, org, actor, in)
		return "switches", 0, err
	case "enable":
		_, err := svc.EnableSSO(ctx, org, actor, false)
		return "enabled", 0, err
	case "disable":
		_, cleared, err := svc.DisableSSO(ctx, org, actor)
		if cleared {
			return "disabled-r", 0, err
		}
		return "disabled", 0, err
	case "test":
		// The test runs in this browser, on this gate: off to the IdP.
		t, err := svc.StartTest(ctx, org, actor)
		if err != nil {
			return "", 0, err
		}
		u := tenant.TestPath(tenant.OrgPath(h.cfg.GateURL(r), org.Name), t.Test.ID)
		http.Redirect(w, r, u, http.StatusSeeOther)
		return "", http.StatusSeeOther, nil
	}
	return "", 0, &tenant.RuleError{Reason: "unknown action"}
}

// uploaded returns an uploaded certificate file as text: PEM as it is,
// DER as base64 (which the certificate parser reads as DER).
func uploaded(r *http.Request, field string) (string, error) {
	if r.MultipartForm == nil {
		return "", nil
	}
	fh := r.MultipartForm.File[field]
	if len(fh) == 0 || fh[0].Size == 0 {
		return "", nil
	}
	if fh[0].Size > maxUpload {
		return "", &tenant.FieldError{Field: "idp_certificate", Reason: "the uploaded file is larger than 64 KiB; a certificate is a few KiB"}
	}
	f, err := fh[0].Open()
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxUpload))
	if err != nil {
		return "", err
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return string(data), nil
	}
	if isBase64(data) {
		return string(data), nil
	}
	return base64.StdEncoding.EncodeToString(data), nil
}

func isBase64(data []byte) bool {
	t := bytes.Join(bytes.Fields(data), nil)
	if len(t) == 0 {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(string(t))
	return err == nil
}

// stateText says what a connection's state means, in one sentence.
func stateText(s storage.ConnectionState) string {
	switch s {
	case storage.ConnectionDraft:
		return "being set up. It signs nobody in; run a test sign-in next."
	case storage.ConnectionTested:
		return "a test sign-in passed. It signs nobody in until you enable it."
	case storage.ConnectionEnabled:
		return "people of your verified domains sign in through your IdP."
	case storage.ConnectionDisabled:
		return "it signs nobody in."
	}
	return string(s)
}
