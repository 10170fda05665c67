package scimserver

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/ssogate/ssogate/internal/storage"
)

// maxFilterLen bounds filters and paths. Real ones (a userName lookup, a
// member's valuePath) are far shorter; the parser's time grows with the
// input, so an unbounded one would let a client buy CPU cheaply.
const maxFilterLen = 1024

// maxFilterDepth bounds the nesting of ( and [. The parser's time grows
// fastest with nesting (a thousand parentheses take it 150 ms); no IdP
// nests more than a level or two.
const maxFilterDepth = 16

// nestingDepth is the deepest nesting of ( and [ outside strings.
func nestingDepth(s string) int {
	depth, deepest := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			i = skipString(s, i)
		case '(', '[':
			depth++
			deepest = max(deepest, depth)
		case ')', ']':
			depth = max(depth-1, 0)
		}
	}
	return deepest
}

// parseFilter parses a SCIM filter, after rewriting Entra's non-standard
// form emails[type eq "work"].value eq "x" into the standard one.
func parseFilter(raw string) (filter.Expression, error) {
	if len(raw) > maxFilterLen {
		return nil, badRequest(scimInvalidFilter, "the filter is longer than %d bytes", maxFilterLen)
	}
	if nestingDepth(raw) > maxFilterDepth {
		return nil, badRequest(scimInvalidFilter, "the filter nests parentheses or brackets deeper than %d", maxFilterDepth)
	}
	if e, ok := simpleEq(raw); ok {
		return e, nil
	}
	rewritten := rewriteSubAttrFilter(raw)
	expr, err := guard(func() (filter.Expression, error) { return filter.ParseFilterNumber([]byte(rewritten)) })
	if err != nil {
		// The parser's own words ("parse conflict [00:001]: expected
		// op.Or") mean nothing to the admin reading them in Okta; they go
		// to the debug log.
		e := badRequest(scimInvalidFilter, "the filter %q is not valid SCIM: expected an attribute, an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) and a value, e.g. userName eq \"a@b.com\"", raw)
		e.cause = err
		return nil, e
	}
	return expr, nil
}

// simpleEq reads the filter IdPs send before every push, ATTR eq "VALUE"
// (userName, externalId, displayName, name.givenName), without the
// general parser, which is a sixth of such a lookup's CPU time. It takes
// only what the parser reads the same way: an attribute name with an
// optional sub-attribute, no URI, a string without escapes. FuzzFilter
// checks that the two agree.
func simpleEq(s string) (*filter.AttributeExpression, bool) {
	i := 0
	name := func() (string, bool) {
		start := i
		if i >= len(s) || !isAlpha(s[i]) {
			return "", false
		}
		for i < len(s) && (isAlpha(s[i]) || s[i] >= '0' && s[i] <= '9' || s[i] == '-' || s[i] == '_') {
			i++
		}
		return s[start:i], true
	}
	attr, ok := name()
	if !ok {
		return nil, false
	}
	var sub *string
	if i < len(s) && s[i] == '.' {
		i++
		n, ok := name()
		if !ok {
			return nil, false
		}
		sub = &n
	}
	spaces := func() bool {
		start := i
		i = skipSpaces(s, i)
		return i > start
	}
	if !spaces() || i+2 > len(s) || !strings.EqualFold(s[i:i+2], "eq") {
		return nil, false
	}
	i += 2
	if !spaces() || i >= len(s) || s[i] != '"' || s[len(s)-1] != '"' || len(s)-i < 2 {
		return nil, false
	}
	value := s[i+1 : len(s)-1]
	if !utf8.ValidString(value) || strings.ContainsAny(value, "\\\"") || strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 }) {
		return nil, false
	}
	return &filter.AttributeExpression{
		AttributePath: filter.AttributePath{AttributeName: attr, SubAttribute: sub},
		Operator:      filter.EQ,
		CompareValue:  value,
	}, true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// guard runs a third-party parser, turning a panic into an error: no
// input may take the server down.
func guard[T any](parse func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parser failed: %v", r)
		}
	}()
	return parse()
}

