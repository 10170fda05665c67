// Package apitoken makes and checks the sidecar's bearer tokens. A token is
// 32 random bytes, shown once as "ssogate_" plus base64url; only its SHA-256
// is stored. A fast hash is right here (unlike for passwords): the token has
// 256 bits of entropy, so there is nothing to brute-force, and the lookup by
// hash is an index probe, which also keeps the comparison free of timing
// differences that depend on the secret.
package apitoken

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Prefix starts every token, so that secret scanners can find leaked ones.
const Prefix = "ssogate_"

// New returns a fresh token and the hash to store.
func New() (token string, hash []byte, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	token = Prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, Hash(token), nil
}

// Hash returns the stored form of a token.
func Hash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// FromHeader returns the bearer token of an Authorization header value, or
// "" when it holds none.
func FromHeader(v string) string {
	const scheme = "bearer "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return ""
	}
	return strings.TrimSpace(v[len(scheme):])
}
