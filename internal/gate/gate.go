// Package gate decides, for every request, whether it carries a live
// session and who it belongs to. It is the hot path: a request with a known
// cookie costs one map lookup and a few comparisons — no database round
// trip, no cookie decryption, no allocation. The cookie itself only names
// a session (a random ID inside gorilla/securecookie's signed, encrypted
// envelope), so no number of teams can overflow it.
//
// What a session shows (the member's names, role, teams, state) is cached
// per cookie and dropped whenever the store's change feed names the member:
// at once for writes made in this process, within one poll interval for
// writes made by another process on the same database.
//
// A session belongs to one org. The org's ID is inside the cookie's signed
// and encrypted envelope with the session ID, and Lookup is told which org
// the asking gate serves: a gate pinned to an org refuses every other
// org's cookie before any store read, and the store's session record must
// name the same org as the cookie and the member. This is the one place
// where the gate decides whose session a request carries.
package gate

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/ssogate/ssogate/internal/storage"
)

// CookieName is the session cookie's name.
const CookieName = "ssogate_session"

// ErrNoSession reports a missing, forged, expired or revoked session.
var ErrNoSession = errors.New("no valid session")

// ErrOtherOrg reports the session of another org than the one asked for.
// It matches ErrNoSession too.
var ErrOtherOrg = fmt.Errorf("%w: the session belongs to another organization", ErrNoSession)

// AnyOrg, given to Lookup, accepts the session of any org (a shared gate,
// which says whose it is in X-Forwarded-Org).
const AnyOrg int64 = 0

// Config sets the session rules.
type Config struct {
	// Key is the secret the cookie keys derive from (at least 32 bytes).
	Key []byte
	// Lifetime is the absolute lifetime of a session.
	Lifetime time.Duration
	// Idle ends a session not used for this long; zero disables it.
	Idle time.Duration
	// MaxCached bounds the cache; default 100,000 sessions.
	MaxCached int
}

// Sessions issues and checks sessions.
type Sessions struct {
	store storage.Store
	codec *securecookie.SecureCookie
	cfg   Config
	now   func() time.Time

	mu       sync.RWMutex
	byCookie map[string]*Entry
	byMember map[string]map[string]struct{} // member ID → cookie values
	gen      atomic.Uint64                  // bumped by every invalidation

	touchMu sync.Mutex
	touched map[string]int64 // session ID → last seen, to write back
}

// Entry is a live session as the gate sees it. Its fields are read-only
// once published; the header values are built once so that setting them
// on a request allocates nothing.
type Entry struct {
	SessionID string
	Identity  storage.Identity
	ExpiresAt int64
	// SignedInAt is when the person signed in (unix seconds): pages that
	// change security settings ask for a recent sign-in.
	SignedInAt int64
	// NameID and SessionIndex name the session at the IdP (SAML sign-ins).
	NameID, SessionIndex string
	lastSeen             atomic.Int64

	// Name is "First Last" (or the email when both are empty); Groups the
	// team names, each percent-encoded, joined by commas (joinGroups).
	Name   string
	Groups string

	// Header values, ready for http.Header.
	HUser, HName, HGroups, HRole, HOrg []string

	// Boxed holds the same values as interfaces, for Caddy's replacer:
	// converting a string to an interface on every request would allocate.
	Boxed struct{ Email, GivenName, FamilyName, Groups, Role, Org any }
}

// New returns Sessions backed by store.
func New(store storage.Store, cfg Config) (*Sessions, error) {
	if len(cfg.Key) < 32 {
		return nil, errors.New("session key must be at least 32 bytes")
	}
	if cfg.Lifetime <= 0 {
		return nil, errors.New("session lifetime must be positive")
	}
	if cfg.MaxCached <= 0 {
		cfg.MaxCached = 100_000
	}
	hashKey := derive(cfg.Key, "ssogate session hmac")
	blockKey := derive(cfg.Key, "ssogate session aes")
	codec := securecookie.New(hashKey[:], blockKey[:])
	codec.SetSerializer(securecookie.NopEncoder{})
	codec.MaxAge(int(cfg.Lifetime / time.Second))
	return &Sessions{
		store: store, codec: codec, cfg: cfg, now: time.Now,
		byCookie: map[string]*Entry{}, byMember: map[string]map[string]struct{}{},
		touched: map[string]int64{},
	}, nil
}

// derive makes an independent 32-byte key for one purpose.
func derive(key []byte, purpose string) [32]byte {
	return sha256.Sum256(append([]byte(purpose+"\x00"), key...))
}

// DeriveKey is exported for the login tracker, which needs its own keys
// from the same secret.
func DeriveKey(key []byte, purpose string) []byte {
	k := derive(key, purpose)
	return k[:]
}

// IdPSession is what the IdP said about a SAML sign-in.
type IdPSession struct {
	// NotAfter, when set, caps the lifetime (SessionNotOnOrAfter).
	NotAfter time.Time
	// NameID and SessionIndex name the session for single logout.
	NameID, SessionIndex string
	// Assertion, when set, is the assertion that granted the session: it
	// is recorded as used in the same write as the session, and Issue
	// returns storage.ErrReplayed when it was used already.
	Assertion *storage.ConsumedAssertion
}

