// Package adminui is the Access Security pages: where an org's Owner or
// Admin sets up SSO, claims domains, makes SCIM tokens, gives teams and
// members their roles, and reads the org's activity, in the browser, as
// the vendor guide's "Organization Settings → Access Security" tab does.
//
// The gate mounts it under <path_prefix>/admin and hands it the signed-in
// person (Principal): the org is always theirs, never one a request
// names. Pages are server-rendered (html/template, embedded assets, no
// build step) and work without JavaScript; a small script only copies
// values. Every form carries a CSRF token and is checked against the
// Origin; every answer sends a strict Content-Security-Policy, refuses
// framing and is not cached. Changes to SSO, Require SSO and tokens need a
// sign-in from the last FreshFor; otherwise the person signs in again and
// comes back. The work itself is internal/orgadmin's, which records every
// change in the org's activity log.
package adminui

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

//go:embed templates/*.html assets/*
var files embed.FS

// DefaultFreshFor is how recent a sign-in must be to change SSO settings,
// Require SSO or tokens.
const DefaultFreshFor = 15 * time.Minute

// maxForm bounds a form's body: a metadata document (1 MiB at most) and a
// certificate upload fit.
const maxForm = 2 << 20

// Principal is the signed-in person the gate vouches for.
type Principal struct {
	Org      storage.Org
	MemberID string
	Email    string
	// Role is the effective role: the highest of their own and their
	// teams'.
	Role storage.Role
	// SignedInAt is when they signed in.
	SignedInAt time.Time
}

// Config is what the pages need from the gate.
type Config struct {
	// Service does the work. Required.
	Service *orgadmin.Service
	// Base is the path of the pages, such as /sso/admin. Required.
	Base string
	// ReauthURL is where to sign in again and come back to rd. Required.
	ReauthURL func(rd string) string
	// CSRFToken returns the form token for the browser (setting its
	// cookie), CSRFValid checks a posted form's token and its Origin.
	// Required.
	CSRFToken func(w http.ResponseWriter, r *http.Request) (string, error)
	CSRFValid func(r *http.Request) bool
	// GateURL is this gate's base URL and path prefix as the request
	// reached it, such as https://app.example.com/sso: what to copy into
	// the IdP, and where a test sign-in runs. Required.
	GateURL func(r *http.Request) string
	// FreshFor is how recent a sign-in must be for SSO, Require SSO and
	// token changes. Default: DefaultFreshFor.
	FreshFor time.Duration
	// Logger receives errors; nil discards them.
	Logger *zap.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Handler serves the pages.
type Handler struct {
	cfg   Config
	pages map[string]*template.Template
	log   *zap.Logger
}

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil || cfg.Base == "" || cfg.ReauthURL == nil || cfg.CSRFToken == nil || cfg.CSRFValid == nil || cfg.GateURL == nil {
		return nil, errors.New("adminui: Service, Base, ReauthURL, CSRFToken, CSRFValid and GateURL are required")
	}
	if cfg.FreshFor <= 0 {
		cfg.FreshFor = DefaultFreshFor
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, pages: map[string]*template.Template{}, log: cfg.Logger}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	for _, s := range sections {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+s.Name+".html")
		if err != nil {
			return nil, fmt.Errorf("adminui: parsing the %s page: %w", s.Name, err)
		}
		h.pages[s.Name] = t
	}
	forbidden, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/forbidden.html")
	if err != nil {
		return nil, fmt.Errorf("adminui: parsing the forbidden page: %w", err)
	}
	h.pages["forbidden"] = forbidden
	return h, nil
}

// section is one page of the Access Security tab.
type section struct {
	Name, Title string
	// fresh lists the POST actions that need a recent sign-in.
	fresh []string
}

// sections, in the order of the tab's navigation.
var sections = []section{
	{Name: "sso", Title: "2FA & SSO", fresh: []string{"values", "metadata", "switches", "enable", "disable"}},
	{Name: "domains", Title: "Domains"},
	{Name: "scim", Title: "SCIM", fresh: []string{"create", "revoke"}},
	{Name: "teams", Title: "Teams"},
	{Name: "members", Title: "Members"},
	{Name: "activity", Title: "Activity"},
}

func sectionNamed(name string) (section, bool) {
	for _, s := range sections {
		if s.Name == name {
			return s, true
		}
	}
	return section{}, false
}

