package tenant

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
)

// Bits of FuzzPrepare's set argument: which Settings fields are given.
const (
	setSSOURL uint16 = 1 << iota
	setIssuer
	setCert1
	setCert2
	setMetadataURL
	setMetadataXML
	setSLOURL
	setRequireSSO
	setManagedAccess
	setIDPInitiated
	fetchFails
	setGroupsAttribute
)

// FuzzPrepare gives Prepare arbitrary text in every Settings field (and
// serves arbitrary text at the metadata URL). Prepare must never panic
// and must refuse only with a *FieldError. What it accepts is applied to
// a new, an enabled and a tested connection: Apply refuses only with
// ErrUnchanged, a *FieldError or a *RuleError and then leaves the
// connection alone; what it writes keeps the connection's invariants.
func FuzzPrepare(f *testing.F) {
	c1, c2 := certs(f)
	md := idpMetadataXML(f)
	explicit := setSSOURL | setIssuer | setCert1
	for _, s := range []struct {
		sso, issuer, cert1, cert2, mdURL, mdXML, slo, fetched, groups string
		set                                                           uint16
		flags                                                         uint8
	}{
		{ssoURL, issuer, c1, c2, "", "", "", "", "", explicit | setCert2, 0},
		{ssoURL, issuer, c1, "", "", "", "https://idp.example.com/slo", "", "", explicit | setSLOURL | setRequireSSO, 1},
		{"http://localhost:9000/sso", "urn:idp", derBase64(f, c1), "", "", "", "", "", "groups", explicit | setGroupsAttribute, 0},
		{"", "", "", "", "https://idp.example.com/metadata", "", "", md, "", setMetadataURL | setManagedAccess, 3},
		{"", "", "", "", "", md, "", "", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", setMetadataXML | setIDPInitiated | setGroupsAttribute, 0},
		{"", "", "", "", "https://idp.example.com/metadata", "", "", md, "", setMetadataURL | fetchFails, 0},
		{"javascript:alert(1)", "x\x00", "-----BEGIN CERTIFICATE-----\n", "", "", "", "", "", "g\x00\xff", explicit | setGroupsAttribute, 0},
		{"https://u:p@idp.example.com/", "", "", "", "http://idp.example.com/md", "<EntityDescriptor/>", "//x", "<html/>", "", 0x7f, 0},
		{"", "", "", "", "", "", "", "", "", setSSOURL | setIssuer | setCert1, 0},
		{"", "", "", "", "", "", "", "", " groups ", setGroupsAttribute, 0},
	} {
		f.Add(s.sso, s.issuer, s.cert1, s.cert2, s.mdURL, s.mdXML, s.slo, s.fetched, s.groups, s.set, s.flags)
	}
	starts := []storage.Connection{
		storage.NewConnection(1),
		explicitConn(f, storage.ConnectionEnabled),
		metadataConn(f, storage.ConnectionTested, "https://idp.example.com/metadata"),
	}
	f.Fuzz(func(t *testing.T, ssoIn, issuerIn, cert1, cert2, mdURL, mdXML, slo, fetched, groups string, set uint16, flags uint8) {
		var in Settings
		if set&setSSOURL != 0 {
			in.IDPSSOURL = &ssoIn
		}
		if set&setIssuer != 0 {
			in.IDPIssuer = &issuerIn
		}
		if set&(setCert1|setCert2) != 0 {
			var list []string
			if set&setCert1 != 0 {
				list = append(list, cert1)
			}
			if set&setCert2 != 0 {
				list = append(list, cert2)
			}
			in.IDPCertificates = &list
		}
		if set&setMetadataURL != 0 {
			in.IDPMetadataURL = &mdURL
		}
		if set&setMetadataXML != 0 {
			in.IDPMetadataXML = &mdXML
		}
		if set&setSLOURL != 0 {
			in.IDPSLOURL = &slo
		}
		if set&setRequireSSO != 0 {
			in.RequireSSO = ptr(flags&1 != 0)
		}
		if set&setManagedAccess != 0 {
			in.IDPManagedAccess = ptr(flags&2 != 0)
		}
		if set&setIDPInitiated != 0 {
			in.AllowIDPInitiated = ptr(flags&4 != 0)
		}
		if set&setGroupsAttribute != 0 {
			in.GroupsAttribute = &groups
		}
		fetch := func(context.Context, string) ([]byte, error) {
			if set&fetchFails != 0 {
				return nil, errors.New("could not be fetched: connection refused")
			}
			return []byte(fetched), nil
		}

		ch, err := Prepare(context.Background(), in, fetch, now)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" || fe.Reason == "" {
				t.Fatalf("Prepare = %v (%T), want a *FieldError naming a field", err, err)
			}
			return
		}
		verified := flags&8 != 0
		for _, start := range starts {
			c := start
			c.Pinned = append([]string(nil), start.Pinned...)
			err := ch.Apply(&c, verified)
			if err != nil {
				var fe *FieldError
				var re *RuleError
				if !errors.Is(err, ErrUnchanged) && !errors.As(err, &fe) && !errors.As(err, &re) {
					t.Fatalf("Apply(%s connection) = %v (%T), want ErrUnchanged, a *FieldError or a *RuleError", start.State, err, err)
				}
				if diff := cmp.Diff(start, c); diff != "" {
					t.Fatalf("Apply(%s connection) = %v but wrote (-want +got):\n%s", start.State, err, diff)
				}
				continue
			}
			checkConnection(t, start, c, verified)
		}
	})
}

