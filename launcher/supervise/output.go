package supervise

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/wardsecrets/ward/internal/syshint"
	"github.com/wardsecrets/ward/launcher/mask"
	"github.com/wardsecrets/ward/signals"
)

// maskedIO gives one child masked stdout and stderr: pipes when ward's
// output is not a terminal (one for both when ward's stdout and stderr are
// the same file), a pseudo-terminal when it is (so colours, line editing,
// window size and Ctrl-C keep working).
type maskedIO struct {
	// files are the child's stdin, stdout, stderr.
	files []*os.File
	// session: the child starts in its own session with files[ctty] as
	// its controlling terminal (the pty case).
	session bool
	ctty    int
	master  *os.File
	// input reads ward's terminal for the pty's master, nil when ward
	// does not.
	input *ptyInput

	closeAfterStart []*os.File
	relays          []*relay
	done            sync.WaitGroup
	toClose         []*os.File
	// outputStops asks the supervisor to stop the job: output waits for
	// a terminal that stops background writers (see waitForTerminal).
	// ending is set once the child is gone: what is left goes out.
	outputStops chan<- struct{}
	ending      atomic.Bool
	// commands follows the CI runner's workflow commands in the output,
	// nil when no values are registered with a runner.
	commands *mask.Commands
	// log says why a relay stopped, when its output could not be
	// written for another reason than a reader that is gone, and lost
	// keeps the first such error, for ward's exit (see
	// supervisor.outputCut).
	log  *slog.Logger
	lost *atomic.Pointer[error]
}

// relay copies one of the child's streams, masked, into ward's own.
type relay struct {
	src *os.File
	// busy is set from a read that returned until the relay reads
	// again: while it masks what it read and writes it to ward's output
	// (which a slow reader can hold up). Only a relay that is not busy
	// waits in a read. moved is the time of its last progress
	// (UnixNano).
	busy  atomic.Bool
	moved atomic.Int64
	// read counts the bytes read from src; chunk is the size of its
	// reads, the most one can have taken from src and not yet counted.
	read, chunk atomic.Int64
	// ended is set when the relay's goroutine is done; closed is when
	// finish closed its quiet source (UnixNano), 0 before.
	ended  atomic.Bool
	closed int64
}

// ptyInput relays ward's terminal input to the current child's pty. One
// reader of ward's terminal serves every child ward starts (restarts
// too). It reads through an open of its own of the terminal, in
// non-blocking mode, so that a job-control stop can take the read back:
// a read left pending while the shell has the terminal would steal the
// user's keystrokes from the shell.
type ptyInput struct {
	mu      sync.Mutex
	master  *os.File
	restore func() error
	started bool
	raw     bool
	// term is ward's terminal: its stdin, or its stdout when stdin is a
	// file; screen is ward's stdout, whose size the pty takes.
	term, screen *os.File
	// keys are the user's settings of ward's terminal, which each
	// child's pty takes, read once, before ward made it raw.
	keys     signals.Keys
	keysRead bool
	// tty is ward's own open of its terminal; resumed wakes the reader
	// after a stop.
	tty     *os.File
	resumed chan struct{}
	// away counts the suspensions (and stop), so that a watch for the
	// foreground ends when ward stops again or exits; held is set once
	// the last child is gone (see hold).
	away int
	held bool
	// queue holds what was read for the pty, in order, and writing is
	// set while a write to it waits: the reader goes on reading while
	// the pty takes no more, to see a Ctrl-C (see send).
	queue   chan []byte
	writing atomic.Bool
	// drained is set once what waited in the cooked terminal was read
	// (see drainCooked).
	drained bool
	// guard is the run's guard, once started; mode is the line that
	// tells it the terminal's modes to put back should ward be killed
	// while it is raw (see tellGuard), "" when they cannot be said.
	guard *guard
	mode  string
}

func (in *ptyInput) setMaster(m *os.File) {
	in.mu.Lock()
	in.master = m
	in.mu.Unlock()
}

