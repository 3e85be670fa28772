package signals

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/wardsecrets/ward/internal/filekind"
)

// StartError is a failure to start the child, with the exit code a shell
// would give for it (127 not found, 126 not executable).
type StartError struct {
	Program string
	Code    int
	Err     error
}

func (e *StartError) Error() string { return fmt.Sprintf("%s: %v", shownProgram(e.Program), e.Err) }

// shownProgram is program as an error names it. A command line quoted as
// one word (ward run -- "export API_TOKEN=... deploy"), a name that holds
// a space of any kind, a character a shell reads or an "=", and is no
// file, is named by its first word alone ("export ..."): what follows
// may be a secret typed on the command line, in any form (API_TOKEN='s1
// s2', --token=..., postgres://u:PASSWORD@h, -pPASSWORD), as an
// assignment before the program is named without its value (see
// LookPath). A file of such a name (./my dir/build=release/tool) is named
// whole. A name with a character that does not print (a line break) is
// quoted, escaped.
func shownProgram(program string) string {
	if i := strings.IndexFunc(program, func(r rune) bool {
		return unicode.IsSpace(r) || r == '=' || strings.ContainsRune(shellSyntax, r)
	}); i >= 0 && !exists(program) {
		// An assignment's name keeps its "=" (NAME=..., as LookPath
		// names one, --token=...).
		if program[i] == '=' {
			program = program[:i] + "=..."
		} else {
			program = program[:i] + " ..."
		}
	}
	if strings.IndexFunc(program, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(program)
	}
	return program
}

// shellSyntax are the characters a shell reads in a command line, besides
// spaces: a program name holding one is a command line written as one
// word.
const shellSyntax = ";&|()<>'\"`$\\"

func (e *StartError) Unwrap() error { return e.Err }

// LookPath finds the program the way execvp would with the child's PATH
// (ward's own when the child has none, execvp's default when neither has
// one), and maps failures to 127 and 126.
func LookPath(program string, env []string) (string, error) {
	if program == "" {
		return "", &StartError{Program: `""`, Code: ExitNotFound, Err: errors.New("empty program name")}
	}
	if name, ok := assignment(program); ok && !exists(program) {
		// `ward run -- API_TOKEN=... deploy`, as a shell's command line
		// is written: named without its value, which may be a secret
		// typed on the command line (a CI log keeps ward's error).
		return "", &StartError{Program: name + "=...", Code: ExitNotFound, Err: fmt.Errorf("no program of that name: it is a variable assignment, which a shell reads, and ward runs the program after -- itself, with no shell: declare %s in the manifest's env, or ward run -- env %s=VALUE PROGRAM", name, name)}
	}
	if strings.Contains(program, "/") {
		return program, checkExecutable(program)
	}
	if program == "." || program == ".." {
		// `ward run -- . ./env.sh`: execvp tries each directory of
		// $PATH itself, and gives 126, as env does; ward named the first
		// of them "is a directory".
		return "", &StartError{Program: program, Code: ExitNotExecutable, Err: errors.New("a directory, not a program: . is a shell builtin (source), and ward runs the program after -- itself, with no shell: ward run -- sh -c '. ./FILE && exec PROGRAM'")}
	}
	path, ok := lookupEnv(env, "PATH")
	if !ok {
		path, ok = os.LookupEnv("PATH")
	}
	if !ok {
		// `env -i ward run -- sh`: env, a shell and execvp find sh there.
		path = defaultPath
	}
	var denied error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, program)
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		var se *StartError
		if errors.As(err, &se) && se.Code == ExitNotExecutable && denied == nil {
			denied = err
			if errors.Is(se.Err, fs.ErrPermission) && !exists(p) {
				// The directory cannot be searched: whether the program
				// is in it is not to be known (execvp gives EACCES, 126,
				// as here; bash says "command not found"). It named
				// DIR/PROGRAM "permission denied", as if it were there.
				denied = &StartError{Program: program, Code: ExitNotExecutable, Err: fmt.Errorf("not found in $PATH, whose directory %s cannot be searched: %w", dir, se.Err)}
			}
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", &StartError{Program: program, Code: ExitNotFound, Err: notFound(program)}
}

// assignment reports whether program is a shell's variable assignment
// (NAME=VALUE), and its name.
func assignment(program string) (string, bool) {
	name, _, ok := strings.Cut(program, "=")
	if !ok || name == "" || name[0] >= '0' && name[0] <= '9' {
		return "", false
	}
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "", false
		}
	}
	return name, true
}

