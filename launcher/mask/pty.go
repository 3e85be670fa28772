package mask

import (
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/creack/pty"
	"golang.org/x/term"

	"github.com/wardsecrets/ward/internal/syshint"
	"github.com/wardsecrets/ward/launcher/failure"
)

// OpenPTY opens a pseudo-terminal pair for a child whose output is masked
// while ward's own stdout is a terminal. The child gets slave as its
// terminal; ward reads the child's output from master (through a Writer,
// see Copy) and writes the user's keystrokes to it. The caller closes slave
// once the child has started, so that reading master ends with EIO when
// the child and everything it started have closed their side.
//
// Wiring, in the order ward does it:
//
//  1. master, slave := OpenPTY(); InheritSize(os.Stdout, master) (the size
//     of ward's terminal, before the child starts).
//  2. Start the child with slave as its stdin, stdout and stderr (stdin only
//     if ward's stdin is a terminal, stderr only if ward's stderr is one;
//     otherwise those keep ward's file or a masked pipe), as a session leader
//     that takes slave as its controlling terminal: SysProcAttr{Setsid: true,
//     Setctty: true, Ctty: n} where n is slave's descriptor number in the
//     child (0 when it is the child's stdin, else 1). Not Setpgid (a session leader cannot change group, so Setpgid
//     with Setsid fails with EPERM) and not Foreground (ward's terminal is
//     not the child's): the new session makes the child its group's leader,
//     so signalling -pid still reaches the group, and the pty makes that group
//     its foreground one.
//  3. slave.Close() in ward.
//  4. If ward's stdin is a terminal: restore, _ := MakeRaw(os.Stdin), then
//     relay os.Stdin to master byte for byte (io.Copy in a goroutine). Ctrl-C
//     then reaches the pty as the INTR character and its line discipline
//     signals the child's foreground group, once; ward's own terminal sends
//     ward no SIGINT. Ctrl-Z likewise stops the child inside the pty, not
//     ward. If stdin is a file, do the same with ward's stdout, its
//     controlling terminal: a program that reads /dev/tty (a password
//     prompt, less) waits for the keys there. If stdin is a pipe, leave
//     ward's terminal as it is (another program of the pipeline may read
//     it): Ctrl-C signals ward, which forwards it as without a pty.
//  5. Relay master to ward's stdout with Copy(NewWriter(os.Stdout, p), master)
//     in a goroutine; it returns nil when the child side is closed.
//  6. On SIGWINCH call InheritSize(os.Stdout, master) instead of forwarding
//     the signal: the kernel sends SIGWINCH to the pty's foreground group,
//     and forwarding it too would deliver it twice.
//  7. When the child has exited, wait for Copy to return (so its last output
//     is shown; bound the wait, as a process the child left behind may hold
//     the pty open), call restore, close master, then exit with the child's
//     code. Call restore on every way out, a signal death included. ward's
//     own messages printed while raw need "\r\n" line ends, so print them
//     after restore.
func OpenPTY() (master, slave *os.File, err error) {
	master, slave, err = pty.Open()
	if err != nil {
		return nil, nil, failure.New(fmt.Errorf("open pseudo-terminal: %w", err), ptyHint(err))
	}
	return master, slave, nil
}

// ptyHint is the advice for a pseudo-terminal that could not be opened,
// chosen by the errno: only a container's /dev without devpts (ENODEV),
// or without /dev/ptmx (ENOENT), is a system that gives none; the hint
// said so of every failure, an ioctl's EIO or EINTR, a refusal, and
// descriptors run out.
func ptyHint(err error) string {
	const without = "run without --mask, or send the output through a pipe (| cat), which needs none"
	switch syshint.Errno(err) {
	case syscall.ENODEV, syscall.ENOENT:
		return "--mask keeps a program on a terminal on a pseudo-terminal of its own, and this system gives none (no devpts at /dev/pts, or no /dev/ptmx): mount one (mount -t devpts devpts /dev/pts; docker run gives one), or " + without
	case syscall.EACCES, syscall.EPERM:
		return "--mask keeps a program on a terminal on a pseudo-terminal of its own, and this user may not open one (/dev/ptmx's or /dev/pts's mode, or a container's device rules): let it, or " + without
	}
	if hint := syshint.For(err); hint != "" {
		return hint
	}
	return "--mask keeps a program on a terminal on a pseudo-terminal of its own, and none could be opened: try again, or " + without
}

// InheritSize copies the window size of the terminal from (ward's own) to
// the pseudo-terminal to (the master from OpenPTY), at start and on each
// SIGWINCH; the child's foreground group then gets SIGWINCH from the kernel.
func InheritSize(from, to *os.File) error {
	if err := pty.InheritSize(from, to); err != nil {
		return fmt.Errorf("copy window size: %w", err)
	}
	return nil
}

// MakeRaw puts terminal f (ward's stdin) into raw mode, so every keystroke,
// Ctrl-C included, goes to the child's pseudo-terminal as a byte. The
// returned restore puts f back as it was; it may be called more than once.
func MakeRaw(f *os.File) (restore func() error, err error) {
	fd := int(f.Fd())
	state, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("make terminal raw: %w", err)
	}
	var once sync.Once
	var rerr error
	return func() error {
		once.Do(func() {
			if err := term.Restore(fd, state); err != nil {
				rerr = fmt.Errorf("restore terminal: %w", err)
			}
		})
		return rerr
	}, nil
}