// rewriteSubAttrFilter rewrites every ATTR[FILTER].SUB OP VALUE into
// ATTR[FILTER and SUB OP VALUE]. Entra's matching filter
// emails[type eq "work"].value eq "x" has that form; RFC 7644's grammar has
// no sub-attribute after a valuePath in a filter, and the parser refuses
// it. The parser takes no parentheses inside [...], so a FILTER of the
// form A or B becomes A and C or B and C, which "and" binding tighter
// reads right. A filter that follows the grammar is returned unchanged.
func rewriteSubAttrFilter(s string) string {
	for range 8 {
		open, close, end, clause, ok := findSubAttrComparison(s)
		if !ok {
			break
		}
		terms := splitOr(s[open+1 : close])
		for i, t := range terms {
			terms[i] = strings.TrimSpace(t) + " and " + clause
		}
		s = s[:open+1] + strings.Join(terms, " or ") + "]" + s[end:]
	}
	return s
}

// splitOr splits a filter at its "or" words outside strings.
func splitOr(s string) []string {
	var terms []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			i = skipString(s, i)
		case i > 0 && s[i-1] == ' ' && i+3 <= len(s) && strings.EqualFold(s[i:i+2], "or") && s[i+2] == ' ':
			terms = append(terms, s[start:i])
			start = i + 2
		}
	}
	return append(terms, s[start:])
}

// findSubAttrComparison finds the first "]" (outside strings, closing the
// "[" at open) followed by ".SUB OP VALUE"; close is the index of "]",
// end the index just past VALUE, clause "SUB OP VALUE".
func findSubAttrComparison(s string) (open, close, end int, clause string, ok bool) {
	var opens []int
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			i = skipString(s, i)
		case '[':
			opens = append(opens, i)
		case ']':
			if len(opens) == 0 {
				continue
			}
			open = opens[len(opens)-1]
			opens = opens[:len(opens)-1]
			if clause, end, ok = subAttrComparison(s, i+1); ok {
				return open, i, end, clause, true
			}
		}
	}
	return 0, 0, 0, "", false
}

// subAttrComparison reads ".SUB OP VALUE" at s[i:].
func subAttrComparison(s string, i int) (clause string, end int, ok bool) {
	if i >= len(s) || s[i] != '.' {
		return "", 0, false
	}
	j := i + 1
	for j < len(s) && isNameChar(s[j]) {
		j++
	}
	sub := s[i+1 : j]
	if sub == "" {
		return "", 0, false
	}
	k := skipSpaces(s, j)
	if k == j || k+2 > len(s) {
		return "", 0, false
	}
	op := strings.ToLower(s[k : k+2])
	if !isCompareOp(op) || k+2 < len(s) && isNameChar(s[k+2]) {
		return "", 0, false
	}
	k += 2
	if op == "pr" {
		return sub + " pr", k, true
	}
	v := skipSpaces(s, k)
	if v == k || v >= len(s) {
		return "", 0, false
	}
	e := v
	if s[v] == '"' {
		e = skipString(s, v) + 1
		if e > len(s) {
			return "", 0, false
		}
	} else {
		for e < len(s) && s[e] != ' ' && s[e] != ')' && s[e] != ']' {
			e++
		}
	}
	return sub + " " + op + " " + s[v:e], e, true
}

// skipString returns the index of the quote closing the string that
// opens at s[i], or len(s) when it does not close.
func skipString(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(s)
}

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '$'
}

func isCompareOp(op string) bool {
	switch filter.CompareOperator(op) {
	case filter.EQ, filter.NE, filter.CO, filter.SW, filter.EW, filter.GT, filter.GE, filter.LT, filter.LE, filter.PR:
		return true
	}
	return false
}

// fieldKind is the type of value a filterable attribute compares with.
type fieldKind int

const (
	kindText fieldKind = iota
	kindBool
	kindTime
	kindMember // team membership: eq, ne and pr only
)

