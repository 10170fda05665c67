package sso

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crewjam/saml"
	"github.com/google/go-cmp/cmp"
)

func TestTrackerRoundTripWithOrgAndTest(t *testing.T) {
	tr := testTracker(3)
	for _, tc := range []struct {
		name string
		p    Pending
	}{
		{"all fields", Pending{RequestID: "id-1", ReturnPath: "/reports?x=1", Org: "acme", Test: "tst_0123456789abcdef"}},
		{"all empty", Pending{}},
		{"org only", Pending{Org: "acme"}},
		{"a logout", Pending{RequestID: "id-logout", Org: "acme", Logout: true, ReturnPath: "/bye"}},
		{"test only", Pending{Test: "t1"}},
		{"org and return path", Pending{Org: "acme-eu", ReturnPath: "/"}},
		{"return path with special characters", Pending{RequestID: "id-2", Org: "acme", Test: "t",
			ReturnPath: "/a b/ü€?q=%2F&x=|;,=\"'<>#frag\x01\x05"}},
		{"return path that looks like a length", Pending{Org: "o", ReturnPath: "\x03abc\x00"}},
		{"fields holding length bytes", Pending{RequestID: "\x80\x01", Org: "\xff\xff", Test: "\x00", ReturnPath: "\x02"}},
		{"separators in org and test", Pending{Org: "a.b|c;d", Test: "e=f,g", ReturnPath: "/x"}},
		{"long org and test", Pending{RequestID: strings.Repeat("r", 200), Org: strings.Repeat("o", 300),
			Test: strings.Repeat("t", 300), ReturnPath: "/" + strings.Repeat("p", 1000)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := track(t, tr, "relayX", tc.p, true)
			got, err := tr.Resolve(requestWith(c), "relayX")
			if err != nil {
				t.Fatalf("Resolve = %v", err)
			}
			if diff := cmp.Diff(tc.p, got); diff != "" {
				t.Errorf("Resolve(Track(%+v)) (-want +got):\n%s", tc.p, diff)
			}
		})
	}
}

// sealTracked seals a raw cookie payload under the tracker's keys and the
// cookie name of relayState, as only the gate can: what Resolve then
// decodes is past the MAC.
func sealTracked(t testing.TB, tr *Tracker, relayState string, payload []byte) (*http.Cookie, bool) {
	t.Helper()
	name := trackCookiePrefix + relayState
	v, err := tr.codec.Encode(name, payload)
	if err != nil {
		return nil, false // too long for a cookie
	}
	return &http.Cookie{Name: name, Value: v}, true
}

