package caddymodule

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/adminui"
	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// The Access Security pages (internal/adminui) live under
// <PathPrefix>/admin, for a signed-in owner or admin of the session's org.
// The gate checks the session and hands the pages who it belongs to; the
// org is always the session's.

func (h *SSOHandler) provisionAdmin() error {
	svc := &orgadmin.Service{
		Store:    h.store,
		Fetch:    tenant.FetchMetadata(tenant.MetadataClient(h.app.AllowPrivateMetadataURLs)),
		Resolver: h.app.Resolver(),
		Log:      h.logger.Named("admin"),
	}
	h.orgadmin = svc
	var err error
	h.admin, err = adminui.New(adminui.Config{
		Service: svc,
		Base:    h.PathPrefix + "/admin",
		ReauthURL: func(rd string) string {
			return h.PathPrefix + "/login?reauth=1&rd=" + url.QueryEscape(rd)
		},
		CSRFToken: h.csrfToken,
		CSRFValid: func(r *http.Request) bool { return h.checkForm(r) == nil },
		GateURL:   func(r *http.Request) string { return h.origin(r).String() + h.PathPrefix },
		FreshFor:  time.Duration(h.ReauthAfter),
		Logger:    h.logger.Named("admin"),
	})
	return err
}

// serveAdmin serves the pages to a signed-in person; without a session, a
// browser is sent to sign in and back.
func (h *SSOHandler) serveAdmin(w http.ResponseWriter, r *http.Request, sub string) error {
	e := h.session(r)
	if e == nil {
		rd := r.URL.Path
		if !isBrowserNavigation(r) && r.Method != http.MethodPost {
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"error": "authentication required", "login_url": h.PathPrefix + "/login?rd=" + url.QueryEscape(rd),
			})
			return nil
		}
		http.Redirect(w, r, h.PathPrefix+"/login?rd="+url.QueryEscape(rd), http.StatusSeeOther)
		return nil
	}
	t := h.registry.ByID(e.Identity.OrgID)
	if t == nil {
		// The session's org is gone (the registry follows the store).
		h.logger.Warn("session of an org the registry does not know", zap.Int64("org_id", e.Identity.OrgID))
		writePage(w, http.StatusNotFound, "Not found", "There is no such organization here.", "")
		return nil
	}
	return h.admin.Serve(w, r, adminui.Principal{
		Org:        t.Org,
		MemberID:   e.Identity.MemberID,
		Email:      e.Identity.Email,
		Role:       e.Identity.Role,
		SignedInAt: time.Unix(e.SignedInAt, 0),
	}, sub)
}

// auditedAdmission is the store a sign-in's admission writes to, with the
// membership a first SSO sign-in makes recorded in the org's activity
// (the person is the actor: their IdP vouched for them).
type auditedAdmission struct {
	tenant.AdmitStore
	h     *SSOHandler
	org   storage.Org
	email string // who is signing in
}

// SetMemberTeamsByName records what the assertion's groups changed of the
// member's teams.
func (a auditedAdmission) SetMemberTeamsByName(ctx context.Context, orgID int64, memberID string, names []string) (storage.TeamsChange, error) {
	ch, err := a.AdmitStore.SetMemberTeamsByName(ctx, orgID, memberID, names)
	if err == nil && a.h.orgadmin != nil {
		a.h.orgadmin.RecordTeamsFromAssertion(ctx, a.org, a.email, ch)
	}
	return ch, err
}

func (a auditedAdmission) CreateMember(ctx context.Context, orgID int64, nm storage.NewMember, requireNew bool) (storage.Member, error) {
	m, err := a.AdmitStore.CreateMember(ctx, orgID, nm, requireNew)
	if err == nil && a.h.orgadmin != nil {
		a.h.orgadmin.Record(ctx, a.org, orgadmin.Member(m.Email), "member.create", m.Email, nil,
			map[string]any{"role": m.Role, "source": m.Source})
	}
	return m, err
}
