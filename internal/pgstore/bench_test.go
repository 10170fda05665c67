package pgstore

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
)

// BenchmarkCreateMember is SCIM's create on PostgreSQL from 16
// goroutines: go test -run '^$' -bench CreateMember ./internal/pgstore
func BenchmarkCreateMember(b *testing.B) {
	s := openTest(b)
	org, err := s.CreateOrg(context.Background(), "acme")
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, err := s.CreateMember(context.Background(), org.ID, storage.NewMember{
				Email: fmt.Sprintf("u%d@acme.com", i), GivenName: "U", FamilyName: fmt.Sprint(i), Active: true,
				Attrs: []byte(fmt.Sprintf(`{"emails":[{"value":"u%d@acme.com","type":"work","primary":true}]}`, i)),
			}, true); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// BenchmarkFindByUserName is the userName filter IdPs send before each
// push, in an org of 100,000 members; it reports the p99:
// go test -run '^$' -bench FindByUserName ./internal/pgstore
func BenchmarkFindByUserName(b *testing.B) {
	ctx := context.Background()
	s := openTest(b)
	org, err := s.CreateOrg(ctx, "acme")
	if err != nil {
		b.Fatal(err)
	}
	const members = 100_000
	// Rows made in bulk by SQL: the triggers keep member_counts and
	// member_emails as for creates one by one.
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO accounts(email, created_at) SELECT 'u' || i || '@acme.com', 1 FROM generate_series(1, ?::int) i`, []any{members}},
		{`INSERT INTO memberships(id, org_id, account_id, given_name, family_name, created_at, updated_at, attrs)
			SELECT 'm' || a.id, ?, a.id, 'U', a.id::text, 1, 1,
				'{"emails":[{"value":"' || a.email || '","type":"work","primary":true}]}' FROM accounts a`, []any{org.ID}},
		{`ANALYZE`, nil},
	} {
		if _, err := s.db.ExecContext(ctx, rebind(q.sql), q.args...); err != nil {
			b.Fatal(err)
		}
	}
	// What 100,000 members take: the tables and indexes of members,
	// accounts and their emails.
	var bytes int64
	if err := s.db.QueryRowContext(ctx, `SELECT SUM(pg_total_relation_size(c))::bigint FROM unnest(
		ARRAY['memberships', 'accounts', 'member_emails', 'member_counts']::regclass[]) c`).Scan(&bytes); err != nil {
		b.Fatal(err)
	}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		email := fmt.Sprintf("U%d@ACME.com", 1+(i*7919)%members)
		start := time.Now()
		got, _, err := s.FindMembers(ctx, org.ID, storage.Query{Count: 100, Filter: storage.Compare{Field: storage.FieldEmail, Op: storage.OpEq, Value: email}})
		times = append(times, time.Since(start))
		if err != nil || len(got) != 1 {
			b.Fatalf("FindMembers(%s) = %d, %v", email, len(got), err)
		}
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(bytes)/1e6, "MB/100k-members")
}
