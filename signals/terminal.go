package signals

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// OwnsTerminal reports whether f is a terminal whose foreground process
// group is ward's own, so the child may take it over. A ward started in
// the background must not steal the terminal.
func OwnsTerminal(f *os.File) bool {
	fg, ok := ForegroundGroup(f)
	return ok && fg == unix.Getpgrp()
}

// InBackground reports whether f is ward's controlling terminal and
// another process group is in its foreground: reading it, or changing its
// modes, would then raise SIGTTIN or SIGTTOU. A terminal that is not ward's
// controlling one (ward in a session of its own) has no foreground for
// ward to be out of.
func InBackground(f *os.File) bool {
	fg, ok := ForegroundGroup(f)
	return ok && fg != unix.Getpgrp()
}

// JobControlRequest reports whether sig, caught by ward, is SIGTTIN or
// SIGTTOU sent with kill: a request for the program (gunicorn and unicorn
// add and remove a worker on them), not the kernel's stop of a background
// job that touched its terminal. The kernel sends them only to a
// background process group of a controlling terminal, which ward's is not
// when it has none (a service, a container without -t), holds its
// foreground, or gave the foreground to its child's group, child: ward's
// own writes there never raise SIGTTOU, and it reads the terminal only
// while its group has it.
func JobControlRequest(sig os.Signal, child int) bool {
	if sig != syscall.SIGTTIN && sig != syscall.SIGTTOU {
		return false
	}
	fd, ok := controllingTerminal()
	if !ok {
		return true
	}
	defer unix.Close(fd)
	fg, err := IoctlInt(fd, unix.TIOCGPGRP)
	return err != nil || fg == unix.Getpgrp() || fg == child
}

// HasTerminal reports whether ward has a controlling terminal, whose
// hangup could send it SIGHUP. Without one (a service, a container
// without -t) a SIGHUP is someone's kill: a reload. (A hangup takes the
// terminal away from its session: ask before it.)
func HasTerminal() bool {
	fd, ok := controllingTerminal()
	if ok {
		unix.Close(fd)
	}
	return ok
}

// IsControllingTerminal reports whether f is ward's controlling terminal
// (another open of it included), not some other terminal ward writes to.
func IsControllingTerminal(f *os.File) bool {
	// The kernel tells a terminal's foreground group only to a process it
	// is the controlling terminal of (ENOTTY otherwise, as POSIX says).
	_, ok := ForegroundGroup(f)
	return ok
}

// controllingTerminal opens ward's controlling terminal, if it has one
// (ENXIO otherwise).
func controllingTerminal() (fd int, ok bool) {
	fd, err := unix.Open("/dev/tty", unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	return fd, err == nil
}

// StopsBackgroundWriters reports whether terminal f stops a process of a
// background group that writes to it (`stty tostop`): the kernel sends
// the writer's group SIGTTOU and, ward catching it, restarts the write
// for ever.
func StopsBackgroundWriters(f *os.File) bool {
	t, err := unix.IoctlGetTermios(int(f.Fd()), getTermios)
	return err == nil && t.Lflag&unix.TOSTOP != 0
}

// pasteGap is how long after a line read at a prompt the next line of a
// paste may still be on its way (over ssh, from a terminal that pastes in
// chunks), and how long a paste's input must be quiet to be over. No one
// types a line, or reads the next prompt, that fast.
const pasteGap = 150 * time.Millisecond

// DiscardInput throws away what terminal f holds unread and reports
// whether input was waiting there, or came within pasteGap: the
// rest of a paste of several lines at a prompt that reads one, which
// would otherwise go to the next program to read the terminal, the
// shell, to run as commands. A paste's lines are discarded until the
// terminal has been quiet for pasteGap.
func DiscardInput(f *os.File) bool {
	fd := int(f.Fd())
	flush := func() {
		if t, err := unix.IoctlGetTermios(fd, getTermios); err == nil {
			unix.IoctlSetTermios(fd, setTermiosFlush, t)
		}
	}
	// HideInput's terminal polls readable with any byte: a paste's next
	// line, or the start of it. A signal caught meanwhile (SIGWINCH, the terminal resized: the Go
	// runtime catches it) ends poll with EINTR, which is no answer: the
	// wait goes on for what is left of d. Taken for "no line", it let
	// the rest of a paste be read as the confirmation, or by the shell.
	inputWithin := func(d time.Duration) bool {
		deadline := time.Now().Add(d)
		for {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, int(max(time.Until(deadline), 0)/time.Millisecond))
			if err == unix.EINTR {
				continue
			}
			return err == nil && n > 0 && fds[0].Revents&unix.POLLIN != 0
		}
	}
	// Read and dropped, not only flushed: a writer blocked on a full
	// terminal (a terminal emulator pasting a long text) is woken by a
	// read, and was not by the flush, so its rest came after the quiet
	// and went to the shell.
	var buf [4096]byte
	drain := func() {
		for {
			n, err := unix.Read(fd, buf[:])
			if err == unix.EINTR {
				continue
			}
			clear(buf[:max(n, 0)])
			if err != nil || n < len(buf) || !inputWithin(0) {
				break
			}
		}
		flush()
	}
	waiting := inputWithin(pasteGap)
	if waiting {
		drain()
	} else {
		flush()
	}
	for waiting && inputWithin(pasteGap) {
		drain()
	}
	return waiting
}