// shellBuiltins are commands a shell runs itself, with no program of
// that name to be found (those that have one, echo, kill, test, are
// found).
var shellBuiltins = map[string]string{
	"cd":     "sh -c 'cd DIR && exec PROGRAM'",
	"source": "sh -c '. ./FILE && exec PROGRAM'",
	"export": "env NAME=VALUE PROGRAM; or declare the variable in the manifest's env",
	"set":    "sh -c 'set ... && exec PROGRAM'",
	"unset":  "env -u NAME PROGRAM",
	"alias":  "sh -c '...'",
	"eval":   "sh -c '...'",
	"exec":   "PROGRAM (ward runs it as exec would)",
	"ulimit": "sh -c 'ulimit ... && exec PROGRAM'",
	"umask":  "sh -c 'umask ... && exec PROGRAM'",
	"trap":   "sh -c '...'",
}

// ErrNotInPath is why a program named without a path was not started.
var ErrNotInPath = errors.New("executable file not found in $PATH")

// notFound says that program is nowhere in $PATH, and, for what a
// shell's command line would have run (a builtin, a command written
// as one word, a variable assignment before the command), that ward
// runs the words after -- as a program and its arguments, with no
// shell.
func notFound(program string) error {
	err := ErrNotInPath
	if example, ok := shellBuiltins[program]; ok {
		return fmt.Errorf("%w: it is a shell builtin, not a program, and ward runs the program after -- itself, with no shell: ward run -- %s", err, example)
	}
	if strings.ContainsAny(program, " \t") {
		return fmt.Errorf("%w: the program's name holds a space, a whole command written as one word? ward runs the program after -- itself, with no shell: give it its words apart (ward run -- npm test, not ward run -- \"npm test\"), or a shell's command line as ward run -- sh -c 'COMMAND'", err)
	}
	return err
}

// defaultPath is where execvp looks when there is no PATH at all
// (glibc's confstr(_CS_PATH)).
const defaultPath = "/bin:/usr/bin"

func checkExecutable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return &StartError{Program: p, Code: ExitNotFound, Err: errors.New("no such file or directory")}
		}
		// The path once: "p: stat p: ..." said it twice.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return &StartError{Program: p, Code: ExitNotExecutable, Err: err}
	}
	if st.IsDir() {
		return &StartError{Program: p, Code: ExitNotExecutable, Err: errors.New("is a directory")}
	}
	if !st.Mode().IsRegular() {
		// Not opened to be looked at either: a named pipe with an x bit
		// held ward, waiting for a writer, for good.
		return &StartError{Program: p, Code: ExitNotExecutable, Err: notExecutable(p, st)}
	}
	if err := unix.Access(p, unix.X_OK); err != nil {
		return &StartError{Program: p, Code: ExitNotExecutable, Err: notExecutable(p, st)}
	}
	return nil
}

// notExecutable says why the program p, of the given mode, may not be
// run: "permission denied" alone sent a user to chmod +x a program that
// had its x bits, on a file system mounted noexec (/tmp and /dev/shm on a
// hardened host, a USB stick, a container's tmpfs).
func notExecutable(p string, st fs.FileInfo) error {
	mode := st.Mode()
	if !mode.IsRegular() {
		// A device or a FIFO (ward run -- /dev/null): no program, and
		// "chmod +x /dev/null" would break the system.
		return fmt.Errorf("it is %s, not a program: %w", filekind.Of(st), fs.ErrPermission)
	}
	withInterp := ""
	if interp := interpreterOf(p); interp != "" {
		withInterp = fmt.Sprintf(", or run it with its interpreter (ward run -- %s %s)", interp, p)
	}
	if mnt := noexecMount(p); mnt != "" {
		return fmt.Errorf("%s%s: %w", onNoexec(mnt), withInterp, fs.ErrPermission)
	}
	if mode&0o111 == 0 {
		return fmt.Errorf("it is not executable (mode %04o): chmod +x %s%s: %w", mode.Perm(), p, withInterp, fs.ErrPermission)
	}
	return errors.New("permission denied")
}

// fileSize is the size of f, or n when it cannot be told.
func fileSize(f *os.File, n int) int64 {
	if st, err := f.Stat(); err == nil {
		return st.Size()
	}
	return int64(n)
}

// onNoexec says why a program on the file system mounted at mnt, which
// is mounted noexec, does not run.
func onNoexec(mnt string) string {
	return "it is on a file system mounted noexec (" + mnt + "), where the kernel runs no program, whatever its mode: keep it on another file system"
}