// Issue starts a session for the member in its org (ident.OrgID) and
// returns the cookie value and when the session ends. method says how the
// person signed in (storage.MethodSAML or MethodPassword).
func (s *Sessions) Issue(ctx context.Context, ident storage.Identity, method string, idp IdPSession) (string, time.Time, error) {
	if ident.OrgID == AnyOrg {
		return "", time.Time{}, errors.New("issuing a session: the member's org is not set")
	}
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, err
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	exp := now.Add(s.cfg.Lifetime)
	if !idp.NotAfter.IsZero() && idp.NotAfter.Before(exp) {
		exp = idp.NotAfter
	}
	sess := storage.Session{ID: id, MemberID: ident.MemberID, OrgID: ident.OrgID, Method: method, Epoch: ident.Epoch,
		CreatedAt: now.Unix(), ExpiresAt: exp.Unix(), LastSeen: now.Unix(),
		NameID: idp.NameID, SessionIndex: idp.SessionIndex}
	if err := s.store.CreateSession(ctx, sess, idp.Assertion); err != nil {
		return "", time.Time{}, err
	}
	val, err := s.codec.Encode(CookieName, cookiePayload(ident.OrgID, id))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("encoding session cookie: %w", err)
	}
	return val, exp, nil
}

// cookiePayload is what the cookie's envelope holds: "<org ID>.<session ID>".
func cookiePayload(orgID int64, sessionID string) []byte {
	return []byte(strconv.FormatInt(orgID, 10) + "." + sessionID)
}

// decode opens a cookie and returns the org and session it names.
func (s *Sessions) decode(cookie string) (orgID int64, sessionID string, ok bool) {
	var raw []byte
	if err := s.codec.Decode(CookieName, cookie, &raw); err != nil {
		return 0, "", false
	}
	org, id, found := strings.Cut(string(raw), ".")
	if !found || id == "" {
		return 0, "", false
	}
	orgID, err := strconv.ParseInt(org, 10, 64)
	if err != nil || orgID <= 0 {
		return 0, "", false
	}
	return orgID, id, true
}

// Lookup returns the live session named by the cookie value, when it
// belongs to org (AnyOrg: to any org).
func (s *Sessions) Lookup(ctx context.Context, cookie string, org int64) (*Entry, error) {
	if cookie == "" || len(cookie) > 512 {
		return nil, ErrNoSession
	}
	now := s.now().Unix()
	s.mu.RLock()
	e := s.byCookie[cookie]
	s.mu.RUnlock()
	if e != nil {
		if org != AnyOrg && e.Identity.OrgID != org {
			return nil, ErrOtherOrg
		}
		if s.alive(e, now) {
			cacheHits.Add(1)
			return e, nil
		}
		s.drop(cookie, e)
		return nil, ErrNoSession
	}
	cacheMisses.Add(1)
	return s.load(ctx, cookie, org, now)
}

// The session cache's hits and misses in this process, for metrics:
// process-wide so that they count on across config reloads.
var cacheHits, cacheMisses atomic.Uint64

// CacheStats returns how many session lookups the caches of this process
// answered, and how many went to the store.
func CacheStats() (hits, misses uint64) { return cacheHits.Load(), cacheMisses.Load() }

// alive checks the time limits and records use for the idle timeout.
func (s *Sessions) alive(e *Entry, now int64) bool {
	if now >= e.ExpiresAt {
		return false
	}
	last := e.lastSeen.Load()
	if s.cfg.Idle > 0 && now-last > int64(s.cfg.Idle/time.Second) {
		return false
	}
	// Write back at most once a second per session: enough for an idle
	// timeout counted in minutes, and it keeps the cache line quiet.
	if now > last && e.lastSeen.CompareAndSwap(last, now) {
		s.touchMu.Lock()
		s.touched[e.SessionID] = now
		s.touchMu.Unlock()
	}
	return true
}

