package store

import "time"

// SetBackoffForTest replaces the retry pacing of s, so that retry tests
// run without waiting. Call it before the first read.
func SetBackoffForTest(s *Store, initial, max time.Duration) {
	s.backoff = backoff{initial: initial, max: max}
}
