// Package logbuf is a log sink for tests: goroutines write to it while the
// test reads what they wrote.
package logbuf

import (
	"bytes"
	"sync"
)

// Buffer keeps what is written to it, from any goroutine.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