// dropMaster forgets m, a child's pty master about to be closed, unless
// the next child's took its place: takeTerminal's size copy (a fg as
// the last output waited for the terminal) used it as it was closed.
func (in *ptyInput) dropMaster(m *os.File) {
	in.mu.Lock()
	if in.master == m {
		in.master = nil
	}
	in.mu.Unlock()
}

// hold stops reading ward's terminal, its modes left as they are until
// stop: the last child is gone, and what is typed from now on (the next
// command, typed as soon as the child's last output shows) is left in
// the terminal for the shell, as without ward. It was read and sent to
// the gone child's pty, and lost.
func (in *ptyInput) hold() {
	if in == nil || !in.started {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.held = true
	in.away++
	in.tty.SetReadDeadline(time.Now())
}

// start puts ward's terminal term in raw mode (the pty's line discipline
// does the editing and turns ^C into SIGINT for the child) and copies
// input.
func (in *ptyInput) start(term, screen *os.File) {
	if in.started {
		return
	}
	in.started = true
	in.term, in.screen = term, screen
	in.tty = openOwnTTY(term)
	in.resumed = make(chan struct{}, 1)
	in.queue = make(chan []byte, inputQueue)
	go func() {
		var ready *os.File
		for b := range in.queue {
			in.mu.Lock()
			m := in.master
			in.mu.Unlock()
			if m != nil {
				if m != ready {
					waitChildForeground(m)
					ready = m
				}
				in.writing.Store(true)
				m.Write(b)
				in.writing.Store(false)
			}
		}
	}()
	go func() {
		// Nothing is read until ward has the terminal: started in the
		// background (cmd &), a read would get SIGTTIN, which ward
		// catches, and the kernel would restart it for ever.
		<-in.resumed
		buf := make([]byte, 4096)
		for {
			n, err := in.read(buf)
			if n > 0 {
				in.send(append([]byte(nil), buf[:n]...))
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// Suspended: wait until ward has the terminal again.
				<-in.resumed
				continue
			}
			if err != nil {
				return
			}
		}
	}()
	// Raw mode and reading now if ward is in the foreground, else from
	// the fg that gives it the terminal.
	in.resume()
}

// read reads ward's terminal when there is a child's pty to give what
// it reads: while the child's session is gone (its pty hung up: the
// child has ended and ward is about to, or to start the next), what is
// typed (the next command, as the child's last output shows) is left in
// the terminal, for the shell or the next child, and looked at again
// every childGonePoll. It was read and lost.
func (in *ptyInput) read(b []byte) (int, error) {
	rc, err := in.tty.SyscallConn()
	if err != nil {
		return 0, err
	}
	for {
		var n int
		var rerr error
		gone := false
		err := rc.Read(func(fd uintptr) bool {
			if gone = in.childGone(); gone {
				return true
			}
			n, rerr = unix.Read(int(fd), b)
			return rerr != unix.EAGAIN && rerr != unix.EINTR
		})
		switch {
		case err != nil:
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, err
			}
			return 0, os.ErrClosed
		case gone:
			time.Sleep(childGonePoll) // no event says a pty's next session began
			continue
		case rerr != nil:
			return 0, rerr
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// childGonePoll is how often ward's terminal reader looks whether a
// child's pty takes input again.
const childGonePoll = 20 * time.Millisecond

// childGone reports whether there is no child's pty to take input: none,
// or its other side closed (the child's session ended).
func (in *ptyInput) childGone() bool {
	in.mu.Lock()
	m := in.master
	in.mu.Unlock()
	if m == nil {
		return true
	}
	rc, err := m.SyscallConn()
	if err != nil {
		return true
	}
	hup := false
	if rc.Control(func(fd uintptr) {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(p, 0); err == nil && n > 0 {
			hup = p[0].Revents&unix.POLLHUP != 0
		}
	}) != nil {
		return true
	}
	return hup
}

// waitChildForeground waits, a second at most, until the pty's foreground
// is the child's group, its program exec'd, before the first keys go to
// a new child's pty. A Ctrl-Z typed before (the first milliseconds of a
// run) reached the session leader's own group, orphaned, whose stops the
// kernel discards, and was lost; or the child forked for the program,
// stopped before its exec, and the leader waited on that exec for good.
// Through SyscallConn: the master may be closed meanwhile (the child
// gone), and Fd raced with that Close (the race detector's ward, keys
// typed as the last output showed).
func waitChildForeground(m *os.File) {
	rc, err := m.SyscallConn()
	if err != nil {
		return
	}
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		started := false
		if rc.Control(func(fd uintptr) { started = signals.ForegroundStarted(int(fd)) }) != nil || started {
			return
		}
		time.Sleep(time.Millisecond) // polling the pty's foreground, with a deadline
	}
}

// inputQueue is how many reads of ward's terminal (up to 4 KiB each) wait
// for the pty at most; beyond, the reader waits too, and what is typed
// waits in the terminal.
const inputQueue = 256

// send queues b for the pty. While earlier input waits there (a child
// that does not read its terminal, and lines pasted by mistake filled
// its input), the kernel reads nothing more, not even the interrupt,
// quit and suspend keys: ward does what the pty's line discipline would
// on them, it signals the pty's foreground group and discards the input
// that waits.
func (in *ptyInput) send(b []byte) {
	if in.writing.Load() || len(in.queue) > 0 {
		in.mu.Lock()
		m := in.master
		in.mu.Unlock()
		if sig, ok := signals.KeySignal(m, b); ok {
			for len(in.queue) > 0 {
				<-in.queue
			}
			signals.SignalForeground(m, sig)
			return
		}
	}
	in.queue <- b
}

// openOwnTTY opens ward's terminal anew, so that its non-blocking mode
// (which lets a read be interrupted) is not shared with the shell's open
// of it; stdin itself when that fails. It opens the device stdin is
// (/proc/self/fd/0 names it, as ttyname does): /dev/tty would be the same
// terminal, but its fstat names /dev/tty itself, so it cannot be checked
// against stdin. Reading stdin itself cannot be taken back: a read left
// pending in the background would spin on SIGTTIN.
func openOwnTTY(stdin *os.File) *os.File {
	name, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(stdin.Fd())))
	if err != nil || !strings.HasPrefix(name, "/dev/") {
		return stdin
	}
	f, err := os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return stdin
	}
	// Stat, not Fd: Fd would put the new open back in blocking mode,
	// where no deadline can take a pending read back.
	if !sameDevice(f, stdin) {
		f.Close()
		return stdin
	}
	return f
}