// HideInput turns the echo of terminal f off, for a prompt that reads a
// secret with ReadLine and then DiscardInput: the rest of a paste
// arriving meanwhile is not shown either. The terminal hands over each
// byte as it comes (not canonical mode: its line buffer holds 4095
// bytes, and a longer line pasted at the prompt was cut there and
// stored cut, confirmation and all), takes a CR for a newline, and
// sends the signals of its keys (Ctrl-C, Ctrl-Z, Ctrl-\); ReadLine does
// the line's editing. The returned func puts the modes back.
func HideInput(f *os.File) (restore func(), err error) {
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, getTermios)
	if err != nil {
		return nil, err
	}
	old := *t
	t.Lflag &^= unix.ECHO | unix.ICANON
	t.Lflag |= unix.ISIG
	t.Iflag |= unix.ICRNL
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, setTermios, t); err != nil {
		return nil, err
	}
	return func() { unix.IoctlSetTermios(fd, setTermios, &old) }, nil
}

// MaxLine is the longest line ReadLine takes, as much as ward takes on
// standard input for a value.
const MaxLine = 1 << 20

// ErrLineTooLong is ReadLine's error for a line over MaxLine bytes.
var ErrLineTooLong = errors.New("the line is over 1 MiB")

// ReadLine reads a line from terminal f, which HideInput has set, without
// its newline, editing it by the terminal's keys as its canonical mode
// would (stty erase, kill, werase, lnext; a backspace erases a whole
// UTF-8 character). Ctrl-D on an empty line ends it with io.EOF (and on
// a line typed, a second Ctrl-D in a row ends the line, as a terminal
// hands a line over): golang.org/x/term's ReadPassword, which ward used,
// took the read of nothing that a terminal's end of input is for no
// input yet and read again, so Ctrl-D at a hidden prompt did nothing.
// A receive on restart (ward stopped by Ctrl-Z and continued) drops what
// was typed before it, as the terminal's signal keys flush its input.
func ReadLine(f *os.File, restart <-chan struct{}) ([]byte, error) {
	fd := int(f.Fd())
	var keys unix.Termios
	if t, err := unix.IoctlGetTermios(fd, getTermios); err == nil {
		keys = *t
	}
	key := func(b byte, i int) bool { c := keys.Cc[i]; return c != 0 && c != 0xff && b == c }
	// A byte at a time: what follows the line's end (a paste's next
	// lines) stays in the terminal for DiscardInput to find.
	var b [1]byte
	line := make([]byte, 0, 256)
	drop := func() {
		clear(line)
		line = line[:0]
	}
	eofs, literal := 0, false
	for {
		n, err := unix.Read(fd, b[:])
		if err == unix.EINTR {
			continue
		}
		select {
		case <-restart:
			drop()
			eofs, literal = 0, false
		default:
		}
		switch {
		case err != nil:
			drop()
			return nil, err
		case n == 0 && len(line) == 0:
			// The terminal hung up, or another program set it canonical.
			return nil, io.EOF
		case n == 0:
			return line, nil
		}
		eof := !literal && key(b[0], unix.VEOF)
		switch {
		case literal:
			literal = false
			line = appendClearing(line, b[0])
		case eof && len(line) == 0:
			return nil, io.EOF
		case eof && eofs == 1, !eof && (b[0] == '\n' || key(b[0], unix.VEOL) || key(b[0], unix.VEOL2)):
			b[0] = 0
			return line, nil
		case eof:
		case key(b[0], unix.VLNEXT):
			literal = true
		case b[0] == '\b' || key(b[0], unix.VERASE):
			line = eraseChar(line)
		case key(b[0], unix.VKILL):
			drop()
		case key(b[0], unix.VWERASE):
			line = eraseWord(line)
		case b[0] == '\r':
		default:
			line = appendClearing(line, b[0])
		}
		b[0] = 0
		if eof {
			eofs++
		} else {
			eofs = 0
		}
		if len(line) > MaxLine {
			// The rest of the line is read and dropped to its end, which
			// may be arriving yet (a paste written in chunks): what comes
			// after it is DiscardInput's.
			drop()
			for {
				n, err := unix.Read(fd, b[:])
				if err == unix.EINTR {
					continue
				}
				if err != nil || n == 0 || b[0] == '\n' || key(b[0], unix.VEOL) || key(b[0], unix.VEOL2) {
					b[0] = 0
					return nil, ErrLineTooLong
				}
			}
		}
	}
}

