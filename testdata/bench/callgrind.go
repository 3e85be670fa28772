package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// callgrindEnv makes Go programs countable under callgrind 3.19: without
// async preemption the runtime sends no SIGURG, whose handling trips an
// assertion in callgrind; valgrind does not emulate RDTSCP, which the
// runtime's cputicks would use; one P keeps idle threads from spinning,
// which would add instructions that depend on scheduling.
var callgrindEnv = []string{"GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off", "GOMAXPROCS=1"}

// cgProgram is one command counted under callgrind.
type cgProgram struct {
	name string
	argv []string
	exit int // its expected exit code
	runs int
	// exec: the program replaces itself (`ward run --exec`); what it
	// counted is dumped before syscall.Exec, since after the exec
	// callgrind no longer runs.
	exec bool
}

// cgCount is what callgrind counted for one program: medians over its
// runs.
type cgCount struct {
	total, beforeMain int64
	attempts          int
	last              profile // the last complete run
	err               error
}

// instructions counts the instructions of the start-up commands, which
// load on the machine does not change: a second, noise-free view of the
// start-up table.
func (b *bench) instructions() error {
	if !b.cfg.callgrind {
		return nil
	}
	b.rep.section("Start-up in instructions (callgrind)")
	if _, err := exec.LookPath("valgrind"); err != nil {
		b.rep.text("Skipped: valgrind is not installed.")
		return nil
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		return err
	}
	m0, m20 := b.localManifest(0), b.localManifest(20)
	n := b.cfg.cgRuns
	execRun := func(ward, m string) []string { return []string{ward, "run", "--exec", "-m", m, "--", truePath} }
	progs := []cgProgram{
		{name: "empty Go program", argv: []string{b.bin.empty}, runs: n},
		{name: "`ward version`", argv: []string{b.bin.ward, "version"}, runs: n},
		{name: "`ward run --exec -- true`, 0 refs, up to the exec", argv: execRun(b.bin.ward, m0), runs: n, exec: true},
		{name: "`ward run --exec -- true`, 20 `local://` refs, up to the exec", argv: execRun(b.bin.ward, m20), runs: n, exec: true},
		{name: "`ward version`, built without `" + noDocsTag + "`", argv: []string{b.bin.wardNoTag, "version"}, runs: 1},
	}
	if b.bin.old != "" {
		progs = append(progs,
			cgProgram{name: "old single binary: `ward version`", argv: []string{b.bin.old, "version"}, runs: 1},
			cgProgram{name: "old single binary: `ward run --exec -- true`, 0 refs, up to the exec", argv: execRun(b.bin.old, m0), runs: 1, exec: true},
			cgProgram{name: "old single binary: `ward run --exec -- true`, 20 `local://` refs, up to the exec", argv: execRun(b.bin.old, m20), runs: 1, exec: true},
		)
	}
	for _, h := range b.bin.helpers {
		progs = append(progs, cgProgram{name: "`" + filepath.Base(h) + "` (no protocol flag: prints what it is and exits)", argv: []string{h}, exit: 2, runs: 1})
	}
	dir := filepath.Join(b.tmp, "callgrind")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	env := with(b.env, callgrindEnv...)
	counts := make([]cgCount, len(progs))
	for i, p := range progs {
		b.progress("callgrind: %s", p.name)
		counts[i] = callgrind(env, filepath.Join(dir, fmt.Sprint(i)), p)
	}
	empty := counts[0].total
	var rows [][]string
	for i, p := range progs {
		c := counts[i]
		if c.err != nil {
			rows = append(rows, []string{p.name, "failed: " + c.err.Error(), "", "", "", ""})
			continue
		}
		rows = append(rows, []string{p.name, millions(c.total), millions(c.beforeMain), millions(c.total - c.beforeMain),
			fmt.Sprintf("%.1fx", float64(c.total)/float64(max(empty, 1))), fmt.Sprintf("%d of %d", p.runs, c.attempts)})
	}
	b.rep.text("`valgrind --tool=callgrind` with %s, user-space instructions of the whole process (every thread), median of the runs shown. \"Before main\" is what callgrind counted until `main.main` was entered (`--dump-before=main.main`): the runtime's start and every package initialiser, with the stack growth and allocation they cause; the empty program's figure is the runtime's own start. Kernel work (exec, page faults, mmap) is not counted: this is the CPU part of start-up, not its wall time. Callgrind 3.19 aborts on Go's preemption signal (hence asyncpreemptoff), on RDTSCP (hence cpu.rdtscp=off) and, nearly always, when SIGCHLD reaches ward while it supervises a child, so the `ward run` rows use `--exec`, which resolves the same way and then replaces ward with the program: `--dump-before=syscall.Exec` counts everything ward did up to then. A run that callgrind aborted is run again; the last column counts complete runs against attempts.", "`"+strings.Join(callgrindEnv, " ")+"`")
	b.rep.table([]string{"command", "instructions", "before main", "in main", "÷ empty Go", "complete runs / attempts"}, rows)

	if c := counts[1]; c.err == nil && len(b.wardInitOrder) > 0 {
		// The largest initialisers, and every package of a store that a
		// helper serves: its SDK is not in ward, but its reference grammar
		// is, and initialises on every start.
		pkgs := append([]string(nil), b.wardInits...)
		stores := map[string]bool{}
		for _, h := range b.bin.helpers {
			pkg := "github.com/wardsecrets/ward/resolve/" + strings.TrimPrefix(filepath.Base(h), "ward-")
			stores[pkg] = true
			if slices.Contains(b.wardInitOrder, pkg) && !slices.Contains(pkgs, pkg) {
				pkgs = append(pkgs, pkg)
			}
		}
		b.fig.wardInitIR = c.beforeMain - counts[0].beforeMain
		b.fig.storeInit = map[string]int64{}
		var irow [][]string
		for _, pkg := range pkgs {
			next := "main.main"
			for i, p := range b.wardInitOrder {
				if p == pkg && i+1 < len(b.wardInitOrder) {
					next = b.wardInitOrder[i+1]
				}
			}
			ir, err := initWindow(env, filepath.Join(dir, "pkg-"+strings.NewReplacer("/", "_", "%", "_").Replace(pkg)), b.bin.ward, pkg, next)
			if err != nil {
				irow = append(irow, []string{"`" + pkg + "`", "failed: " + err.Error(), ""})
				continue
			}
			if stores[pkg] {
				b.fig.storeInit[pkg] = ir
			}
			irow = append(irow, []string{"`" + pkg + "`", millions(ir), fmt.Sprintf("%.0f%%", 100*float64(ir)/float64(max(b.fig.wardInitIR, 1)))})
		}
		b.rep.text("`ward version`'s largest initialisers by inittrace, and the packages of the stores served by helpers that still initialise in ward, each counted as the window from its first init function to the next package's in init order (`--dump-before` on both), so that stack growth and garbage collection during it count too:")
		b.rep.table([]string{"package", "instructions", "share of ward's initialisers (before main, minus the empty program's)"}, irow)
	}
	if c := counts[2]; c.err == nil {
		pk, err := packageCosts(c.last.files())
		if err == nil {
			var prow [][]string
			for _, p := range pk[:min(len(pk), 10)] {
				prow = append(prow, []string{"`" + p.pkg + "`", millions(p.ir), fmt.Sprintf("%.1f%%", 100*float64(p.ir)/float64(c.last.total()))})
			}
			b.rep.text("Where `ward run --exec -- true` with 0 refs spends its instructions (self cost by package, from `callgrind_annotate`; `runtime` includes the allocation and stack growth other packages cause):")
			b.rep.table([]string{"package", "instructions", "share"}, prow)
		}
	}
	return nil
}

