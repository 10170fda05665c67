package scimserver

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// maxPatchOps bounds the operations of one PATCH. Entra's most verbose
// request (the validator's "replace attributes verbose") has about 40.
const maxPatchOps = 1000

// patchOp is one operation of a PATCH request (RFC 7644 section 3.5.2).
type patchOp struct {
	Op       string     // add, remove or replace, lower case
	Path     *patchPath // nil without a path
	Value    any        // nil when absent or null
	HasValue bool
}

// patchPath is a parsed PATCH path: either a whole schema extension
// (Schema set, Path zero) or an attribute path of the filter grammar.
type patchPath struct {
	Raw    string
	Schema string
	Path   filter.Path
}

// readPatch reads a PatchOp body (PATCH of a User or a Group).
func readPatch(rq *request) ([]patchOp, error) {
	body, err := readObject(rq)
	if err != nil {
		return nil, err
	}
	return parsePatch(body)
}

// parsePatch reads a PatchOp body. It is lenient where IdPs differ from
// the RFC: op in any case (Entra sends "Replace"), stray keys in an
// operation ("name": "addMember"), a missing schemas list.
func parsePatch(body map[string]any) ([]patchOp, error) {
	var rawOps any
	for k, v := range body {
		switch {
		case strings.EqualFold(k, "schemas"):
			list, _ := v.([]any)
			if v != nil && !slices.ContainsFunc(list, func(s any) bool { str, _ := s.(string); return strings.EqualFold(str, patchOpSchema) }) {
				return nil, badRequest(scimInvalidSyntax, "schemas must contain %s", patchOpSchema)
			}
		case strings.EqualFold(k, "Operations"):
			rawOps = v
		}
	}
	list, ok := rawOps.([]any)
	if !ok || len(list) == 0 {
		return nil, badRequest(scimInvalidSyntax, "the body needs an Operations list with at least one operation")
	}
	if len(list) > maxPatchOps {
		return nil, badRequest(scimInvalidSyntax, "at most %d operations per request", maxPatchOps)
	}
	ops := make([]patchOp, 0, len(list))
	for i, raw := range list {
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil, badRequest(scimInvalidSyntax, "operation %d is not an object", i+1)
		}
		var op patchOp
		var rawPath any
		for k, v := range obj {
			switch strings.ToLower(k) {
			case "op":
				s, _ := v.(string)
				op.Op = strings.ToLower(strings.TrimSpace(s))
			case "path":
				rawPath = v
			case "value":
				op.Value, op.HasValue = v, true
			}
		}
		switch op.Op {
		case "add", "replace", "remove":
		default:
			return nil, badRequest(scimInvalidSyntax, "operation %d: op must be add, replace or remove", i+1)
		}
		switch p := rawPath.(type) {
		case nil:
		case string:
			if strings.TrimSpace(p) != "" {
				pp, err := parsePatchPath(p)
				if err != nil {
					return nil, err
				}
				op.Path = pp
			}
		default:
			return nil, badRequest(scimInvalidPath, "operation %d: path must be a string", i+1)
		}
		if op.Op != "remove" && (!op.HasValue || op.Value == nil && op.Path == nil) {
			return nil, badRequest(scimInvalidSyntax, "operation %d: %s needs a value", i+1, op.Op)
		}
		if op.Op == "remove" && op.Path == nil {
			return nil, badRequest(scimNoTarget, "operation %d: remove needs a path", i+1)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// parsePatchPath parses a PATCH path. A bare schema URI (the whole
// enterprise extension) is not in the filter grammar's terms, so it is
// recognized first.
func parsePatchPath(raw string) (*patchPath, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) > maxFilterLen || nestingDepth(raw) > maxFilterDepth {
		return nil, badRequest(scimInvalidPath, "the path is longer than %d bytes or nests deeper than %d", maxFilterLen, maxFilterDepth)
	}
	for _, uri := range []string{userSchema, enterpriseSchema, groupSchema} {
		if strings.EqualFold(raw, uri) {
			return &patchPath{Raw: raw, Schema: uri}, nil
		}
	}
	p, err := guard(func() (filter.Path, error) { return filter.ParsePathNumber([]byte(raw)) })
	if err != nil {
		e := badRequest(scimInvalidPath, "the path %q is not a valid SCIM attribute path: expected an attribute such as name.givenName, or one filtered such as emails[type eq \"work\"].value", raw)
		e.cause = err // the parser's words, for the debug log only
		return nil, e
	}
	return &patchPath{Raw: raw, Path: p}, nil
}

// target is a resolved PATCH path on a User document.
type target struct {
	ext    *resourceSchema   // the extension whose object holds attr; nil for the core schema
	attr   *attribute        // nil when the whole extension is the target
	sub    *attribute        // a sub-attribute, from attr.sub or valuePath].sub
	filter filter.Expression // a valuePath filter on a multi-valued attr
	skip   bool              // an ignored attribute: the operation does nothing
}

// userPatcher applies PATCH operations to a canonical User document.
type userPatcher struct {
	doc map[string]any
}

// applyUserPatch applies ops in order to doc, which then needs to be
// canonicalized and validated as a whole: an operation may leave it
// incomplete (without userName), and only the end result counts.
func applyUserPatch(doc map[string]any, ops []patchOp) error {
	p := userPatcher{doc: doc}
	for _, op := range ops {
		if op.Path == nil {
			if err := p.applyPathless(op); err != nil {
				return err
			}
			continue
		}
		t, err := resolveUserPath(op.Path, false)
		if err != nil {
			return err
		}
		if err := p.apply(op.Op, t, op.Value, op.HasValue); err != nil {
			return err
		}
	}
	return nil
}

// applyPathless applies an add or replace without a path: each key of the
// value object is an attribute, a dotted path (name.givenName) or a
// URN-qualified path (Entra's aadOptscim062020 form), or a whole schema
// extension. Keys are applied in sorted order, so "name" comes before
// "name.givenName" whatever the JSON order.
func (p userPatcher) applyPathless(op patchOp) error {
	obj, ok := op.Value.(map[string]any)
	if !ok {
		return badRequest(scimInvalidValue, "%s without a path needs an object value", op.Op)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := obj[k]
		if strings.EqualFold(k, userSchema) {
			if err := p.applyPathless(patchOp{Op: op.Op, Value: v, HasValue: true}); err != nil {
				return err
			}
			continue
		}
		pp, err := parsePatchPath(k)
		if err != nil {
			// A key that is no path cannot name a supported attribute.
			continue
		}
		t, err := resolveUserPath(pp, true)
		if err != nil {
			return err
		}
		if err := p.apply(op.Op, t, v, true); err != nil {
			return err
		}
	}
	return nil
}

// resolveUserPath finds the attribute a path names. lenient is set for
// keys of a path-less value: there, read-only and unknown attributes are
// skipped (Okta's rename carries the group id; unknown attributes are
// dropped as in a POST), while an explicit path to them is an error.
func resolveUserPath(pp *patchPath, lenient bool) (target, error) {
	if pp.Schema != "" {
		if ext := extensionSchema(pp.Schema); ext != nil {
			return target{ext: ext}, nil
		}
		return target{}, badRequest(scimInvalidPath, "the path %q names a whole resource; use a path without it", pp.Raw)
	}
	ap := pp.Path.AttributePath
	name := ap.AttributeName
	if containsFold(ignoredUserAttrs, name) {
		return target{skip: true}, nil
	}
	if containsFold(readOnlyAttrs, name) {
		if lenient {
			return target{skip: true}, nil
		}
		return target{}, badRequest(scimMutability, "%s is read-only", name)
	}
	var ext *resourceSchema
	var a *attribute
	switch uri := ap.URI(); {
	case uri == "" || strings.EqualFold(uri, userSchema):
		a = userResourceSchema.attr(name)
		if a == nil && uri == "" {
			// Entra may name enterprise attributes (manager) unqualified.
			for _, s := range userExtensions {
				if a = s.attr(name); a != nil {
					ext = s
					break
				}
			}
		}
	default:
		if ext = extensionSchema(uri); ext != nil {
			a = ext.attr(name)
		}
	}
	if a == nil {
		if lenient {
			return target{skip: true}, nil
		}
		return target{}, badRequest(scimInvalidPath, "the path %q names no attribute this server supports", pp.Raw)
	}
	t := target{ext: ext, attr: a, filter: pp.Path.ValueExpression}
	subName := ap.SubAttributeName()
	if subName == "" {
		subName = pp.Path.SubAttributeName()
	}
	if subName != "" {
		if t.sub = a.sub(subName); t.sub == nil {
			return target{}, badRequest(scimInvalidPath, "the path %q names no sub-attribute this server supports", pp.Raw)
		}
	}
	if t.filter != nil && !a.MultiValued {
		return target{}, badRequest(scimInvalidPath, "the path %q filters %s, which is not multi-valued", pp.Raw, a.Name)
	}
	return t, nil
}

// container returns the object that holds t's attribute: the document,
// or an extension's object, created when create is set.
func (p userPatcher) container(t target, create bool) map[string]any {
	if t.ext == nil {
		return p.doc
	}
	m, _ := p.doc[t.ext.ID].(map[string]any)
	if m == nil && create {
		m = map[string]any{}
		p.doc[t.ext.ID] = m
	}
	return m
}

// apply carries out one operation on a resolved target.
func (p userPatcher) apply(op string, t target, value any, hasValue bool) error {
	if t.skip {
		return nil
	}
	if t.attr == nil {
		// A whole extension: remove it, or apply each of its keys.
		if op == "remove" {
			delete(p.doc, t.ext.ID)
			return nil
		}
		obj, ok := value.(map[string]any)
		if !ok {
			return badRequest(scimInvalidValue, "the value for %s must be an object", t.ext.ID)
		}
		for k, v := range obj {
			a := t.ext.attr(k)
			if a == nil {
				continue
			}
			if err := p.apply(op, target{ext: t.ext, attr: a}, v, true); err != nil {
				return err
			}
		}
		return nil
	}
	c := p.container(t, op != "remove")
	if c == nil {
		return nil // removing from an absent extension
	}
	defer p.dropEmpty(t)
	name := t.attr.Name
	switch {
	case t.attr.MultiValued:
		return applyMulti(c, op, t, value, hasValue)
	case t.sub != nil:
		obj, _ := c[name].(map[string]any)
		if op == "remove" {
			delete(obj, t.sub.Name)
			if len(obj) == 0 {
				delete(c, name)
			}
			return nil
		}
		v, ok, err := canonicalSingle(t.sub, value, name+"."+t.sub.Name)
		if err != nil {
			return err
		}
		if obj == nil {
			obj = map[string]any{}
			c[name] = obj
		}
		setOrDelete(obj, t.sub.Name, v, ok)
		if len(obj) == 0 {
			delete(c, name)
		}
		return nil
	case op == "remove":
		delete(c, name)
		return nil
	default:
		v, ok, err := canonicalSingle(t.attr, value, name)
		if err != nil {
			return err
		}
		// A complex value merges into the one there: sub-attributes not
		// given are kept (RFC 7644 section 3.5.2.3).
		if obj, _ := c[name].(map[string]any); ok && obj != nil && t.attr.Type == typeComplex {
			maps.Copy(obj, v.(map[string]any))
			return nil
		}
		// An absent value clears: Entra clears the manager with a replace
		// of "" or {"value":""}.
		setOrDelete(c, name, v, ok)
		return nil
	}
}

// dropEmpty removes an extension object that the operation emptied.
func (p userPatcher) dropEmpty(t target) {
	if t.ext == nil {
		return
	}
	if m, ok := p.doc[t.ext.ID].(map[string]any); ok && len(m) == 0 {
		delete(p.doc, t.ext.ID)
	}
}

func setOrDelete(m map[string]any, k string, v any, ok bool) {
	if ok {
		m[k] = v
	} else {
		delete(m, k)
	}
}

// applyMulti carries out an operation on a multi-valued attribute
// (emails, phoneNumbers, addresses...), with or without a valuePath
// filter and a sub-attribute.
func applyMulti(c map[string]any, op string, t target, value any, hasValue bool) error {
	a := t.attr
	list, _ := c[a.Name].([]any)
	var matched []int
	if t.filter != nil {
		for i, el := range list {
			obj, _ := el.(map[string]any)
			ok, err := matchElement(t.filter, obj, a)
			if err != nil {
				return err
			}
			if ok {
				matched = append(matched, i)
			}
		}
	}
	written := -1 // the element last written, to keep one primary

	switch {
	case t.filter == nil && t.sub == nil:
		switch op {
		case "remove":
			if hasValue && value != nil {
				// Entra removes listed values only.
				drop, _, err := canonicalValue(a, value, a.Name)
				if err != nil {
					return err
				}
				dropList, _ := drop.([]any)
				list = slices.DeleteFunc(list, func(el any) bool {
					return slices.ContainsFunc(dropList, func(d any) bool { return sameElement(el, d) })
				})
			} else {
				list = nil
			}
		case "replace", "add":
			v, ok, err := canonicalValue(a, value, a.Name)
			if err != nil {
				return err
			}
			if op == "replace" {
				list = nil
			}
			if ok {
				for _, el := range v.([]any) {
					// A value already there is updated, not repeated
					// (RFC 7644 section 3.5.2.1).
					i := slices.IndexFunc(list, func(have any) bool { return sameElement(have, el) })
					if i < 0 {
						list = append(list, el)
						i = len(list) - 1
					} else if obj, isObj := el.(map[string]any); isObj {
						merged := cloneMap(asObject(list[i]))
						maps.Copy(merged, obj)
						list[i] = merged
					}
					if isPrimary(list[i]) {
						written = i
					}
				}
			}
		}
	case t.filter != nil && t.sub == nil:
		if op == "remove" {
			for i := len(matched) - 1; i >= 0; i-- {
				list = slices.Delete(list, matched[i], matched[i]+1)
			}
			break
		}
		v, ok, err := canonicalSingle(a, value, a.Name)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if len(matched) == 0 {
			el, err := elementFromFilter(t.filter, a)
			if err != nil {
				return err
			}
			list = append(list, el)
			matched = []int{len(list) - 1}
		}
		for _, i := range matched {
			merged := cloneMap(asObject(list[i]))
			maps.Copy(merged, v.(map[string]any))
			list[i] = merged
			if isPrimary(merged) {
				written = i
			}
		}
	default: // a sub-attribute, of the filtered elements or of all
		if t.filter == nil {
			matched = make([]int, len(list))
			for i := range list {
				matched[i] = i
			}
		}
		if op == "remove" {
			for _, i := range matched {
				obj := cloneMap(asObject(list[i]))
				delete(obj, t.sub.Name)
				list[i] = obj
			}
			break
		}
		v, ok, err := canonicalSingle(t.sub, value, a.Name+"."+t.sub.Name)
		if err != nil {
			return err
		}
		if len(matched) == 0 && ok {
			// Entra expects emails[type eq "work"].value to create the
			// element it names (RFC 7644 would answer noTarget).
			el := map[string]any{}
			if t.filter != nil {
				if el, err = elementFromFilter(t.filter, a); err != nil {
					return err
				}
			}
			list = append(list, el)
			matched = []int{len(list) - 1}
		}
		for _, i := range matched {
			obj := cloneMap(asObject(list[i]))
			setOrDelete(obj, t.sub.Name, v, ok)
			list[i] = obj
			if isPrimary(obj) {
				written = i
			}
		}
	}

	// At most one primary value (RFC 7643 section 2.4): the one just
	// written wins. Elements left empty go.
	out := list[:0]
	for i, el := range list {
		obj, isObj := el.(map[string]any)
		if isObj && written >= 0 && i != written && isPrimary(obj) {
			obj = cloneMap(obj)
			delete(obj, "primary")
			el = obj
		}
		if isObj && len(obj) == 0 {
			continue
		}
		out = append(out, el)
	}
	if len(out) == 0 {
		delete(c, a.Name)
	} else {
		c[a.Name] = out
	}
	return nil
}

func asObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func isPrimary(v any) bool {
	m, _ := v.(map[string]any)
	b, _ := m["primary"].(bool)
	return b
}

// sameElement reports whether have is the element named by d in a
// remove's value list: by value when d has one, else by equality.
func sameElement(have, d any) bool {
	dm, _ := d.(map[string]any)
	hm, _ := have.(map[string]any)
	if dv, ok := dm["value"].(string); ok {
		hv, _ := hm["value"].(string)
		return strings.EqualFold(hv, dv)
	}
	return reflect.DeepEqual(have, d)
}

// elementFromFilter builds the element a valuePath filter describes, for
// an add or replace that matched nothing: every "attr eq value" joined by
// "and" becomes a sub-attribute. Any other filter names no element to
// create: noTarget.
func elementFromFilter(e filter.Expression, a *attribute) (map[string]any, error) {
	el := map[string]any{}
	var walk func(filter.Expression) bool
	walk = func(e filter.Expression) bool {
		switch e := e.(type) {
		case *filter.LogicalExpression:
			return e.Operator == filter.AND && walk(e.Left) && walk(e.Right)
		case *filter.AttributeExpression:
			if e.Operator != filter.EQ || e.AttributePath.SubAttribute != nil {
				return false
			}
			sub := a.sub(e.AttributePath.AttributeName)
			if sub == nil {
				return false
			}
			v := e.CompareValue
			if s, ok := v.(string); ok {
				v = unescapeFilterString(s)
			}
			cv, ok, err := canonicalSingle(sub, v, a.Name+"."+sub.Name)
			if err != nil || !ok {
				return false
			}
			el[sub.Name] = cv
			return true
		}
		return false
	}
	if !walk(e) {
		return nil, badRequest(scimNoTarget, "no %s value matches the filter, and the filter does not describe one to create", a.Name)
	}
	return el, nil
}

// matchElement evaluates a valuePath filter on one element of a
// multi-valued attribute.
func matchElement(e filter.Expression, el map[string]any, a *attribute) (bool, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, err := matchElement(e.Left, el, a)
		if err != nil {
			return false, err
		}
		r, err := matchElement(e.Right, el, a)
		if err != nil {
			return false, err
		}
		if e.Operator == filter.OR {
			return l || r, nil
		}
		return l && r, nil
	case *filter.NotExpression:
		m, err := matchElement(e.Expression, el, a)
		return !m, err
	case *filter.AttributeExpression:
		if e.AttributePath.SubAttribute != nil || e.AttributePath.URIPrefix != nil {
			return false, badRequest(scimInvalidFilter, "inside %s[...], name a sub-attribute of %s", a.Name, a.Name)
		}
		sub := a.sub(e.AttributePath.AttributeName)
		if sub == nil {
			return false, badRequest(scimInvalidFilter, "%s has no sub-attribute %s", a.Name, e.AttributePath.AttributeName)
		}
		return compareValue(el[sub.Name], sub, e.Operator, e.CompareValue)
	}
	return false, badRequest(scimInvalidFilter, "unsupported filter inside %s[...]", a.Name)
}

