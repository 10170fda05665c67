package sqlitestore

// The store keeps SP keys as PEM text it never parses: these tests use
// stand-ins, and internal/spkey's tests the real thing.