// deniedInterpreter explains an exec's EACCES for a program ward found
// executable: it is on a file system mounted noexec (a store helper,
// which is not looked at first as the child's program is), or its #!
// interpreter is (a virtualenv made in /tmp). Other errors come back as
// they are.
func deniedInterpreter(path string, err error) error {
	if !errors.Is(err, syscall.EACCES) {
		return err
	}
	if mnt := noexecMount(path); mnt != "" {
		return fmt.Errorf("%s: %w", onNoexec(mnt), err)
	}
	interp := interpreterOf(path)
	if interp == "" {
		return err
	}
	if mnt := noexecMount(interp); mnt != "" {
		return fmt.Errorf("its interpreter %s (its #! line) is on a file system mounted noexec (%s), where the kernel runs no program: keep it on another file system: %w", interp, mnt, err)
	}
	// The interpreter is no program to run (a script's #! naming a file
	// not marked executable, a directory): "permission denied" alone
	// sent the user to the script, which was.
	if st, serr := os.Stat(interp); serr == nil && (st.IsDir() || st.Mode()&0o111 == 0) {
		what := fmt.Sprintf("not executable (mode %04o)", st.Mode().Perm())
		if st.IsDir() {
			what = "a directory"
		}
		return fmt.Errorf("its interpreter %s (its #! line) is %s: name a program there: %w", interp, what, err)
	}
	return err
}

// textBusy explains an exec's ETXTBSY ("text file busy"): the program's
// file, or its interpreter's, is open for writing. Other errors come
// back as they are.
func textBusy(err error) error {
	if !errors.Is(err, syscall.ETXTBSY) {
		return err
	}
	return fmt.Errorf("it (or its interpreter) is open for writing, a build or a copy of it under way, and the kernel runs no file while it is: let the writer finish, or write the new file beside it and rename it into place (mv, install): %w", err)
}

// CarriageReturn returns, for a file whose #! line ends in a carriage
// return (a script saved with Windows line endings), what its
// interpreter is given in that line's last word ("bash\r", for
// `#!/usr/bin/env bash`), "" for any other file. The kernel runs the
// interpreter all the same when that word is not its path: env then
// looks for "bash\r" (and says to use -S), sh reads "-e\r" as an option
// it does not know, and the program fails with no word of the cause.
func CarriageReturn(path string) string {
	line, ended := shebang(path)
	if !ended || !bytes.HasSuffix(line, []byte("\r")) {
		return ""
	}
	fields := shebangFields(line)
	if len(fields) < 2 {
		// The interpreter's own path ends in it: the kernel finds no
		// such interpreter, and the start fails saying so.
		return ""
	}
	return fields[len(fields)-1]
}

// secureDropped are the variables, besides LD_*, that glibc's dynamic
// loader removes from the environment of a program run in secure
// execution (its unsecvars.h).
var secureDropped = map[string]bool{
	"GCONV_PATH": true, "GETCONF_DIR": true, "GLIBC_TUNABLES": true, "HOSTALIASES": true,
	"LOCALDOMAIN": true, "LOCPATH": true, "MALLOC_ARENA_MAX": true, "MALLOC_ARENA_TEST": true,
	"MALLOC_CHECK_": true, "MALLOC_MMAP_MAX_": true, "MALLOC_MMAP_THRESHOLD_": true,
	"MALLOC_PERTURB_": true, "MALLOC_TOP_PAD_": true, "MALLOC_TRACE": true,
	"MALLOC_TRIM_THRESHOLD_": true, "NIS_PATH": true, "NLSPATH": true,
	"RESOLV_HOST_CONF": true, "RES_OPTIONS": true, "TMPDIR": true, "TZDIR": true,
}

// SecureDropped returns those of names that the C library drops from
// the environment of a program run in secure execution (see SecureExec).
func SecureDropped(names []string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, "LD_") || secureDropped[n] {
			out = append(out, n)
		}
	}
	return out
}

// dynamic reports whether the ELF program at path names a dynamic loader
// (a PT_INTERP program header). A script is not: the kernel runs no
// script set-user-ID.
func dynamic(path string) bool { return elfLoader(path) != "" }

