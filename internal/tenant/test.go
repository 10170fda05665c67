package tenant

import (
	"crypto/rand"
	"encoding/base64"
	"time"
)

// TestLifetime is how long a test sign-in may take, from the admin's
// request to the IdP's answer.
const TestLifetime = 15 * time.Minute

// NewTestID returns a test sign-in's ID: 128 random bits, since whoever
// holds it may run the test.
func NewTestID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// TestOutcome is what a test sign-in found, kept as the test's outcome
// (storage.SSOTest.Outcome, as JSON) for the admin to read: what the IdP
// sent and which rule passed or failed. It never holds the assertion.
type TestOutcome struct {
	// OK is set when the response was valid and the person would have
	// been signed in.
	OK bool `json:"ok"`
	// Error says why the IdP's response was refused, when it was.
	Error string `json:"error,omitempty"`
	// Fix says what to change at the IdP or here, when something failed.
	Fix          string              `json:"fix,omitempty"`
	Issuer       string              `json:"issuer,omitempty"`
	NameID       string              `json:"name_id,omitempty"`
	NameIDFormat string              `json:"name_id_format,omitempty"`
	Email        string              `json:"email,omitempty"`
	GivenName    string              `json:"first_name,omitempty"`
	FamilyName   string              `json:"last_name,omitempty"`
	Attributes   map[string][]string `json:"attributes,omitempty"`
	Rules        []Rule              `json:"rules"`
}
