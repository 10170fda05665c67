package sqlstore

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestPending(t *testing.T) {
	three := fstest.MapFS{
		"migrations/0001_init.sql":  {Data: []byte("one")},
		"migrations/0002_scim.sql":  {Data: []byte("two")},
		"migrations/0003_teams.sql": {Data: []byte("three")},
	}
	gap := fstest.MapFS{
		"migrations/0001_init.sql":  {Data: []byte("one")},
		"migrations/0003_teams.sql": {Data: []byte("three")},
	}
	for _, tc := range []struct {
		name          string
		fsys          fstest.MapFS
		current, upTo int
		want          []int  // versions
		wantErr       string // part of the error
	}{
		{"fresh", three, 0, 0, []int{1, 2, 3}, ""},
		{"behind", three, 1, 0, []int{2, 3}, ""},
		{"current", three, 3, 0, nil, ""},
		{"up to", three, 0, 2, []int{1, 2}, ""},
		{"newer database", three, 4, 0, nil, "newer than this binary knows (3)"},
		{"out of sequence", gap, 1, 0, nil, "0003_teams.sql is out of sequence"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Pending(tc.fsys, tc.current, tc.upTo)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Pending = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Pending = %d migrations, want %v", len(got), tc.want)
			}
			for i, m := range got {
				body := string(tc.fsys[m.Name].Data)
				if m.Version != tc.want[i] || m.SQL != body {
					t.Errorf("migration %d = %d %s %q, want version %d", i, m.Version, m.Name, m.SQL, tc.want[i])
				}
			}
		})
	}
}
