package local

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// BenchmarkFetch20 is the local store's share of `ward run`'s start-up:
// a store of 20 entries, one Fetch. "cold" opens the store afresh each
// time, as a new ward process does (read the identity, decrypt, parse);
// "warm" is a later Fetch by the same process (the file is unchanged);
// "cold-full-history" is "cold" with every entry holding ten earlier
// versions, the most it keeps.
func BenchmarkFetch20(b *testing.B) {
	dir := b.TempDir()
	path, idPath := filepath.Join(dir, "store.age"), filepath.Join(dir, "identity.txt")
	seed := &Store{Path: path, IdentityPath: idPath}
	for i := range 20 {
		if err := seed.Set(fmt.Sprintf("bench/key%02d", i), []byte(resolvetest.Canary("bench"))); err != nil {
			b.Fatal(err)
		}
	}
	ref := resolve.Ref{Scheme: "local", Path: "bench/key07"}
	ctx := context.Background()

	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			s := &Store{Path: path, IdentityPath: idPath}
			if _, err := s.Fetch(ctx, ref); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		s := &Store{Path: path, IdentityPath: idPath}
		for b.Loop() {
			if _, err := s.Fetch(ctx, ref); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cold-full-history", func(b *testing.B) {
		full := filepath.Join(b.TempDir(), "full.age")
		seed := &Store{Path: full, IdentityPath: idPath}
		for range keepVersions + 1 {
			values := make([]NamedValue, 20)
			for i := range values {
				values[i] = NamedValue{Name: fmt.Sprintf("bench/key%02d", i), Value: []byte(resolvetest.Canary("bench"))}
			}
			if _, err := seed.SetMany(values); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			s := &Store{Path: full, IdentityPath: idPath}
			if _, err := s.Fetch(ctx, ref); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSetMany4000 is `ward import` of a .env file of 4,000 keys:
// one SetMany. "new" creates the store; "replace" replaces every value of
// a store that holds the 4,000 names already, each with a full history
// after the first ten rounds (the worst case: 11 versions of each).
func BenchmarkSetMany4000(b *testing.B) {
	dir := b.TempDir()
	idPath := filepath.Join(dir, "identity.txt")
	rounds := make([][]NamedValue, 2)
	for r := range rounds {
		rounds[r] = make([]NamedValue, 4000)
		for i := range rounds[r] {
			rounds[r][i] = NamedValue{Name: fmt.Sprintf("myapp/KEY_%04d", i), Value: []byte(resolvetest.Canary("import"))}
		}
	}
	if err := (&Store{Path: filepath.Join(dir, "seed.age"), IdentityPath: idPath}).Set("seed", []byte("x")); err != nil {
		b.Fatal(err)
	}

	b.Run("new", func(b *testing.B) {
		fresh := b.TempDir()
		n := 0
		for b.Loop() {
			n++
			s := &Store{Path: filepath.Join(fresh, fmt.Sprintf("new%d.age", n)), IdentityPath: idPath}
			if _, err := s.SetMany(rounds[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("replace", func(b *testing.B) {
		s := &Store{Path: filepath.Join(dir, "replace.age"), IdentityPath: idPath}
		n := 0
		for b.Loop() {
			n++
			if _, err := s.SetMany(rounds[n%2]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFetch10000 is `ward run` with one local reference against the
// store a team's laptop or CI runner grows: 10,000 names shared by many
// projects (values of 32 bytes to 3 KB, a PEM key among them), one Fetch
// by a new process ("cold"). Every run decrypts and parses the whole
// file: an age file has no index.
func BenchmarkFetch10000(b *testing.B) {
	dir := b.TempDir()
	path, idPath := filepath.Join(dir, "store.age"), filepath.Join(dir, "identity.txt")
	sizes := []int{32, 64, 200, 1000, 3000}
	values := make([]NamedValue, 10000)
	for i := range values {
		v := []byte(resolvetest.Canary("bench"))
		for len(v) < sizes[i%len(sizes)] {
			v = append(v, v...)
		}
		values[i] = NamedValue{Name: fmt.Sprintf("project%02d/KEY_%04d", i%50, i), Value: v[:sizes[i%len(sizes)]]}
	}
	if _, err := (&Store{Path: path, IdentityPath: idPath}).SetMany(values); err != nil {
		b.Fatal(err)
	}
	ref := resolve.Ref{Scheme: "local", Path: values[4321].Name}
	ctx := context.Background()
	var s *Store
	b.ReportAllocs()
	for b.Loop() {
		s = &Store{Path: path, IdentityPath: idPath}
		if _, err := s.Fetch(ctx, ref); err != nil {
			b.Fatal(err)
		}
	}
	// resident-B is the heap memory the process holds from the system
	// after the last Fetch, before any collection of the benchmark's own:
	// what a running ward's resident size stays at.
	var held, freed runtime.MemStats
	runtime.ReadMemStats(&held)
	b.ReportMetric(float64(held.HeapSys-held.HeapReleased), "resident-B")
	// kept-B is what the last Store still holds after a collection: what
	// a running ward carries until the store changes.
	runtime.GC()
	runtime.ReadMemStats(&held)
	runtime.KeepAlive(s)
	s = nil
	runtime.GC()
	runtime.ReadMemStats(&freed)
	b.ReportMetric(float64(int64(held.HeapAlloc)-int64(freed.HeapAlloc)), "kept-B")
}