// callgrind runs p under callgrind until p.runs runs complete (or too
// many abort) and takes the medians.
func callgrind(env []string, base string, p cgProgram) cgCount {
	var c cgCount
	var totals, before []int64
	opts := []string{"--dump-before=main.main"}
	if p.exec {
		opts = append(opts, "--dump-before=syscall.Exec")
	}
	for c.attempts < 4*p.runs+4 && len(totals) < p.runs {
		c.attempts++
		prof, err := valgrind(env, fmt.Sprintf("%s-%d.out", base, c.attempts), p.argv, p.exit, opts...)
		if err != nil {
			c.err = err
			continue
		}
		bm, ok := prof.upTo("main.main")
		if !ok {
			c.err = errors.New("callgrind saw no call of main.main")
			continue
		}
		totals, before = append(totals, prof.total()), append(before, bm)
		c.last = prof
	}
	if len(totals) < p.runs {
		if c.err == nil {
			c.err = errors.New("no complete run")
		}
		return c
	}
	c.err = nil
	c.total, c.beforeMain = medianInt(totals), medianInt(before)
	return c
}

// initWindow counts `ward version`'s instructions from the first init
// function of pkg to the first of next (a package, or main.main).
func initWindow(env []string, base, ward, pkg, next string) (int64, error) {
	opts := []string{"--dump-before=" + pkg + ".init", "--dump-before=" + pkg + ".init.*"}
	if next == "main.main" {
		opts = append(opts, "--dump-before=main.main")
	} else {
		opts = append(opts, "--dump-before="+next+".init", "--dump-before="+next+".init.*")
	}
	var err error
	for try := 1; try <= 4; try++ {
		var prof profile
		prof, err = valgrind(env, fmt.Sprintf("%s-%d.out", base, try), []string{ward, "version"}, 0, opts...)
		if err != nil {
			continue
		}
		if ir, ok := prof.between(pkg, next); ok {
			return ir, nil
		}
		return 0, fmt.Errorf("no dump at %s and then at %s", pkg, next)
	}
	return 0, err
}

