package adminui

import (
	"net/http"
	"strconv"

	"github.com/ssogate/ssogate/internal/domainclaim"
	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// The Domains, SCIM, Teams, Members and Activity pages.

// domainRow is a claim as the Domains page shows it.
type domainRow struct {
	storage.Domain
	TXTName string
}

func (h *Handler) domainsData(r *http.Request, pg *page) (any, error) {
	ds, err := h.cfg.Service.Domains(r.Context(), pg.Principal.Org)
	if err != nil {
		return nil, err
	}
	rows := make([]domainRow, len(ds))
	for i, d := range ds {
		rows[i] = domainRow{Domain: d, TXTName: domainclaim.RecordName(d.Name)}
	}
	return rows, nil
}

func (h *Handler) domainAction(r *http.Request, action string, pg *page) (string, int, error) {
	ctx, org, actor := r.Context(), pg.Principal.Org, orgadmin.Member(pg.Principal.Email)
	svc := h.cfg.Service
	switch action {
	case "claim":
		pg.keep(r, "domain")
		_, err := svc.ClaimDomain(ctx, org, actor, r.PostForm.Get("domain"))
		return "claimed", 0, err
	case "verify":
		_, err := svc.VerifyDomain(ctx, org, actor, r.PostForm.Get("domain"))
		return "verified", 0, err
	case "remove":
		return "removed", 0, svc.RemoveDomain(ctx, org, actor, r.PostForm.Get("domain"))
	}
	return "", 0, &tenant.RuleError{Reason: "unknown action"}
}

// scimPage is the SCIM page's data.
type scimPage struct {
	// BaseURL is the SCIM connector base URL, or "" when no sidecar has
	// recorded its URL.
	BaseURL string
	Tokens  []storage.Token
	// Created is a token just made: its secret, shown this once.
	Created *storage.Token
	Secret  string
}

// SCIMURLSetting is where a scim_server records the base URL of its SCIM
// endpoint, for the SCIM page to show.
const SCIMURLSetting = "scim_url"

func (h *Handler) scimData(r *http.Request, pg *page) (any, error) {
	ts, err := h.cfg.Service.Tokens(r.Context(), pg.Principal.Org)
	if err != nil {
		return nil, err
	}
	d := &scimPage{Tokens: ts}
	if u, err := h.cfg.Service.Store.Setting(r.Context(), SCIMURLSetting); err == nil {
		d.BaseURL = string(u)
	}
	if c, ok := pg.Data.(*scimPage); ok && c.Created != nil {
		d.Created, d.Secret = c.Created, c.Secret
	}
	return d, nil
}

func (h *Handler) scimAction(w http.ResponseWriter, r *http.Request, action string, pg *page) (string, int, error) {
	ctx, org, actor := r.Context(), pg.Principal.Org, orgadmin.Member(pg.Principal.Email)
	svc := h.cfg.Service
	switch action {
	case "create":
		pg.keep(r, "name", "scope")
		scope := storage.Scope(r.PostForm.Get("scope"))
		if scope == "" {
			scope = storage.ScopeSCIM
		}
		t, secret, err := svc.CreateToken(ctx, org, actor, r.PostForm.Get("name"), scope)
		if err != nil {
			return "", 0, err
		}
		// The secret is shown in this answer only, never in a URL: the
		// page is rendered here rather than after a redirect.
		pg.Values = map[string]string{}
		pg.Flash = "The token is made. Copy it now: it is shown this once."
		pg.Data = &scimPage{Created: &t, Secret: secret}
		if err := h.show(w, r, pg, http.StatusOK); err != nil {
			return "", 0, err
		}
		return "", http.StatusOK, nil
	case "revoke":
		_, err := svc.RevokeToken(ctx, org, actor, r.PostForm.Get("id"))
		return "revoked", 0, err
	}
	return "", 0, &tenant.RuleError{Reason: "unknown action"}
}

func (h *Handler) teamsData(r *http.Request, pg *page) (any, error) {
	return h.cfg.Service.Teams(r.Context(), pg.Principal.Org)
}

func (h *Handler) teamAction(r *http.Request, action string, pg *page) (string, int, error) {
	ctx, org, actor := r.Context(), pg.Principal.Org, orgadmin.Member(pg.Principal.Email)
	svc := h.cfg.Service
	if action == "create" {
		pg.keep(r, "name")
	}
	role, err := storage.ParseTeamRole(r.PostForm.Get("role"))
	if err != nil {
		return "", 0, &tenant.FieldError{Field: "role", Reason: err.Error()}
	}
	switch action {
	case "role":
		_, err := svc.SetTeamRole(ctx, org, actor, r.PostForm.Get("id"), role)
		return "team", 0, err
	case "create":
		_, err := svc.CreateTeam(ctx, org, actor, r.PostForm.Get("name"), role)
		return "team", 0, err
	}
	return "", 0, &tenant.RuleError{Reason: "unknown action"}
}

// membersPerPage is how many members a page of the Members page lists.
const membersPerPage = 50

// membersPage is the Members page's data.
type membersPage struct {
	Members    []orgadmin.MemberView
	Total      int
	Start      int
	Prev, Next int // start indexes, 0 for none
}

// pageStart reads ?start=N (1-based).
func pageStart(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("start"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func (h *Handler) membersData(r *http.Request, pg *page) (any, error) {
	start := pageStart(r)
	ms, total, err := h.cfg.Service.Members(r.Context(), pg.Principal.Org, storage.Page{StartIndex: start, Count: membersPerPage})
	if err != nil {
		return nil, err
	}
	d := membersPage{Members: ms, Total: total, Start: start}
	if start > 1 {
		d.Prev = max(1, start-membersPerPage)
	}
	if start+len(ms) <= total && len(ms) == membersPerPage {
		d.Next = start + membersPerPage
	}
	return d, nil
}

func (h *Handler) memberAction(r *http.Request, action string, pg *page) (string, int, error) {
	ctx, org, actor := r.Context(), pg.Principal.Org, orgadmin.Member(pg.Principal.Email)
	svc := h.cfg.Service
	id := r.PostForm.Get("id")
	switch action {
	case "role":
		_, err := svc.SetMemberRole(ctx, org, actor, id, storage.Role(r.PostForm.Get("role")))
		return "role", 0, err
	case "deactivate", "reactivate":
		if id == pg.Principal.MemberID && action == "deactivate" {
			return "", 0, &tenant.RuleError{Reason: "you cannot deactivate yourself here; ask another owner or admin"}
		}
		_, err := svc.SetMemberActive(ctx, org, actor, id, action == "reactivate")
		return "state", 0, err
	case "invite":
		pg.keep(r, "email", "role")
		role := storage.Role(r.PostForm.Get("role"))
		if role == "" {
			role = storage.RoleMember
		}
		if role == storage.RoleOwner && pg.Principal.Role != storage.RoleOwner {
			return "", 0, &tenant.FieldError{Field: "role", Reason: "only an owner can make an owner"}
		}
		_, err := svc.InviteMember(ctx, org, actor, r.PostForm.Get("email"), role)
		return "invited", 0, err
	}
	return "", 0, &tenant.RuleError{Reason: "unknown action"}
}

// eventsPerPage is how many events a page of the Activity page lists.
const eventsPerPage = 50

// activityPage is the Activity page's data.
type activityPage struct {
	Events     []eventRow
	Total      int
	Prev, Next int
}

// eventRow is an audit event as the page shows it.
type eventRow struct {
	storage.AuditEvent
	Who, Change string
}

func (h *Handler) activityData(r *http.Request, pg *page) (any, error) {
	start := pageStart(r)
	es, total, err := h.cfg.Service.Activity(r.Context(), pg.Principal.Org, storage.Page{StartIndex: start, Count: eventsPerPage})
	if err != nil {
		return nil, err
	}
	d := activityPage{Total: total}
	for _, e := range es {
		d.Events = append(d.Events, eventRow{AuditEvent: e, Who: orgadmin.Who(e), Change: orgadmin.ChangeText(e.Before, e.After)})
	}
	if start > 1 {
		d.Prev = max(1, start-eventsPerPage)
	}
	if start+len(es) <= total && len(es) == eventsPerPage {
		d.Next = start + eventsPerPage
	}
	return d, nil
}
