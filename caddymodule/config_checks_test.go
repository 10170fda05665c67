package caddymodule

import (
	"bytes"
	"testing"
)

func TestCheckIDPPieces(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    SSOHandler
		want string // "" for no error
	}{
		{"none", SSOHandler{}, ""},
		{"all", SSOHandler{IDPSSOURL: "https://i/sso", IDPIssuer: "i", IDPCertificates: []string{"c.pem"}}, ""},
		{"certificate missing", SSOHandler{IDPSSOURL: "https://i/sso", IDPIssuer: "i"},
			"idp_certificate is missing: idp_sso_url and idp_issuer are set, and the IdP needs all three (or idp_metadata_url or idp_metadata_file instead)"},
		{"two missing", SSOHandler{IDPCertificates: []string{"c.pem"}},
			"idp_sso_url and idp_issuer are missing: idp_certificate is set, and the IdP needs all three (or idp_metadata_url or idp_metadata_file instead)"},
		{"metadata instead", SSOHandler{IDPMetadataURL: "https://i/md", IDPIssuer: "i"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := tt.h.checkIDPPieces(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("checkIDPPieces() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckBaseURL(t *testing.T) {
	for in, ok := range map[string]bool{
		"https://app.example.com":       true,
		"https://app.example.com/":      true,
		"http://127.0.0.1:8080":         true,
		"https://app.example.com/app":   false,
		"https://app.example.com/?x=1":  false,
		"https://app.example.com/#frag": false,
		"app.example.com":               false,
		"ftp://app.example.com":         false,
	} {
		if err := checkBaseURL(in); (err == nil) != ok {
			t.Errorf("checkBaseURL(%q) = %v, want ok %v", in, err, ok)
		}
	}
}

func TestCLIJSONTableKeys(t *testing.T) {
	var b bytes.Buffer
	if err := cliJSONTable(&b, []string{"ID", "LAST USED", "TXT VALUE"}, [][]string{{"t1", "never", ""}}); err != nil {
		t.Fatal(err)
	}
	want := "[\n  {\n    \"id\": \"t1\",\n    \"last_used\": \"never\",\n    \"txt_value\": \"\"\n  }\n]\n"
	if b.String() != want {
		t.Errorf("cliJSONTable = %q, want %q", b.String(), want)
	}
}
