package supervise

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/wardsecrets/ward/launcher/identity"
	"github.com/wardsecrets/ward/launcher/mask"
	"github.com/wardsecrets/ward/signals"
)

// masker keeps what must be hidden from the child's output: the values of
// the running child's plan and the credentials the identity endpoints
// serve, which change while the child runs. With --mask it holds the
// patterns the relays mask; under GitHub Actions it registers each new
// value with the runner's masking (::add-mask::) before the child can
// print it.
type masker struct {
	log *slog.Logger
	// masking is --mask (or the manifest's mask: true); ciFile is where
	// ::add-mask:: lines go, nil when values are not registered or when
	// they go to the step's stream.
	masking bool
	ciFile  *os.File
	// reopen opens the step's stream for each registration, when the
	// lines go there (see stepStream), nil otherwise; stepGone is set
	// once it found the step ended.
	reopen   func() *os.File
	stepGone bool

	mu   sync.Mutex
	plan []mask.Secret
	// first is the plan the running child started with: kept masked
	// beside later ones until it is restarted, however many signals
	// follow (a program that does not reload a file keeps its first
	// value).
	first []mask.Secret
	// served are the identity credentials served, kept until they expire
	// (an SDK may hold them until then), and the values held for the
	// whole run (see hold).
	served []servedSecret
	// src is the current start's patterns: each start gets its own, so
	// that the output an old child leaves is still masked with its own
	// values.
	src *mask.Source
	// registered are the values the CI runner masks already.
	registered map[string]bool
	// commands follows the runner's workflow commands in the child's
	// output, which ward relays with --mask: while the child has paused
	// them, the runner would print a registration as it is.
	commands *mask.Commands
	// started says a child has started: it writes to the stream the
	// ::add-mask:: lines go to, and may have left a line open there.
	started bool

	// held is the registration due at heldDue of the values a pause of
	// the runner's commands held back, once they were resumed (see
	// finish).
	heldMu   sync.Mutex
	held     *time.Timer
	heldDue  time.Time
	heldDone chan struct{}
}

type servedSecret struct {
	secret  mask.Secret
	expires time.Time
}

// newMasker returns the masker of a run, nil when it neither masks nor
// registers values with a CI runner.
func newMasker(o Options, masking bool) *masker {
	var ciFile *os.File
	var reopen func() *os.File
	if o.CIMask && o.Getenv("GITHUB_ACTIONS") == "true" {
		ciFile, reopen = ciStream(o)
	}
	if !masking && ciFile == nil {
		return nil
	}
	m := &masker{log: o.Log, masking: masking, reopen: reopen, registered: map[string]bool{}}
	switch {
	case reopen != nil:
		// Opened for each registration: none may come for the whole run.
		ciFile.Close()
	case ciFile != nil:
		m.ciFile = ciFile
	}
	if masking && ciFile != nil {
		m.commands = &mask.Commands{
			OnPause: func() {
				m.log.Warn("the child paused the runner's workflow commands (::stop-commands::): until it resumes them, ward registers no value with the runner's masking (the runner would print it), and masks new values in the child's output only")
			},
			OnResume: func() {
				m.log.Info("the child resumed the runner's workflow commands: values are registered with its masking again")
				// Those held back during the pause are registered now:
				// under on_change: signal no start would. Not at once:
				// the runner reads stdout and stderr apart, and a
				// registration on one a moment after the resume on the
				// other could be read first, and printed.
				m.heldMu.Lock()
				m.heldDue = time.Now().Add(resumeSettle)
				done := make(chan struct{})
				m.held, m.heldDone = time.AfterFunc(resumeSettle, func() {
					defer close(done)
					m.registerHeld()
				}), done
				m.heldMu.Unlock()
			},
		}
	}
	return m
}

// resumeSettle is how long after the child resumed the runner's commands
// the values held back meanwhile are registered.
const resumeSettle = time.Second

// registerHeld registers the values of the run not registered yet: those
// a pause of the runner's commands held back (if it has not paused them
// again: register checks).
func (m *masker) registerHeld() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.register(m.all()); err != nil {
		m.log.Warn("cannot register the values held back during the pause with the CI runner's masking", "error", err.Error())
	}
}

