package scimserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

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
	s.recordUse(tok)
	return tok, nil
}

// Recording a token's use (issue 15: "last used" always said never).
const (
	// useEvery is how often one process writes a token's last use: often
	// enough to tell a token in use from a forgotten one, rarely enough
	// that an IdP's burst of requests costs one write, not one each.
	useEvery = time.Minute
	// useTimeout bounds that write, which runs beside the request: a
	// busy store must not pile up writers.
	useTimeout = 5 * time.Second
)

// recordUse writes the token's last use, off the request path, when this
// process has not written it for useEvery. A failure is logged: the time
// of last use is a hint for admins, not a check.
func (s *Server) recordUse(tok storage.Token) {
	now := s.now()
	if !s.uses.due(tok.ID, now) {
		return
	}
	s.useWrites.Add(1)
	go func() {
		defer s.useWrites.Done()
		ctx, cancel := context.WithTimeout(context.Background(), useTimeout)
		defer cancel()
		if err := s.store.TouchToken(ctx, tok.ID, now.Unix()); err != nil {
			s.log.Warn("recording token use", zap.String("token_id", tok.ID), zap.Int64("org_id", tok.OrgID), zap.Error(err))
		}
	}()
}

// Close waits for the writes of token uses in flight, so that they land
// before the store closes.
func (s *Server) Close() error {
	s.useWrites.Wait()
	return nil
}

// useRecorder remembers when this process last wrote each token's use.
// It holds valid tokens' IDs only, so its size is bounded by the tokens
// that exist.
type useRecorder struct {
	mu   sync.Mutex
	last map[string]time.Time // token ID -> last write
}

func newUseRecorder() *useRecorder { return &useRecorder{last: map[string]time.Time{}} }

// due reports whether the use of token id at now should be written, and
// if so counts it as written, so that concurrent requests write once.
func (u *useRecorder) due(id string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if t, ok := u.last[id]; ok && now.Sub(t) < useEvery && !now.Before(t) {
		return false
	}
	if len(u.last) >= 1024 {
		for k, t := range u.last {
			if now.Sub(t) >= useEvery {
				delete(u.last, k)
			}
		}
	}
	u.last[id] = now
	return true
}

// forget drops a revoked token.
func (u *useRecorder) forget(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.last, id)
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

// forget drops the token with this ID, so that a token revoked through
// this server stops working here at once (other processes stop within
// tokenTTL).
func (c *tokenCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.tok.ID == id {
			delete(c.entries, k)
		}
	}
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