// appendClearing appends c to line, clearing the old array when it has
// to be moved: a secret's bytes are not left behind in freed memory.
func appendClearing(line []byte, c byte) []byte {
	if len(line) < cap(line) {
		return append(line, c)
	}
	grown := make([]byte, len(line), 2*cap(line)+1)
	copy(grown, line)
	clear(line)
	return append(grown, c)
}

// eraseChar drops line's last character, the whole of a UTF-8 one.
func eraseChar(line []byte) []byte {
	if len(line) == 0 {
		return line
	}
	_, size := utf8.DecodeLastRune(line)
	clear(line[len(line)-size:])
	return line[:len(line)-size]
}

// eraseWord drops line's last word and the blanks after it, as a
// terminal's werase key (Ctrl-W) does.
func eraseWord(line []byte) []byte {
	end := len(line)
	for end > 0 && (line[end-1] == ' ' || line[end-1] == '\t') {
		end--
	}
	for end > 0 && line[end-1] != ' ' && line[end-1] != '\t' {
		end--
	}
	clear(line[end:])
	return line[:end]
}

// Keys are the settings of a terminal that its user chose for the
// keyboard (stty erase ^H for a backspace that sends ^H, intr, werase,
// iutf8 to erase a whole UTF-8 character, -ixon to keep Ctrl-S for the
// program), which a pseudo-terminal standing in for it should have: the
// kernel gives a new one its defaults. Not its modes (raw, echo), which
// the program that has the terminal sets, nor ICRNL and VLNEXT, which a
// shell's line editor (readline) changes while it has it.
type Keys struct{ t *unix.Termios }

// keyChars are the control characters Keys carries.
var keyChars = []int{unix.VINTR, unix.VQUIT, unix.VERASE, unix.VKILL, unix.VEOF, unix.VSUSP, unix.VWERASE, unix.VREPRINT, unix.VSTART, unix.VSTOP}

// KeysOf returns the Keys of terminal f; none if f is not a terminal.
func KeysOf(f *os.File) Keys {
	t, err := unix.IoctlGetTermios(int(f.Fd()), getTermios)
	if err != nil {
		return Keys{}
	}
	return Keys{t}
}

// Apply gives terminal to the settings k holds.
func (k Keys) Apply(to *os.File) error {
	if k.t == nil {
		return nil
	}
	t, err := unix.IoctlGetTermios(int(to.Fd()), getTermios)
	if err != nil {
		return err
	}
	for _, i := range keyChars {
		t.Cc[i] = k.t.Cc[i]
	}
	t.Iflag = t.Iflag&^keyInputFlags | k.t.Iflag&keyInputFlags
	return unix.IoctlSetTermios(int(to.Fd()), setTermios, t)
}