// sameFile reports whether a and b are the same file (device and inode),
// as ward's stdout and stderr are after 2>&1.
func sameFile(a, b *os.File) bool {
	if a == nil || b == nil {
		return false
	}
	sa, errA := a.Stat()
	sb, errB := b.Stat()
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// sameDevice reports whether a and b are opens of one device.
func sameDevice(a, b *os.File) bool {
	sa, errA := a.Stat()
	sb, errB := b.Stat()
	if errA != nil || errB != nil {
		return false
	}
	ra, okA := sa.Sys().(*syscall.Stat_t)
	rb, okB := sb.Sys().(*syscall.Stat_t)
	return okA && okB && ra.Rdev == rb.Rdev
}

func (in *ptyInput) makeRaw(stdin *os.File) {
	saved, ok := signals.TerminalMode(stdin)
	restore, err := mask.MakeRaw(stdin)
	if err != nil {
		return
	}
	in.restore, in.raw, in.mode = restore, true, ""
	raw, ok2 := signals.TerminalMode(stdin)
	if path := terminalPath(stdin); ok && ok2 && path != "" {
		in.mode = "M " + path + " " + saved + " " + raw
	}
	in.tellGuard()
}

// setGuard gives in the run's guard, once it has started.
func (in *ptyInput) setGuard(g *guard) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.guard = g
	if in.raw {
		in.tellGuard()
	}
}

