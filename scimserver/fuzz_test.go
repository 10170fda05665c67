package scimserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/ssogate/ssogate/internal/apitoken"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
)

// is4xx reports whether err is a client error, as every rejection of
// untrusted input must be.
func is4xx(err error) bool {
	var se *Error
	return errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && se.Detail != ""
}

// FuzzFilter feeds filters, seeded with what Okta and Entra send, through
// the rewrite, the parser, the translation for Users and Groups, and the
// SQLite backend: no panic, only 400s, a filter that follows the grammar
// is never rewritten, and whatever the translation lets through the store
// can evaluate.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "jo@acme.com"`,
		`userName Eq "JO@ACME.COM"`,
		`externalId eq "00ujl29u0le5T6Aj10h7"`,
		`emails[type eq "work"].value eq "jo@acme.com"`,
		`emails[type eq "work" or primary eq true].value sw "jo" and active eq true`,
		`emails[type eq "work" and value eq "x"]`,
		`displayName eq "Eng"`,
		`members[value eq "2819c223-7f76-453a-919d-413861904646"]`,
		`name.givenName sw "J" or not (active eq false)`,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName pr`,
		`meta.lastModified gt "2011-05-13T04:42:34Z"`,
		`userName eq "a\"b"`,
		`title eq null`,
		`emails co "x" and (userName ew ".com" or displayName ne "")`,
		`emails[value eq "]"].type eq "work"`,
		`x[[[y`, `"`, `]. eq`, `a[b].c pr`,
		`name.familyName   EQ  "O'Brien"`, `userName eq ""`, `userName eq "tab	x"`, `$ref eq "x"`, `a.b.c eq "x"`, `userName eq "x" `,
	} {
		f.Add(s)
	}
	store, err := sqlitestore.Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	org, err := store.EnsureOrg(context.Background(), "fuzz", false)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if len(raw) <= maxFilterLen {
			rewritten := rewriteSubAttrFilter(raw)
			if _, err := guard(func() (filter.Expression, error) { return filter.ParseFilter([]byte(raw)) }); err == nil && rewritten != raw {
				t.Fatalf("rewrote the valid filter %q to %q", raw, rewritten)
			}
		}
		if fast, ok := simpleEq(raw); ok {
			full, err := guard(func() (filter.Expression, error) { return filter.ParseFilterNumber([]byte(raw)) })
			if err != nil || !reflect.DeepEqual(full, filter.Expression(fast)) {
				t.Fatalf("simpleEq(%q) = %#v, the parser says %#v, %v", raw, fast, full, err)
			}
		}
		expr, err := parseFilter(raw)
		if err != nil {
			if !is4xx(err) {
				t.Fatalf("parseFilter(%q) = %v, want a 4xx", raw, err)
			}
			return
		}
		for _, ft := range []filterTranslator{userFilter, groupFilter} {
			sf, err := ft.translate(expr)
			if err != nil {
				if !is4xx(err) {
					t.Fatalf("translate(%q) = %v, want a 4xx", raw, err)
				}
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if ft.schema == userSchema {
				_, _, err = store.FindMembers(ctx, org.ID, storage.Query{Filter: sf, Count: 10})
			} else {
				_, _, err = store.FindTeams(ctx, org.ID, storage.Query{Filter: sf, Count: 10})
			}
			cancel()
			if err != nil {
				t.Fatalf("the store cannot evaluate %q (%#v): %v", raw, sf, err)
			}
		}
	})
}

// fuzzMember is the user PATCH bodies are applied to.
var fuzzMember = storage.Member{
	ID: "m1", Email: "jo@acme.com", GivenName: "Jo", FamilyName: "Smith", DisplayName: "Jo Smith", ExternalID: "ext", Active: true,
	Attrs: json.RawMessage(`{"emails":[{"value":"jo@acme.com","type":"work","primary":true},{"value":"jo@home.example","type":"home"}],` +
		`"phoneNumbers":[{"value":"+1","type":"work"}],"name":{"formatted":"Jo Smith"},` +
		`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D","manager":{"value":"m2"}}}`),
}

