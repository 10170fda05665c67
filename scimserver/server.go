// Package scimserver is ssogate's provisioning sidecar as a plain
// http.Handler: SCIM 2.0 (RFC 7643/7644) at /scim/v2 for Okta and
// Microsoft Entra, and the admin API at /api/v1. It holds no Caddy types;
// the Caddy module wraps it.
//
// Every request carries a bearer token, and the token decides the org: a
// token of scope scim for /scim/v2, of scope admin for /api/v1. No body,
// query or header ever names the org, and an ID in a path is looked up
// in the token's org only, so another org's member, team, token or test
// sign-in is 404. Each token is rate-limited on its own, and its last use
// is recorded (at most once a minute per process). Everything else an IdP
// may send (names in any case, booleans as strings, Entra's filter and
// PATCH dialects) is accepted where its meaning is clear, and refused with
// a 4xx that says why where it is not.
//
// The admin API (SPEC sections 6 and 8) speaks JSON; an error is
// {"error": "..."} with a reason a person can act on, plus "field" when
// one field of the body is bad. A body is one JSON object of at most
// 1 MiB; a field it does not know, or of the wrong type, is 400 naming it.
//
//	GET    /api/v1/sso                 the org's SSO connection, what to copy into the IdP
//	PUT    /api/v1/sso                 change it: only the fields given change
//	POST   /api/v1/sso/test            start a test sign-in (201, its URL)
//	GET    /api/v1/sso/test/{id}       its status and outcome
//	POST   /api/v1/sso/enable          turn SSO on (after a passed test)
//	POST   /api/v1/sso/disable         turn it off (require_sso goes with it)
//	GET    /api/v1/tokens              the org's tokens, with last use
//	POST   /api/v1/tokens              make one (201; the secret is shown once)
//	DELETE /api/v1/tokens/{id}         revoke one
//	GET    /api/v1/teams               teams with their role and size
//	PUT    /api/v1/teams/{id}/role     the role a team grants
//	GET    /api/v1/members             members with own and effective role
//	PUT    /api/v1/members/{id}/role   a member's own role
//	GET    /api/v1/audit               the org's activity, newest first
//	       /api/v1/domains...          domain claims (SPEC section 6)
//
// Every change made through the admin API, and every change SCIM makes
// to a user or group, is an event of the org's activity log (GET
// /api/v1/audit): who (the token, by name and ID), what, when, and the
// values before and after, never a secret. The admin API's operations are
// internal/orgadmin's, the same the Access Security pages and the CLI
// run; this package reads requests and words the answers.
//
// PUT /api/v1/sso takes the connection's field names (idp_sso_url,
// idp_issuer, idp_certificates, idp_metadata_url, idp_metadata_xml,
// idp_slo_url, require_sso, idp_managed_access, allow_idp_initiated). A
// field left out stays as it is; a string field given as null or "" is
// cleared. The IdP is one source: a metadata URL, a metadata document, or
// the three explicit values, never several in one body.
package scimserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/domainclaim"
	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// Defaults of the per-token rate limit. Microsoft asks gallery apps to
// sustain 25 requests a second per tenant; Okta pushes a group's members
// in concurrent bursts. Twice the one with room for the other.
const (
	DefaultRequestsPerSecond = 50
	DefaultBurst             = 100
)

// maxBodyBytes caps request bodies; a larger one is 413.
const maxBodyBytes = 1 << 20

// maxResults is the largest page a list returns, and the page size when
// the client asks for none (advertised as filter.maxResults).
const maxResults = 200

// Config configures a Server.
type Config struct {
	// Store holds orgs, members, teams, domains and tokens. Required.
	Store storage.Store
	// Logger receives the server's log lines; nil discards them.
	Logger *zap.Logger
	// Resolver looks up domain-claim TXT records; nil means the system
	// resolver.
	Resolver domainclaim.Resolver
	// RequestsPerSecond is the sustained rate of requests one token may
	// make. Zero means DefaultRequestsPerSecond; negative means no limit.
	RequestsPerSecond float64
	// Burst is how many requests one token may make at once above the
	// sustained rate. Zero means DefaultBurst.
	Burst int
	// MetadataClient fetches the IdP metadata an admin names by URL
	// (idp_metadata_url of PUT /api/v1/sso). nil means
	// tenant.MetadataClient(false): 15 seconds, redirects to https only,
	// public addresses only.
	MetadataClient *http.Client
}