// tellGuard tells the guard, in.mu held, whether ward's terminal is raw,
// and if so what to put back should ward be killed: a SIGKILL (an IDE's
// stop, timeout -k, the OOM killer) left it raw under a shell that does
// not put a job's modes back itself (a script; sh, dash), every key
// unechoed and Ctrl-C a plain byte, until a blind `stty sane`.
func (in *ptyInput) tellGuard() {
	if in.raw && in.mode != "" {
		in.guard.say("%s", in.mode)
		return
	}
	in.guard.say("M")
}

// terminalPath is the path of terminal f's device ("/dev/pts/3"), "" when
// it cannot be said in one word.
func terminalPath(f *os.File) string {
	name, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil || !strings.HasPrefix(name, "/dev/") || strings.ContainsAny(name, " \t\n") {
		return ""
	}
	return name
}

// suspend gives ward's terminal back as it was and takes back the pending
// read, while ward is stopped (job control): the terminal is the shell's.
func (in *ptyInput) suspend() {
	if in == nil || !in.started {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.away++
	if in.raw && in.restore != nil {
		in.restore()
		in.raw = false
		in.tellGuard()
	}
	in.tty.SetReadDeadline(time.Now())
}

// resume puts the terminal back in raw mode and reads it again after a
// stop, if ward is in the foreground again (fg). After bg the terminal is
// the shell's, and ward leaves it alone until a fg gives it back: that fg
// sends a job that runs already no signal (bash only hands it the
// terminal), so ward looks every foregroundPoll whether it has it.
func (in *ptyInput) resume() {
	if in == nil || !in.started {
		return
	}
	in.mu.Lock()
	away := in.away
	in.mu.Unlock()
	if in.takeTerminal(away) {
		return
	}
	go func() {
		t := time.NewTicker(foregroundPoll)
		defer t.Stop()
		for range t.C {
			in.mu.Lock()
			stale := in.away != away
			in.mu.Unlock()
			if stale || in.takeTerminal(away) {
				return
			}
		}
	}()
}

// foregroundPoll is how often ward, continued in the background, looks
// whether a fg gave it the terminal.
const foregroundPoll = 100 * time.Millisecond

// takeTerminal makes the terminal raw, gives the pty its size and reads
// it again if ward may (is not in the background of it) and was not
// suspended or stopped since away.
func (in *ptyInput) takeTerminal(away int) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.away != away || signals.InBackground(in.term) {
		return false
	}
	if !in.raw {
		if !in.drained {
			in.drained = true
			in.drainCooked()
		}
		in.makeRaw(in.term)
	}
	if in.held {
		// The last child is gone: the terminal raw for what is left of
		// its output, nothing read (see hold).
		return true
	}
	if in.master != nil {
		// The window may have changed while ward ran in the background,
		// where the shell, not ward, got the SIGWINCH: the pty takes the
		// size again, and the kernel signals the child if it changed.
		mask.InheritSize(in.screen, in.master)
	}
	in.tty.SetReadDeadline(time.Time{})
	select {
	case in.resumed <- struct{}{}:
	default:
	}
	return true
}

// drainCooked passes on what waits in ward's terminal, still cooked, as
// ward first makes it raw: lines typed, and an end of input (Ctrl-D, or
// script's when its own input ended: script -qec CMD < /dev/null, a CI
// job's way to a terminal) as the child's pty's end-of-input key. The
// kernel gave a pending end of input to the raw reader as a NUL byte,
// and the child, given a NUL where its input ended, waited for ever.
// Called with in.mu held, before the reader reads.
func (in *ptyInput) drainCooked() {
	c, err := in.term.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 4096)
	queue := func(b []byte) {
		select {
		case in.queue <- b:
		default:
		}
	}
	eol := in.keys.LineEnds()
	// Until nothing waits (bounded, should a writer keep writing).
	for range 1 << 16 {
		var n int
		var rerr error
		ready := false
		// Control, not Fd: Fd would put the terminal in blocking mode.
		c.Control(func(fd uintptr) {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if k, err := unix.Poll(fds, 0); err != nil || k == 0 || fds[0].Revents&unix.POLLIN == 0 {
				return
			}
			ready = true
			n, rerr = unix.Read(int(fd), buf)
		})
		switch {
		case !ready || rerr != nil:
			return
		case n == 0:
			queue([]byte{in.keys.EOF()})
		case bytes.IndexByte(eol, buf[n-1]) < 0:
			// A part of a line pushed with the end-of-input key
			// (abc, then Ctrl-D): pushed on the pty with it too. As
			// bytes alone, the pty took the next end of input for
			// their push, not for the end.
			queue(append(append([]byte(nil), buf[:n]...), in.keys.EOF()))
		default:
			queue(append([]byte(nil), buf[:n]...))
		}
	}
}