type filterField struct {
	field storage.Field
	kind  fieldKind
	email bool // an attribute of an email: wrapped in AnyEmail
}

// userFilterFields maps "attr" or "attr.sub" (lower case) to what the
// store filters on. Filtering on attributes kept only in Member.Attrs is
// not offered: it could not use an index.
var userFilterFields = map[string]filterField{
	"id":                {field: storage.FieldID},
	"externalid":        {field: storage.FieldExternalID},
	"username":          {field: storage.FieldEmail},
	"displayname":       {field: storage.FieldDisplayName},
	"name.givenname":    {field: storage.FieldGivenName},
	"name.familyname":   {field: storage.FieldFamilyName},
	"active":            {field: storage.FieldActive, kind: kindBool},
	"meta.created":      {field: storage.FieldCreated, kind: kindTime},
	"meta.lastmodified": {field: storage.FieldUpdated, kind: kindTime},
	"emails":            {field: storage.FieldEmailValue, email: true},
	"emails.value":      {field: storage.FieldEmailValue, email: true},
	"emails.type":       {field: storage.FieldEmailType, email: true},
	"emails.primary":    {field: storage.FieldEmailPrimary, kind: kindBool, email: true},
}

// emailElementFields are the attributes inside emails[...].
var emailElementFields = map[string]filterField{
	"value":   {field: storage.FieldEmailValue},
	"type":    {field: storage.FieldEmailType},
	"primary": {field: storage.FieldEmailPrimary, kind: kindBool},
}

var groupFilterFields = map[string]filterField{
	"id":                {field: storage.FieldID},
	"externalid":        {field: storage.FieldExternalID},
	"displayname":       {field: storage.FieldName},
	"meta.created":      {field: storage.FieldCreated, kind: kindTime},
	"meta.lastmodified": {field: storage.FieldUpdated, kind: kindTime},
	"members":           {field: storage.FieldMemberID, kind: kindMember},
	"members.value":     {field: storage.FieldMemberID, kind: kindMember},
}

var memberElementFields = map[string]filterField{
	"value": {field: storage.FieldMemberID, kind: kindMember},
}

// filterTranslator turns a parsed filter into a storage.Filter for one
// resource type.
type filterTranslator struct {
	schema   string                 // the core schema URI, allowed as a prefix
	fields   map[string]filterField // top-level attributes
	elements map[string]map[string]filterField
}

var userFilter = filterTranslator{
	schema:   userSchema,
	fields:   userFilterFields,
	elements: map[string]map[string]filterField{"emails": emailElementFields},
}

var groupFilter = filterTranslator{
	schema:   groupSchema,
	fields:   groupFilterFields,
	elements: map[string]map[string]filterField{"members": memberElementFields},
}

// translate converts a filter expression; unsupported attributes,
// operators and values are 400 invalidFilter.
func (ft filterTranslator) translate(e filter.Expression) (storage.Filter, error) {
	return ft.expr(e, ft.fields, "")
}

func (ft filterTranslator) expr(e filter.Expression, fields map[string]filterField, inside string) (storage.Filter, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, err := ft.expr(e.Left, fields, inside)
		if err != nil {
			return nil, err
		}
		r, err := ft.expr(e.Right, fields, inside)
		if err != nil {
			return nil, err
		}
		if e.Operator == filter.OR {
			return storage.Or{Left: l, Right: r}, nil
		}
		return storage.And{Left: l, Right: r}, nil
	case *filter.NotExpression:
		f, err := ft.expr(e.Expression, fields, inside)
		if err != nil {
			return nil, err
		}
		return storage.Not{Filter: f}, nil
	case *filter.ValuePath:
		if inside != "" {
			return nil, badRequest(scimInvalidFilter, "a filter inside %s[...] cannot hold another [...]", inside)
		}
		if err := ft.checkURI(e.AttributePath); err != nil {
			return nil, err
		}
		name := strings.ToLower(e.AttributePath.AttributeName)
		elems, ok := ft.elements[name]
		if !ok || e.AttributePath.SubAttribute != nil {
			return nil, badRequest(scimInvalidFilter, "filtering on %s[...] is not supported", e.AttributePath)
		}
		inner, err := ft.expr(e.ValueFilter, elems, name)
		if err != nil {
			return nil, err
		}
		if name == "emails" {
			return storage.AnyEmail{Filter: inner}, nil
		}
		// members[...]: each comparison already asks "has a member
		// such that"; allow only one, as "and" of two would ask for one
		// member with two ids.
		if _, single := inner.(storage.Compare); !single {
			return nil, badRequest(scimInvalidFilter, "members[...] takes a single comparison on value")
		}
		return inner, nil
	case *filter.AttributeExpression:
		return ft.compare(e, fields, inside)
	}
	return nil, badRequest(scimInvalidFilter, "unsupported filter expression")
}

