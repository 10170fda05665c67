package scimserver

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"
)

// meta is the meta attribute of a resource. The version is a weak ETag of
// the store's row version, which grows with every write.
func meta(resourceType, location string, created, updated time.Time, version int64) map[string]any {
	return map[string]any{
		"resourceType": resourceType,
		"created":      created.UTC().Format(time.RFC3339),
		"lastModified": updated.UTC().Format(time.RFC3339),
		"location":     location,
		"version":      etag(version),
	}
}

func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// etagMatches reports whether an If-Match or If-None-Match header value
// names this version ("*" names any). Weak and strong forms compare
// equal: the version is the same either way.
func etagMatches(header string, version int64) bool {
	if header == "" {
		return false
	}
	want := strconv.FormatInt(version, 10)
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.Trim(strings.TrimPrefix(tag, "W/"), `"`) == want {
			return true
		}
	}
	return false
}

// checkIfMatch enforces If-Match (RFC 7644 section 3.14): a write based on
// an older version is 412. Okta and Entra send none.
func checkIfMatch(rq *request, version int64) error {
	h := rq.Header.Get("If-Match")
	if h == "" || etagMatches(h, version) {
		return nil
	}
	return errorf(http.StatusPreconditionFailed, "", "the resource has changed since that version (it is now %s); read it again", etag(version))
}

// projection is a parsed attributes or excludedAttributes parameter
// (RFC 7644 section 3.4.2.5). id and schemas are always returned.
type projection struct {
	include, exclude []attrRef
}

// attrRef names an attribute, or one of its sub-attributes, by canonical
// name; container is "" for the core schema, else an extension URI.
type attrRef struct {
	container, name, sub string
}

// parseProjection reads the parameters. Names the schema does not know
// are ignored, as are unparseable ones (Entra's Postman sends a filter in
// attributes, which no server is held to).
func parseProjection(q url.Values, core *resourceSchema, exts []*resourceSchema) projection {
	parse := func(list string) []attrRef {
		var refs []attrRef
		for _, item := range strings.Split(list, ",") {
			item = strings.TrimSpace(item)
			if item == "" || len(item) > maxFilterLen {
				continue
			}
			ap, err := guard(func() (filter.AttributePath, error) { return filter.ParseAttrPath([]byte(item)) })
			if err != nil {
				continue
			}
			if ref, ok := resolveRef(ap, core, exts); ok {
				refs = append(refs, ref)
			}
		}
		return refs
	}
	return projection{include: parse(q.Get("attributes")), exclude: parse(q.Get("excludedAttributes"))}
}

func resolveRef(ap filter.AttributePath, core *resourceSchema, exts []*resourceSchema) (attrRef, bool) {
	uri := ap.URI()
	var a *attribute
	container := ""
	if uri == "" || strings.EqualFold(uri, core.ID) {
		if strings.EqualFold(ap.AttributeName, "meta") {
			return attrRef{name: "meta"}, true
		}
		a = core.attr(ap.AttributeName)
	}
	if a == nil {
		for _, ext := range exts {
			if uri == "" || strings.EqualFold(uri, ext.ID) {
				if a = ext.attr(ap.AttributeName); a != nil {
					container = ext.ID
					break
				}
			}
		}
	}
	if a == nil {
		return attrRef{}, false
	}
	ref := attrRef{container: container, name: a.Name}
	if sub := ap.SubAttributeName(); sub != "" {
		sa := a.sub(sub)
		if sa == nil {
			return attrRef{}, false
		}
		ref.sub = sa.Name
	}
	return ref, true
}

// omits reports whether the core attribute name will not be returned, so
// that the caller can skip loading it (a group's members).
func (p projection) omits(name string) bool {
	for _, r := range p.exclude {
		if r.container == "" && r.name == name && r.sub == "" {
			return true
		}
	}
	if len(p.include) == 0 {
		return false
	}
	for _, r := range p.include {
		if r.container == "" && r.name == name {
			return false
		}
	}
	return true
}

// requested reports whether the client asked for a projection at all.
func (p projection) requested() bool { return len(p.include) > 0 || len(p.exclude) > 0 }

// apply trims a resource document.
func (p projection) apply(doc map[string]any) {
	if len(p.include) > 0 {
		for k, v := range doc {
			if k == "id" || k == "schemas" {
				continue
			}
			if obj, isExt := v.(map[string]any); isExt && strings.HasPrefix(k, "urn:") {
				keepOnly(obj, p.include, k)
				if len(obj) == 0 {
					delete(doc, k)
				}
				continue
			}
			subs, found := wanted(p.include, "", k)
			if !found {
				delete(doc, k)
			} else if subs != nil {
				doc[k] = onlySubs(v, subs)
			}
		}
	}
	for _, r := range p.exclude {
		c := doc
		if r.container != "" {
			c, _ = doc[r.container].(map[string]any)
			if c == nil {
				continue
			}
		}
		if r.sub == "" {
			delete(c, r.name)
		} else {
			c[r.name] = withoutSub(c[r.name], r.sub)
		}
		if r.container != "" && len(c) == 0 {
			delete(doc, r.container)
		}
	}
}

// wanted reports whether refs ask for container's attribute name, and
// which of its sub-attributes when only some (nil: all of it).
func wanted(refs []attrRef, container, name string) (subs []string, found bool) {
	for _, r := range refs {
		if r.container != container || r.name != name {
			continue
		}
		if r.sub == "" {
			return nil, true
		}
		subs, found = append(subs, r.sub), true
	}
	return subs, found
}

func keepOnly(obj map[string]any, refs []attrRef, container string) {
	for k, v := range obj {
		subs, found := wanted(refs, container, k)
		if !found {
			delete(obj, k)
		} else if subs != nil {
			obj[k] = onlySubs(v, subs)
		}
	}
}

// onlySubs keeps the named sub-attributes of a complex value or of each
// element of a multi-valued one.
func onlySubs(v any, subs []string) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for _, s := range subs {
			if sv, ok := t[s]; ok {
				out[s] = sv
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, el := range t {
			out[i] = onlySubs(el, subs)
		}
		return out
	}
	return v
}

func withoutSub(v any, sub string) any {
	switch t := v.(type) {
	case map[string]any:
		out := cloneMap(t)
		delete(out, sub)
		return out
	case []any:
		out := make([]any, len(t))
		for i, el := range t {
			out[i] = withoutSub(el, sub)
		}
		return out
	}
	return v
}