// finish is called as ward ends: a registration of values held back
// during a pause that is not due yet is waited for and made (at most
// resumeSettle). A child that resumed the runner's commands and exited a
// moment later left them unregistered for the job's later steps.
func (m *masker) finish() {
	if m == nil {
		return
	}
	m.heldMu.Lock()
	held, due, done := m.held, m.heldDue, m.heldDone
	m.heldMu.Unlock()
	switch {
	case held == nil:
	case held.Stop():
		time.Sleep(time.Until(due))
		m.registerHeld()
	default:
		<-done // made, or being made
	}
}

// ciWriter writes ::add-mask:: lines to f.
func ciWriter(f *os.File) io.Writer {
	// A registration waits for the stream's reader, as ward's log does,
	// also where another process made the stream non-blocking (a Node.js
	// child: a full pipe failed the registration with EAGAIN, and with it
	// the restart), but not past a stop (see supervisor.hearStops).
	return signals.UnlessStopped(signals.PatientWriter(f, f))
}

// runnerCommands is what the relays follow the runner's workflow commands
// with, nil when no values are registered with a runner or m is nil.
func (m *masker) runnerCommands() *mask.Commands {
	if m == nil {
		return nil
	}
	return m.commands
}

// ciStream is where ::add-mask:: lines go: ward's stderr, which the runner
// reads as it reads stdout (actions/runner,
// src/Runner.Worker/Handlers/ScriptHandler.cs gives each stream an
// OutputManager, whose OnDataReceived runs TryProcessCommand), so that
// `ward run -- cmd > out.json` leaves the child's stdout byte for byte as
// the child wrote it; stdout only when stderr goes to a file, and nowhere
// when both do. When ward's stderr is not the runner's own pipe (`2>&1 |
// tee build.log`, whose file would keep every value), the lines go to the
// step's stream instead (see stepStream).
//
// The step's stream is opened again for each registration (reopen) and
// closed after it: a `ward run -- server &` that outlives its step held
// the step's pipe open, and the runner, which waits for a step's pipes
// to close, waited 5 s at the step's end, then read what ward wrote
// there later as the output of a step that had ended.
func ciStream(o Options) (f *os.File, reopen func() *os.File) {
	if step, worker := stepOfRunner(); step != 0 {
		_, started, _ := signals.Process(step)
		if f := openStepStream(step, worker, o.Stderr); f != nil {
			return f, func() *os.File {
				// The same process: a later step's shell given its pid
				// is another step, whose `::stop-commands::` would have
				// the runner print the registration.
				if parent, now, ok := signals.Process(step); !ok || parent != worker || now != started {
					return nil
				}
				return openStepStream(step, worker, o.Stderr)
			}
		}
	}
	if !toFile(o.Stderr) {
		return o.Stderr, nil
	}
	if !toFile(o.Stdout) {
		return o.Stdout, nil
	}
	// A `ward run ... > log 2>&1 &` that ends its step's script starts
	// once the step's shell has exited: no step to write to is found.
	o.Log.Warn("both stdout and stderr go to files, and no step of the runner's was found to write to (a `ward run ... &` that ends its step starts after the step's shell has exited: wait in the step until the program is up): the values cannot be registered with the GitHub Actions runner's masking")
	return nil, nil
}

// stepOfRunner returns the step's process (the ancestor of ward whose
// parent is the runner's worker, Runner.Worker) and the worker, zeros when
// there is none to be found (a job container's `docker exec`, another
// user's processes, no /proc) or ward is the step's process itself.
func stepOfRunner() (step, worker int) {
	for pid, depth := os.Getpid(), 0; pid > 1 && depth < 64; depth++ {
		parent, ok := signals.Parent(pid)
		if !ok {
			return 0, 0
		}
		if runnerWorker(parent) {
			if pid == os.Getpid() {
				return 0, 0
			}
			return pid, parent
		}
		pid = parent
	}
	return 0, 0
}