// NoOutputProcessing turns off the output processing of terminal f (a
// child's pty), its "\n" to "\r\n" among it, for a child whose output
// goes on to a terminal that processes it itself.
func NoOutputProcessing(f *os.File) error {
	t, err := unix.IoctlGetTermios(int(f.Fd()), getTermios)
	if err != nil {
		return err
	}
	t.Oflag &^= unix.OPOST
	return unix.IoctlSetTermios(int(f.Fd()), setTermios, t)
}

// LineEnds are the bytes that end a line of a cooked read: "\n" and the
// terminal's eol and eol2 keys, when set.
func (k Keys) LineEnds() []byte {
	ends := []byte{'\n'}
	if k.t != nil {
		for _, c := range []byte{k.t.Cc[unix.VEOL], k.t.Cc[unix.VEOL2]} {
			if c != 0 && c != 0xff {
				ends = append(ends, c)
			}
		}
	}
	return ends
}

// EOF is the end-of-input key (stty eof: Ctrl-D unless changed).
func (k Keys) EOF() byte {
	if k.t == nil || k.t.Cc[unix.VEOF] == 0 {
		return 4
	}
	return k.t.Cc[unix.VEOF]
}

// KeySignal returns the signal a key in b sends on terminal f by its
// settings (stty isig, intr, quit, susp), if one does.
func KeySignal(f *os.File, b []byte) (syscall.Signal, bool) {
	if f == nil {
		return 0, false
	}
	var t *unix.Termios
	var err error
	// Control, not Fd: Fd would put f in blocking mode.
	if c, cerr := f.SyscallConn(); cerr != nil || c.Control(func(fd uintptr) {
		t, err = unix.IoctlGetTermios(int(fd), getTermios)
	}) != nil || err != nil || t.Lflag&unix.ISIG == 0 {
		return 0, false
	}
	for _, k := range b {
		switch {
		case k == 0: // _POSIX_VDISABLE: a key turned off
		case k == t.Cc[unix.VINTR]:
			return syscall.SIGINT, true
		case k == t.Cc[unix.VQUIT]:
			return syscall.SIGQUIT, true
		case k == t.Cc[unix.VSUSP]:
			return syscall.SIGTSTP, true
		}
	}
	return 0, false
}

// SignalForeground sends sig to the foreground process group of terminal
// f (a pty's master: its other side's), as its line discipline does for
// a key.
func SignalForeground(f *os.File, sig syscall.Signal) {
	if c, err := f.SyscallConn(); err == nil {
		c.Control(func(fd uintptr) {
			if pgrp, err := IoctlInt(int(fd), unix.TIOCGPGRP); err == nil && pgrp > 0 {
				unix.Kill(-pgrp, sig)
			}
		})
	}
}

// Writer returns a writer for ward's own lines (its log, its error report)
// to f: when f is a terminal, one whose writes go through as
// TerminalWriter's do, and whose line feeds return to the first column
// while the terminal's output is raw (--mask makes ward's terminal raw
// to pass every key to the child's pty, and a lone "\n" there starts the
// next line where the last one ended); f itself otherwise. Not for the
// child's output, which the pty has already given its "\r\n" (and in
// which a full-screen program's "\n" moves the cursor down, no more).
func Writer(f *os.File) io.Writer {
	if _, err := unix.IoctlGetTermios(int(f.Fd()), getTermios); err != nil {
		return f
	}
	return linesWriter{f}
}

type linesWriter struct{ f *os.File }