// continued takes a SIGCONT of ward's that did not end a stop of its own
// (kill -STOP, then kill -CONT, of ward): the shell took the terminal and
// its modes back at the stop, and ward, continued in the background of
// it, read it on, each read stopped by a SIGTTIN and restarted, at full
// CPU, until a fg, after which the terminal stayed cooked (every key
// echoed twice, a full-screen program given none until Enter). The read
// is taken back until ward has the terminal again, as after a stop of
// its own, and the terminal made raw again then. Its modes are the
// shell's: not restored from the background (a SIGTTOU).
func (in *ptyInput) continued() {
	if in == nil || !in.started {
		return
	}
	in.mu.Lock()
	if !signals.InBackground(in.term) {
		in.mu.Unlock()
		return
	}
	in.away++
	if in.raw {
		in.raw = false
		in.tellGuard()
	}
	in.tty.SetReadDeadline(time.Now())
	in.mu.Unlock()
	in.resume()
}

// stop gives ward's terminal back as it was.
func (in *ptyInput) stop() {
	if in == nil {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.away++
	if in.raw && in.restore != nil {
		in.restore()
		in.raw = false
		in.tellGuard()
	}
}

func isTerminal(f *os.File) bool { return f != nil && term.IsTerminal(int(f.Fd())) }

// newMaskedIO prepares the child's streams and starts the relays that
// mask them into ward's own.
func newMaskedIO(stdin, stdout, stderr *os.File, p *mask.Source, commands *mask.Commands, input *ptyInput, outputStops chan<- struct{}, log *slog.Logger, lost *atomic.Pointer[error]) (*maskedIO, error) {
	m := &maskedIO{outputStops: outputStops, commands: commands, log: log, lost: lost}
	pipe := func(dst *os.File) (*os.File, error) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		growPipe(w)
		m.closeAfterStart = append(m.closeAfterStart, w)
		m.toClose = append(m.toClose, r)
		m.relay(dst, r, p)
		return w, nil
	}
	if isTerminal(stdout) {
		master, slave, err := mask.OpenPTY()
		if err != nil {
			return nil, err
		}
		mask.InheritSize(stdout, master)
		if !input.keysRead {
			// Before ward's terminal is raw, which clears some of them.
			input.keys, input.keysRead = signals.KeysOf(userTerminal(stdin, stdout)), true
		}
		input.keys.Apply(slave)
		m.master = master
		m.session = true
		m.closeAfterStart = append(m.closeAfterStart, slave)
		m.toClose = append(m.toClose, master)
		m.files = []*os.File{stdin, slave, nil}
		m.ctty = 1
		// ward reads the terminal for the pty, raw, unless other
		// commands of its process group share it (a `make -j`'s other
		// recipes): the Ctrl-C byte went to whichever ward read it, and
		// the other recipes ran on. There the child reads the terminal
		// itself, as those do, and Ctrl-C reaches every ward's group.
		var keys *os.File // the terminal ward reads for the pty
		if isTerminal(stdin) && !signals.GroupShared() {
			m.files[0] = slave
			m.ctty = 0
			keys = stdin
		} else if keyboardFree(stdin, stdout) {
			// stdin a file: what is typed still goes to the pty, where
			// a program that reads /dev/tty waits for it (a password
			// prompt, less's keys).
			keys = stdout
		} else {
			// ward's terminal stays as the user has it, line ends
			// made "\r\n" there: the pty leaves the child's as they
			// are, or each came out "\r\r\n" (printf 'a\nb\n' |
			// ward run --mask -- cat, in a script's log).
			signals.NoOutputProcessing(slave)
		}
		if keys != nil {
			input.setMaster(master)
			m.input = input
			input.start(keys, stdout)
		}
		m.relay(stdout, master, p)
		if isTerminal(stderr) {
			m.files[2] = slave
		} else {
			w, err := pipe(stderr)
			if err != nil {
				return nil, err
			}
			m.files[2] = w
		}
		return m, nil
	}
	wOut, err := pipe(stdout)
	if err != nil {
		return nil, err
	}
	if sameFile(stdout, stderr) {
		// 2>&1 to a pipe or a file: one pipe for both, relayed once, so
		// the child's writes keep their order as without --mask. Two
		// relays would pass them on in whatever order they ran, and a
		// tail one of them held back would come out after the other's
		// next line.
		m.files = []*os.File{stdin, wOut, wOut}
		return m, nil
	}
	wErr, err := pipe(stderr)
	if err != nil {
		return nil, err
	}
	m.files = []*os.File{stdin, wOut, wErr}
	return m, nil
}

