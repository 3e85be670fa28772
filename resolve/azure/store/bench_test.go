package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/azure/azuretest"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// BenchmarkFetch100 resolves 100 azkv:// references through the Fetcher,
// 16 reads in flight (resolve.DefaultConcurrency) against one at a time,
// against the emulator over HTTPS on loopback, answering at once or after
// 20ms (a vault in another region). Key Vault has no batch read, so each
// reference is one GetSecret. It reports the reads each resolution makes;
// ns/op is its wall time.
//
//	go test ./resolve/azure/store -run '^$' -bench Fetch100 -benchtime 20x
func BenchmarkFetch100(b *testing.B) {
	for _, bc := range []struct {
		name        string
		concurrency int
		latency     time.Duration
	}{
		{"loopback/concurrency-16", resolve.DefaultConcurrency, 0},
		{"loopback/one-at-a-time", 1, 0},
		{"latency-20ms/concurrency-16", resolve.DefaultConcurrency, 20 * time.Millisecond},
		{"latency-20ms/one-at-a-time", 1, 20 * time.Millisecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := emulator(b)
			srv.SetLatency(bc.latency)
			refs := map[string]resolve.Ref{}
			for i := range 100 {
				name := fmt.Sprintf("bench-s%03d", i)
				srv.SetSecret(name, resolvetest.Canary("bench"))
				refs[fmt.Sprintf("S%03d", i)] = ref(b, srv, name)
			}
			s := newStore(b, azure.Options{})
			f := &resolve.Fetcher{Stores: func(string) (resolve.Store, error) { return s, nil }, Concurrency: bc.concurrency}
			// The token and the TLS connections come before the timing.
			if _, err := f.Fetch(b.Context(), refs); err != nil {
				b.Fatal(err)
			}
			before := srv.AuthorizedCalls(azuretest.RouteGetSecret)
			for b.Loop() {
				if _, err := f.Fetch(b.Context(), refs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(srv.AuthorizedCalls(azuretest.RouteGetSecret)-before)/float64(b.N), "reads/op")
		})
	}
}