// load checks a cookie the cache does not know: decode it, read the
// session and the member's identity from the store.
func (s *Sessions) load(ctx context.Context, cookie string, org, now int64) (*Entry, error) {
	cookieOrg, id, ok := s.decode(cookie)
	if !ok {
		return nil, ErrNoSession
	}
	if org != AnyOrg && cookieOrg != org {
		return nil, ErrOtherOrg
	}
	gen := s.gen.Load()
	sess, err := s.store.SessionByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	ident, err := s.store.Identity(ctx, sess.MemberID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	// The cookie, the session record and the membership must all name
	// the same org.
	if sess.OrgID != cookieOrg || ident.OrgID != cookieOrg {
		return nil, ErrOtherOrg
	}
	// A deactivation (or deletion and re-creation) bumps the epoch, so a
	// session from before it never comes back, even after reactivation.
	if !ident.Active || ident.Epoch != sess.Epoch {
		_ = s.store.DeleteSession(ctx, sess.ID)
		return nil, ErrNoSession
	}
	e := newEntry(sess, ident)
	if !s.alive(e, now) {
		return nil, ErrNoSession
	}
	s.mu.Lock()
	// An invalidation that ran while we read may concern what we read;
	// then serve this request but do not cache it.
	if s.gen.Load() == gen {
		if len(s.byCookie) >= s.cfg.MaxCached {
			s.evictSomeLocked()
		}
		s.byCookie[cookie] = e
		m := s.byMember[ident.MemberID]
		if m == nil {
			m = map[string]struct{}{}
			s.byMember[ident.MemberID] = m
		}
		m[cookie] = struct{}{}
	}
	s.mu.Unlock()
	return e, nil
}

func newEntry(sess storage.Session, ident storage.Identity) *Entry {
	// Names come from the IdP and SCIM clients; a control character in a
	// header value would make Go refuse to send every request of this
	// member (a 502), so they become spaces. Team names are encoded
	// instead (joinGroups), and stay as they are in Identity.Teams.
	ident.GivenName, ident.FamilyName = headerSafe(ident.GivenName), headerSafe(ident.FamilyName)
	name := strings.TrimSpace(ident.GivenName + " " + ident.FamilyName)
	groups := joinGroups(ident.Teams)
	e := &Entry{
		SessionID: sess.ID, Identity: ident, ExpiresAt: sess.ExpiresAt, SignedInAt: sess.CreatedAt,
		NameID: sess.NameID, SessionIndex: sess.SessionIndex,
		Name: name, Groups: groups,
		HUser: []string{ident.Email}, HName: []string{name}, HGroups: []string{groups},
		HRole: []string{string(ident.Role)}, HOrg: []string{ident.OrgName},
	}
	e.Boxed.Email, e.Boxed.GivenName, e.Boxed.FamilyName = ident.Email, ident.GivenName, ident.FamilyName
	e.Boxed.Groups, e.Boxed.Role, e.Boxed.Org = groups, string(ident.Role), ident.OrgName
	e.lastSeen.Store(sess.LastSeen)
	return e
}

// joinGroups is the X-Forwarded-Groups value: each team name
// percent-encoded as a URL path segment (url.PathEscape: "," is %2C, "%"
// %25, a space %20, control characters and non-ASCII their UTF-8 bytes),
// joined by commas. A comma inside a name could otherwise pass for two
// teams. Plain names (letters, digits, "-", "_", ".") read as before, and
// any name comes back exactly from url.PathUnescape, Python's
// urllib.parse.unquote or JavaScript's decodeURIComponent ("+" stays "+").
func joinGroups(teams []string) string {
	var b strings.Builder
	for i, t := range teams {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(url.PathEscape(t))
	}
	return b.String()
}

// headerSafe replaces control characters, which no header value may hold.
func headerSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return ' '
				}
				return r
			}, s)
		}
	}
	return s
}

// evictSomeLocked drops about a tenth of the cache (Go's map order is
// random, so this is random eviction). Evicted sessions stay valid; their
// next request reloads them.
func (s *Sessions) evictSomeLocked() {
	n := len(s.byCookie)/10 + 1
	for c, e := range s.byCookie {
		s.removeLocked(c, e)
		n--
		if n == 0 {
			return
		}
	}
}

func (s *Sessions) removeLocked(cookie string, e *Entry) {
	delete(s.byCookie, cookie)
	if m := s.byMember[e.Identity.MemberID]; m != nil {
		delete(m, cookie)
		if len(m) == 0 {
			delete(s.byMember, e.Identity.MemberID)
		}
	}
}

func (s *Sessions) drop(cookie string, e *Entry) {
	s.mu.Lock()
	if s.byCookie[cookie] == e {
		s.removeLocked(cookie, e)
	}
	s.mu.Unlock()
}

// Invalidate drops the cached sessions of these members; their next
// request re-reads the store, which ends the session if the member was
// deactivated or deleted, and shows the new role and teams otherwise.
func (s *Sessions) Invalidate(memberIDs []string) {
	s.mu.Lock()
	s.gen.Add(1)
	for _, id := range memberIDs {
		for c := range s.byMember[id] {
			delete(s.byCookie, c)
		}
		delete(s.byMember, id)
	}
	s.mu.Unlock()
}

// End ends the session named by the cookie (logout). The store puts the
// end on its change feed, which drops the session from every other gate's
// cache, in this process and in others.
func (s *Sessions) End(ctx context.Context, cookie string) error {
	_, id, ok := s.decode(cookie)
	if !ok {
		return nil
	}
	s.mu.Lock()
	if e := s.byCookie[cookie]; e != nil {
		s.removeLocked(cookie, e)
	}
	s.mu.Unlock()
	return s.store.DeleteSession(ctx, id)
}

// Flush writes the recorded last-seen times to the store, so the idle
// timeout holds across restarts and processes.
func (s *Sessions) Flush(ctx context.Context) error {
	s.touchMu.Lock()
	seen := s.touched
	s.touched = map[string]int64{}
	s.touchMu.Unlock()
	return s.store.TouchSessions(ctx, seen)
}

// Cached returns how many sessions are cached.
func (s *Sessions) Cached() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byCookie)
}