func (w linesWriter) Write(b []byte) (int, error) {
	t, err := unix.IoctlGetTermios(int(w.f.Fd()), getTermios)
	if err != nil || t.Oflag&unix.OPOST != 0 || !bytes.Contains(b, []byte("\n")) {
		return backgroundWrite(w.f, b)
	}
	if _, err := backgroundWrite(w.f, bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(b), nil
}

// TerminalWriter returns a writer to terminal f whose every write goes
// through, even while ward is in the background of f under `stty tostop`:
// ward catches SIGTTOU, so the kernel's way of stopping a background
// writer there would restart the write for ever, a CPU spun and the line
// never written; ward's own lines are few, and better shown than held.
func TerminalWriter(f *os.File) io.Writer { return terminalWriter{f} }

type terminalWriter struct{ f *os.File }

func (w terminalWriter) Write(b []byte) (int, error) { return backgroundWrite(w.f, b) }

// ForegroundGroup returns the foreground process group of terminal f.
func ForegroundGroup(f *os.File) (int, bool) {
	if f == nil {
		return 0, false
	}
	fg, err := IoctlInt(int(f.Fd()), unix.TIOCGPGRP)
	return fg, err == nil
}

// SetForeground makes pgid the foreground process group of terminal f.
// ward may be in the background when it does (taking the terminal back
// from a stopped child), and a background process that sets the
// foreground group is sent SIGTTOU unless it ignores it: ward ignores it
// for the call.
func SetForeground(f *os.File, pgid int) error {
	signal.Ignore(syscall.SIGTTOU)
	defer notifyAgain(syscall.SIGTTOU)
	for {
		err := unix.IoctlSetPointerInt(int(f.Fd()), unix.TIOCSPGRP, pgid)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// WindowSize returns the size of terminal f, for telling whether it
// changed while the child was stopped.
func WindowSize(f *os.File) (rows, cols uint16, ok bool) {
	if f == nil {
		return 0, 0, false
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0, 0, false
	}
	return ws.Row, ws.Col, true
}

// StopSelf stops ward with sig (SIGTSTP, SIGTTIN or SIGTTOU, the signal
// that stopped the child) and returns once ward is continued (SIGCONT:
// the shell's fg or bg). The shell sees ward's job stopped with the same
// signal the child was, so `jobs` and the prompt read as for any program.
// ward catches these signals, so it restores their default action for the
// moment it stops itself.
func StopSelf(sig syscall.Signal) { stopSelf(sig, nil, nil) }

// StopSelfInBackground is StopSelf if ward is in the background of its
// terminal f, looked at as the last thing before the stop. A look taken
// earlier can be stale by then: ward stopped meanwhile with its job (the
// child's stop for the same output, followed) and continued by a fg,
// which then stopped it a second time in the foreground, its output held
// (the race detector's ward, 2 runs in 25 beside two busy loops).
func StopSelfInBackground(sig syscall.Signal, f *os.File) {
	stopSelf(sig, nil, func() bool { return InBackground(f) })
}

// StopSelfAndGroup is StopSelf, and stops the rest of ward's process
// group with sig too (see SignalOwnGroup): the rest of a shell's job, a
// script that runs ward or a `| tee log`, which a terminal's stop of the
// child's group alone never reached. ward's own stop is made pending
// first, the signal blocked, and taken once the others are sent theirs:
// stopped before ward, the script let the shell report the job stopped,
// and a fg typed at once sent its SIGCONT to a ward not yet stopped,
// which then stopped for good, the terminal the script's (1 try in 16 on
// two busy cores). A SIGCONT now discards the pending stop, as the
// kernel does for any process.
func StopSelfAndGroup(sig syscall.Signal) {
	stopSelf(sig, func() { SignalOwnGroup(sig) }, nil)
}

func stopSelf(sig syscall.Signal, others func(), cond func() bool) {
	if sig != syscall.SIGTSTP && sig != syscall.SIGTTIN && sig != syscall.SIGTTOU || GroupOrphaned() {
		// The kernel discards the terminal stop signals for an orphaned
		// group (a service's ward, PID 1): whoever stopped the child
		// means ward to stop too, and will send the SIGCONT.
		sig = syscall.SIGSTOP
	}
	// signal.Reset keeps Go's handler installed (it drops what nobody
	// listens for), so the default action, stop, is set and put back
	// around the kill by hand, as sudo and script do.
	if sig != syscall.SIGSTOP {
		restore := defaultAction(sig)
		defer restore()
	}
	if cond != nil && !cond() {
		return
	}
	// Sent to this very thread, the stop takes it before the call
	// returns (the whole process with it), and it returns once SIGCONT
	// arrives. Sent to the process, another thread could take it while
	// this one runs on and puts Go's handler back, which would drop it.
	raise(sig, others)
}

// notifyAgain delivers sig to Notify's channel again after a Reset or an
// Ignore.
func notifyAgain(sig syscall.Signal) {
	if notified != nil {
		signal.Notify(notified, sig)
	}
}
