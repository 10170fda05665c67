package tenant

import "fmt"

// MaxOrgName is the longest org name: a DNS label, so that a name can be
// a subdomain as well as a path segment.
const MaxOrgName = 63

// ValidateOrgName checks that name is a slug: lower-case letters, digits
// and inner hyphens, at most 63 characters. Org names appear in URLs
// (<path_prefix>/o/<org>/acs), entity IDs and headers, where nothing else
// is safe without escaping.
func ValidateOrgName(name string) error {
	if name == "" {
		return fmt.Errorf("an organization name is required")
	}
	if len(name) > MaxOrgName {
		return fmt.Errorf("organization name %q is longer than %d characters", name, MaxOrgName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-' && i > 0 && i < len(name)-1:
		default:
			return fmt.Errorf("organization name %q is not a slug: use lower-case letters, digits and inner hyphens (such as acme or acme-eu)", name)
		}
	}
	return nil
}