func TestTrackerResolvePayloads(t *testing.T) {
	tr := testTracker(3)
	uv := func(n uint64) string { return string(binary.AppendUvarint(nil, n)) }
	for _, tc := range []struct {
		name    string
		payload string
		want    Pending
		ok      bool
	}{
		{"four empty fields", "\x00\x00\x00\x00", Pending{}, true},
		{"fields and a return path", "\x02id\x04acme\x01t\x00/r", Pending{RequestID: "id", Org: "acme", Test: "t", ReturnPath: "/r"}, true},
		{"a logout", "\x02id\x04acme\x00\x06logout/r", Pending{RequestID: "id", Org: "acme", Logout: true, ReturnPath: "/r"}, true},
		{"an unknown kind is no logout", "\x02id\x04acme\x00\x01x/r", Pending{RequestID: "id", Org: "acme", ReturnPath: "/r"}, true},
		{"three fields (the format before logouts)", "\x02id\x04acme\x01t", Pending{}, false},
		{"empty payload", "", Pending{}, false},
		{"three fields", "\x00\x00\x00", Pending{}, false},
		{"length past the end", "\x05ab", Pending{}, false},
		{"length past the end in the last field", "\x00\x00\x00\x09abc", Pending{}, false},
		{"unterminated varint", "\x80", Pending{}, false},
		{"varint overflow", strings.Repeat("\xff", 10) + "\x01", Pending{}, false},
		{"huge length", uv(1<<63) + "x\x00\x00\x00", Pending{}, false},
		{"length of max uint64", uv(^uint64(0)) + "\x00\x00\x00", Pending{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := sealTracked(t, tr, "relayP", []byte(tc.payload))
			if !ok {
				t.Fatal("payload too long to seal")
			}
			got, err := tr.Resolve(requestWith(c), "relayP")
			if (err == nil) != tc.ok {
				t.Fatalf("Resolve(payload %q) = %+v, %v; want ok=%v", tc.payload, got, err, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Resolve(payload %q) (-want +got):\n%s", tc.payload, diff)
			}
		})
	}
}

// FuzzTrackerResolve hands Resolve arbitrary payloads sealed with the
// tracker's own keys (so the fuzzer reaches the decoder behind the MAC).
// It must never panic, and what it accepts must come back the same when
// tracked again.
func FuzzTrackerResolve(f *testing.F) {
	for _, s := range []string{
		"", "\x00\x00\x00\x00", "\x02id\x04acme\x01t\x00/r", "\x02id\x04acme\x00\x06logout/r", "\x05ab", "\x80", strings.Repeat("\xff", 11),
		"\x00\x00\x09abc", "\x01\x80\x01\x81\x00/x",
	} {
		f.Add([]byte(s))
	}
	tr := testTracker(3)
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, ok := sealTracked(t, tr, "relayF", payload)
		if !ok {
			return
		}
		got, err := tr.Resolve(requestWith(c), "relayF")
		if err != nil {
			if got != (Pending{}) {
				t.Fatalf("Resolve(%q) refused with %+v", payload, got)
			}
			return
		}
		if n := len(got.RequestID) + len(got.Org) + len(got.Test) + len(got.ReturnPath); n > len(payload) {
			t.Fatalf("Resolve(%q) = %+v: %d bytes out of %d in", payload, got, n, len(payload))
		}
		again, err := tr.Resolve(requestWith(track(t, tr, "relayF", got, true)), "relayF")
		if err != nil || again != got {
			t.Fatalf("Resolve(Track(%+v)) = %+v, %v", got, again, err)
		}
	})
}

func TestAttributesBounds(t *testing.T) {
	if got := (&Identity{}).Attributes(); got != nil {
		t.Errorf("Attributes() without an assertion = %v, want nil", got)
	}

	var many []saml.Attribute
	for i := range 65 {
		many = append(many, attr(fmt.Sprint("attr", i), "v"))
	}
	// A later value of a name already reported still counts.
	many = append(many, attr("attr0", "w"))
	got := (&Identity{assertion: assertionWith("", "", many...)}).Attributes()
	if len(got) != 64 {
		t.Errorf("Attributes() of 65 attributes has %d names, want 64", len(got))
	}
	if _, ok := got["attr64"]; ok {
		t.Error("Attributes() kept the 65th attribute")
	}
	if diff := cmp.Diff([]string{"v", "w"}, got["attr0"]); diff != "" {
		t.Errorf("Attributes()[attr0] (-want +got):\n%s", diff)
	}

	values := make([]string, 40)
	for i := range values {
		values[i] = fmt.Sprint("group", i)
	}
	long := strings.Repeat("x", 600)
	euros := strings.Repeat("€", 200) // 600 bytes; 512 falls inside a character
	got = (&Identity{assertion: assertionWith("", "", attr("groups", values...),
		attr("exact", strings.Repeat("y", 512)), attr("long", long), attr("euros", euros))}).Attributes()
	if diff := cmp.Diff(values[:32], got["groups"]); diff != "" {
		t.Errorf("Attributes()[groups] of 40 values (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		name string
		want string
	}{
		{"exact", strings.Repeat("y", 512)},
		{"long", strings.Repeat("x", 512) + "…"},
		{"euros", strings.Repeat("€", 170) + "…"},
	} {
		vals := got[tc.name]
		if len(vals) != 1 || vals[0] != tc.want {
			t.Errorf("Attributes()[%s] = %q, want %q", tc.name, vals, tc.want)
			continue
		}
		if !utf8.ValidString(vals[0]) {
			t.Errorf("Attributes()[%s] is not valid UTF-8", tc.name)
		}
	}
}
