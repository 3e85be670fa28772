package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/wardsecrets/ward/resolve"
)

// probeTimeout bounds a probe's run of a helper: one that serves nothing
// ends at once.
var probeTimeout = 10 * time.Second

// Probe finds the helper program and runs it once as ward starts it,
// with nothing to serve (the Go runtime's settings its whole
// environment), as `ward check` does: a helper that is not installed,
// that the kernel will not run here (another machine's, one built
// against a C library the system lacks, one on a noexec mount), or that
// fails before it serves (its dynamic loader's "error while loading
// shared libraries") is found before a run needs it. It asks the helper
// which store protocol it speaks, as every helper since the first
// answers an open request of another protocol, and opens no store: a
// helper of another ward (an image that copied ward and its helpers
// from two releases) is a *VersionError, as a run's would be, naming
// the helper's version and version, ward's; and a program of the
// helper's name that answers nothing is no store helper. A helper that is not installed at
// all gives a *MissingError with no file of that name found (see
// MissingError.Absent). It returns the helper's path.
func Probe(program, version string) (string, error) {
	path, err := findOf(program, version)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, ServeArg)
	cmd.Env = RuntimeSettings(os.Environ())
	// Protocol 0, which no helper speaks: the answer is the helper's
	// protocol and version, and no store opens.
	cmd.Stdin = strings.NewReader(`{"id":1,"op":"open","open":{"protocol":0}}` + "\n")
	// Its first words only: a helper that fails says why in a line.
	said, answer := &firstWords{left: 4 << 10}, &firstWords{left: 4 << 10}
	cmd.Stdout, cmd.Stderr = answer, said
	cmd.WaitDelay = time.Second
	// In a process group of its own, as a run starts it, killed whole at
	// the timeout: a program of the helper's name that started another
	// (a shell script's sleep) left it running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err = cmd.Run()
	if err == nil {
		return path, protocolOf(program, path, version, answer.buf.Bytes())
	}
	if ctx.Err() != nil {
		return path, fmt.Errorf("%s did not end within %s with nothing to serve", path, probeTimeout)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return path, startError(path, err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(said.buf.String()), "\n")
	if line == "" {
		return path, fmt.Errorf("%s failed with nothing to serve (%s)", path, ee.ProcessState)
	}
	return path, fmt.Errorf("%s failed with nothing to serve (%s): %s", path, ee.ProcessState, line)
}

// protocolOf reads a probed helper's answer to its open request (out, its
// whole output): nil for a helper of this ward's protocol.
func protocolOf(program, path, version string, out []byte) error {
	for line := range bytes.Lines(out) {
		var r response
		if json.Unmarshal(line, &r) != nil || r.ID != 1 {
			continue // a log record
		}
		var o openResult
		if r.Error != nil || json.Unmarshal(r.Result, &o) != nil || o.Protocol == 0 {
			break
		}
		if o.Protocol != Protocol {
			return &VersionError{Program: program, Path: path, Protocol: o.Protocol, Version: o.Ward, WardVersion: version}
		}
		if o.Ward != "" && version != "" && version != "dev" && o.Ward != version {
			// A run takes it (an upgrade in place of a running ward's
			// helper must not stop the ward), the check does not: ward
			// and its helpers come from one release. A build of ward
			// from source says "dev" and may sit beside any helper.
			return resolve.WithHint(fmt.Errorf("%s is the helper of ward %s, and this ward is %s: an install or image that mixed two releases (a run would take it while both speak store protocol %d, but each release's store fixes are in its own helpers)", path, o.Ward, version, Protocol), installTheirs(version, path))
		}
		return nil
	}
	return resolve.WithHint(fmt.Errorf("%s ran and ended without answering ward's store protocol: it is not ward's store helper, or a broken one", path), installTheirs(version, path))
}

// Absent reports whether no file of the helper's name was found at all,
// where ward looks or beside it: it is not installed, as opposed to
// installed where it cannot be used.
func (e *MissingError) Absent() bool {
	return e.Unusable == "" && !e.Found && e.Unexamined == nil && e.Refused == ""
}

// firstWords keeps what a probed helper writes up to left bytes, then
// fails the write: the copy stops, and a helper that writes without end
// ends on the closed pipe (or at the probe's bound). A write that
// crosses the bound keeps its first bytes: a helper that says why it
// failed in one long write (a script's error with a whole file in it)
// is still heard. (Not resolve/bodylimit's Writer: that package brings
// net/http, and with it TLS, into ward's own binary.)
type firstWords struct {
	buf  bytes.Buffer
	left int
}

func (w *firstWords) Write(p []byte) (int, error) {
	if len(p) > w.left {
		w.buf.Write(p[:w.left])
		w.left = 0
		return 0, errors.New("a probed helper's output past its bound")
	}
	w.left -= len(p)
	return w.buf.Write(p)
}