// FuzzPatch feeds PATCH bodies, seeded with Okta's and Entra's, through
// parsing and application to a User and to a Group: no panic, only 4xx
// errors, and a successful User result is in canonical form (canonical
// again gives the same document), which is what gets stored.
func FuzzPatch(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
		`{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
		`{"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@acme.com"},{"op":"Replace","path":"name.familyName","value":"F2"}]}`,
		`{"Operations":[{"op":"replace","value":{"displayName":"B","name.givenName":"K","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"A"}}]}`,
		`{"Operations":[{"op":"remove","path":"members[value eq \"u1\"]"},{"op":"add","path":"members","value":[{"value":"u2","display":"x"}]}]}`,
		`{"Operations":[{"op":"replace","value":{"id":"g1","displayName":"Eng"}}]}`,
		`{"Operations":[{"op":"Remove","path":"members","value":[{"value":"u1"}]}]}`,
		`{"Operations":[{"op":"remove","path":"members"}]}`,
		`{"Operations":[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m3"}]}`,
		`{"Operations":[{"op":"Replace","path":"manager","value":[{"$ref":null,"value":"m4"}]}]}`,
		`{"Operations":[{"op":"replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"+2"}]}`,
		`{"Operations":[{"op":"add","path":"emails","value":[{"value":"alias@acme.com","primary":"True"}]}]}`,
		`{"Operations":[{"op":"remove","path":"emails[type eq \"home\" or not (primary eq true)]"}]}`,
		`{"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"department":"X"}}]}`,
		`{"Operations":[{"op":"add","value":{"emails":[{"value":"b@acme.com"}],"name":{"givenName":"Q"}}}]}`,
		`{"Operations":[{"op":"replace","path":"userName","value":"Jo2@acme.com"}]}`,
		`{"Operations":[{"op":"remove","path":"addresses[type eq \"work\"].postalCode"}]}`,
		`{"Operations":[{"op":"add","path":"x[[","value":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var obj map[string]any
		if dec.Decode(&obj) != nil || obj == nil {
			return
		}
		ops, err := parsePatch(obj)
		if err != nil {
			if !is4xx(err) {
				t.Fatalf("parsePatch = %v, want a 4xx", err)
			}
			return
		}

		doc := memberDoc(fuzzMember)
		if err := applyUserPatch(doc, ops); err != nil {
			if !is4xx(err) {
				t.Fatalf("applyUserPatch = %v, want a 4xx", err)
			}
		} else if canon, err := canonicalUser(doc); err != nil {
			if !is4xx(err) {
				t.Fatalf("canonicalUser = %v, want a 4xx", err)
			}
		} else {
			again, err := canonicalUser(canon)
			if err != nil || !reflect.DeepEqual(again, canon) {
				t.Fatalf("canonical form is not stable: %v\n%v\n%v", err, canon, again)
			}
			if _, err := userFromDoc(canon, &fuzzMember); err != nil && !is4xx(err) {
				t.Fatalf("userFromDoc = %v, want a 4xx", err)
			}
		}

		team := storage.Team{ID: "g1", Name: "Eng", MemberIDs: []string{"u1", "u3"}}
		if err := applyGroupPatch(&team, ops); err != nil && !is4xx(err) {
			t.Fatalf("applyGroupPatch = %v, want a 4xx", err)
		}
		seen := map[string]bool{}
		for _, id := range team.MemberIDs {
			if seen[id] || id == "" {
				t.Fatalf("members %q hold a duplicate or empty id", team.MemberIDs)
			}
			seen[id] = true
		}
	})
}

// FuzzServeHTTP sends arbitrary methods, paths, queries and bodies, with a
// valid token, through the whole handler on a real store: whatever the
// input, the answer is not a 5xx (the server's own failure), and a SCIM
// answer is a SCIM body.
func FuzzServeHTTP(f *testing.F) {
	for _, s := range [][4]string{
		{"GET", "/scim/v2/Users", "filter=userName eq \"jo@acme.com\"&startIndex=1&count=10", ""},
		{"POST", "/scim/v2/Users", "", `{"userName":"jo@acme.com","name":{"givenName":"J","familyName":"S"},"emails":[{"value":"jo@acme.com"}]}`},
		{"PATCH", "/scim/v2/Users/x", "", `{"Operations":[{"op":"replace","value":{"active":false}}]}`},
		{"POST", "/scim/v2/Groups", "excludedAttributes=members", `{"displayName":"Eng","members":[{"value":"x"}]}`},
		{"PUT", "/scim/v2/Groups/x", "attributes=displayName", `{"displayName":"Eng"}`},
		{"GET", "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", "", ""},
		{"POST", "/api/v1/domains", "", `{"domain":"acme.io"}`},
		{"POST", "/api/v1/domains/acme.io/verify", "", ""},
		{"DELETE", "/x/scim/v2/Users/y/z", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	org, err := store.EnsureOrg(ctx, "fuzz", true)
	if err != nil {
		f.Fatal(err)
	}
	if err := store.SyncConfigDomains(ctx, org.ID, []string{"acme.com"}); err != nil {
		f.Fatal(err)
	}
	tokens := map[storage.Scope]string{}
	for _, scope := range []storage.Scope{storage.ScopeSCIM, storage.ScopeAdmin} {
		tok, hash, err := apitoken.New()
		if err != nil {
			f.Fatal(err)
		}
		if _, err := store.CreateToken(ctx, org.ID, "fuzz", scope, hash); err != nil {
			f.Fatal(err)
		}
		tokens[scope] = tok
	}
	// A resolver that answers at once: verification fails with a 422.
	srv, err := New(Config{Store: store, RequestsPerSecond: -1, Resolver: noTXT{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req := &http.Request{
			Method:     method,
			URL:        &url.URL{Path: path, RawQuery: query},
			Header:     http.Header{},
			Body:       io.NopCloser(strings.NewReader(body)),
			Host:       "example.com",
			RequestURI: path,
		}
		req = req.WithContext(ctx)
		scope := storage.ScopeSCIM
		if segmentIndex(path, "/scim/v2") < 0 {
			scope = storage.ScopeAdmin
		}
		req.Header.Set("Authorization", "Bearer "+tokens[scope])
		req.Header.Set("Content-Type", "application/scim+json")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s?%s %q = %d %s", method, path, query, body, w.Code, w.Body)
		}
		if scope == storage.ScopeSCIM && w.Body.Len() > 0 {
			var e struct{ Schemas []string }
			if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/scim+json") || json.Unmarshal(w.Body.Bytes(), &e) != nil {
				t.Fatalf("%s %s: not a SCIM JSON answer: %q %s", method, path, w.Header().Get("Content-Type"), w.Body)
			}
		}
	})
}

type noTXT struct{}

func (noTXT) LookupTXT(context.Context, string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}

// FuzzOutputDoc: a response built from the stored attributes left raw
// (outputDoc) must say exactly what the fully decoded document
// (memberDoc) says, for any stored attributes and member columns.
func FuzzOutputDoc(f *testing.F) {
	for _, s := range []string{
		`{"name":{"givenName":"Jo","formatted":"Jo X","x":1.50},"emails":[{"value":"jo@acme.com","primary":true}],"title":"<b>"}`,
		`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7","manager":{"value":"m1"}},"n":12345678901234567890}`,
		`{"name":"not an object","active":"yes","userName":"other@acme.com","emails":null}`,
		`{"name":null}`, `null`, `[]`, `{}`, `{"a":1}{"b":2}`, `{"é\u00e9":"\ud800"}`,
	} {
		f.Add([]byte(s), "Jo", "")
	}
	encode := func(t *testing.T, doc map[string]any) any {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(doc); err != nil {
			t.Fatalf("encoding: %v", err)
		}
		dec := json.NewDecoder(&buf)
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("decoding: %v", err)
		}
		return v
	}
	f.Fuzz(func(t *testing.T, attrs []byte, given, family string) {
		if !json.Valid(attrs) {
			return // the store only ever holds what json.Marshal wrote
		}
		m := fuzzMember
		m.Attrs, m.GivenName, m.FamilyName = attrs, given, family
		if got, want := encode(t, outputDoc(m)), encode(t, memberDoc(m)); !reflect.DeepEqual(got, want) {
			t.Fatalf("attrs %s:\noutputDoc %v\nmemberDoc %v", attrs, got, want)
		}
	})
}
