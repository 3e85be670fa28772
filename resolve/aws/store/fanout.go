package store

import (
	"golang.org/x/sync/errgroup"

	"github.com/wardsecrets/ward/resolve"
)

// fanOut calls fn(0) to fn(n-1), at most limit at a time (0 means
// resolve.DefaultConcurrency), and returns when all have returned.
func fanOut(n, limit int, fn func(int)) {
	if limit <= 0 {
		limit = resolve.DefaultConcurrency
	}
	var g errgroup.Group
	g.SetLimit(limit)
	for i := range n {
		g.Go(func() error {
			fn(i)
			return nil
		})
	}
	g.Wait()
}

// chunks splits items into runs of at most size.
func chunks[T any](items []T, size int) [][]T {
	var out [][]T
	for len(items) > size {
		out = append(out, items[:size])
		items = items[size:]
	}
	if len(items) > 0 {
		out = append(out, items)
	}
	return out
}
