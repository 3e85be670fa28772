package store

import "github.com/aws/smithy-go/middleware"

// AddAPIOptionForTest adds fn to the middleware stack of every client s
// makes. Call it before the first fetch.
func AddAPIOptionForTest(s *Session, fn func(*middleware.Stack) error) {
	s.apiOptions = append(s.apiOptions, fn)
}
