package supervise

import (
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/wardsecrets/ward/launcher/mask"
)

// maskedIO gives one child masked stdout and stderr: pipes when ward's
// output is not a terminal, a pseudo-terminal when it is (so colours, line
// editing, window size and Ctrl-C keep working).
type maskedIO struct {
	// files are the child's stdin, stdout, stderr.
	files []*os.File
	// session: the child starts in its own session with files[ctty] as
	// its controlling terminal (the pty case).
	session bool
	ctty    int
	master  *os.File

	closeAfterStart []*os.File
	relays          sync.WaitGroup
	toClose         []*os.File
}

// ptyInput relays ward's terminal input to the current child's pty. One
// reader of ward's stdin serves every child ward starts (restarts too).
type ptyInput struct {
	mu      sync.Mutex
	master  *os.File
	restore func() error
	started bool
}

func (in *ptyInput) setMaster(m *os.File) {
	in.mu.Lock()
	in.master = m
	in.mu.Unlock()
}

// start puts ward's terminal in raw mode (the pty's line discipline does
// the editing and turns ^C into SIGINT for the child) and copies input.
func (in *ptyInput) start(stdin *os.File) {
	if in.started {
		return
	}
	in.started = true
	if restore, err := mask.MakeRaw(stdin); err == nil {
		in.restore = restore
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := stdin.Read(buf)
			if n > 0 {
				in.mu.Lock()
				m := in.master
				in.mu.Unlock()
				if m != nil {
					m.Write(buf[:n])
				}
			}
			if err != nil {
				return
			}
		}
	}()
}

// stop gives ward's terminal back as it was.
func (in *ptyInput) stop() {
	if in != nil && in.restore != nil {
		in.restore()
	}
}

func isTerminal(f *os.File) bool { return f != nil && term.IsTerminal(int(f.Fd())) }

// newMaskedIO prepares the child's streams and starts the relays that
// mask them into ward's own.
func newMaskedIO(stdin, stdout, stderr *os.File, p *mask.Patterns, input *ptyInput) (*maskedIO, error) {
	m := &maskedIO{}
	relay := func(dst io.Writer, src *os.File) {
		m.relays.Add(1)
		go func() {
			defer m.relays.Done()
			w := mask.NewWriter(dst, p)
			if err := mask.Copy(w, src); err != nil {
				// Output gone (a closed pipe): the child gets EPIPE, as
				// it would without masking.
				src.Close()
			}
			w.Close()
		}()
	}
	pipe := func(dst *os.File) (*os.File, error) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		growPipe(w)
		m.closeAfterStart = append(m.closeAfterStart, w)
		m.toClose = append(m.toClose, r)
		relay(dst, r)
		return w, nil
	}
	if isTerminal(stdout) {
		master, slave, err := mask.OpenPTY()
		if err != nil {
			return nil, err
		}
		mask.InheritSize(stdout, master)
		m.master = master
		m.session = true
		m.closeAfterStart = append(m.closeAfterStart, slave)
		m.toClose = append(m.toClose, master)
		m.files = []*os.File{stdin, slave, nil}
		m.ctty = 1
		if isTerminal(stdin) {
			m.files[0] = slave
			m.ctty = 0
			input.setMaster(master)
			input.start(stdin)
		}
		relay(stdout, master)
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
	wErr, err := pipe(stderr)
	if err != nil {
		return nil, err
	}
	m.files = []*os.File{stdin, wOut, wErr}
	return m, nil
}

// started closes ward's copies of the child's ends.
func (m *maskedIO) started() {
	for _, f := range m.closeAfterStart {
		f.Close()
	}
}

// finish waits for the relays to drain what the child wrote, at most a
// while: a grandchild that outlives the child may hold the output open.
func (m *maskedIO) finish() {
	done := make(chan struct{})
	go func() {
		m.relays.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	for _, f := range m.toClose {
		f.Close()
	}
}
