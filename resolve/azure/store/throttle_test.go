package store_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/azure/azuretest"
	"github.com/wardsecrets/ward/resolve/azure/store"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

func TestThrottleRetried(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("throttle")
	srv.SetSecret("busy", v)
	var logs bytes.Buffer
	s, err := store.New(withEmulator(azure.Options{}), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv.Throttle(2, time.Second)
	start := time.Now()
	sec, err := s.Fetch(t.Context(), ref(t, srv, "busy"))
	waited := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if string(sec.Value) != v {
		t.Errorf("got a different value (%d bytes, want %d)", len(sec.Value), len(v))
	}
	if n := srv.AuthorizedCalls(azuretest.RouteGetSecret); n != 3 {
		t.Errorf("two throttled answers: got %d reads, want 3", n)
	}
	// Retry-After: 1 twice; azcore waits exactly that long, no less.
	if waited < 2*time.Second {
		t.Errorf("the retries came after %s, sooner than the 2s Retry-After asked", waited)
	}
	if got := strings.Count(logs.String(), "key vault throttled a read"); got != 2 {
		t.Errorf("got %d throttling log lines, want 2", got)
	}
	if strings.Contains(logs.String(), v) {
		t.Errorf("the log contains the value")
	}
}

func TestThrottleGivesUp(t *testing.T) {
	tests := []struct {
		name       string
		timeout    time.Duration
		retryAfter time.Duration
		minReads   int
		maxReads   int
		wants      []string
	}{
		// The vault throttles for longer than the read may last: ward
		// stops retrying when the next wait would outlast its timeout.
		{"timeout", 2500 * time.Millisecond, time.Second, 2, azureMaxTries - 1,
			[]string{"kept throttling (HTTP 429)", "gave up after"}},
		// One Retry-After beyond MaxRetryDelay is not waited for at all.
		{"long retry-after", time.Minute, store.MaxRetryDelay + 10*time.Second, 1, 1,
			[]string{"kept throttling (HTTP 429)", "gave up after 1 tries", "asked to wait 30s more"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := emulator(t)
			srv.SetSecret("busy", resolvetest.Canary("busy"))
			s := newStore(t, azure.Options{Timeout: tt.timeout})
			srv.Throttle(1000, tt.retryAfter)
			// A caller's own deadline far beyond the store's bound: the
			// store must stop by itself.
			ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
			defer cancel()
			_, err := s.Fetch(ctx, ref(t, srv, "busy"))
			checkError(t, tt.name, err, []string{srv.ClientSecret()}, tt.wants...)
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: the read ran into its deadline instead of giving up before it", tt.name)
			}
			n := srv.AuthorizedCalls(azuretest.RouteGetSecret)
			if n < tt.minReads || n > tt.maxReads {
				t.Errorf("%s: got %d reads, want %d to %d", tt.name, n, tt.minReads, tt.maxReads)
			}
		})
	}
}

// azureMaxTries is the most reads one Fetch makes: the first and
// MaxRetries more.
const azureMaxTries = store.MaxRetries + 1