// userTerminal returns the terminal the user types at: stdin, or stdout
// when stdin is not one.
func userTerminal(stdin, stdout *os.File) *os.File {
	if isTerminal(stdin) {
		return stdin
	}
	return stdout
}

// keyboardFree reports whether ward may read the terminal stdout is, for
// a child whose stdin is not a terminal: stdout must be ward's controlling
// terminal (not one ward only writes to), and stdin no pipe, since
// another program of ward's pipeline may read the terminal itself
// (sudo or ssh asking for a password before `| ward run`), and ward,
// reading it too, would take its keys and show them.
func keyboardFree(stdin, stdout *os.File) bool {
	if isTerminal(stdin) {
		// Relayed as stdin, or not at all.
		return false
	}
	if stdin != nil {
		if st, err := stdin.Stat(); err == nil && st.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0 {
			return false
		}
	}
	// Nor beside another recipe of a `make -j` (see newMaskedIO). Last:
	// it may read every process's stat.
	return signals.IsControllingTerminal(stdout) && !signals.GroupShared()
}

// relay starts copying src, masked, into dst.
func (m *maskedIO) relay(dst *os.File, src *os.File, p *mask.Source) {
	r := &relay{src: src}
	r.moved.Store(time.Now().UnixNano())
	m.relays = append(m.relays, r)
	m.done.Add(1)
	pw := &progressWriter{w: dst, r: r}
	if isTerminal(dst) {
		pw.w, pw.term, pw.stops, pw.ending = signals.TerminalWriter(dst), dst, m.outputStops, &m.ending
	}
	// A full dst made non-blocking by a process sharing it (EAGAIN)
	// is a slow reader, not a reader gone: the copy waits for it.
	pw.w = signals.PatientWriter(dst, pw.w)
	var out io.Writer = pw
	if m.commands != nil {
		out = m.commands.Writer(dst, pw)
	}
	go func() {
		defer m.done.Done()
		defer r.ended.Store(true)
		w := mask.NewSourceWriter(out, p)
		if err := mask.Copy(w, &progressReader{f: src, r: r}); err != nil {
			// Output gone (a closed pipe, a reader that quit): the child
			// gets EPIPE, as it would without masking. Output that cannot
			// be written for another reason (a file at the file-size
			// limit, a full disk) ends the same way, and ward says why:
			// the child's death of SIGPIPE alone reads as a reader gone,
			// and ward's exit says the output is not whole. (EIO is a
			// terminal hung up, ECONNRESET a socket's reader that quit:
			// readers gone too.) A source
			// closed under the read is finish's doing: the child and its
			// group are gone and a daemon it started in a session of its
			// own (setsid -f, pg_ctl start) holds the other end, quiet;
			// nothing was cut off.
			if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.EIO) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, os.ErrClosed) {
				if m.log != nil {
					m.log.Error("the child's output cannot be written: it is cut off here, and the child's next write to it fails (EPIPE)", "error", err.Error(), "hint", syshint.For(err))
				}
				if m.lost != nil {
					m.lost.CompareAndSwap(nil, &err)
				}
			}
			src.Close()
		}
		w.Close()
	}()
}