// elfLoader returns the dynamic loader the ELF program at path names in
// its PT_INTERP program header ("" for none, a static program, or a file
// that is no ELF program), read by hand as badFormat reads the machine.
func elfLoader(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if n < 64 || !bytes.HasPrefix(head, []byte("\x7fELF")) {
		return ""
	}
	bo := elfOrder(head)
	is64 := head[4] == 2
	var off, size, count uint64
	if is64 {
		off, size, count = bo.Uint64(head[32:]), uint64(bo.Uint16(head[54:])), uint64(bo.Uint16(head[56:]))
	} else {
		off, size, count = uint64(bo.Uint32(head[28:])), uint64(bo.Uint16(head[42:])), uint64(bo.Uint16(head[44:]))
	}
	const ptInterp = 3
	for i := uint64(0); i < count; i++ {
		at := off + i*size
		if size < 32 || at+size > uint64(len(head)) {
			return ""
		}
		ph := head[at : at+size]
		if bo.Uint32(ph) != ptInterp {
			continue
		}
		var poff, psize uint64
		if is64 {
			poff, psize = bo.Uint64(ph[8:]), bo.Uint64(ph[32:])
		} else {
			poff, psize = uint64(bo.Uint32(ph[4:])), uint64(bo.Uint32(ph[16:]))
		}
		if psize == 0 || psize > 4096 {
			return ""
		}
		name := make([]byte, psize)
		if _, err := f.ReadAt(name, int64(poff)); err != nil {
			return ""
		}
		return string(bytes.TrimRight(name, "\x00"))
	}
	return ""
}

// elfOrder is the byte order an ELF header's EI_DATA byte gives its
// fields (head holds at least its first 6 bytes).
func elfOrder(head []byte) binary.ByteOrder {
	if head[5] == 2 {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// libcOf names the C library a loader belongs to, for a program built
// against another one than the machine's.
func libcOf(loader string) string {
	switch base := filepath.Base(loader); {
	case strings.HasPrefix(base, "ld-musl"):
		return " (the program was built against musl, Alpine's C library: build it for this system's, or run it on Alpine; a static build needs none)"
	case strings.HasPrefix(base, "ld-linux"), strings.HasPrefix(base, "ld64"):
		return " (the program was built against glibc, the C library of Debian, Ubuntu and Red Hat: build it for this system's, or install glibc's loader; a static build needs none)"
	}
	return ""
}

// interpreterOf returns the interpreter the #! line of the file at path
// names, "" when it has none.
func interpreterOf(path string) string {
	line, _ := shebang(path)
	fields := shebangFields(line)
	if len(fields) == 0 {
		return ""
	}
	return fields[0]
}

// shebang returns the #! line of the file at path, without the #! and as
// far as the kernel reads it (binprmBufSize bytes), nil when the file
// has none; ended is set when the line's end is within that.
func shebang(path string) (line []byte, ended bool) {
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		// A named pipe would hold the open until a writer came.
		return nil, false
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	head := make([]byte, binprmBufSize)
	n, _ := io.ReadFull(f, head)
	rest, ok := bytes.CutPrefix(head[:n], []byte("#!"))
	if !ok {
		return nil, false
	}
	line, _, ended = bytes.Cut(rest, []byte("\n"))
	return line, ended
}

// shebangFields splits a #! line into words as the kernel does: at
// spaces and tabs.
func shebangFields(line []byte) []string {
	return strings.FieldsFunc(string(line), func(r rune) bool { return r == ' ' || r == '\t' })
}

// exists reports whether p's own entry can be seen (lstat: a link that
// leads nowhere is there too).
func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func lookupEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if strings.HasPrefix(env[i], name+"=") {
			return env[i][len(name)+1:], true
		}
	}
	return "", false
}

// Child is a started child: the leader of its own process group.
type Child struct {
	Pid int
}

// StartOptions says how to start the child.
type StartOptions struct {
	Path  string
	Argv  []string
	Env   []string
	Files []*os.File // stdin, stdout, stderr (and more for socket activation)
	// Foreground makes the child's group the terminal's foreground group;
	// Files[0] must be the terminal.
	Foreground bool
	// Ctty is the index in Files of the terminal for Foreground or
	// Session.
	Ctty int
	// Session starts the child in a session of its own with Files[Ctty]
	// (a pseudo-terminal) as its controlling terminal; it then leads its
	// own process group too. Foreground is ignored.
	Session bool
	// Dir is the working directory ("" for ward's).
	Dir string
}

