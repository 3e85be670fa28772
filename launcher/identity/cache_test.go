package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestIdentityMargin(t *testing.T) {
	tests := []struct {
		lifetime, before, want time.Duration
	}{
		{time.Hour, 15 * time.Minute, 15 * time.Minute},
		{time.Hour, 5 * time.Minute, 5 * time.Minute},
		{15 * time.Minute, 15 * time.Minute, 5 * time.Minute},
		{15 * time.Second, 15 * time.Minute, 5 * time.Second},
		{12 * time.Hour, 15 * time.Minute, 15 * time.Minute},
		{3 * time.Second, time.Second, time.Second},
	}
	for _, tt := range tests {
		if got := Margin(tt.lifetime, tt.before); got != tt.want {
			t.Errorf("Margin(%s, %s): got %s, want %s", tt.lifetime, tt.before, got, tt.want)
		}
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond) // polling, with a deadline
	}
}

// TestIdentityCacheRefreshesAhead watches credentials that live 3s with
// a 1s margin: each is replaced while it still has about the margin
// left, the old lease is released, and what is served never has less
// than the margin left (less the polling's slack, and a loaded machine's
// delay: 500ms; with 1.5s, 500ms and 150ms, a delay could fail it).
func TestIdentityCacheRefreshesAhead(t *testing.T) {
	e := startTest(t, 3*time.Second, time.Second)
	first, _ := e.Cache().Current()
	minLeft := time.Hour
	waitFor(t, "three refreshes", 20*time.Second, func() bool {
		cur, ok := e.Cache().Current()
		if !ok {
			t.Fatal("nothing to serve while the source works")
		}
		minLeft = min(minLeft, time.Until(cur.Expires))
		return e.Cache().Refreshed() >= 3
	})
	if minLeft < 500*time.Millisecond {
		t.Errorf("served credentials with %s left, want about the 1s margin at least", minLeft)
	}
	e.src.mu.Lock()
	released := append([]string(nil), e.src.released...)
	e.src.mu.Unlock()
	if len(released) < 3 || released[0] != first.Lease.ID {
		t.Errorf("got leases released %v, want the replaced ones, the first first", released)
	}
}

// TestIdentityCacheOutage makes the source fail: the current credentials are
// served until they expire, then nothing (503), and fresh ones as soon as
// the source recovers; the failures are logged with the source, never a
// key.
func TestIdentityCacheOutage(t *testing.T) {
	e := startTest(t, 2*time.Second, 500*time.Millisecond)
	e.src.setFail(errors.New("vault is sealed"))
	// A refresh that began before the failure may still land: what is
	// served from now on must be among what was issued until then.
	e.src.mu.Lock()
	before := map[string]bool{}
	for _, c := range e.src.issued {
		before[c.AccessKeyID] = true
	}
	e.src.mu.Unlock()
	waitFor(t, "the credentials to expire", 10*time.Second, func() bool {
		c, ok := e.Cache().Current()
		if ok && !before[c.AccessKeyID] {
			t.Fatal("credentials issued while the source fails")
		}
		if ok && !time.Now().Before(c.Expires) {
			t.Fatal("expired credentials served")
		}
		return !ok
	})
	status, _ := e.raw(t, get(AWSPath, e.token))
	if status != 503 {
		t.Errorf("expired: got %d, want 503", status)
	}
	// A refresh that fails after the expiry logs the 503s (the first
	// retry may still fall before it): wait for it before recovering.
	waitFor(t, "the log of a refresh failed after expiry", 10*time.Second, func() bool { return strings.Contains(e.logs.String(), "answers 503") })
	// Each retry after it is said at debug, the end at error once (an
	// hour's outage logged it at every retry).
	waitFor(t, "a second refresh failed after expiry", 15*time.Second, func() bool { return strings.Count(e.logs.String(), "answers 503") >= 2 })
	errLines := 0
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "answers 503") && strings.Contains(line, `"level":"ERROR"`) {
			errLines++
		}
	}
	if errLines != 1 {
		t.Errorf("the expiry was logged at error %d times, want once", errLines)
	}
	e.src.setFail(nil)
	// The recovery is logged just after the new credentials are in.
	waitFor(t, "recovery", 10*time.Second, func() bool {
		_, ok := e.Cache().Current()
		return ok && strings.Contains(e.logs.String(), "aws identity refresh recovered")
	})
	if status, _ := e.raw(t, get(AWSPath, e.token)); status != 200 {
		t.Errorf("recovered: got %d, want 200", status)
	}
	logs := e.logs.String()
	for _, want := range []string{"cannot refresh the aws identity; serving the current credentials", "answers 503", "vault is sealed", "fake://aws/creds/test", "aws identity refresh recovered"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not say %q", want)
		}
	}
}

// TestIdentityCredentialsNeverPrint checks the ways credentials could reach a log
// or an error: none shows a key.
func TestIdentityCredentialsNeverPrint(t *testing.T) {
	src := &fakeSource{life: time.Hour}
	c, _ := src.Fetch(t.Context())
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "creds", c, "ptr", &c)
	texts := []string{b.String(), c.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		texts = append(texts, fmt.Sprintf(verb, c), fmt.Sprintf(verb, &c))
	}
	for _, text := range texts {
		for _, secret := range []string{c.AccessKeyID, c.SecretAccessKey, c.SessionToken} {
			if strings.Contains(text, secret) {
				t.Errorf("a printed form holds a key or the token: %q", strings.ReplaceAll(text, secret, "<secret>"))
			}
		}
	}
}

// TestIdentityCacheOnExpired: OnExpired hears of an outage that outlasts
// the credentials once, and of the next outage after a recovery again.
func TestIdentityCacheOnExpired(t *testing.T) {
	src := &fakeSource{life: 2 * time.Second}
	c := filledCache(t, "aws", src, 500*time.Millisecond, nil)
	var told atomic.Int32
	c.OnExpired(func() { told.Add(1) })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for round := int32(1); round <= 2; round++ {
		src.setFail(errors.New("vault is sealed"))
		waitFor(t, "the expiry to be told", 10*time.Second, func() bool { return told.Load() >= round })
		if _, ok := c.Current(); ok {
			t.Errorf("round %d: told of the expiry while credentials are served", round)
		}
		src.setFail(nil)
		waitFor(t, "recovery", 10*time.Second, func() bool { _, ok := c.Current(); return ok })
		if n := told.Load(); n != round {
			t.Errorf("round %d: told %d times, want %d", round, n, round)
		}
	}
}
