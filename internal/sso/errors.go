package sso

import "net/http"

// Refusal codes, logged with every refused sign-in.
const (
	CodeMalformed          = "malformed_response"
	CodeTooLarge           = "response_too_large"
	CodeInvalid            = "invalid_response"
	CodeReplayed           = "assertion_replayed"
	CodeUnsolicited        = "unsolicited_response"
	CodeMultipleAssertions = "multiple_assertions"
	CodeNoEmail            = "no_email"
	CodeTime               = "outside_time_window"
	CodeUnsupported        = "unsupported_binding"
	CodeDomain             = "domain_not_claimed"
	CodeDeactivated        = "member_deactivated"
	CodeNotProvisioned     = "member_not_provisioned"
	CodeNotEnabled         = "sso_not_enabled"
	CodeWrongOrg           = "other_organization"
	CodeEncryption         = "assertion_encryption"
	CodeLogoutFailed       = "idp_logout_failed"
)

// Refusal is a refused sign-in: Reason is safe to show the browser, Err
// (never shown) is the private cause for the log.
type Refusal struct {
	Code   string
	Reason string
	Err    error
}

func refuse(code, reason string, err error) *Refusal {
	return &Refusal{Code: code, Reason: reason, Err: err}
}

// Refuse makes a Refusal for the sign-in rules applied after validation.
func Refuse(code, reason string) *Refusal { return refuse(code, reason, nil) }

func (r *Refusal) Error() string {
	if r.Err != nil {
		return r.Code + ": " + r.Err.Error()
	}
	return r.Code + ": " + r.Reason
}

func (r *Refusal) Unwrap() error { return r.Err }

// Status is the HTTP status to answer with.
func (r *Refusal) Status() int {
	switch r.Code {
	case CodeMalformed, CodeUnsupported, CodeNoEmail:
		return http.StatusBadRequest
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	default:
		return http.StatusForbidden
	}
}