// openStepStream opens the stream the runner reads the step's output
// from, through the step's process: its stderr, or else its stdout, when
// that is a pipe whose read end the worker holds (not one a step's
// `exec > >(tee log) 2>&1` made). It returns nil when ward's own stderr
// is that pipe, or when there is none.
func openStepStream(step, worker int, own *os.File) *os.File {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", worker))
	if err != nil {
		return nil
	}
	read := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", worker, fd.Name())); err == nil && strings.HasPrefix(l, "pipe:") {
			read[l] = true
		}
	}
	for _, n := range []int{2, 1} {
		p := fmt.Sprintf("/proc/%d/fd/%d", step, n)
		if l, err := os.Readlink(p); err != nil || !read[l] {
			continue
		}
		// Not blocking: a pipe whose reader is gone meanwhile would hold
		// the open up for good.
		f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		st, err := f.Stat()
		if mine, merr := own.Stat(); err != nil || merr == nil && os.SameFile(st, mine) {
			// ward's own stderr is the runner's pipe: as without a step.
			f.Close()
			return nil
		}
		return f
	}
	return nil
}

// runnerFiles are the files a GitHub Actions step writes for the runner
// to pass on after it, and where each value goes from there.
var runnerFiles = []struct{ env, goes string }{
	{"GITHUB_ENV", "every later step of the job gets it in its environment"},
	{"GITHUB_OUTPUT", "it is a step output, which later steps and expressions read"},
	{"GITHUB_STATE", "the action's post step gets it in its environment"},
	{"GITHUB_PATH", "every later step of the job gets it in its PATH"},
}

// maxRunnerFile bounds how much of each runner file warnRunnerFiles reads.
const maxRunnerFile = 8 << 20

// warnRunnerFiles warns, naming the variables, when the child wrote a
// secret's value (in any form) to a file the GitHub Actions runner passes
// on to the rest of the job ($GITHUB_ENV...): ward's masking cannot
// follow it there. The runner masks the registered values in the logs
// and the step summary, so those are not searched.
func warnRunnerFiles(o Options, plan []mask.Secret) {
	if o.Getenv("GITHUB_ACTIONS") != "true" {
		return
	}
	secrets := plan
	if o.masker != nil {
		o.masker.mu.Lock()
		secrets = o.masker.all()
		o.masker.mu.Unlock()
	}
	p, _ := mask.Compile(slices.Concat(secrets, mask.CILineSecrets(secrets)))
	for _, rf := range runnerFiles {
		path := o.Getenv(rf.env)
		if st, err := os.Stat(path); path == "" || err != nil || !st.Mode().IsRegular() {
			// Not one the runner made (a FIFO would block the read).
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(f, maxRunnerFile))
		f.Close()
		var names []string
		for at := 0; ; {
			m, ok := p.Find(b, at)
			if !ok {
				break
			}
			for _, owner := range p.Owners(m.Pattern) {
				if !slices.Contains(names, owner.Name) {
					names = append(names, owner.Name)
				}
			}
			at = m.End
		}
		if len(names) > 0 {
			o.Log.Warn("the child wrote a secret's value to $"+rf.env+": "+rf.goes+", where no masking follows it", "names", strings.Join(names, ","))
		}
	}
}

// setPlan takes the values of a child about to start: it registers the new
// ones with the CI runner, and, with --mask, returns the patterns of this
// start (the plan's values and the credentials being served).
func (m *masker) setPlan(secrets []mask.Secret) (*mask.Source, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.plan, m.first = secrets, secrets
	if err := m.register(secrets); err != nil {
		return nil, err
	}
	// The child starts once this returns.
	defer func() { m.started = true }()
	if !m.masking {
		return nil, nil
	}
	p, skipped := mask.Compile(m.all())
	for _, name := range skipped {
		m.log.Warn("a value shorter than 4 bytes is not masked", "name", name)
	}
	m.src = mask.NewSource(p)
	return m.src, nil
}

// maxEarlier bounds the earlier values of a name that stay masked beside
// its current one while the child is signalled rather than restarted.
const maxEarlier = 10

// addPlan takes the values a running child is about to be given without a
// restart (files rewritten, then a signal): registered with the CI runner
// and masked before the files change. The child's old values stay masked
// beside them until it is restarted: it read them and may still print
// them. Those it started with stay, and the last maxEarlier of each name
// since: a child that is only ever signalled used to have every value it
// was ever given masked, one more (and its encoded forms, all compiled
// again) at each rotation, without bound.
func (m *masker) addPlan(secrets []mask.Secret) error {
	return m.add(secrets, true)
}

// maskEarly masks values read for a change the debounce still holds back,
// before the child is given them: it may print them before (read from a
// file:// source it shares), and ward knew them. They are registered with
// the CI runner when the child is given them (addPlan, setPlan), not
// here: that writes to ward's stderr, whose reader may have stopped, and
// the rotator that reads them must not wait on it holding mu, which the
// supervisor takes as the child ends.
func (m *masker) maskEarly(secrets []mask.Secret) {
	m.add(secrets, false)
}

