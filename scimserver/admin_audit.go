package scimserver

import (
	"net/http"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
)

// The activity API (issue 11): the org's audit log, newest first. Every
// change through the admin API, the Access Security pages, the CLI and
// SCIM is an event naming who made it, what changed and the values
// before and after; never a secret. An event of another org is never
// shown: the log read is the token's org's.

// routeAudit dispatches a request under /api/v1/audit.
func (s *Server) routeAudit(rq *request, segs []string) (response, error) {
	if len(segs) != 0 {
		return response{}, notFound("no such endpoint: /api/v1/audit is one list")
	}
	if rq.Method != http.MethodGet {
		return response{}, methodNotAllowed(rq, http.MethodGet)
	}
	return s.listAudit(rq)
}

// listAudit answers a page (start_index, count) of the org's events,
// newest first, and the total; count=0 asks for the total alone.
func (s *Server) listAudit(rq *request) (response, error) {
	start, count, err := apiPage(rq)
	if err != nil {
		return response{}, err
	}
	// The store's Count 0 means every event: ask for one and drop it.
	page := storage.Page{StartIndex: start, Count: max(count, 1)}
	events, total, err := s.admin.Activity(rq.ctx(), rq.tenant, page)
	if err != nil {
		return response{}, err
	}
	out := make([]orgadmin.Event, 0, len(events))
	for _, e := range events[:min(count, len(events))] {
		out = append(out, orgadmin.DescribeEvent(e))
	}
	return response{status: http.StatusOK, body: map[string]any{"events": out, "total": total}}, nil
}