// compareValue applies a filter operator to a stored value.
func compareValue(have any, sub *attribute, op filter.CompareOperator, want any) (bool, error) {
	op = filter.CompareOperator(strings.ToLower(string(op)))
	if op == filter.PR {
		return have != nil && have != "", nil
	}
	if sub.Type == typeBoolean {
		w, ok, err := canonicalSingle(sub, want, sub.Name)
		if err != nil || !ok {
			return false, badRequest(scimInvalidFilter, "%s compares with true or false", sub.Name)
		}
		h, _ := have.(bool)
		switch op {
		case filter.EQ:
			return h == w, nil
		case filter.NE:
			return h != w, nil
		}
		return false, badRequest(scimInvalidFilter, "%s is a boolean: use eq, ne or pr", sub.Name)
	}
	ws, ok := want.(string)
	if !ok {
		if n, isNum := want.(json.Number); isNum {
			ws = n.String()
		} else {
			return false, badRequest(scimInvalidFilter, "%s compares with a string", sub.Name)
		}
	}
	ws = unescapeFilterString(ws)
	hs, _ := have.(string)
	if !sub.CaseExact {
		hs, ws = strings.ToLower(hs), strings.ToLower(ws)
	}
	switch op {
	case filter.EQ:
		return hs == ws, nil
	case filter.NE:
		return hs != ws, nil
	case filter.CO:
		return strings.Contains(hs, ws), nil
	case filter.SW:
		return strings.HasPrefix(hs, ws), nil
	case filter.EW:
		return strings.HasSuffix(hs, ws), nil
	case filter.GT:
		return hs > ws, nil
	case filter.GE:
		return hs >= ws, nil
	case filter.LT:
		return hs < ws, nil
	case filter.LE:
		return hs <= ws, nil
	}
	return false, badRequest(scimInvalidFilter, "unknown operator %q", op)
}
