package store

import (
	"context"
	"fmt"
	"sync"
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
		return nil, fmt.Errorf("set up the Google credentials: %w", ctx.Err())
	}
}

func (l *lazy) done() *credentials {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.value
}