// progressReader and progressWriter record a relay's progress, so finish
// can tell a relay still moving output from one whose source went quiet.
type progressReader struct {
	f *os.File
	r *relay
}

func (p *progressReader) Read(b []byte) (int, error) {
	if int64(len(b)) > p.r.chunk.Load() {
		p.r.chunk.Store(int64(len(b)))
	}
	p.r.busy.Store(false)
	n, err := p.f.Read(b)
	p.r.busy.Store(true)
	if n > 0 {
		if hookTaken != nil {
			hookTaken()
		}
		p.r.read.Add(int64(n))
		p.r.moved.Store(time.Now().UnixNano())
		if hookRead != nil {
			hookRead()
		}
	}
	return n, err
}

// hookTaken, when set by a test, runs in a relay between a read that
// took bytes from its source and their count: a relay descheduled there.
var hookTaken func()

// hookRead, when set by a test, runs in a relay after each read that
// returned bytes: masking that takes its time (a large chunk on a loaded
// machine).
var hookRead func()

type progressWriter struct {
	w io.Writer
	r *relay
	// term is the terminal w writes to, if it is one; stops asks for the
	// job's stop; ending is the maskedIO's.
	term   *os.File
	stops  chan<- struct{}
	ending *atomic.Bool
}

func (p *progressWriter) Write(b []byte) (int, error) {
	if p.term != nil {
		p.waitForTerminal()
	}
	n, err := p.w.Write(b)
	p.r.moved.Store(time.Now().UnixNano())
	return n, err
}

// waitForTerminal holds the output back while ward is in the background
// of a terminal that stops background writers (`stty tostop`), where the
// kernel would answer the write with SIGTTOU, which ward catches, and
// restart it for ever. It asks the supervisor to stop the job instead,
// as the kernel stops a job that writes there itself, and looks again
// every foregroundPoll: ward stopped, nothing runs; continued by fg, the
// output goes out; by bg, the job stops again. Once the child is gone
// (ward is ending), ward is what is left of the job, and the output is
// its own to write: it stops itself with SIGTTOU, as the kernel stops a
// background writer (the child's last line went to the terminal over the
// shell's prompt); where no shell can continue it (an orphaned group),
// or ward was told to stop (kill %1), the rest goes out.
func (p *progressWriter) waitForTerminal() {
	for signals.InBackground(p.term) && signals.StopsBackgroundWriters(p.term) {
		if p.ending.Load() {
			if signals.StoppedBy() != 0 || signals.GroupOrphaned() {
				return
			}
			signals.StopSelfInBackground(syscall.SIGTTOU, p.term)
			continue
		}
		select {
		case p.stops <- struct{}{}:
		default:
		}
		time.Sleep(foregroundPoll)
	}
}

// started closes ward's copies of the child's ends.
func (m *maskedIO) started() {
	for _, f := range m.closeAfterStart {
		f.Close()
	}
}

// quietFor is how long a relay's source must stay empty, after the child
// and its group are gone, before ward stops reading it: only a process
// outside the child's group (a daemon that called setsid) can still hold
// the other end then.
const quietFor = 200 * time.Millisecond

