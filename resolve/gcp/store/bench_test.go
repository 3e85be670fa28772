package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/gcp/gcptest"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// BenchmarkFetch100 resolves 100 gcpsm:// references through the
// Fetcher, 16 reads in flight against one at a time, against the
// emulator answering at once and with 5ms of latency per call (Google's
// is tens of milliseconds). Each resolution makes one access call per
// reference; the token is fetched once, outside the timing. ns/op is the
// wall time of one resolution.
//
//	go test ./resolve/gcp/store -run '^$' -bench Fetch100 -benchtime 20x
func BenchmarkFetch100(b *testing.B) {
	for _, bc := range []struct {
		name        string
		latency     time.Duration
		concurrency int
	}{
		{"no-latency/concurrency-16", 0, resolve.DefaultConcurrency},
		{"no-latency/one-at-a-time", 0, 1},
		{"5ms-latency/concurrency-16", 5 * time.Millisecond, resolve.DefaultConcurrency},
		{"5ms-latency/one-at-a-time", 5 * time.Millisecond, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := emulator(b)
			srv.SetLatency(bc.latency)
			refs := map[string]resolve.Ref{}
			for i := range 100 {
				id := fmt.Sprintf("bench-%03d", i)
				srv.AddVersion(secretName(id), []byte(resolvetest.Canary("bench")))
				refs[fmt.Sprintf("S%03d", i)] = mustRef(b, "gcpsm://"+project+"/"+id)
			}
			s := newStore(b, srv, nil)
			f := &resolve.Fetcher{Stores: func(string) (resolve.Store, error) { return s, nil }, Concurrency: bc.concurrency}
			// Set the credentials up outside the timing.
			if _, err := f.Fetch(b.Context(), refs); err != nil {
				b.Fatal(err)
			}
			before := srv.Calls(gcptest.MethodAccess)
			for b.Loop() {
				if _, err := f.Fetch(b.Context(), refs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(srv.Calls(gcptest.MethodAccess)-before)/float64(b.N), "calls/op")
		})
	}
}
