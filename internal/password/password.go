// Package password hashes account passwords with Argon2id and checks them.
//
// A hash is stored in the PHC string format that other tools read too:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// with the salt and key in unpadded standard base64. The parameters travel
// with each hash, so they can be raised later without breaking the hashes
// already stored.
//
// Unlike API tokens, passwords are chosen by people and have little
// entropy, so they get a slow, memory-hard hash: the defaults are the
// OWASP Password Storage Cheat Sheet's first Argon2id setting (19 MiB of
// memory, 2 passes, 1 lane).
//
// Each hash holds its memory while it runs, so the process runs only a few
// at once (see slots): a burst of sign-ins waits its turn, briefly, or is
// told to retry (ErrBusy), instead of exhausting memory.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// The parameters of new hashes.
const (
	memoryKiB = 19 * 1024
	passes    = 2
	lanes     = 1
	saltLen   = 16
	keyLen    = 32
)

// Limits on what a password may be. The upper limit keeps one request from
// making the server hash megabytes.
const (
	// MinLength is the fewest characters a new password may have.
	MinLength = 8
	// MaxBytes is the longest a password may be, in bytes.
	MaxBytes = 1024
)

// Bounds on the parameters of a stored hash, so that a corrupt or hostile
// hash cannot make a check allocate gigabytes or run for minutes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxPasses    = 32
	minSaltLen   = 8
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 64
)

// slots bounds the hashes running at once in the process to the CPUs, at
// most two: each holds 19 MiB, and more hashes than CPUs would not finish
// any sooner.
var slots = make(chan struct{}, min(max(runtime.GOMAXPROCS(0), 1), 2))

// maxWait is how long a check waits for a slot before giving up.
const maxWait = time.Second

// ErrBusy reports a check that found every slot taken for too long; the
// client should retry in a moment.
var ErrBusy = errors.New("too many password checks at once")

// idKey runs Argon2id in a slot, waiting for one until ctx is done, and
// at most maxWait when brief is set.
func idKey(ctx context.Context, brief bool, pw string, salt []byte, p params, keyLen uint32) ([]byte, error) {
	if brief {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, maxWait)
		defer cancel()
	}
	select {
	case slots <- struct{}{}:
	default:
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrBusy, context.Cause(ctx))
		}
	}
	defer func() { <-slots }()
	key := argon2.IDKey([]byte(pw), salt, p.passes, p.memory, p.lanes, keyLen)
	// The hash's memory is garbage now. Collect it before the slot is
	// free: else each hash adds its memory to the heap until the GC's
	// pace catches up, at twice the live heap, and a burst of checks
	// grows the process by far more than the slots' share. It costs a
	// few milliseconds, to password checks only.
	runtime.GC()
	return key, nil
}

// Errors of Validate.
var (
	ErrTooShort = fmt.Errorf("password is too short (at least %d characters)", MinLength)
	ErrTooLong  = fmt.Errorf("password is too long (at most %d bytes)", MaxBytes)
)

// ErrMalformed reports a stored hash that is not an Argon2id PHC string this
// package can check.
var ErrMalformed = errors.New("malformed password hash")

// Validate reports whether pw is acceptable as a new password: at least
// MinLength characters and at most MaxBytes bytes.
func Validate(pw string) error {
	if len(pw) > MaxBytes {
		return ErrTooLong
	}
	if utf8.RuneCountInString(pw) < MinLength {
		return ErrTooShort
	}
	return nil
}

// Hash returns the encoded Argon2id hash of pw with a fresh random salt.
// It waits for a slot as long as it takes: only admins set passwords.
func Hash(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading random salt: %w", err)
	}
	p := params{memory: memoryKiB, passes: passes, lanes: lanes}
	key, err := idKey(context.Background(), false, pw, salt, p, keyLen)
	if err != nil {
		return "", err
	}
	return encode(p, salt, key), nil
}

// Verify reports whether pw matches the encoded hash. The comparison takes
// the same time wherever the keys differ. It waits for a slot at most a
// second, less when ctx ends sooner, else fails with ErrBusy. The other
// error is a malformed encoded hash (it wraps ErrMalformed); a wrong
// password is (false, nil).
func Verify(ctx context.Context, pw, encoded string) (bool, error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got, err := idKey(ctx, true, pw, salt, p, uint32(len(key)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// dummySalt is the salt DummyVerify hashes with; its value does not matter.
var dummySalt = make([]byte, saltLen)

// DummyVerify spends as long as Verify does on a hash made by Hash, and
// waits for a slot as Verify does (its error is ErrBusy). A password login
// calls it when the account does not exist or has no password, so that
// the response time does not tell an attacker which emails have accounts.
func DummyVerify(ctx context.Context, pw string) error {
	key, err := idKey(ctx, true, pw, dummySalt, params{memory: memoryKiB, passes: passes, lanes: lanes}, keyLen)
	if err != nil {
		return err
	}
	// Compare as Verify does, against a key that cannot match.
	subtle.ConstantTimeCompare(key, make([]byte, keyLen+1))
	return nil
}

// params are the Argon2id cost parameters of one hash.
type params struct {
	memory uint32 // KiB
	passes uint32
	lanes  uint8
}

var b64 = base64.RawStdEncoding

func encode(p params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.passes, p.lanes, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses an encoded hash, checking that its parameters are within
// bounds.
func decode(encoded string) (params, []byte, []byte, error) {
	var p params
	fail := func(why string) (params, []byte, []byte, error) {
		return params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformed, why)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return fail("want $argon2id$v=19$m=…,t=…,p=…$salt$key")
	}
	if parts[1] != "argon2id" {
		return fail(fmt.Sprintf("algorithm %q is not argon2id", parts[1]))
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail(fmt.Sprintf("version %q is not v=%d", parts[2], argon2.Version))
	}
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return fail("want parameters m, t and p")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(fields[i], name)
		if !ok {
			return fail(fmt.Sprintf("parameter %d is not %s", i+1, name[:1]))
		}
		// ParseUint accepts leading zeros; insist on canonical digits so
		// that a hash has one spelling.
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || strconv.FormatUint(n, 10) != v {
			return fail(fmt.Sprintf("parameter %s is not a number", name[:1]))
		}
		vals[i] = n
	}
	m, t, l := vals[0], vals[1], vals[2]
	if l < 1 || l > 255 {
		return fail("p out of range")
	}
	if t < 1 || t > maxPasses {
		return fail("t out of range")
	}
	if m < 8*l || m > maxMemoryKiB {
		return fail("m out of range")
	}
	p = params{memory: uint32(m), passes: uint32(t), lanes: uint8(l)}
	salt, err := b64.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return fail("bad salt")
	}
	key, err := b64.Strict().DecodeString(parts[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return fail("bad key")
	}
	return p, salt, key, nil
}
