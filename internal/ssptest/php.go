package ssptest

import (
	"fmt"
	"sort"
	"strings"
)

// phpValue writes v as a PHP literal: strings single-quoted, bools,
// integers, lists ([]string, []any) and maps (map[string]any, keys
// sorted so a generated file is the same on every run).
func phpValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return phpString(v)
	case bool:
		if v {
			return "true"
		}
		return "false"
	case int:
		return fmt.Sprint(v)
	case int64:
		return fmt.Sprint(v)
	case phpCode:
		return string(v)
	case []string:
		items := make([]string, len(v))
		for i, s := range v {
			items[i] = phpString(s)
		}
		return "[" + strings.Join(items, ", ") + "]"
	case []any:
		items := make([]string, len(v))
		for i, s := range v {
			items[i] = phpValue(s)
		}
		return "[" + strings.Join(items, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("[\n")
		for _, k := range keys {
			val := strings.ReplaceAll(phpValue(v[k]), "\n", "\n    ")
			fmt.Fprintf(&b, "    %s => %s,\n", phpString(k), val)
		}
		b.WriteString("]")
		return b.String()
	}
	panic(fmt.Sprintf("ssptest: no PHP literal for %T", v))
}

// phpCode is PHP source written as it is (a constant, an expression).
type phpCode string

// phpString is s as a single-quoted PHP string.
func phpString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
