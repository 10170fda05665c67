package orgadmin

import "testing"

// TestChangeText: how a change shows for people.
func TestChangeText(t *testing.T) {
	for _, tt := range []struct {
		name, before, after, want string
	}{
		{"nothing", "", "", ""},
		{"a new value", "", `{"scope":"scim"}`, "scope: scim"},
		{"a change", `{"role":"member"}`, `{"role":"owner"}`, "role: member → owner"},
		{"a value gone", `{"scope":"admin"}`, "", "scope: admin → -"},
		{"several, by name", `{"b":true,"a":""}`, `{"b":false,"a":"x","c":[1,2]}`, `a: "" → x; b: true → false; c: [1,2]`},
		{"not an object", `[1]`, `"x"`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ChangeText([]byte(tt.before), []byte(tt.after)); got != tt.want {
				t.Errorf("ChangeText(%q, %q) = %q, want %q", tt.before, tt.after, got, tt.want)
			}
		})
	}
}
