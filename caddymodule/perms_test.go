package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestWarnOpenFiles(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		mode os.FileMode // 0: the file does not exist
		warn bool
	}{
		{"owner only", 0o600, false},
		{"owner read only", 0o400, false},
		{"group readable", 0o640, true},
		{"world readable", 0o644, true},
		{"world writable", 0o602, true},
		{"missing", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".db")
			if tt.mode != 0 {
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			core, logs := observer.New(zapcore.WarnLevel)
			warnOpenFiles(zap.New(core), "the database file", "can sign in as anyone", path)
			got := logs.All()
			if !tt.warn {
				if len(got) != 0 {
					t.Fatalf("warned: %q", got[0].Message)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d warnings, want 1", len(got))
			}
			if msg := got[0].Message; !strings.Contains(msg, path) || !strings.HasSuffix(msg, "run: chmod 600 "+path) {
				t.Errorf("warning %q does not name the file and `chmod 600 %s`", msg, path)
			}
		})
	}
	// A folder is not a file to warn about.
	core, logs := observer.New(zapcore.WarnLevel)
	warnOpenFiles(zap.New(core), "the database file", "can sign in as anyone", dir)
	if logs.Len() != 0 {
		t.Errorf("warned about a folder")
	}
}
