package password

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHashVerify(t *testing.T) {
	encoded, err := Hash("correct horse battery staple")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("Hash() = %q, want the $argon2id$v=19$m=19456,t=2,p=1$ prefix", encoded)
	}
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"same password", "correct horse battery staple", true},
		{"other password", "correct horse battery stapler", false},
		{"case differs", "Correct horse battery staple", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(context.Background(), tt.pw, encoded)
			if err != nil {
				t.Fatalf("Verify(%q) error: %v", tt.pw, err)
			}
			if got != tt.want {
				t.Errorf("Verify(%q) = %v, want %v", tt.pw, got, tt.want)
			}
		})
	}
}

func TestHashSalted(t *testing.T) {
	a, err := Hash("same password")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Hash("same password")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("two hashes of one password are equal (%q): the salt is not random", a)
	}
}

// TestVerifyKnownVector checks a hash made elsewhere: an Argon2id test
// vector of the reference implementation (password "password", salt
// "somesalt", t=2, m=64 KiB, p=2, a 24-byte key), written in PHC form. It
// pins the format and the order of the parameters as other tools use them.
func TestVerifyKnownVector(t *testing.T) {
	const encoded = "$argon2id$v=19$m=64,t=2,p=2$c29tZXNhbHQ$NQrDciL0Nsy1wJcvHr079rlYvyBxhBNi"
	for pw, want := range map[string]bool{"password": true, "Password": false} {
		got, err := Verify(context.Background(), pw, encoded)
		if err != nil {
			t.Fatalf("Verify(%q) error: %v", pw, err)
		}
		if got != want {
			t.Errorf("Verify(%q) = %v, want %v", pw, got, want)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	good, err := Hash("password1")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	tests := []struct {
		name, encoded string
	}{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key},
		{"old version", "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key},
		{"missing key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt},
		{"extra field", good + "$x"},
		{"no leading dollar", strings.TrimPrefix(good, "$")},
		{"params out of order", "$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=019456,t=2,p=1$" + salt + "$" + key},
		{"negative", "$argon2id$v=19$m=-1,t=2,p=1$" + salt + "$" + key},
		{"zero passes", "$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + key},
		{"zero lanes", "$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key},
		{"huge memory", "$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + key},
		{"memory below 8 per lane", "$argon2id$v=19$m=8,t=2,p=4$" + salt + "$" + key},
		{"too many passes", "$argon2id$v=19$m=19456,t=1000,p=1$" + salt + "$" + key},
		{"padded salt", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "==$" + key},
		{"short salt", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + key},
		{"short key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$c2hvcnQ"},
		{"not base64", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$!!!!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := Verify(context.Background(), "password1", tt.encoded)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Verify(_, %q) error = %v, want ErrMalformed", tt.encoded, err)
			}
			if ok {
				t.Errorf("Verify(_, %q) = true for a malformed hash", tt.encoded)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		want error
	}{
		{"empty", "", ErrTooShort},
		{"seven", "1234567", ErrTooShort},
		{"eight", "12345678", nil},
		{"eight runes, more bytes", "ééééééé1", nil},
		{"seven runes, more bytes", "éééééé1", ErrTooShort},
		{"max bytes", strings.Repeat("a", MaxBytes), nil},
		{"over max bytes", strings.Repeat("a", MaxBytes+1), ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Validate(tt.pw); !errors.Is(got, tt.want) {
				t.Errorf("Validate(%q) = %v, want %v", tt.pw, got, tt.want)
			}
		})
	}
}

func TestDummyVerify(t *testing.T) {
	if err := DummyVerify(context.Background(), "anything"); err != nil {
		t.Errorf("DummyVerify() = %v", err)
	}
}

// fillSlots takes every hashing slot until the test ends or the returned
// function gives one back.
func fillSlots(t *testing.T) (giveOne func()) {
	t.Helper()
	for range cap(slots) {
		slots <- struct{}{}
	}
	given := 0
	t.Cleanup(func() {
		for ; given < cap(slots); given++ {
			<-slots
		}
	})
	return func() { given++; <-slots }
}

// TestBusy: with every slot taken, a check waits no longer than its
// context (or maxWait) and fails with ErrBusy, and hashes nothing; a slot
// given back while it waits lets it run.
func TestBusy(t *testing.T) {
	encoded, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	giveOne := fillSlots(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if ok, err := Verify(ctx, "correct horse", encoded); ok || !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify with every slot taken = %v, %v; want ErrBusy", ok, err)
	}
	if err := DummyVerify(ctx, "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("DummyVerify with every slot taken = %v; want ErrBusy", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("waited %s past a 50ms context", d)
	}
	start = time.Now()
	if _, err := Verify(context.Background(), "correct horse", encoded); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify with every slot taken = %v; want ErrBusy", err)
	}
	if d := time.Since(start); d < maxWait || d > 3*maxWait {
		t.Fatalf("without a deadline, gave up after %s; want about %s", d, maxWait)
	}
	time.AfterFunc(100*time.Millisecond, giveOne)
	if ok, err := Verify(context.Background(), "correct horse", encoded); !ok || err != nil {
		t.Fatalf("Verify once a slot was given back = %v, %v", ok, err)
	}
}

// TestHashWaitsForASlot: setting a password (an admin's act) takes a
// slot too, waiting for one as long as it takes.
func TestHashWaitsForASlot(t *testing.T) {
	if cap(slots) < 1 || cap(slots) > 4 {
		t.Fatalf("%d slots; want a few", cap(slots))
	}
	giveOne := fillSlots(t)
	done := make(chan error, 1)
	go func() {
		_, err := Hash("correct horse")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Hash ran with every slot taken (err %v)", err)
	case <-time.After(maxWait + 200*time.Millisecond):
	}
	giveOne()
	if err := <-done; err != nil {
		t.Fatalf("Hash once a slot was given back: %v", err)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	encoded, err := Hash("round trip")
	if err != nil {
		t.Fatal(err)
	}
	p, salt, key, err := decode(encoded)
	if err != nil {
		t.Fatalf("decode(%q): %v", encoded, err)
	}
	want := params{memory: memoryKiB, passes: passes, lanes: lanes}
	if diff := cmp.Diff(want, p, cmp.AllowUnexported(params{})); diff != "" {
		t.Errorf("decode params (-want +got):\n%s", diff)
	}
	if got := encode(p, salt, key); got != encoded {
		t.Errorf("encode(decode(%q)) = %q", encoded, got)
	}
}

// FuzzDecode feeds arbitrary stored hashes to the decoder: it must never
// panic, must keep parameters within the bounds that protect Verify, and
// whatever it accepts must encode back to the same string (one spelling per
// hash).
func FuzzDecode(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8CTFhFdXPJO0")
	f.Add("$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8")
	f.Add("$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Add("$$$$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, encoded string) {
		p, salt, key, err := decode(encoded)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode(%q) error %v does not wrap ErrMalformed", encoded, err)
			}
			return
		}
		if p.memory > maxMemoryKiB || p.memory < 8*uint32(p.lanes) || p.passes < 1 || p.passes > maxPasses || p.lanes < 1 {
			t.Fatalf("decode(%q) accepted out-of-bounds params %+v", encoded, p)
		}
		if len(salt) < minSaltLen || len(salt) > maxSaltLen || len(key) < minKeyLen || len(key) > maxKeyLen {
			t.Fatalf("decode(%q) accepted salt of %d bytes, key of %d bytes", encoded, len(salt), len(key))
		}
		if got := encode(p, salt, key); got != encoded {
			t.Fatalf("encode(decode(%q)) = %q", encoded, got)
		}
	})
}
