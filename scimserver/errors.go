package scimserver

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
)

// The scimType values of RFC 7644 section 3.12 that this server uses.
const (
	scimInvalidFilter = "invalidFilter"
	scimUniqueness    = "uniqueness"
	scimMutability    = "mutability"
	scimInvalidSyntax = "invalidSyntax"
	scimInvalidPath   = "invalidPath"
	scimNoTarget      = "noTarget"
	scimInvalidValue  = "invalidValue"
)

// errorSchema is the schema URI of a SCIM error body.
const errorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"

// Error is a failed request as the client sees it: an HTTP status, for
// SCIM a scimType where RFC 7644 defines one, and a detail a person can
// act on (Okta shows it to the admin, so it is never empty).
type Error struct {
	Status   int
	SCIMType string
	Detail   string
	// Field names the bad field of an admin API body, for a client that
	// shows the error next to it; SCIM bodies do not carry it.
	Field string
	// RetryAfter, when set, becomes the Retry-After header (429, 503).
	RetryAfter time.Duration
	// cause is a third-party parser's error behind the detail: logged at
	// debug level, never sent, as its words are the parser's internals.
	cause error
}

func (e *Error) Error() string {
	if e.SCIMType != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.SCIMType, e.Detail)
	}
	return fmt.Sprintf("%d: %s", e.Status, e.Detail)
}

// errorf returns an *Error with a formatted detail.
func errorf(status int, scimType, format string, args ...any) *Error {
	return &Error{Status: status, SCIMType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// badRequest is a 400 with a scimType.
func badRequest(scimType, format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, scimType, format, args...)
}

// fieldError is a 400 of the admin API about one field of the body or
// query.
func fieldError(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Field: field, Detail: field + ": " + fmt.Sprintf(format, args...)}
}

// notFound is a 404 that names what was missing.
func notFound(format string, args ...any) *Error {
	return errorf(http.StatusNotFound, "", format, args...)
}

// storeRetryAfter is the Retry-After of a 503 for a store that cannot
// write.
const storeRetryAfter = 30 * time.Second

// asError maps any error a handler returns to what the client sees.
// Errors the handler did not classify are 500 with a generic detail: the
// cause is for the log, not for the client. internal reports that case.
func asError(err error) (e *Error, internal bool) {
	var se *Error
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		return se, false
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, "", "the request body is larger than %d bytes", tooBig.Limit), false
	case errors.Is(err, storage.ErrNotFound):
		return notFound("resource not found"), false
	case errors.Is(err, storage.ErrUnavailable):
		// The cause (a full disk, a lock) is the operator's; the client
		// only needs to come back.
		return &Error{Status: http.StatusServiceUnavailable, Detail: "the service cannot store changes right now; try again in a minute", RetryAfter: storeRetryAfter}, false
	case errors.Is(err, storage.ErrConflict):
		return errorf(http.StatusConflict, scimUniqueness, "the change conflicts with an existing resource"), false
	}
	return errorf(http.StatusInternalServerError, "", "internal error; the server log has the cause"), true
}

// scimErrorBody is the RFC 7644 section 3.12 error body. Status is a
// string: Okta's test compares it with "401" and "404".
type scimErrorBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	SCIMType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail"`
}

func (e *Error) scimBody() scimErrorBody {
	return scimErrorBody{
		Schemas:  []string{errorSchema},
		Status:   strconv.Itoa(e.Status),
		SCIMType: e.SCIMType,
		Detail:   e.Detail,
	}
}

// apiErrorBody is the admin API's error body (domains, SSO, tokens,
// teams, members).
type apiErrorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// setErrorHeaders adds the headers an error status calls for.
func (e *Error) setErrorHeaders(h http.Header) {
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.Itoa(max(secs, 1)))
	}
	if e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="ssogate"`)
	}
}