// Start starts the child in a new process group. The caller reaps it (see
// Reaper); nothing else waits for it.
func Start(o StartOptions) (*Child, error) {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if o.Session {
		// setsid makes the child lead a new group; setpgid would fail.
		attr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: o.Ctty}
	} else if o.Foreground {
		attr.Foreground = true
		attr.Ctty = o.Ctty
	}
	platformAttr(attr)
	if err := checkDir(o.Dir); err != nil {
		return nil, err
	}
	// A stop of the forked child before its exec (a Ctrl-Z just then)
	// is taken from it, and given to the program once it runs.
	var pid int
	var err error
	if sig := ForkWatched(attr.Foreground, func() { pid, err = forkExec(o, attr) }); sig != 0 && err == nil {
		syscall.Kill(pid, sig)
	}
	if short := Exhausted(err); short != nil {
		return nil, &StartError{Program: o.Path, Code: ExitWardFailure, Err: short}
	}
	if long := TooLong(err, o.Argv, o.Env); long != nil {
		return nil, &StartError{Program: o.Path, Code: ExitWardFailure, Err: long}
	}
	if err != nil {
		// The program's own file, for what it says of the failure: a
		// relative path is the child's, from o.Dir, not ward's (which is
		// / after the first start).
		file := o.Path
		if o.Dir != "" && !filepath.IsAbs(file) {
			file = filepath.Join(o.Dir, file)
		}
		code := ExitNotExecutable
		if errors.Is(err, fs.ErrNotExist) {
			code = ExitNotFound
		}
		err = ExplainExec(file, err)
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &StartError{Program: o.Path, Code: code, Err: err}
	}
	return &Child{Pid: pid}, nil
}

// ForkWatched runs fork, a fork and exec of a program that leads a
// process group (or session) of its own, watched for a stop of the
// forked child before its exec (see execWatch), and returns the signal
// that stopped it there, for the caller to give the program (0 for
// none). A terminal's Ctrl-Z reaches the child until its exec when it is
// given the terminal (given), and until it leaves ward's group when that
// group has the terminal's foreground: ward in a pipeline (`ward run --
// cmd | tee log`), ward starting a store's helper or its guard. The fork
// waited on that exec for good. A run without a terminal (a service, a
// CI job, a benchmark) pays one failed open of /dev/tty.
func ForkWatched(given bool, fork func()) syscall.Signal {
	if !given && !groupHasTerminal() {
		fork()
		return 0
	}
	on := collectorOff()
	defer on()
	after := watchStart()
	fork()
	return after()
}

// collectorOff turns the garbage collector off until the returned func
// is called (by every caller that turned it off, when forks overlap). A
// collection stops the world, which waits for every scheduler (P), and
// the fork holds its own until the child's exec: a child stopped before
// that exec was never continued, the watch waiting for the world with
// the rest of ward, and ward hung for good (TestStartUnderCtrlZsWithGarbage).
// With the collector off none begins; one under way, or about to begin,
// is run to its end first. Only a run at a terminal pays for it (about
// 0.7 ms a fork with a 5 MB heap).
func collectorOff() (on func()) {
	gcOff.Lock()
	if gcOff.n == 0 {
		gcOff.percent = debug.SetGCPercent(-1)
		// A collection may have passed its trigger and not yet begun
		// (the setting waits only for one begun): one run to its end
		// here leaves none under way, and none begins after it.
		runtime.GC()
	}
	gcOff.n++
	gcOff.Unlock()
	return func() {
		gcOff.Lock()
		if gcOff.n--; gcOff.n == 0 {
			debug.SetGCPercent(gcOff.percent)
		}
		gcOff.Unlock()
	}
}

// gcOff counts the watched forks under way, and keeps the collector's
// setting from before the first.
var gcOff struct {
	sync.Mutex
	n, percent int
}

// groupHasTerminal reports whether ward's process group is the
// foreground of its controlling terminal.
func groupHasTerminal() bool {
	fd, ok := controllingTerminal()
	if !ok {
		return false
	}
	defer unix.Close(fd)
	fg, err := IoctlInt(fd, unix.TIOCGPGRP)
	return err == nil && fg == unix.Getpgrp()
}

// forkExec starts the program with syscall.ForkExec rather than
// os.StartProcess: the reaper waits with wait4(-1), so the pidfd
// os.StartProcess asks for is not needed, and getting one costs each run
// Go's check that pidfds work (three system calls and a vfork of a test
// child: about 0.2 ms). The environment is exactly o.Env: unlike
// os.StartProcess, a nil one is empty, never ward's own.
func forkExec(o StartOptions, attr *syscall.SysProcAttr) (int, error) {
	env := o.Env
	if env == nil {
		env = []string{}
	}
	fds := make([]uintptr, len(o.Files))
	for i, f := range o.Files {
		fds[i] = f.Fd()
	}
	var pid int
	err := childStart(func() (err error) {
		pid, err = syscall.ForkExec(o.Path, o.Argv, &syscall.ProcAttr{Dir: o.Dir, Env: env, Files: fds, Sys: attr})
		return err
	})
	if err == nil {
		childCPULimit(pid)
	}
	// The files must stay open (not finalised) until the child has them.
	runtime.KeepAlive(o.Files)
	return pid, err
}

