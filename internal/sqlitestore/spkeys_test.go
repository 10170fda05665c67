package sqlitestore

// The store keeps SP keys as PEM text it never parses: these tests use
// stand-ins, and internal/spkey's tests the real thing.

// keyRow is what a test compares of a key: which one it is (by its
// certificate's stand-in), where, and its state.
type keyRow struct {
	Org   int64
	Use   string
	State string
	Cert  string
}
