// Package failure is the one shape of ward's own failures: what went
// wrong, what to do about it, and the exit code (125, or 126 and 127 for a
// program that cannot be started). Every command returns it; the CLI
// prints it as `ward: error: ...` and `ward: hint: ...`.
package failure

import (
	"errors"
	"syscall"

	"github.com/wardsecrets/ward/internal/syshint"
	"github.com/wardsecrets/ward/signals"
)

// Error is a failure of ward itself. It never holds a secret value.
type Error struct {
	// Code is the exit code; 0 means signals.ExitWardFailure.
	Code int
	Err  error
	// Hint is advice for the user, printed under the error.
	Hint string
	// Signal, when set, is the signal ward ends by rather than exiting
	// with Code, sent to its whole process group when Group is set (see
	// signals.EndBy).
	Signal syscall.Signal
	Group  bool
}

// New is a failure with exit code 125.
func New(err error, hint string) *Error {
	return &Error{Code: signals.ExitWardFailure, Err: err, Hint: hint}
}

func (e *Error) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ExitCode is the code ward exits with for err: the failure's own, 125 for
// any other error.
func ExitCode(err error) int {
	var f *Error
	if errors.As(err, &f) && f.Code != 0 {
		return f.Code
	}
	var se *signals.StartError
	if errors.As(err, &se) {
		return se.Code
	}
	return signals.ExitWardFailure
}

// Line is one line of an error report: a message and the hint that goes
// under it.
type Line struct {
	Msg, Hint string
	// cause is the error of the line, for the advice its errno gives
	// (syshint.For) when nothing else advises.
	cause error
}

// hinter is an error that knows what the user should do about it.
type hinter interface{ Hint() string }

// Lines splits err into the lines of its report. An error that is a list
// (Unwrap() []error: every problem of a manifest, every variable that
// could not be resolved) gives one line per item, each with its own hint;
// a failure's hint, when no line has it already, comes last.
func Lines(err error) []Line {
	var f *Error
	hint := ""
	if errors.As(err, &f) {
		hint, err = f.Hint, f.Err
		// A failure given no hint of its own (one that only sets the
		// exit code) keeps the hint of the one it wraps.
		for e := err; hint == "" && errors.As(e, &f); e = f.Err {
			hint = f.Hint
		}
	}
	if err == nil {
		if hint != "" {
			return []Line{{Hint: hint}}
		}
		return nil
	}
	lines := split(err)
	for i, l := range lines {
		if l.Hint == "" && hint == "" {
			// A full, read-only or failing file system says what to do
			// wherever the write was; a failure's own hint, when it has
			// one, knows the place better.
			lines[i].Hint = syshint.For(l.cause)
		}
	}
	for _, l := range lines {
		if l.Hint == hint {
			hint = ""
		}
	}
	if hint != "" {
		if n := len(lines); n > 0 && lines[n-1].Hint == "" {
			lines[n-1].Hint = hint
		} else {
			lines = append(lines, Line{Hint: hint})
		}
	}
	return lines
}

func split(err error) []Line {
	if list, ok := err.(interface{ Unwrap() []error }); ok {
		var out []Line
		for _, e := range list.Unwrap() {
			out = append(out, split(e)...)
		}
		if out != nil {
			return out
		}
	}
	l := Line{Msg: err.Error(), cause: err}
	var h hinter
	if errors.As(err, &h) {
		l.Hint = h.Hint()
	}
	if l.Hint == "" {
		l.Hint = syshint.Limit(err)
	}
	return []Line{l}
}