// add is addPlan, registering the values with the CI runner when
// register is set.
func (m *masker) add(secrets []mask.Secret, register bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if register {
		if err := m.register(secrets); err != nil {
			return err
		}
	}
	plan := slices.Clone(secrets)
	same := func(a mask.Secret) func(mask.Secret) bool {
		return func(b mask.Secret) bool { return a.Name == b.Name && string(a.Value) == string(b.Value) }
	}
	earlier := map[string]int{}
	// m.plan holds the newest values first.
	for _, old := range m.plan {
		if slices.ContainsFunc(plan, same(old)) {
			continue
		}
		if !slices.ContainsFunc(m.first, same(old)) {
			if earlier[old.Name] == maxEarlier {
				continue
			}
			earlier[old.Name]++
		}
		plan = append(plan, old)
	}
	m.plan = plan
	m.remask()
	return nil
}

// serve takes credentials an identity endpoint is about to serve as name
// (identity.aws...): they are registered and masked before it serves them.
func (m *masker) serve(name string, c identity.Credentials) {
	if err := m.hold(name, c.Secrets(), c.Expires); err != nil {
		m.log.Warn("cannot register the identity's new credentials with the CI runner's masking", "identity", name, "error", err.Error())
	}
}

// keep takes a secret the child is given for the whole run outside its
// plan, as name: the Azure endpoint's IDENTITY_HEADER, which its SDK reads
// from the environment. It is registered and masked as the plan's values
// are, before the child starts.
func (m *masker) keep(name string, value []byte) {
	if err := m.hold(name, []string{string(value)}, never); err != nil {
		m.log.Warn("cannot register a value with the CI runner's masking", "name", name, "error", err.Error())
	}
}

// never is the expiry of what is held for the whole run.
var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// hold registers and masks values given to the child outside its plan, as
// name, until expires; the values held before that have expired are
// dropped.
func (m *masker) hold(name string, values []string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	m.served = slices.DeleteFunc(m.served, func(s servedSecret) bool { return !now.Before(s.expires) })
	var added []mask.Secret
	for _, v := range values {
		s := mask.Secret{Name: name, Value: []byte(v)}
		m.served = append(m.served, servedSecret{secret: s, expires: expires})
		added = append(added, s)
	}
	err := m.register(added)
	m.remask()
	return err
}

// remask gives the running start's relays the patterns of what is masked
// now. Callers hold mu.
func (m *masker) remask() {
	if m.src != nil {
		p, _ := mask.Compile(m.all())
		m.src.Set(p)
	}
}

// all is the plan's values and the credentials being served. Callers hold
// mu.
func (m *masker) all() []mask.Secret {
	all := slices.Clone(m.plan)
	for _, s := range m.served {
		all = append(all, s.secret)
	}
	return all
}

