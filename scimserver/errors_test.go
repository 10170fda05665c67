package scimserver

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
)

// TestAsErrorUnavailable: a store that cannot write is 503 with a
// Retry-After, not a 500, and the cause stays out of the body.
func TestAsErrorUnavailable(t *testing.T) {
	err := fmt.Errorf("creating member: %w", fmt.Errorf("%w: database or disk is full (13)", storage.ErrUnavailable))
	e, internal := asError(err)
	if e.Status != http.StatusServiceUnavailable || e.RetryAfter != 30*time.Second || internal {
		t.Fatalf("asError = %+v, internal %v; want 503 with Retry-After 30 s", e, internal)
	}
	h := http.Header{}
	e.setErrorHeaders(h)
	if h.Get("Retry-After") != "30" {
		t.Fatalf("Retry-After = %q", h.Get("Retry-After"))
	}
	if body := e.scimBody(); body.Status != "503" || body.Detail == "" || body.Detail == err.Error() {
		t.Fatalf("SCIM body = %+v", body)
	}
}
