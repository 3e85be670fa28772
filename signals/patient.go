package signals

import (
	"errors"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// PatientWriter returns a writer that writes through w to f and, where f
// is non-blocking under ward (a write fails with EAGAIN), waits until f
// takes more and writes the rest. A process that shares f's pipe can
// make it non-blocking at any time: the flag is the pipe's, not the
// descriptor's, and Node.js sets it on the stdio pipes it has (a child
// of ward's writing to ward's stderr; a runner's other steps). A write
// of ward's then failed, and what it wrote was lost, whenever the pipe
// was full. Only for writers that may wait: a goroutine of their own.
func PatientWriter(f *os.File, w io.Writer) io.Writer {
	return patientWriter{f: f, w: w}
}

type patientWriter struct {
	f *os.File
	w io.Writer
}

func (p patientWriter) Write(b []byte) (int, error) {
	written := 0
	for {
		n, err := p.w.Write(b[written:])
		written += max(n, 0)
		if n > 0 {
			taken.Add(1)
		}
		if err == nil || !errors.Is(err, syscall.EAGAIN) || written >= len(b) {
			return written, err
		}
		if err := p.waitWritable(); err != nil {
			return written, err
		}
	}
}

// waitWritable waits until f takes more. Through SyscallConn: f.Fd()
// would make a pipe Go polls blocking, for every process that shares it.
func (p patientWriter) waitWritable() error {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return err
	}
	var perr error
	err = rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		for {
			_, perr = unix.Poll(fds, -1)
			if perr != syscall.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return perr
}