func (ft filterTranslator) checkURI(p filter.AttributePath) error {
	if p.URIPrefix != nil && !strings.EqualFold(*p.URIPrefix, ft.schema) {
		return badRequest(scimInvalidFilter, "filtering on attributes of schema %s is not supported", *p.URIPrefix)
	}
	return nil
}

func (ft filterTranslator) compare(e *filter.AttributeExpression, fields map[string]filterField, inside string) (storage.Filter, error) {
	if err := ft.checkURI(e.AttributePath); err != nil {
		return nil, err
	}
	key := strings.ToLower(e.AttributePath.AttributeName)
	if e.AttributePath.SubAttribute != nil {
		key += "." + strings.ToLower(*e.AttributePath.SubAttribute)
	}
	f, ok := fields[key]
	if !ok {
		where := ""
		if inside != "" {
			where = " inside " + inside + "[...]"
		}
		return nil, badRequest(scimInvalidFilter, "filtering on %s%s is not supported", e.AttributePath, where)
	}
	op := storage.Op(strings.ToLower(string(e.Operator)))
	value, err := filterValue(f, op, e.CompareValue, e.AttributePath.String())
	if err != nil {
		return nil, err
	}
	var out storage.Filter = storage.Compare{Field: f.field, Op: op, Value: value}
	if f.email {
		out = storage.AnyEmail{Filter: out}
	}
	return out, nil
}

// filterValue checks the operator and types the value for the field.
func filterValue(f filterField, op storage.Op, v any, attr string) (any, error) {
	if !isCompareOp(string(op)) {
		return nil, badRequest(scimInvalidFilter, "unknown operator %q", op)
	}
	if op == storage.OpPr {
		return nil, nil
	}
	bad := func(want string) error {
		return badRequest(scimInvalidFilter, "%s %s needs %s, not %s", attr, op, want, describeJSON(v))
	}
	switch f.kind {
	case kindBool:
		if op != storage.OpEq && op != storage.OpNe {
			return nil, badRequest(scimInvalidFilter, "%s is a boolean: use eq, ne or pr", attr)
		}
		switch t := v.(type) {
		case bool:
			return t, nil
		case string: // tolerate "true", as for PATCH values
			switch strings.ToLower(t) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
		return nil, bad("true or false")
	case kindTime:
		s, ok := v.(string)
		if !ok {
			return nil, bad("a date-time string")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, bad("an RFC 3339 date-time")
		}
		switch op {
		case storage.OpCo, storage.OpSw, storage.OpEw:
			return nil, badRequest(scimInvalidFilter, "%s is a date-time: use eq, ne, gt, ge, lt, le or pr", attr)
		}
		return t, nil
	case kindMember:
		if op != storage.OpEq && op != storage.OpNe {
			return nil, badRequest(scimInvalidFilter, "%s: use eq, ne or pr", attr)
		}
	}
	s, ok := v.(string)
	if !ok {
		return nil, bad("a string")
	}
	return unescapeFilterString(s), nil
}

// unescapeFilterString undoes JSON escapes the parser leaves in strings
// ("a\"b" arrives as a\"b).
func unescapeFilterString(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		return s
	}
	return out
}

func describeJSON(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, int, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