// Server serves SCIM 2.0 and the admin API. It is safe for concurrent
// use.
type Server struct {
	store   storage.Store
	log     *zap.Logger
	admin   *orgadmin.Service // the admin API's operations, and the audit log
	outage  storage.Outage    // the store's current ErrUnavailable episode
	limiter *limiter
	tokens  *tokenCache
	uses    *useRecorder
	// useWrites counts the writes of token uses in flight.
	useWrites sync.WaitGroup
	now       func() time.Time
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("scimserver: a Store is required")
	}
	if math.IsNaN(cfg.RequestsPerSecond) || cfg.Burst < 0 {
		return nil, fmt.Errorf("scimserver: invalid rate limit %v/s, burst %d", cfg.RequestsPerSecond, cfg.Burst)
	}
	s := &Server{store: cfg.Store, log: cfg.Logger, tokens: newTokenCache(), uses: newUseRecorder(), now: time.Now}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	client := cfg.MetadataClient
	if client == nil {
		client = tenant.MetadataClient(false)
	}
	resolver := cfg.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	s.admin = &orgadmin.Service{Store: cfg.Store, Fetch: tenant.FetchMetadata(client), Resolver: resolver, Log: s.log,
		Now: func() time.Time { return s.now() }}
	rps, burst := cfg.RequestsPerSecond, cfg.Burst
	if rps == 0 {
		rps = DefaultRequestsPerSecond
	}
	if burst == 0 {
		burst = DefaultBurst
	}
	s.limiter = newLimiter(rps, burst)
	return s, nil
}

// request is one authenticated request being served.
type request struct {
	*http.Request
	w   http.ResponseWriter
	org int64 // the token's org: every query is scoped to it
	// tenant is the token's org as stored; loaded for the admin API only
	// (SCIM needs the ID alone, and its throughput a query less).
	tenant storage.Org
	// actor is who the token acts as in the org's audit log.
	actor orgadmin.Actor
	// base is the absolute URL of /scim/v2 (or /api/v1) as the client
	// reached it, for Location headers and meta.location.
	base string
	// query is the parsed query string, parsed once: paging, the filter
	// and the projection of a list all read it.
	query url.Values
}

func (rq *request) ctx() context.Context { return rq.Context() }

// response is what a handler answers: a status, a body to encode as JSON
// (none when nil), and optional headers.
type response struct {
	status   int
	body     any
	location string
	etag     string
}

// The two APIs differ in media type and error body; api says which.
type api int

const (
	apiSCIM api = iota
	apiAdmin
)

// ServeHTTP serves /scim/v2/... and /api/v1/..., found anywhere in
// the path so that an outer prefix (a Caddy handle block) needs no
// stripping.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panic", zap.Any("panic", v), zap.String("path", r.URL.Path))
			if sw.status == 0 {
				s.writeError(sw, apiOf(r.URL.Path), errorf(http.StatusInternalServerError, "", "internal error; the server log has the cause"))
			}
		}
		if ce := s.log.Check(zap.DebugLevel, "handled request"); ce != nil {
			ce.Write(zap.String("method", r.Method), zap.String("path", r.URL.Path),
				zap.Int("status", sw.status), zap.Duration("duration", time.Since(start)))
		}
	}()

	path := r.URL.Path
	if i := segmentIndex(path, "/scim/v2"); i >= 0 {
		s.serve(sw, r, apiSCIM, path[:i+len("/scim/v2")], path[i+len("/scim/v2"):])
		return
	}
	if i := segmentIndex(path, "/api/v1"); i >= 0 {
		s.serve(sw, r, apiAdmin, path[:i+len("/api/v1")], path[i+len("/api/v1"):])
		return
	}
	s.writeError(sw, apiAdmin, notFound("no such endpoint: this server answers under /scim/v2 and /api/v1"))
}

// segmentIndex finds seg (lower-case ASCII) in path as whole path
// segments, ignoring ASCII case, or returns -1. It compares bytes in
// place: lower-casing the path first could change its length.
func segmentIndex(path, seg string) int {
	for i := 0; i+len(seg) <= len(path); i++ {
		if asciiEqualFold(path[i:i+len(seg)], seg) && (i+len(seg) == len(path) || path[i+len(seg)] == '/') {
			return i
		}
	}
	return -1
}