// finish waits until the relays have passed on everything the child
// wrote: for as long as they move output, however slow ward's reader is
// (only a reader that is gone ends a relay early). A relay whose source
// holds nothing more and has been quiet for quietFor is ended, since a
// process outside the child's group may hold its other end open for ever.
// So is one that has read what its source held as finish began (the
// child and its group are gone by then: the rest comes from such a
// process, a daemon that called setsid): a daemon that keeps writing
// (a server's log on stdout) was relayed for as long as it ran, and ward,
// its signals no longer handled, never exited.
func (m *maskedIO) finish() {
	m.ending.Store(true)
	if m.input != nil {
		// Closed below; the child is gone, and keys have nowhere to go.
		m.input.dropMaster(m.master)
	}
	targets := m.targets()
	done := make(chan struct{})
	go func() {
		m.done.Wait()
		close(done)
	}()
	tick := time.NewTicker(quietFor / 4)
	defer tick.Stop()
	for {
		select {
		case <-done:
			for _, f := range m.toClose {
				f.Close()
			}
			return
		case <-tick.C:
			waiting := false
			for i, r := range m.relays {
				switch {
				case r.ended.Load():
				case r.closed == 0 && (r.quiet() || r.readAll(targets[i])):
					r.src.Close()
					r.closed = time.Now().UnixNano()
					waiting = true
				case r.closed == 0 || time.Since(time.Unix(0, r.closed)) < quietFor:
					waiting = true
				case r.busy.Load() || time.Since(time.Unix(0, r.moved.Load())) < quietFor:
					// Closed at its count, it still passes on what it
					// read of the child's to a slow reader.
					waiting = true
				}
			}
			// A relay whose quiet source was closed a quietFor ago and
			// still reads is in a read Close cannot end: the pty's master
			// is in blocking mode (Fd, for its terminal settings), where
			// the read returns only when the kernel says the pty's other
			// side is closed. It had nothing to read, so nothing is lost
			// by not waiting for it; waiting for it, ward once waited
			// for good after tmux ended, its child gone.
			if !waiting {
				for _, f := range m.toClose {
					f.Close()
				}
				return
			}
		}
	}
}

// targets is, for each relay, what it has read and what its source
// holds (-1 when that cannot be told), counted as finish begins, the
// child and its group gone: what the child wrote to it.
func (m *maskedIO) targets() []int64 {
	// The count of what the source held first, then of what was read:
	// a read between the two is counted twice, which waits for more
	// than the child wrote (the quiet end then ends it). One that took
	// its bytes before the first and counts them after the second is
	// missed, a chunk at most (see readAll).
	targets := make([]int64, len(m.relays))
	for i, r := range m.relays {
		targets[i] = -1
		if n, err := unread(r.src); err == nil {
			targets[i] = r.read.Load() + int64(n)
		}
	}
	return targets
}

// readAll reports whether the relay has taken from its source all that
// the child wrote, target being finish's count (see finish; -1 for
// none): it has read that much and its source is empty, or it has read
// a chunk more. The count can miss a chunk the relay had read and not
// yet counted (a relay descheduled in between, on a busy machine): the
// source was closed at the count with that much of the child's output
// in it, and a slow reader lost the end (1,118,208 bytes of 1,200,000
// under the race detector, two runs in three). What the relay has taken
// is passed on after the close.
func (r *relay) readAll(target int64) bool {
	if target < 0 {
		return false
	}
	read := r.read.Load()
	if read < target {
		return false
	}
	if read >= target+r.chunk.Load() {
		return true
	}
	n, err := unread(r.src)
	return err == nil && n == 0
}

// quiet reports whether the relay is waiting on an empty source and has
// moved nothing for quietFor.
func (r *relay) quiet() bool {
	if r.busy.Load() || time.Since(time.Unix(0, r.moved.Load())) < quietFor {
		return false
	}
	n, err := unread(r.src)
	return err != nil || n == 0
}

// unread is how many bytes f, a relay's source, holds unread. Through
// SyscallConn, which holds f open for the call: f.Fd() raced with the
// relay's Close of f on an error (a data race on f's descriptor, which
// could by then be another file's), and put f in blocking mode, where
// finish's Close of a quiet source does not end the relay's read (the
// daemon that holds the pipe's other end keeps it open): the relay's
// goroutine was left blocked in it for good.
func unread(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) { n, ierr = signals.IoctlInt(int(fd), fionread) }); err != nil {
		return 0, err
	}
	return n, ierr
}
