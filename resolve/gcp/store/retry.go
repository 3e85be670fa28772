package store

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"cloud.google.com/go/auth"
	"google.golang.org/api/googleapi"

	"github.com/wardsecrets/ward/resolve/certerr"
	"github.com/wardsecrets/ward/resolve/gcp"
	"github.com/wardsecrets/ward/resolve/proxyconnect"
)

// backoff paces the retries of one call: exponential from initial, capped
// at max, with jitter. The read's timeout (gcp.Options.Timeout) bounds
// them all.
type backoff struct {
	initial, max time.Duration
}

// defaultBackoff is close to what Google's client libraries use for
// Secret Manager's idempotent reads.
var defaultBackoff = backoff{initial: 250 * time.Millisecond, max: 8 * time.Second}

// retry calls call until it succeeds, fails in a way a retry cannot mend
// (any 4xx but 429; 429 too when throttleFinal), or the next wait would
// pass ctx's deadline. It returns how many attempts it made and the last
// error; when the deadline cut a retry short, the error the retry was
// for.
func (s *Store) retry(ctx context.Context, res gcp.Resource, throttleFinal bool, call func(context.Context) error) (int, error) {
	delay := s.backoff.initial
	var retried error
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		if err != nil && retried != nil && ctx.Err() != nil {
			return attempt, retried
		}
		if err == nil || !retryable(ctx, err) || throttleFinal && throttled(err) {
			return attempt, err
		}
		retried = err
		// A wait drawn from the upper half of the delay keeps the
		// fetcher's concurrent reads from retrying in step.
		wait := delay/2 + rand.N(delay/2+1)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return attempt, err
		}
		s.log.Debug("secret manager call failed, retrying", "store", "gcp", "secret", res.Name(), "attempt", attempt, "wait", wait.String(), "status", statusOf(err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return attempt, err
		}
		delay = min(2*delay, s.backoff.max)
	}
}

// retryable reports whether a failed call may succeed if made again:
// throttling (429 RESOURCE_EXHAUSTED), server errors (5xx, UNAVAILABLE),
// a token endpoint's temporary failure, and a connection that broke.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		switch ge.Code {
		case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var ae *auth.Error
	if errors.As(err, &ae) {
		return ae.Temporary()
	}
	if certerr.Is(err) {
		// A retry meets the same certificate.
		return false
	}
	if _, ok := certerr.NoSuchHost(err); ok {
		// DNS will say again that the endpoint's name does not exist.
		return false
	}
	if pr := (*proxyconnect.RefusedError)(nil); errors.As(err, &pr) {
		// The proxy's rules answer the same: 9 attempts took 25 s.
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// throttled reports whether err is a 429 RESOURCE_EXHAUSTED: a quota
// ran out.
func throttled(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusTooManyRequests
}

// statusOf names a failed call's status for log lines.
func statusOf(err error) string {
	if api, ok := asAPIError(err); ok {
		return api.status
	}
	return "connection error"
}
