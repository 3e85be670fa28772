// Package syshint is the advice for an error by the errno it carries,
// where the errno names its cause the same wherever ward made the call:
// the CLI's failures (launcher/failure), the run's private directory,
// --mask's pseudo-terminal, the stores and the helpers' lookup take it
// from here, so that one errno gets one advice.
package syshint

import (
	"errors"
	"syscall"
)

// Limit is the advice for an error that came of ward, or the whole
// system, running out of file descriptors, or of a write past the
// file-size limit, wherever that happened; "" for any other error. The
// place that failed is not at fault, and "too many open files" or "file
// too large" (of a secret file of a few KiB on a tmpfs with room to
// spare) alone does not say which limit that is.
func Limit(err error) string {
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

// For is the advice for an error whose errno names its cause the
// same wherever the call was made: file descriptors run out or the
// file-size limit (Limit), a device or file system that failed (EIO),
// one mounted read-only (EROFS), one full (ENOSPC, EDQUOT); "" for any
// other errno, and for an error that carries none. What a refusal
// (EACCES, EPERM) or a missing file (ENOENT) means depends on the place,
// which says it; an errno none of them explains (EINTR, EAGAIN, EBUSY...)
// gets no guess: a hint that names the wrong cause sends the reader the
// wrong way.
func For(err error) string {
	if hint := Limit(err); hint != "" {
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
