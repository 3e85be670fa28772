package store

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/wardsecrets/ward/resolve/certerr"
)

// Retry settings for azcore's retry policy, which already does what Key
// Vault's throttling guidance asks: it waits as long as Retry-After says
// (and does not retry at all when that is longer than MaxRetryDelay),
// and otherwise backs off exponentially with jitter from RetryDelay. ward
// configures it rather than retrying on top of it.
const (
	// MaxRetries is how many times a throttled (429) or failed (5xx) read
	// is tried again.
	MaxRetries = 4
	// RetryDelay is the first backoff when the answer has no Retry-After.
	RetryDelay = time.Second
	// MaxRetryDelay is the longest single wait, Retry-After included.
	MaxRetryDelay = 20 * time.Second
)

// retryStatus are the answers worth another try. Any other 4xx fails at
// once: Key Vault will not change its mind about a name, a permission or
// a disabled secret.
var retryStatus = []int{
	http.StatusTooManyRequests,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
}

// retryOptions are the settings of every vault client.
func retryOptions() policy.RetryOptions {
	return policy.RetryOptions{
		MaxRetries:    MaxRetries,
		RetryDelay:    RetryDelay,
		MaxRetryDelay: MaxRetryDelay,
		StatusCodes:   retryStatus,
		ShouldRetry:   shouldRetry,
	}
}

// shouldRetry is azcore's own rule (a transport error or a status in
// retryStatus) with one addition: a Retry-After that would outlast the
// read's deadline (Options.Timeout) is not waited for, so the read fails
// now with the throttling answer instead of later with a bare timeout.
func shouldRetry(resp *http.Response, err error) bool {
	if err != nil {
		// A certificate that does not verify, and a vault host DNS says
		// does not exist, are final; other transport errors may mend.
		_, unknown := certerr.NoSuchHost(err)
		return !certerr.Is(err) && !unknown
	}
	if !retriable(resp.StatusCode) {
		return false
	}
	wait := retryAfter(resp)
	if deadline, ok := resp.Request.Context().Deadline(); ok && wait > 0 && time.Until(deadline) < wait {
		return false
	}
	return true
}

func retriable(status int) bool {
	for _, s := range retryStatus {
		if status == s {
			return true
		}
	}
	return false
}

// retryAfter reads the wait a response asks for, in the headers azcore
// honours: retry-after-ms, x-ms-retry-after-ms, then Retry-After (seconds
// or an HTTP date).
func retryAfter(resp *http.Response) time.Duration {
	for _, h := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if ms, err := strconv.Atoi(resp.Header.Get(h)); err == nil && ms > 0 {
			return time.Duration(ms) * time.Millisecond
		}
	}
	v := resp.Header.Get("Retry-After")
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// attempts records what one read saw, for its error message and the log.
// The observer policy fills it in; it lives in the read's context.
type attempts struct {
	ref string

	mu        sync.Mutex
	sent      int
	throttled int
	lastWait  time.Duration
	start     time.Time
}

type attemptsKey struct{}

func withAttempts(ctx context.Context, ref string) (context.Context, *attempts) {
	a := &attempts{ref: ref, start: time.Now()}
	return context.WithValue(ctx, attemptsKey{}, a), a
}

func (a *attempts) snapshot() (sent, throttled int, lastWait time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sent, a.throttled, a.lastWait
}

// observer is a per-try policy: it sees every answer the vault gives,
// after the authentication challenge is dealt with, and logs throttling.
// It never looks at a body.
type observer struct {
	log *slog.Logger
}

// Do implements policy.Policy.
func (o observer) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	a, _ := req.Raw().Context().Value(attemptsKey{}).(*attempts)
	if a == nil || err != nil {
		return resp, err
	}
	a.mu.Lock()
	a.sent++
	throttled := resp.StatusCode == http.StatusTooManyRequests
	if throttled {
		a.throttled++
		a.lastWait = retryAfter(resp)
	}
	n, wait := a.sent, a.lastWait
	a.mu.Unlock()
	if throttled {
		o.log.Warn("key vault throttled a read", "ref", a.ref, "attempt", n, "retry_after", wait.String())
	}
	return resp, err
}
