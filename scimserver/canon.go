package scimserver

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Input from IdPs is loose: attribute names in any case (Entra's Postman
// tests send UserName and Active), booleans as the strings "True" and
// "False", JSON null for absent sub-attributes, "" to clear an attribute,
// a bare string where a complex value with a "value" is meant (Entra's
// manager). canonical* functions turn such input into one canonical form:
// the schema's attribute names, typed values, absent instead of null or
// "". Keys the schema does not know are dropped, so that what is stored
// is what /Schemas advertises.

// canonicalUser canonicalizes a User body (POST, PUT, or a document after
// PATCH). Read-only and ignored attributes are dropped.
func canonicalUser(in map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(in))
	for k, v := range in {
		ext := extensionSchema(k)
		switch {
		case containsFold(readOnlyAttrs, k), containsFold(ignoredUserAttrs, k):
			continue
		case ext != nil:
			if v == nil {
				continue
			}
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, badRequest(scimInvalidValue, "%s must be an object", ext.ID)
			}
			c, err := canonicalObject(obj, ext.Attrs, ext.ID+":")
			if err != nil {
				return nil, err
			}
			if len(c) > 0 {
				if err := setOnce(out, ext.ID, c); err != nil {
					return nil, err
				}
			}
		default:
			if err := canonicalKey(out, userResourceSchema.Attrs, "", k, v); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// canonicalObject canonicalizes the keys of obj that attrs describes.
func canonicalObject(obj map[string]any, attrs []*attribute, prefix string) (map[string]any, error) {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if err := canonicalKey(out, attrs, prefix, k, v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// canonicalKey stores v, canonicalized, under the canonical name of k in
// out; unknown keys are dropped.
func canonicalKey(out map[string]any, attrs []*attribute, prefix, k string, v any) error {
	a := findAttr(attrs, k)
	if a == nil {
		return nil
	}
	cv, ok, err := canonicalValue(a, v, prefix+a.Name)
	if err != nil || !ok {
		return err
	}
	return setOnce(out, a.Name, cv)
}

// setOnce refuses a second value under one name: {"userName": …,
// "UserName": …} has no defined meaning.
func setOnce(m map[string]any, k string, v any) error {
	if _, dup := m[k]; dup {
		return badRequest(scimInvalidSyntax, "attribute %s is given twice (attribute names ignore case)", k)
	}
	m[k] = v
	return nil
}

// canonicalValue canonicalizes a value of attribute a; ok is false when
// the value counts as absent.
func canonicalValue(a *attribute, v any, path string) (any, bool, error) {
	if v == nil {
		return nil, false, nil
	}
	if !a.MultiValued {
		return canonicalSingle(a, v, path)
	}
	var items []any
	switch t := v.(type) {
	case []any:
		items = t
	default:
		items = []any{t}
	}
	out := make([]any, 0, len(items))
	for i, it := range items {
		c, ok, err := canonicalSingle(a, it, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, false, err
		}
		if ok {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, false, nil
	}
	return out, true, nil
}

// canonicalSingle canonicalizes one value (of a single-valued attribute,
// or one element of a multi-valued one).
func canonicalSingle(a *attribute, v any, path string) (any, bool, error) {
	if v == nil {
		return nil, false, nil
	}
	switch a.Type {
	case typeComplex:
		var obj map[string]any
		switch t := v.(type) {
		case map[string]any:
			obj = t
		case string:
			if a.sub("value") == nil {
				return nil, false, badRequest(scimInvalidValue, "%s must be an object", path)
			}
			if t == "" {
				return nil, false, nil
			}
			obj = map[string]any{"value": t}
		case []any:
			// A one-element list where one complex value is meant:
			// Entra sends the manager so.
			if a.MultiValued || len(t) > 1 {
				return nil, false, badRequest(scimInvalidValue, "%s must be an object", path)
			}
			if len(t) == 0 {
				return nil, false, nil
			}
			return canonicalSingle(a, t[0], path)
		default:
			return nil, false, badRequest(scimInvalidValue, "%s must be an object", path)
		}
		c, err := canonicalObject(obj, a.Sub, path+".")
		if err != nil {
			return nil, false, err
		}
		return c, len(c) > 0, nil
	case typeBoolean:
		switch t := v.(type) {
		case bool:
			return t, true, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(t)) {
			case "true":
				return true, true, nil
			case "false":
				return false, true, nil
			case "":
				return nil, false, nil
			}
		}
		return nil, false, badRequest(scimInvalidValue, "%s must be true or false", path)
	default:
		switch t := v.(type) {
		case string:
			return t, t != "", nil
		case json.Number:
			// An employeeNumber sent as a JSON number means its digits.
			return t.String(), true, nil
		}
		return nil, false, badRequest(scimInvalidValue, "%s must be a string", path)
	}
}