// checkConnection checks what Apply wrote over start.
func checkConnection(t *testing.T, start, c storage.Connection, verified bool) {
	t.Helper()
	for field, v := range map[string]string{FieldIDPSSOURL: c.IDPSSOURL, FieldIDPMetadataURL: c.IDPMetadataURL, FieldIDPSLOURL: c.IDPSLOURL} {
		if v != "" {
			if err := CheckURL(field, v); err != nil {
				t.Fatalf("Apply(%s connection) stored %s %q: %v", start.State, field, v, err)
			}
		}
	}
	explicit := c.IDPSSOURL != "" || c.IDPIssuer != "" || c.IDPCertificates != ""
	complete := c.IDPSSOURL != "" && c.IDPIssuer != "" && c.IDPCertificates != ""
	if c.IDPMetadataXML != "" && explicit {
		t.Fatalf("Apply(%s connection) stored both metadata and explicit values: %+v", start.State, c)
	}
	if c.IDPMetadataURL != "" && c.IDPMetadataXML == "" {
		t.Fatalf("Apply(%s connection) stored a metadata URL without its document", start.State)
	}
	if explicit && !complete {
		t.Fatalf("Apply(%s connection) stored a partial explicit IdP: %q %q %d bytes of certificates",
			start.State, c.IDPSSOURL, c.IDPIssuer, len(c.IDPCertificates))
	}
	if complete || c.IDPMetadataXML != "" {
		if _, err := IDPMetadata(c); err != nil {
			t.Fatalf("Apply(%s connection) stored an IdP that does not load: %v", start.State, err)
		}
	}
	if c.IDPCertificates != "" {
		cs, err := sso.ParseCertificates([]byte(c.IDPCertificates))
		if err != nil || len(cs) > maxCerts {
			t.Fatalf("stored certificates: %d, %v", len(cs), err)
		}
		for _, x := range cs {
			if now.After(x.NotAfter) {
				t.Fatalf("stored an expired certificate (%s)", x.NotAfter)
			}
		}
	}
	if c.State == storage.ConnectionEnabled {
		if start.State != storage.ConnectionEnabled {
			t.Fatalf("Apply enabled a %s connection", start.State)
		}
		if _, err := IDPMetadata(c); err != nil {
			t.Fatalf("Apply left an enabled connection without a usable IdP: %v", err)
		}
	}
	if err := CheckGroupsAttribute(c.GroupsAttribute); err != nil || c.GroupsAttribute != strings.TrimSpace(c.GroupsAttribute) {
		t.Fatalf("Apply(%s connection) stored groups attribute %q: %v", start.State, c.GroupsAttribute, err)
	}
	if c.RequireSSO && !start.RequireSSO && (c.State != storage.ConnectionEnabled || !verified) {
		t.Fatalf("Apply turned require_sso on for a %s connection (verified domain: %v)", c.State, verified)
	}
	if c.OrgID != start.OrgID || !cmp.Equal(c.Pinned, start.Pinned) || c.Version != start.Version {
		t.Fatalf("Apply changed the org, pins or version: %+v", c)
	}
}