// register writes ::add-mask:: lines for the values the runner does not
// mask yet. Callers hold mu.
func (m *masker) register(secrets []mask.Secret) error {
	if m.ciFile == nil && m.reopen == nil {
		return nil
	}
	var fresh []mask.Secret
	for _, s := range secrets {
		if !m.registered[string(s.Value)] {
			fresh = append(fresh, s)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	f := m.ciFile
	if m.reopen != nil {
		if f = m.reopen(); f == nil {
			if !m.stepGone {
				m.stepGone = true
				m.log.Warn("the CI step that started ward has ended, and the runner reads its output no more: new values are not registered with the runner's masking", "values", len(fresh))
			}
			return nil
		}
		defer f.Close()
	}
	ci := ciWriter(f)
	var skipped []string
	written, err := true, error(nil)
	switch {
	case !m.started:
		// Something else may write to the stream too: the step's shell
		// before ward, another job of a `make -j`.
		skipped, err = writeRegistrations(ci, fresh)
	case m.commands != nil:
		// The relays must know where ward's lines split the child's, and
		// nothing goes out while the child has paused the runner's
		// commands: the runner would print it.
		written, err = m.commands.Insert(func() (err error) {
			skipped, err = writeRegistrations(ci, fresh)
			return err
		})
	default:
		skipped, err = writeRegistrations(ci, fresh)
	}
	if err != nil {
		return fmt.Errorf("register values with the CI runner's masking: %w", err)
	}
	if written {
		readByRunner(f, runnerReadLimit)
	}
	if !written {
		// Left unregistered: the resume or the next start registers
		// them.
		m.log.Warn("values not registered with the runner's masking while the child has paused its workflow commands", "values", len(fresh))
		return nil
	}
	for _, s := range fresh {
		m.registered[string(s.Value)] = true
	}
	for _, name := range skipped {
		m.log.Warn("a value shorter than 4 bytes is not registered with the CI runner's masking", "name", name)
	}
	return nil
}

// writeRegistrations writes the ::add-mask:: lines of secrets to a
// stream others write to as well (the child, the step's shell, another
// job of a `make -j`): in writes of whole lines, each starting with a line
// break. The runner takes a command only at the start of a line, and
// prints one that follows a line another writer left open (a prompt, a
// progress message) as output, value and all. The break costs an empty
// line in the log, one per write. A write of at most PIPE_BUF bytes is not
// split by others', so a longer line (a service account key's
// percent-encoded form) is registered in pieces of about equal length,
// each masked by the runner on its own: together they mask the whole
// form.
func writeRegistrations(w io.Writer, secrets []mask.Secret) ([]string, error) {
	var buf bytes.Buffer
	skipped, err := mask.WriteAddMask(&buf, secrets)
	if err != nil {
		return skipped, err
	}
	const prefix = "::add-mask::"
	batch := []byte{'\n'}
	flush := func() error {
		if len(batch) == 1 {
			return nil
		}
		_, err := w.Write(batch)
		batch = []byte{'\n'}
		return err
	}
	for _, line := range bytes.SplitAfter(buf.Bytes(), []byte("\n")) {
		data, ok := bytes.CutPrefix(bytes.TrimSuffix(line, []byte("\n")), []byte(prefix))
		if !ok {
			continue
		}
		for _, piece := range pieces(data, pipeBuf-len(prefix)-2) {
			if len(batch)+len(prefix)+len(piece)+1 > pipeBuf {
				if err := flush(); err != nil {
					return skipped, err
				}
			}
			batch = append(append(append(batch, prefix...), piece...), '\n')
		}
	}
	return skipped, flush()
}

// runnerReadLimit bounds how long readByRunner waits.
const runnerReadLimit = time.Second

// readByRunner waits, up to limit, until the pipe f holds nothing unread:
// until the runner has read the registrations just written to it. The
// runner reads a step's stdout and stderr on a thread each, and acts on
// what they read in turns (actions/runner's ProcessInvoker: the error
// queue, then the output queue): a child started the moment its values
// were written to stderr could have its first line on stdout read
// before the stderr thread read them, and printed in clear (2 of 30
// steps on a loaded machine, with the runner's reading played in a
// test). A reader that takes longer (a slow filter in between) costs a
// start the limit, no more. f not a pipe: no wait.
func readByRunner(f *os.File, limit time.Duration) {
	if f == nil {
		return
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	deadline := time.Now().Add(limit)
	for pause := 50 * time.Microsecond; ; pause = min(2*pause, 5*time.Millisecond) {
		if n, err := unread(f); err != nil || n == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(pause) // no event says a pipe was read empty
	}
}

// pipeBuf is POSIX's PIPE_BUF on Linux: a write to a pipe of at most this
// many bytes is not interleaved with other writers'.
const pipeBuf = 4096

// pieces cuts a workflow command's escaped data into pieces of at most
// limit bytes and about equal length, none cut inside a %XX escape or a
// UTF-8 character (the runner would register another string).
func pieces(data []byte, limit int) [][]byte {
	// Cuts move back by at most 3 bytes; the slack keeps each piece
	// under limit.
	n := (len(data) + limit - 5) / (limit - 4)
	if n <= 1 {
		return [][]byte{data}
	}
	size := (len(data) + n - 1) / n
	var out [][]byte
	for len(data) > limit {
		cut := size
		for cut > 0 && !utf8.RuneStart(data[cut]) {
			cut--
		}
		if i := bytes.LastIndexByte(data[max(0, cut-2):cut], '%'); i >= 0 {
			cut = max(0, cut-2) + i
		}
		out = append(out, data[:cut])
		data = data[cut:]
	}
	return append(out, data)
}
