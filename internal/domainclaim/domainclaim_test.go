package domainclaim

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

// TestNormalizeReasons checks that a refusal is a sentence naming the
// domain and the fault, without the IDNA library's words.
func TestNormalizeReasons(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"bad_domain.com", `"bad_domain.com" is not a valid domain name: "_" is not allowed`},
		{"user@acme.com", `"user@acme.com" is not a valid domain name: "@" is not allowed; type only the part after the @`},
		{"acme.com/evil", `"acme.com/evil" is not a valid domain name: "/" is not allowed`},
		{"acme com", `"acme com" is not a valid domain name: the character U+0020 is not allowed`},
		{"acme..com", `"acme..com" is not a valid domain name: it has an empty label (two dots in a row, or a leading dot)`},
		{"-acme.com", `"-acme.com" is not a valid domain name: a label (a part between dots) cannot start or end with "-"`},
		{"ab--cd.com", `"ab--cd.com" is not a valid domain name: a label cannot have "--" as its third and fourth characters`},
		{"xn--a.com", `"xn--a.com" is not a valid domain name: it is not a valid internationalized domain name`},
		{"", `"" is not a valid domain name: it is empty`},
		{"acme", `"acme" is not a registrable domain: claim a domain such as example.com`},
		{"co.uk", `"co.uk" is a public suffix: many owners share it; claim a domain under it`},
	} {
		_, err := Normalize(tc.in)
		if !errors.Is(err, ErrInvalid) || err.Error() != tc.want {
			t.Errorf("Normalize(%q) = %v;\nwant %s", tc.in, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "idna") {
			t.Errorf("Normalize(%q) leaks the library's words: %v", tc.in, err)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "Acme.COM", want: "acme.com"},
		{in: "acme.com.", want: "acme.com"},
		{in: " eu.acme.co.uk ", want: "eu.acme.co.uk"},
		{in: "bücher.de", want: "xn--bcher-kva.de"},
		{in: "com", bad: true},
		{in: "co.uk", bad: true},
		{in: "github.io", bad: true},
		{in: "", bad: true},
		{in: "acme..com", bad: true},
		{in: "-acme.com", bad: true},
		{in: "acme_x.com", bad: true},
		{in: "acme.com/evil", bad: true},
		{in: "user@acme.com", bad: true},
	} {
		got, err := Normalize(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Normalize(%q) = %q, %v; want ErrInvalid", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

type fakeTXT map[string][]string

func (f fakeTXT) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := f[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func TestVerify(t *testing.T) {
	r := fakeTXT{"_ssogate-challenge.acme.com": {"other", "ssogate-verification=abc"}}
	if err := Verify(context.Background(), r, "acme.com", "ssogate-verification=abc"); err != nil {
		t.Fatalf("Verify with the record published: %v", err)
	}
	if err := Verify(context.Background(), r, "acme.com", "ssogate-verification=xyz"); !errors.Is(err, ErrNotVerified) {
		t.Fatalf("Verify with a wrong value: %v; want ErrNotVerified", err)
	}
	if err := Verify(context.Background(), r, "acme.org", "x"); !errors.Is(err, ErrNotVerified) {
		t.Fatalf("Verify with no record: %v; want ErrNotVerified", err)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"acme.com", "co.uk", "xn--bcher-kva.de", "a..b", "ünï.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Normalize(in)
		if err != nil {
			return
		}
		again, err := Normalize(out)
		if err != nil || again != out {
			t.Fatalf("Normalize not idempotent: %q -> %q -> %q, %v", in, out, again, err)
		}
	})
}
