package apitoken

import (
	"bytes"
	"strings"
	"testing"
)

func TestNewIsRandomAndHashed(t *testing.T) {
	a, ha, err := New()
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := New()
	if a == b || !strings.HasPrefix(a, Prefix) {
		t.Fatalf("New() = %q, %q; want two distinct prefixed tokens", a, b)
	}
	if !bytes.Equal(ha, Hash(a)) || bytes.Equal(ha, Hash(b)) {
		t.Fatal("Hash does not match the token it was made for")
	}
}

func TestFromHeader(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Bearer abc", "abc"},
		{"bearer  abc ", "abc"},
		{"Basic abc", ""},
		{"Bearer", ""},
		{"", ""},
		{"non-token", ""},
	} {
		if got := FromHeader(tc.in); got != tc.want {
			t.Errorf("FromHeader(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
