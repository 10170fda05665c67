package tenant

import (
	"fmt"
	"time"

	"github.com/crewjam/saml/samlsp"

	"github.com/ssogate/ssogate/internal/storage"
)

// CheckRefreshedMetadata checks a fresh copy of a connection's metadata,
// fetched again from its idp_metadata_url, before it replaces the copy
// kept in the store: it must pass the checks an admin's would
// (checkMetadata), and name the same IdP (entity ID), since an enabled
// connection never changes IdP without an admin and a test sign-in. New
// signing certificates are what a refresh is for (rollover).
func CheckRefreshedMetadata(cur storage.Connection, data []byte, now time.Time) error {
	if err := checkMetadata(data, now); err != nil {
		return fmt.Errorf("the refreshed metadata %v", err)
	}
	if cur.IDPMetadataXML == "" {
		return nil
	}
	old, err := samlsp.ParseMetadata([]byte(cur.IDPMetadataXML))
	if err != nil {
		return nil // the kept copy is the broken one: take the new
	}
	fresh, err := samlsp.ParseMetadata(data)
	if err != nil {
		return fmt.Errorf("the refreshed metadata does not parse: %w", err)
	}
	if fresh.EntityID != old.EntityID {
		return fmt.Errorf("the refreshed metadata names another IdP (%q, was %q): an admin must set the connection up again", fresh.EntityID, old.EntityID)
	}
	return nil
}
