package tenant

import (
	"strings"
	"testing"
)

func TestValidateOrgName(t *testing.T) {
	for _, tc := range []struct {
		name string
		org  string
		ok   bool
	}{
		{"word", "acme", true},
		{"one letter", "a", true},
		{"digits", "123", true},
		{"letters and digits", "acme2", true},
		{"inner hyphen", "acme-eu", true},
		{"two inner hyphens", "xn--acme", true},
		{"63 characters", strings.Repeat("a", 63), true},

		{"empty", "", false},
		{"64 characters", strings.Repeat("a", 64), false},
		{"upper case", "Acme", false},
		{"leading hyphen", "-acme", false},
		{"trailing hyphen", "acme-", false},
		{"only a hyphen", "-", false},
		{"underscore", "acme_eu", false},
		{"dot", "acme.eu", false},
		{"dot dot", "..", false},
		{"slash", "acme/eu", false},
		{"path traversal", "../admin", false},
		{"space", "acme eu", false},
		{"leading space", " acme", false},
		{"newline", "acme\n", false},
		{"percent", "acme%2F", false},
		{"non-ASCII letter", "äcme", false},
		{"full-width digit", "acme１", false},
		{"NUL", "acme\x00", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateOrgName(tc.org)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateOrgName(%q) = %v, want ok=%v", tc.org, err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "organization name") {
				t.Errorf("ValidateOrgName(%q) = %q, want a message about the organization name", tc.org, err)
			}
		})
	}
}
