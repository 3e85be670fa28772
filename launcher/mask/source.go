package mask

import (
	"io"
	"sync/atomic"
)

// Source holds the patterns that Writers made with NewSourceWriter mask,
// and lets them change while the Writers run: each Write takes the
// patterns the Source holds then. A value must be added before anything
// can print it (an identity endpoint's new credentials, before they are
// served), because the tail a Writer held back was decided by the
// patterns it had.
type Source struct{ p atomic.Pointer[Patterns] }

// NewSource returns a Source holding p.
func NewSource(p *Patterns) *Source {
	s := &Source{}
	s.p.Store(p)
	return s
}

// Set replaces the patterns for the Writers' next Writes.
func (s *Source) Set(p *Patterns) { s.p.Store(p) }

// NewSourceWriter returns a Writer to w that masks the patterns src holds
// at each Write.
func NewSourceWriter(w io.Writer, src *Source) *Writer {
	mw := NewWriter(w, src.p.Load())
	mw.src = src
	return mw
}