// Serve answers a request for the pages; sub is the path after Base. The
// caller (the gate) has checked the session; p is who it belongs to.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, p Principal, sub string) error {
	setHeaders(w)
	if strings.HasPrefix(sub, "/assets/") {
		return h.serveAsset(w, r, strings.TrimPrefix(sub, "/assets/"))
	}
	if !p.Role.Privileged() {
		// Only an owner or admin may see how the org is secured.
		return h.render(w, http.StatusForbidden, "forbidden", &page{Title: "Access Security", Principal: p, Base: h.cfg.Base,
			Error: fmt.Sprintf("Only owners and admins of %s can open its Access Security settings. Ask one of them.", p.Org.Name)})
	}
	name := strings.Trim(sub, "/")
	if name == "" {
		http.Redirect(w, r, h.cfg.Base+"/sso", http.StatusSeeOther)
		return nil
	}
	s, ok := sectionNamed(name)
	if !ok {
		http.NotFound(w, r)
		return nil
	}
	pg := &page{Title: s.Title, Section: s.Name, Principal: p, Base: h.cfg.Base, Errors: map[string]string{}, Values: map[string]string{}}
	pg.Fresh = h.cfg.Now().Sub(p.SignedInAt) < h.cfg.FreshFor
	pg.FreshFor = humanDuration(h.cfg.FreshFor)
	pg.ReauthURL = h.cfg.ReauthURL(h.cfg.Base + "/" + s.Name)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		pg.Flash = flashes[r.URL.Query().Get("done")]
		return h.show(w, r, pg, http.StatusOK)
	case http.MethodPost:
		return h.post(w, r, s, pg)
	}
	w.Header().Set("Allow", "GET, HEAD, POST")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return nil
}

// post runs one form's action and answers with a redirect back to the
// page (303, so a reload does not post again) or, when refused, the page
// again with the reason beside the field and the values kept.
func (h *Handler) post(w http.ResponseWriter, r *http.Request, s section, pg *page) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(maxForm)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			pg.Error = "The form is larger than 2 MiB."
			return h.show(w, r, pg, http.StatusRequestEntityTooLarge)
		}
		pg.Error = "The form could not be read."
		return h.show(w, r, pg, http.StatusBadRequest)
	}
	if !h.cfg.CSRFValid(r) {
		pg.Error = "The form expired or came from another site. Nothing was changed; please try again."
		return h.show(w, r, pg, http.StatusForbidden)
	}
	action := r.PostForm.Get("action")
	for _, a := range s.fresh {
		if a == action && !pg.Fresh {
			// A stolen or forgotten session must not change how the org
			// signs in: sign in again, then back here.
			http.Redirect(w, r, pg.ReauthURL, http.StatusSeeOther)
			return nil
		}
	}
	done, status, err := h.act(w, r, s.Name, action, pg)
	if err != nil {
		if !h.refusal(pg, err) {
			return err
		}
		if status == 0 {
			status = refusalStatus(err)
		}
		return h.show(w, r, pg, status)
	}
	if status != 0 {
		// The action rendered its own answer (a token shown once).
		return nil
	}
	http.Redirect(w, r, h.cfg.Base+"/"+s.Name+"?done="+url.QueryEscape(done), http.StatusSeeOther)
	return nil
}

// act runs a section's action; done names the flash message. A status
// other than 0 with no error means the action answered itself.
func (h *Handler) act(w http.ResponseWriter, r *http.Request, section, action string, pg *page) (done string, status int, err error) {
	switch section {
	case "sso":
		return h.ssoAction(w, r, action, pg)
	case "domains":
		return h.domainAction(r, action, pg)
	case "scim":
		return h.scimAction(w, r, action, pg)
	case "teams":
		return h.teamAction(r, action, pg)
	case "members":
		return h.memberAction(r, action, pg)
	}
	return "", 0, &tenant.RuleError{Reason: "There is nothing to change on this page."}
}

// show loads the section's data and renders it.
func (h *Handler) show(w http.ResponseWriter, r *http.Request, pg *page, status int) error {
	tok, err := h.cfg.CSRFToken(w, r)
	if err != nil {
		return err
	}
	pg.CSRF = tok
	var data any
	switch pg.Section {
	case "sso":
		data, err = h.ssoData(r, pg)
	case "domains":
		data, err = h.domainsData(r, pg)
	case "scim":
		data, err = h.scimData(r, pg)
	case "teams":
		data, err = h.teamsData(r, pg)
	case "members":
		data, err = h.membersData(r, pg)
	case "activity":
		data, err = h.activityData(r, pg)
	}
	if err != nil {
		return err
	}
	pg.Data = data
	if d, ok := data.(ssoPage); ok && d.idpOrigin != "" {
		// Test sign-in posts here and is redirected on to the IdP.
		w.Header().Set("Content-Security-Policy", csp(d.idpOrigin))
	}
	return h.render(w, status, pg.Section, pg)
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, pg *page) error {
	pg.Sections = sections
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return h.pages[name].Execute(w, pg)
}

