package scimserver

import (
	"net/http"
	"strings"
)

// routeSCIM dispatches a request under /scim/v2.
func (s *Server) routeSCIM(rq *request, segs []string) (response, error) {
	if len(segs) == 0 {
		return response{}, notFound("no such endpoint: see %s/ResourceTypes", rq.base)
	}
	switch strings.ToLower(segs[0]) {
	case "users":
		return s.users(rq, segs[1:])
	case "groups":
		return s.groups(rq, segs[1:])
	case "serviceproviderconfig", "serviceproviderconfigs":
		if len(segs) > 1 {
			break
		}
		return getOnly(rq, func() any { return serviceProviderConfig(rq) })
	case "resourcetypes":
		return discoveryList(rq, segs[1:], resourceTypes(rq))
	case "schemas":
		return discoveryList(rq, segs[1:], schemaResources(rq))
	case "me", "bulk", ".search":
		return response{}, errorf(http.StatusNotImplemented, "", "/%s is not supported by this server", segs[0])
	}
	return response{}, notFound("no such endpoint: see %s/ResourceTypes", rq.base)
}

func getOnly(rq *request, body func() any) (response, error) {
	if rq.Method != http.MethodGet {
		return response{}, methodNotAllowed(rq, http.MethodGet)
	}
	return response{status: http.StatusOK, body: body()}, nil
}

// discoveryList answers /ResourceTypes and /Schemas: the whole list, or
// the one resource whose id is the next segment. These endpoints take no
// filter or paging (RFC 7644 section 4).
func discoveryList(rq *request, rest []string, items []map[string]any) (response, error) {
	if rq.Method != http.MethodGet {
		return response{}, methodNotAllowed(rq, http.MethodGet)
	}
	switch len(rest) {
	case 0:
		list := make([]any, len(items))
		for i, it := range items {
			list[i] = it
		}
		return response{status: http.StatusOK, body: newList(len(list), 1, list)}, nil
	case 1:
		for _, it := range items {
			if strings.EqualFold(it["id"].(string), rest[0]) {
				return response{status: http.StatusOK, body: it}, nil
			}
		}
	}
	return response{}, notFound("no such resource")
}

// serviceProviderConfig says what this server really does: PATCH, filters
// (eq, ne, co, sw, ew, gt, ge, lt, le, pr, and, or, not on the attributes
// the store indexes), ETags with If-Match; no bulk, no sorting, no
// password change.
func serviceProviderConfig(rq *request) map[string]any {
	return map[string]any{
		"schemas":          []string{spConfigSchema},
		"documentationUri": "https://github.com/ssogate/ssogate",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": maxResults},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "OAuth Bearer Token",
			"description": "A bearer token of scope scim, made with: ssogate token create --scope scim",
			"primary":     true,
		}},
		"meta": map[string]any{
			"resourceType": "ServiceProviderConfig",
			"location":     rq.base + "/ServiceProviderConfig",
		},
	}
}

func resourceTypes(rq *request) []map[string]any {
	return []map[string]any{
		{
			"schemas":     []string{resTypeSchema},
			"id":          "User",
			"name":        "User",
			"endpoint":    "/Users",
			"description": "User Account",
			"schema":      userSchema,
			"schemaExtensions": []any{
				map[string]any{"schema": enterpriseSchema, "required": false},
			},
			"meta": map[string]any{"resourceType": "ResourceType", "location": rq.base + "/ResourceTypes/User"},
		},
		{
			"schemas":     []string{resTypeSchema},
			"id":          "Group",
			"name":        "Group",
			"endpoint":    "/Groups",
			"description": "Group",
			"schema":      groupSchema,
			"meta":        map[string]any{"resourceType": "ResourceType", "location": rq.base + "/ResourceTypes/Group"},
		},
	}
}

func schemaResources(rq *request) []map[string]any {
	var out []map[string]any
	for _, s := range []*resourceSchema{userResourceSchema, enterpriseResourceSchema, groupResourceSchema} {
		var attrs []any
		for _, a := range s.Attrs {
			if !a.common {
				attrs = append(attrs, describeAttr(a))
			}
		}
		out = append(out, map[string]any{
			"schemas":     []string{schemaSchema},
			"id":          s.ID,
			"name":        s.Name,
			"description": s.Description,
			"attributes":  attrs,
			"meta":        map[string]any{"resourceType": "Schema", "location": rq.base + "/Schemas/" + s.ID},
		})
	}
	return out
}

// describeAttr is an attribute definition of RFC 7643 section 7.
func describeAttr(a *attribute) map[string]any {
	mutability := "readWrite"
	if a.ReadOnly {
		mutability = "readOnly"
	}
	uniqueness := "none"
	if a.Unique {
		uniqueness = "server"
	}
	d := map[string]any{
		"name":        a.Name,
		"type":        string(a.Type),
		"multiValued": a.MultiValued,
		"description": a.Description,
		"required":    a.Required,
		"caseExact":   a.CaseExact,
		"mutability":  mutability,
		"returned":    "default",
		"uniqueness":  uniqueness,
	}
	if len(a.RefTypes) > 0 {
		d["referenceTypes"] = a.RefTypes
	}
	if len(a.Canonical) > 0 {
		d["canonicalValues"] = a.Canonical
	}
	if len(a.Sub) > 0 {
		subs := make([]any, len(a.Sub))
		for i, sa := range a.Sub {
			subs[i] = describeAttr(sa)
		}
		d["subAttributes"] = subs
	}
	return d
}