// DirError is a working directory the child cannot be started in: gone
// (removed, or renamed, since ward was started there) or not to be
// entered. The child's own chdir would fail with the same errno, which
// the fork reports as the program's: "no such file or directory" of a
// program that is there.
type DirError struct {
	Dir string
	Err error
}

func (e *DirError) Error() string {
	if errors.Is(e.Err, fs.ErrNotExist) {
		return fmt.Sprintf("the working directory %s is gone: removed, or renamed, since ward was started there", e.Dir)
	}
	return fmt.Sprintf("the working directory %s cannot be entered: %v", e.Dir, e.Err)
}

func (e *DirError) Unwrap() error { return e.Err }

// checkDir is the child's chdir to dir, tried by ward first.
func checkDir(dir string) error {
	if dir == "" {
		return nil
	}
	st, err := os.Stat(dir)
	if err == nil && !st.IsDir() {
		err = syscall.ENOTDIR
	}
	if err == nil {
		err = unix.Access(dir, unix.X_OK)
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return &DirError{Dir: dir, Err: err}
	}
	return nil
}

// ErrStoppedAtExec is Exec's error when ward was told to stop before
// the exec (StoppedBy says by what): the program did not start.
var ErrStoppedAtExec = errors.New("told to stop before the program started")

// Exec replaces ward with the program (no supervision, no files). A
// stop signal caught before (SIGTERM, SIGINT, SIGQUIT, and SIGHUP with a
// terminal) and still waiting on Notify's channel is taken: the program
// does not start (ErrStoppedAtExec). One that comes during the exec ends
// ward by the signal's default action: the stop signals have it from
// the moment that channel is read to the exec's end. Caught by ward
// then, the signal was lost: the program started, told nothing, and ran
// until the SIGKILL after `docker stop`'s grace. (As PID 1 of a PID
// namespace the kernel drops such a signal: lost there still, for the
// microseconds of the exec.)
func Exec(path string, argv, env []string) error {
	restore := stopsByDefault()
	if StopWaiting() {
		restore()
		return ErrStoppedAtExec
	}
	err := childStart(func() error { return syscall.Exec(path, argv, env) })
	restore()
	if long := TooLong(err, argv, env); long != nil {
		return &StartError{Program: path, Code: ExitWardFailure, Err: long}
	}
	code := ExitNotExecutable
	if errors.Is(err, syscall.ENOENT) {
		code = ExitNotFound
	}
	return &StartError{Program: path, Code: code, Err: ExplainExec(path, err)}
}

// ExplainExec explains the error of an exec of the program at path, a
// file that is there, by what the errno alone does not say: ENOENT of
// its #! interpreter or its dynamic loader, ENOEXEC of a program for
// another machine or a script with no #! line, EACCES of a file system
// mounted noexec (its own or its interpreter's), ETXTBSY of a file open
// for writing. Other errors come back as they are. The child's start
// and a store helper's explain them alike.
func ExplainExec(path string, err error) error {
	if errors.Is(err, syscall.ENOENT) {
		err = missingInterpreter(path, err)
	}
	return textBusy(deniedInterpreter(path, badFormat(path, err)))
}

// WrittenWait bounds how long a start waits for the program's file to be
// written.
const WrittenWait = 5 * time.Second

// SayWritten is the say for WhileWritten: the warning in log, naming
// program.
func SayWritten(log *slog.Logger, program string) func(msg string) {
	return func(msg string) { log.Warn(msg, "program", program, "wait", WrittenWait.String()) }
}

// WhileWritten calls start again, for at most WrittenWait, while it
// fails because the program's file (or its interpreter) is open for
// writing (ETXTBSY): a build or a copy of it under way (go build -o app,
// cp, a deploy's rsync), as a rotation restarts the child, or as a
// script starts ward. The writer is done within moments, and the restart
// would otherwise have stopped the running child for a new one that
// never started. say is given the warning, once, when it waits.
func WhileWritten(say func(msg string), start func() error) error {
	return WhileWrittenUnless(say, nil, start)
}

// ErrStopped is WhileWrittenUnless's error when ward was told to stop
// while it waited for the program's file to be written.
var ErrStopped = errors.New("told to stop while the program's file was being written")

// WhileWrittenUnless is WhileWritten, but gives up with ErrStopped, the
// program not started, once stopped (when not nil) reports that ward
// was told to stop: a `docker stop` during the wait was taken only after
// it, and the program started after the stop (or the start failed with
// 126 at the wait's end, 5 s later, instead of 128+N).
func WhileWrittenUnless(say func(msg string), stopped func() bool, start func() error) error {
	err := start()
	if !errors.Is(err, syscall.ETXTBSY) {
		return err
	}
	say("the program's file is open for writing (a build or a copy of it under way?), and the kernel runs no file that is: waiting for the writer to finish")
	deadline := time.Now().Add(WrittenWait)
	for errors.Is(err, syscall.ETXTBSY) && time.Now().Before(deadline) {
		time.Sleep(writtenPoll)
		if stopped != nil && stopped() {
			return ErrStopped
		}
		err = start()
	}
	return err
}