// refusal puts a refused change on the page: beside its field, or at the
// top. It reports false for an error that is not a refusal (a fault).
func (h *Handler) refusal(pg *page, err error) bool {
	var fe *tenant.FieldError
	var re *tenant.RuleError
	var ve *orgadmin.VerifyError
	switch {
	case errors.As(err, &fe):
		pg.Errors[fe.Field] = sentence(fe.Reason)
		pg.Error = "Nothing was changed: correct the field marked below."
	case errors.As(err, &re):
		pg.Error = sentence(re.Reason)
	case errors.As(err, &ve):
		pg.Error = sentence(ve.Reason)
	case errors.Is(err, storage.ErrNotFound):
		pg.Error = "That no longer exists in this organization. Nothing was changed."
	default:
		return false
	}
	return true
}

func refusalStatus(err error) int {
	var fe *tenant.FieldError
	var ve *orgadmin.VerifyError
	switch {
	case errors.As(err, &fe):
		return http.StatusBadRequest
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity
	case errors.Is(err, storage.ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusConflict
}

// flashes are the messages a successful change shows, by key: a redirect
// carries the key, never text a link could forge.
var flashes = map[string]string{
	"values":     "The IdP settings are saved. Run a test sign-in before you enable SSO.",
	"metadata":   "The IdP metadata is saved. Run a test sign-in before you enable SSO.",
	"switches":   "The sign-in rules are saved.",
	"enabled":    "Single sign-on is enabled: people of your verified domains sign in through your IdP.",
	"disabled":   "Single sign-on is disabled; sessions started through it have ended.",
	"disabled-r": "Single sign-on is disabled, and Require Single Sign-On with it; sessions started through it have ended.",
	"unchanged":  "Nothing changed.",
	"claimed":    "The domain is claimed. Publish the TXT record below, then verify.",
	"verified":   "The domain is verified.",
	"removed":    "The domain claim is removed.",
	"revoked":    "The token is revoked; requests bearing it are refused.",
	"team":       "The team is saved.",
	"role":       "The role is saved.",
	"state":      "The member is saved.",
	"invited":    "The person is added to the organization.",
}

// page is what every page's template gets.
type page struct {
	Title, Section string
	Sections       []section
	Principal      Principal
	Base           string
	CSRF           string
	// Fresh reports a sign-in within FreshFor; ReauthURL signs in again.
	Fresh     bool
	FreshFor  string
	ReauthURL string
	Flash     string
	// Error is shown at the top; Errors beside their fields; Values are
	// what the person typed, kept after a refusal.
	Error  string
	Errors map[string]string
	Values map[string]string
	Data   any
}

// keep remembers the posted value of each field for the page shown again.
func (pg *page) keep(r *http.Request, fields ...string) {
	for _, f := range fields {
		pg.Values[f] = r.PostForm.Get(f)
	}
}

func setHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", csp(""))
}

// csp is the pages' Content-Security-Policy. Forms post to the pages
// themselves; formAction, when set, is one more origin a form may lead to
// (browsers hold a form's redirects to form-action as well).
func csp(formAction string) string {
	fa := "'self'"
	if formAction != "" {
		fa += " " + formAction
	}
	return "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; " +
		"form-action " + fa + "; frame-ancestors 'none'; base-uri 'none'"
}

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, name string) error {
	data, err := fs.ReadFile(files, "assets/"+name)
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return nil
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, err = w.Write(data)
	return err
}

// sentence capitalises a reason and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"whenp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"has": func(list []string, s string) bool {
		for _, v := range list {
			if v == s {
				return true
			}
		}
		return false
	},
	"add":       func(a, b int) int { return a + b },
	"stateText": stateText,
	// dict passes named values to a sub-template.
	"dict": func(kv ...any) map[string]any {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
}

// humanDuration says a duration as people do: "15 minutes".
func humanDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return plural(int(d.Round(time.Second)/time.Second), "second")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