// valgrind runs argv once under callgrind and reads the profile; an
// error when callgrind aborted or the program exited other than with
// exit.
func valgrind(env []string, file string, argv []string, exit int, opts ...string) (profile, error) {
	args := append([]string{"--tool=callgrind", "--callgrind-out-file=" + file}, opts...)
	cmd := exec.Command("valgrind", append(args, argv...)...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		return profile{}, err
	}
	if code != exit || strings.Contains(stderr.String(), "Assertion") {
		return profile{}, fmt.Errorf("callgrind aborted or the program exited %d", code)
	}
	return readProfile(file)
}

// part is one dump of a callgrind run: the instructions counted since the
// dump before it, and what ended it ("--dump-before=FUNCTION", "Program
// termination").
type part struct {
	n       int
	trigger string
	ir      int64
	file    string
}

// profile is one callgrind run: its dumps in order.
type profile struct{ parts []part }

// readProfile reads file and its numbered dumps (file.1, file.2, ...).
func readProfile(file string) (profile, error) {
	names, err := filepath.Glob(file + "*")
	if err != nil {
		return profile{}, err
	}
	var p profile
	for _, name := range names {
		st, err := os.Stat(name)
		if err != nil {
			return profile{}, err
		}
		// The file open at an exec is left empty.
		if st.Size() == 0 {
			continue
		}
		pt, err := readPart(name)
		if err != nil {
			return profile{}, err
		}
		p.parts = append(p.parts, pt)
	}
	if len(p.parts) == 0 {
		return profile{}, fmt.Errorf("%s: callgrind wrote no profile", file)
	}
	sort.Slice(p.parts, func(i, j int) bool { return p.parts[i].n < p.parts[j].n })
	return p, nil
}

