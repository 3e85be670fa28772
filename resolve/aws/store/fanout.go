package store

import (
	"sync"

	"github.com/wardsecrets/ward/resolve"
)

// fanOut calls fn(0) to fn(n-1), at most limit at a time (0 means
// resolve.DefaultConcurrency), and returns when all have returned.
func fanOut(n, limit int, fn func(int)) {
	if limit <= 0 {
		limit = resolve.DefaultConcurrency
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() {
				<-sem
				wg.Done()
			}()
			fn(i)
		}()
	}
	wg.Wait()
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
