package sqlstore

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Migration is one of a store's versioned schema migrations.
type Migration struct {
	Version int    // from 1
	Name    string // its file
	SQL     string
}

// Pending returns, in order, the migrations of fsys (migrations/*.sql,
// named NNNN_... and numbered from 1 in sequence) newer than version
// current, and up to version upTo when it is not 0. A database newer
// than the binary is an error: its schema may not fit these queries.
func Pending(fsys fs.FS, current, upTo int) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	if current > len(names) {
		return nil, fmt.Errorf("database schema version %d is newer than this binary knows (%d)", current, len(names))
	}
	var out []Migration
	for i, name := range names {
		version := i + 1
		if version <= current || upTo > 0 && version > upTo {
			continue
		}
		if !strings.HasPrefix(path.Base(name), fmt.Sprintf("%04d_", version)) {
			return nil, fmt.Errorf("migration %s is out of sequence", name)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: version, Name: name, SQL: string(body)})
	}
	return out, nil
}
