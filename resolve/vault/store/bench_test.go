package store

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/wardsecrets/ward/resolve"
)

// BenchmarkResolve reads 200 references over 50 KV v2 paths (4 fields
// each) from the test server, each iteration with a fresh store (cold
// mount cache and connections, as a ward start has):
//
//   - fetcher: resolve.Fetcher, one read per path, 16 at a time;
//   - baseline: one reference at a time, each read separately, the way
//     envconsul and secrets-init fetch.
//
// Run: go test ./resolve/vault -run '^$' -bench Resolve -benchtime 20x
func BenchmarkResolve(b *testing.B) {
	needVault(b)
	mount := mountKV(b, 2)
	refs := map[string]resolve.Ref{}
	for p := 0; p < 50; p++ {
		path := fmt.Sprintf("bench/app%02d/config", p)
		data := map[string]any{}
		for f := 0; f < 4; f++ {
			data[fmt.Sprintf("field%d", f)] = fmt.Sprintf("value-%d-%d", p, f)
			refs[fmt.Sprintf("VAR_%02d_%d", p, f)] = mustRef(b, fmt.Sprintf("vault://%s/%s#field%d", mount, path, f))
		}
		kvPut(b, mount, 2, path, data)
	}
	names := make([]string, 0, len(refs))
	for n := range refs {
		names = append(names, n)
	}
	sort.Strings(names)
	newStore := func(b *testing.B) *Store {
		s, err := New(Options{Address: vaultAddr}, resolve.Env{Getenv: func(k string) string {
			if k == "VAULT_TOKEN" {
				return root.Token()
			}
			return ""
		}})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	ctx := context.Background()

	b.Run("fetcher_c16", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s := newStore(b)
			f := &resolve.Fetcher{Stores: func(string) (resolve.Store, error) { return s, nil }, Concurrency: 16}
			got, err := f.Fetch(ctx, refs)
			if err != nil || len(got) != len(refs) {
				b.Fatalf("fetch: %d values, %v", len(got), err)
			}
			s.Close()
		}
	})
	b.Run("baseline_serial", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s := newStore(b)
			for _, n := range names {
				sec, err := s.Fetch(ctx, refs[n].Document())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := sec.Field(refs[n].Field); err != nil {
					b.Fatal(err)
				}
			}
			s.Close()
		}
	})
}