func readPart(name string) (part, error) {
	f, err := os.Open(name)
	if err != nil {
		return part{}, err
	}
	defer f.Close()
	pt := part{file: name, n: 1}
	found := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "part: "):
			pt.n, _ = strconv.Atoi(strings.TrimPrefix(line, "part: "))
		case strings.HasPrefix(line, "desc: Trigger: "):
			pt.trigger = strings.TrimPrefix(line, "desc: Trigger: ")
		case strings.HasPrefix(line, "totals: "):
			pt.ir, err = strconv.ParseInt(strings.Fields(strings.TrimPrefix(line, "totals: "))[0], 10, 64)
			if err != nil {
				return part{}, err
			}
			found = true
		}
	}
	if err := sc.Err(); err != nil {
		return part{}, err
	}
	if !found {
		return part{}, fmt.Errorf("%s has no totals", name)
	}
	return pt, nil
}

func (p profile) total() int64 {
	var n int64
	for _, pt := range p.parts {
		n += pt.ir
	}
	return n
}

func (p profile) files() []string {
	var f []string
	for _, pt := range p.parts {
		f = append(f, pt.file)
	}
	return f
}

// endedBy reports whether a part was dumped on entering fn, or, for a
// package path, one of the package's init functions.
func (pt part) endedBy(fn string) bool {
	t, ok := strings.CutPrefix(pt.trigger, "--dump-before=")
	if !ok {
		return false
	}
	return t == fn || t == fn+".init" || strings.HasPrefix(t, fn+".init.")
}

// upTo sums the parts up to the first that fn's entry ended.
func (p profile) upTo(fn string) (int64, bool) {
	var n int64
	for _, pt := range p.parts {
		n += pt.ir
		if pt.endedBy(fn) {
			return n, true
		}
	}
	return 0, false
}

// between sums the parts after the first that from's entry ended, up to
// the first that to's entry ended. (Callgrind may see a function entered
// again after Go moved its stack; only the first entry counts.)
func (p profile) between(from, to string) (int64, bool) {
	started := false
	var n int64
	for _, pt := range p.parts {
		if started {
			n += pt.ir
			if pt.endedBy(to) {
				return n, true
			}
		} else if pt.endedBy(from) {
			started = true
		}
	}
	return 0, false
}

// annotateLine is a line of callgrind_annotate's function list:
// "330,794 ( 6.69%)  ./runtime/slice.go:runtime.growslice [/bin/ward]".
var annotateLine = regexp.MustCompile(`^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S+)`)

type pkgCost struct {
	pkg string
	ir  int64
}

// packageCosts sums the self cost of the functions in files by Go
// package.
func packageCosts(files []string) ([]pkgCost, error) {
	sums := map[string]int64{}
	for _, file := range files {
		out, err := exec.Command("callgrind_annotate", "--threshold=100", "--auto=no", file).Output()
		if err != nil {
			return nil, err
		}
		started := false
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "file:function") {
				started = true
				continue
			}
			m := annotateLine.FindStringSubmatch(line)
			if !started || m == nil {
				continue
			}
			n, err := strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64)
			if err != nil {
				continue
			}
			fn := m[2][strings.LastIndex(m[2], ":")+1:]
			sums[goPackage(fn)] += n
		}
	}
	var pk []pkgCost
	for p, n := range sums {
		pk = append(pk, pkgCost{p, n})
	}
	sort.Slice(pk, func(i, j int) bool { return pk[i].ir > pk[j].ir })
	return pk, nil
}

// goPackage is the package part of a Go symbol (regexp/syntax.(*compiler).compile
// -> regexp/syntax); symbols that are not Go's go to "(other)".
func goPackage(sym string) string {
	slash := strings.LastIndex(sym, "/")
	dot := strings.Index(sym[slash+1:], ".")
	if dot < 0 {
		return "(other)"
	}
	return sym[:slash+1+dot]
}

func millions(n int64) string { return fmt.Sprintf("%.2f M", float64(n)/1e6) }