func asciiEqualFold(a, lower string) bool {
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func apiOf(path string) api {
	if segmentIndex(path, "/scim/v2") >= 0 {
		return apiSCIM
	}
	return apiAdmin
}

// serve authenticates, rate-limits and routes a request.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, which api, basePath, rest string) {
	scope := storage.ScopeSCIM
	if which == apiAdmin {
		scope = storage.ScopeAdmin
	}
	tok, err := s.authenticate(r, scope)
	if err != nil {
		s.fail(w, r, which, err)
		return
	}
	if ok, wait := s.limiter.allow(tok.ID); !ok {
		// Debug, not Warn: a client ignoring Retry-After would flood the
		// log; the access log shows the 429s.
		s.log.Debug("rate limited", zap.String("token_id", tok.ID), zap.Int64("org_id", tok.OrgID))
		s.fail(w, r, which, &Error{Status: http.StatusTooManyRequests,
			Detail: fmt.Sprintf("too many requests for this token; retry in %s", wait.Round(time.Millisecond)), RetryAfter: wait})
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	rq := &request{Request: r, w: w, org: tok.OrgID, tenant: storage.Org{ID: tok.OrgID}, actor: orgadmin.SCIM(tok),
		base: scheme + "://" + r.Host + basePath, query: r.URL.Query()}
	segs := splitPath(rest)
	var resp response
	if which == apiSCIM {
		resp, err = s.routeSCIM(rq, segs)
	} else {
		rq.actor = orgadmin.Token(tok)
		if rq.tenant, err = s.store.OrgByID(r.Context(), tok.OrgID); err != nil {
			err = fmt.Errorf("reading org %d: %w", tok.OrgID, err)
		} else {
			resp, err = s.routeAPI(rq, segs)
		}
	}
	if err != nil {
		s.fail(w, r, which, err)
		return
	}
	if s.outage.Recover() {
		s.log.Info("the store is available again")
	}
	s.write(w, which, resp)
}

func splitPath(rest string) []string {
	rest = strings.Trim(rest, "/")
	if rest == "" {
		return nil
	}
	return strings.Split(rest, "/")
}

// fail writes err, logging it when it is the server's fault.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, which api, err error) {
	e, internal := asError(err)
	if errors.Is(err, storage.ErrUnavailable) {
		// Once per episode: an IdP's push would repeat it per request.
		if s.outage.Fail() {
			s.log.Error("the store cannot write; answering 503 until it can", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
		}
	} else if internal {
		s.log.Error("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	} else if e.cause != nil {
		s.log.Debug("request refused", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("detail", e.Detail), zap.NamedError("parser", e.cause))
	}
	s.writeError(w, which, e)
}

func (s *Server) writeError(w http.ResponseWriter, which api, e *Error) {
	e.setErrorHeaders(w.Header())
	if which == apiSCIM {
		s.write(w, which, response{status: e.Status, body: e.scimBody()})
	} else {
		s.write(w, which, response{status: e.Status, body: apiErrorBody{Error: e.Detail, Field: e.Field}})
	}
}

// write sends a response. Every SCIM response, errors included, is
// application/scim+json: Entra's validator depends on it.
func (s *Server) write(w http.ResponseWriter, which api, resp response) {
	h := w.Header()
	if resp.location != "" {
		h.Set("Location", resp.location)
	}
	if resp.etag != "" {
		h.Set("ETag", resp.etag)
	}
	ct := "application/json"
	if which == apiSCIM {
		ct = "application/scim+json"
	}
	h.Set("Content-Type", ct+"; charset=utf-8")
	if resp.body == nil {
		w.WriteHeader(resp.status)
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // a detail reads <token>, not \u003ctoken\u003e
	if err := enc.Encode(resp.body); err != nil {
		s.log.Error("encoding response", zap.Error(err))
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(resp.status)
	_, _ = w.Write(buf.Bytes())
}

// readObject reads a JSON object body: JSON media types only, at most
// maxBodyBytes, one object and nothing after it. Numbers stay
// json.Number, so that nothing is rounded on the way to storage.
func readObject(rq *request) (map[string]any, error) {
	if ct := rq.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/scim+json" && mt != "application/json" {
			return nil, errorf(http.StatusUnsupportedMediaType, "", "send the body as application/scim+json or application/json, not %q", ct)
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(rq.w, rq.Body, maxBodyBytes))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, bodyError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, bodyError(err)
		}
		return nil, badRequest(scimInvalidSyntax, "the body holds more than one JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest(scimInvalidSyntax, "the body must be a JSON object")
	}
	return obj, nil
}

func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return err
	case errors.Is(err, io.EOF):
		return badRequest(scimInvalidSyntax, "the body is empty; send a JSON object")
	}
	return badRequest(scimInvalidSyntax, "the body is not valid JSON: %v", err)
}

// page reads startIndex and count (RFC 7644 section 3.4.2.4): 1-based, a
// startIndex below 1 means 1, a negative count means 0, no count means
// maxResults, and a larger one is capped there. A value that is not an
// integer is 400.
func page(rq *request) (start, count int, err error) {
	start, count = 1, maxResults
	if v := rq.query.Get("startIndex"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, 0, badRequest(scimInvalidValue, "startIndex must be an integer, not %q", v)
		}
		start = max(n, 1)
	}
	if v := rq.query.Get("count"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, 0, badRequest(scimInvalidValue, "count must be an integer, not %q", v)
		}
		count = min(max(n, 0), maxResults)
	}
	return start, count, nil
}

// listResponse is the RFC 7644 section 3.4.2 list body.
type listResponse struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	StartIndex   int      `json:"startIndex"`
	ItemsPerPage int      `json:"itemsPerPage"`
	Resources    []any    `json:"Resources"`
}

func newList(total, start int, items []any) listResponse {
	if items == nil {
		items = []any{}
	}
	return listResponse{Schemas: []string{listSchema}, TotalResults: total, StartIndex: start, ItemsPerPage: len(items), Resources: items}
}

// methodNotAllowed is 405 listing what the endpoint takes.
func methodNotAllowed(rq *request, allowed ...string) error {
	rq.w.Header().Set("Allow", strings.Join(allowed, ", "))
	return errorf(http.StatusMethodNotAllowed, "", "%s is not allowed here; use %s", rq.Method, strings.Join(allowed, " or "))
}

// statusWriter remembers the status, for the request log line.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
