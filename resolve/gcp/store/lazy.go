package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// lazy makes a value once, on first use, for all callers: concurrent
// callers wait for the one attempt under way and share its result. A
// failed attempt is forgotten, so the next caller tries again.
type lazy struct {
	mu      sync.Mutex
	value   *credentials
	pending *attempt
}

type attempt struct {
	done  chan struct{}
	value *credentials
	err   error
}

func (l *lazy) get(ctx context.Context, create func(context.Context) (*credentials, error)) (*credentials, error) {
	l.mu.Lock()
	if l.value != nil {
		defer l.mu.Unlock()
		return l.value, nil
	}
	a := l.pending
	if a == nil {
		a = &attempt{done: make(chan struct{})}
		l.pending = a
		// The attempt outlives a caller that gives up waiting: the
		// others still want its result.
		go func() {
			v, err := create(context.WithoutCancel(ctx))
			l.mu.Lock()
			a.value, a.err = v, err
			l.pending = nil
			if err == nil {
				l.value = v
			}
			l.mu.Unlock()
			close(a.done)
		}()
	}
	l.mu.Unlock()
	select {
	case <-a.done:
		return a.value, a.err
	case <-ctx.Done():
	}
	// The attempt's own timeout starts just after the first caller's:
	// its error says which endpoint did not answer, where the caller's
	// said only "context deadline exceeded".
	t := time.NewTimer(setupGrace)
	defer t.Stop()
	select {
	case <-a.done:
		if a.err != nil {
			return nil, a.err
		}
	case <-t.C:
	}
	return nil, fmt.Errorf("set up the Google credentials: %w: the token endpoint (or the metadata server) has not answered yet", ctx.Err())
}

// setupGrace is how long a caller whose time is up still waits for the
// set-up attempt's own failure.
const setupGrace = 250 * time.Millisecond

func (l *lazy) done() *credentials {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.value
}