// writtenPoll is how often WhileWritten tries again.
const writtenPoll = 20 * time.Millisecond

// Exhausted explains a start that failed because the machine ran short:
// no process could be made (the process limit: EAGAIN), no memory, no
// file descriptor for the pipes. That is no fault of the program's, so
// not 126, which says it cannot be run, and which a supervisor or a
// script takes for a broken image; it is ward's own failure, 125. Other
// errors give nil.
func Exhausted(err error) error {
	switch {
	case errors.Is(err, syscall.EAGAIN):
		return fmt.Errorf("no process could be started: the limit on processes is reached (ulimit -u; a cgroup's pids.max, as docker run --pids-limit or systemd's TasksMax= set): %w", err)
	case errors.Is(err, syscall.ENOMEM):
		return fmt.Errorf("no process could be started: out of memory: %w", err)
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return fmt.Errorf("no process could be started: out of file descriptors: %w", err)
	}
	return nil
}

// TooLong explains an exec's E2BIG ("argument list too long"): the
// environment and arguments are more than the kernel passes to a
// program, which is no fault of the program's file, so not 126, which
// says it cannot be run. The start's own check (plan.CheckDeliverable)
// refuses most such environments first, naming them; this is the
// margin it cannot see: the program's path, which the kernel copies
// too, an interpreter a #! line adds, the arguments of ward's own
// trampoline. It names the largest variables, never a value. Other
// errors give nil.
func TooLong(err error, argv, env []string) error {
	if !errors.Is(err, syscall.E2BIG) {
		return nil
	}
	type size struct {
		name string
		n    int
	}
	sizes := make([]size, 0, len(env))
	total := 0
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		sizes = append(sizes, size{name, len(kv) + 1})
		total += len(kv) + 1
	}
	for _, a := range argv {
		total += len(a) + 1
	}
	sort.SliceStable(sizes, func(i, j int) bool { return sizes[i].n > sizes[j].n })
	var largest []string
	for _, s := range sizes[:min(3, len(sizes))] {
		largest = append(largest, fmt.Sprintf("%s (%d bytes)", s.name, s.n))
	}
	msg := fmt.Sprintf("the environment and arguments (%d bytes, %d variables) are more than the kernel passes to a program", total, len(env))
	if len(largest) > 0 {
		msg += ": the largest are " + strings.Join(largest, ", ")
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// badFormat explains an exec's ENOEXEC ("exec format error"), which names
// no cause: a script without a #! line (a shell runs one with sh; exec
// does not, nor does Docker), or a program built for another machine (an
// arm64 image on amd64). Other errors come back as they are.
func badFormat(path string, err error) error {
	if !errors.Is(err, syscall.ENOEXEC) {
		return err
	}
	f, oerr := os.Open(path)
	if oerr != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	// An ELF header's e_machine, little- or big-endian as EI_DATA says
	// (read by hand: debug/elf would grow ward by a third of a megabyte).
	if bytes.HasPrefix(head, []byte("\x7fELF")) {
		if n >= 20 {
			machine := elfOrder(head).Uint16(head[18:])
			if want, ok := elfMachines[runtime.GOARCH]; ok && machine != want {
				return fmt.Errorf("it is a program for another machine (%s), not this one (%s): %w", elfMachineName(machine), runtime.GOARCH, err)
			}
		}
		// A program cut short or damaged (a download, a copy that did
		// not finish): it was told to start with a #! line.
		return fmt.Errorf("it is a program (ELF) the kernel cannot load, cut short or damaged (%d bytes): build, download or copy it again: %w", fileSize(f, n), err)
	}
	if rest, ok := bytes.CutPrefix(head, []byte("#!")); ok {
		line, _, complete := bytes.Cut(rest, []byte("\n"))
		fields := shebangFields(line)
		interp := ""
		if len(fields) > 0 {
			interp = fields[0]
		}
		switch {
		case !complete || len(line)+2 >= binprmBufSize:
			// The kernel reads the first 256 bytes of a file for its #!
			// line, and runs no interpreter whose path may have been
			// cut there (Linux 5.1 and later): a virtualenv's or
			// node_modules' scripts made in a deep directory (a CI
			// workspace). The line is there; "no #! line" was untrue.
			length := "over " + strconv.Itoa(n)
			if complete {
				length = strconv.Itoa(len(line) + 2)
			}
			return fmt.Errorf("its #! line is %s bytes long, more than the %d the kernel reads of it, so the path of its interpreter %q would be cut short, and the kernel runs none: make that path shorter (a virtualenv made in a shallower directory), or name the interpreter: ward run -- INTERPRETER %s: %w", length, binprmBufSize-1, interp, path, err)
		case interp == "":
			return fmt.Errorf("its #! line names no interpreter: write one after the #!, such as #!/bin/sh: %w", err)
		default:
			return fmt.Errorf("its interpreter %s (its #! line) is not a program the kernel can run: %w", interp, err)
		}
	}
	if n == 0 {
		// `touch run.sh; chmod +x run.sh`, a download cut short.
		return fmt.Errorf("it is empty (a shell would run it as a script that does nothing, exec does not): give it a #! line naming its interpreter, such as #!/bin/sh: %w", err)
	}
	if utf8.Valid(head) && !bytes.ContainsRune(head, 0) {
		return fmt.Errorf("it has no #! line naming its interpreter (a shell would run it with sh, exec does not): start it with one, such as #!/bin/sh: %w", err)
	}
	if system := foreignFormat(head); system != "" {
		return fmt.Errorf("it is a program for %s, not for Linux: use the build for %s/%s: %w", system, runtime.GOOS, runtime.GOARCH, err)
	}
	return err
}

// foreignFormat names the system a program of another executable format
// is for, by the file's first bytes: a macOS build (Mach-O, or a
// universal binary) or a Windows one (PE) copied onto Linux; "" for any
// other.
func foreignFormat(head []byte) string {
	if len(head) < 4 {
		return ""
	}
	switch string(head[:4]) {
	case "\xfe\xed\xfa\xce", "\xfe\xed\xfa\xcf", "\xce\xfa\xed\xfe", "\xcf\xfa\xed\xfe", "\xca\xfe\xba\xbe":
		// (0xcafebabe is a Java class file too; one marked executable
		// and run as a program is rarer than a universal binary.)
		return "macOS (Mach-O)"
	}
	if head[0] == 'M' && head[1] == 'Z' {
		return "Windows (PE)"
	}
	return ""
}

// binprmBufSize is how much of a file the kernel reads to tell how to
// run it (BINPRM_BUF_SIZE), its #! line included.
const binprmBufSize = 256

// elfMachines is the ELF e_machine of each architecture ward is built for.
var elfMachines = map[string]uint16{"386": 3, "arm": 40, "amd64": 62, "arm64": 183, "riscv64": 243, "ppc64le": 21, "s390x": 22}

// elfMachineName names an e_machine by Go's architecture name where it
// has one.
func elfMachineName(m uint16) string {
	for arch, em := range elfMachines {
		if em == m {
			return arch
		}
	}
	return "ELF machine " + strconv.Itoa(int(m))
}

// missingInterpreter explains an exec's ENOENT for a program that exists:
// what is missing is the interpreter its #! line names (or, for a binary,
// its ELF interpreter), not the program, which "no such file or
// directory" alone seems to say. Other errors come back as they are.
func missingInterpreter(path string, err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) || errno != syscall.ENOENT {
		return err
	}
	f, oerr := os.Open(path)
	if oerr != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if rest, ok := bytes.CutPrefix(head, []byte("#!")); ok {
		line, _, _ := bytes.Cut(rest, []byte("\n"))
		// The kernel splits the line at spaces and tabs alone: the
		// carriage return of Windows line endings is part of the name it
		// looks for, and "/bin/sh was not found" would be untrue.
		if fields := strings.FieldsFunc(string(line), func(r rune) bool { return r == ' ' || r == '\t' }); len(fields) > 0 {
			if strings.HasSuffix(fields[0], "\r") {
				return fmt.Errorf("its #! line ends in a carriage return, so its interpreter is %q, which does not exist: the file has Windows (CRLF) line endings; convert them (dos2unix): %w", fields[0], err)
			}
			return fmt.Errorf("its interpreter %s (its #! line) was not found: %w", fields[0], err)
		}
	}
	if loader := elfLoader(path); loader != "" && !exists(loader) {
		// bash says "cannot execute: required file not found", busybox
		// "not found", of a program that is there.
		return fmt.Errorf("its dynamic loader %s (the ELF interpreter it names) was not found%s: %w", loader, libcOf(loader), err)
	}
	return fmt.Errorf("a file it needs to run (its ELF interpreter or loader) was not found: %w", err)
}
