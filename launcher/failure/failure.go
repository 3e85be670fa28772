// Package failure is the one shape of ward's own failures: what went
// wrong, what to do about it, and the exit code (125, or 126 and 127 for a
// program that cannot be started). Every command returns it; the CLI
// prints it as `ward: error: ...` and `ward: hint: ...`.
package failure

import (
	"errors"
	"syscall"

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
	l := Line{Msg: err.Error()}
	var h hinter
	if errors.As(err, &h) {
		l.Hint = h.Hint()
	}
	if l.Hint == "" {
		l.Hint = LimitHint(err)
	}
	return []Line{l}
}

// LimitHint is the advice for an error that came of ward, or the whole
// system, running out of file descriptors, or of a write past the
// file-size limit, wherever that happened; "" for any other error. The
// place that failed is not at fault, and "too many open files" or "file
// too large" (of a secret file of a few KiB on a tmpfs with room to
// spare) alone does not say which limit that is.
func LimitHint(err error) string {
	if errors.Is(err, syscall.EMFILE) {
		return "ward ran out of file descriptors: raise the limit (ulimit -n; systemd's LimitNOFILE=, docker run --ulimit nofile=)"
	}
	if errors.Is(err, syscall.ENFILE) {
		// The system's table, not ward's limit: raising ulimit -n, as the
		// hint said, changes nothing.
		return "the system ran out of open files, all processes together (ENFILE; not ward's own limit, ulimit -n): find the process that holds them (lsof), or raise fs.file-max (sysctl)"
	}
	if errors.Is(err, syscall.EFBIG) {
		return "the write passed the file-size limit ward was started with: raise it (ulimit -f; systemd's LimitFSIZE=, docker run --ulimit fsize=)"
	}
	return ""
}

// Errno is the system call's error number err carries, 0 when it carries
// none (an error of ward's own making, such as a directory others may
// write).
func Errno(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}

// SystemHint is the advice for an error whose errno names its cause the
// same wherever the call was made: file descriptors run out or the
// file-size limit (LimitHint), a device or file system that failed (EIO),
// one mounted read-only (EROFS), one full (ENOSPC, EDQUOT); "" for any
// other errno, and for an error that carries none. What a refusal
// (EACCES, EPERM) or a missing file (ENOENT) means depends on the place,
// which says it; an errno none of them explains (EINTR, EAGAIN, EBUSY...)
// gets no guess: a hint that names the wrong cause sends the reader the
// wrong way.
func SystemHint(err error) string {
	if hint := LimitHint(err); hint != "" {
		return hint
	}
	switch Errno(err) {
	case syscall.EIO:
		return "an input/output error is a device or file system failing under ward (a disk, a FUSE or NFS mount whose server went away), not a setting: look in the kernel's log (dmesg, journalctl -k), then try again"
	case syscall.EROFS:
		return "the file system there is mounted read-only: remount it read-write, or use a place on one that is (a container's read-only root: a volume)"
	case syscall.ENOSPC, syscall.EDQUOT:
		return "the file system there is full, or the user's quota is: free space there (df -h, quota -s)"
	}
	return ""
}
