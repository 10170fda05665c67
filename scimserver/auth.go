package scimserver

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ssogate/ssogate/internal/apitoken"
	"github.com/ssogate/ssogate/internal/storage"
)

// tokenTTL is how long a looked-up token is trusted without asking the
// store again. The lookup is a fifth of a userName lookup's cost, and an
// IdP sends its requests in bursts with one token; a revoked token stops
// working within this time, the same bound as every other change made by
// another process.
const tokenTTL = time.Second

// authenticate finds the token of the request and checks its scope. A
// missing or unknown token is 401; a token of the other scope is 403.
func (s *Server) authenticate(r *http.Request, scope storage.Scope) (storage.Token, error) {
	raw := apitoken.FromHeader(r.Header.Get("Authorization"))
	if raw == "" {
		return storage.Token{}, errorf(http.StatusUnauthorized, "", "missing bearer token: send Authorization: Bearer <token> (ssogate token create --scope %s)", scope)
	}
	hash := apitoken.Hash(raw)
	tok, ok := s.tokens.get(hash)
	if !ok {
		var err error
		tok, err = s.store.TokenByHash(r.Context(), hash)
		if errors.Is(err, storage.ErrNotFound) {
			return storage.Token{}, errorf(http.StatusUnauthorized, "", "unknown or revoked bearer token")
		}
		if err != nil {
			return storage.Token{}, fmt.Errorf("looking up token: %w", err)
		}
		s.tokens.put(hash, tok)
	}
	if tok.Scope != scope {
		return storage.Token{}, errorf(http.StatusForbidden, "", "this token has scope %q; this endpoint needs a token of scope %q", tok.Scope, scope)
	}
	return tok, nil
}

// tokenCache remembers valid tokens for tokenTTL, by hash (never the
// token itself). Unknown tokens are not remembered, so that guessing
// cannot fill it.
type tokenCache struct {
	now func() time.Time

	mu      sync.Mutex
	entries map[string]cachedToken
}

type cachedToken struct {
	tok     storage.Token
	expires time.Time
}

func newTokenCache() *tokenCache {
	return &tokenCache{now: time.Now, entries: map[string]cachedToken{}}
}

func (c *tokenCache) get(hash []byte) (storage.Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[string(hash)]
	if !ok || c.now().After(e.expires) {
		return storage.Token{}, false
	}
	return e.tok, true
}

func (c *tokenCache) put(hash []byte, tok storage.Token) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= 1024 {
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
	}
	c.entries[string(hash)] = cachedToken{tok: tok, expires: now.Add(tokenTTL)}
}
