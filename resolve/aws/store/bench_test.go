package store_test

import (
	"fmt"
	"testing"

	"github.com/wardsecrets/ward/resolve"
	awsstore "github.com/wardsecrets/ward/resolve/aws/store"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// BenchmarkSecretsManager100 resolves 100 awssm:// references through the
// Fetcher, batched (BatchGetSecretValue, 20 a call) against one
// GetSecretValue per reference, both against the emulator. It reports the
// calls each resolution makes; ns/op is its wall time.
//
//	go test ./resolve/aws -run '^$' -bench SecretsManager100 -benchtime 50x
func BenchmarkSecretsManager100(b *testing.B) {
	for _, bc := range []struct {
		name    string
		noBatch bool
	}{{"batched", false}, {"one-call-per-ref", true}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := emulator(b)
			refs := map[string]resolve.Ref{}
			for i := range 100 {
				name := fmt.Sprintf("bench/s%03d", i)
				srv.PutSecretString(name, resolvetest.Canary("bench"))
				refs[fmt.Sprintf("S%03d", i)] = mustRef(b, "awssm://"+name)
			}
			sm := awsstore.NewSecretsManager(newSession())
			sm.NoBatch = bc.noBatch
			f := &resolve.Fetcher{Stores: func(string) (resolve.Store, error) { return sm, nil }}
			// Load the SDK configuration outside the timing.
			if _, err := f.Fetch(b.Context(), refs); err != nil {
				b.Fatal(err)
			}
			before := srv.Calls("")
			for b.Loop() {
				if _, err := f.Fetch(b.Context(), refs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(srv.Calls("")-before)/float64(b.N), "calls/op")
		})
	}
}
