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
}

// cgCount is what callgrind counted for one program.
type cgCount struct {
	total, init int64 // instructions; init: inside runtime.doInit1
	attempts    int
	file        string // the last complete profile of the whole run
	err         error
}

// instructions counts the instructions of the start-up commands, which
// load on the machine does not change: a second, noise-free view of the
// start-up table.
func (b *bench) instructions() error {
	if !b.cfg.callgrind {
		return nil
	}
	if _, err := exec.LookPath("valgrind"); err != nil {
		b.rep.section("Start-up in instructions (callgrind)")
		b.rep.text("Skipped: valgrind is not installed.")
		return nil
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		return err
	}
	m0, m20 := b.localManifest(0), b.localManifest(20)
	n := b.cfg.cgRuns
	progs := []cgProgram{
		{"empty Go program", []string{b.bin.empty}, 0, n},
		{"`ward version`", []string{b.bin.ward, "version"}, 0, n},
		{"`ward run -- true`, 0 refs", []string{b.bin.ward, "run", "-m", m0, "--", truePath}, 0, n},
		{"`ward run -- true`, 20 `local://` refs", []string{b.bin.ward, "run", "-m", m20, "--", truePath}, 0, n},
		{"`ward version`, built without `" + noDocsTag + "`", []string{b.bin.wardNoTag, "version"}, 0, 1},
	}
	if b.bin.old != "" {
		progs = append(progs,
			cgProgram{"old single binary: `ward version`", []string{b.bin.old, "version"}, 0, 1},
			cgProgram{"old single binary: `ward run -- true`, 0 refs", []string{b.bin.old, "run", "-m", m0, "--", truePath}, 0, 1},
		)
	}
	for _, h := range b.bin.helpers {
		progs = append(progs, cgProgram{"`" + filepath.Base(h) + "` (exits after its initialisers: no protocol flag)", []string{h}, 2, 1})
	}
	dir := filepath.Join(b.tmp, "callgrind")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	env := with(b.env, callgrindEnv...)
	counts := make([]cgCount, len(progs))
	for i, p := range progs {
		b.progress("callgrind: %s", p.name)
		counts[i] = callgrind(dir, fmt.Sprint(i), env, p)
	}
	empty := counts[0].total
	var rows [][]string
	for i, p := range progs {
		c := counts[i]
		if c.err != nil {
			rows = append(rows, []string{p.name, "failed: " + c.err.Error(), "", "", ""})
			continue
		}
		rows = append(rows, []string{p.name, millions(c.total), millions(c.init), fmt.Sprintf("%.1fx", float64(c.total)/float64(max(empty, 1))),
			fmt.Sprintf("%d of %d", p.runs, c.attempts)})
	}
	b.rep.section("Start-up in instructions (callgrind)")
	b.rep.text("`valgrind --tool=callgrind` with %s (callgrind 3.19 aborts on Go's preemption signal otherwise), user-space instructions of the whole process, median of the runs shown; \"in initialisers\" is a separate run with `--toggle-collect=runtime.doInit1` (every package initialiser, and what it calls). Kernel work (exec, page faults, mmap) is not counted, so this is the CPU part of start-up, not its wall time. A run that callgrind itself aborted (it sometimes does when ward's child exits and SIGCHLD arrives) is run again; the last column counts the complete runs against the attempts.", "`"+strings.Join(callgrindEnv, " ")+"`")
	b.rep.table([]string{"command", "instructions", "in initialisers", "÷ empty Go", "complete runs / attempts"}, rows)
	if len(b.wardInits) > 0 && counts[1].err == nil {
		var irow [][]string
		for i, pkg := range b.wardInits {
			p := cgProgram{argv: []string{b.bin.ward, "version"}, runs: 1}
			var n int64
			var err error
			for try := 0; try < 4; try++ {
				if n, err = valgrind(env, filepath.Join(dir, fmt.Sprintf("pkg-%d.out", i)), p, []string{"--toggle-collect=" + pkg + ".init", "--toggle-collect=" + pkg + ".init.?"}); err == nil {
					break
				}
			}
			if err != nil {
				irow = append(irow, []string{"`" + pkg + "`", "failed: " + err.Error(), ""})
				continue
			}
			irow = append(irow, []string{"`" + pkg + "`", millions(n), fmt.Sprintf("%.0f%%", 100*float64(n)/float64(max(counts[1].init, 1)))})
		}
		b.rep.text("`ward version`'s largest initialisers by inittrace, counted alone (`--toggle-collect=PKG.init --toggle-collect=PKG.init.?`: the package's variable initialisation, its `init()` functions and what they call):")
		b.rep.table([]string{"package", "instructions", "share of all initialisers"}, irow)
	}
	if c := counts[2]; c.err == nil && c.file != "" {
		pk, err := packageCosts(c.file)
		if err == nil {
			var prow [][]string
			for _, p := range pk[:min(len(pk), 10)] {
				prow = append(prow, []string{"`" + p.pkg + "`", millions(p.ir), fmt.Sprintf("%.1f%%", 100*float64(p.ir)/float64(c.total))})
			}
			b.rep.text("Where `ward run -- true` with 0 refs spends its instructions (self cost by package, from `callgrind_annotate`; the regexp and runtime rows include work done for initialisers):")
			b.rep.table([]string{"package", "instructions", "share"}, prow)
		}
	}
	return nil
}

// callgrind counts p's instructions: p.runs complete runs of the whole
// program (median) and one of its initialisers alone.
func callgrind(dir, tag string, env []string, p cgProgram) cgCount {
	var c cgCount
	var totals []int64
	for c.attempts < 4*p.runs+4 && len(totals) < p.runs {
		c.attempts++
		file := filepath.Join(dir, fmt.Sprintf("%s-%d.out", tag, c.attempts))
		n, err := valgrind(env, file, p, nil)
		if err != nil {
			c.err = err
			continue
		}
		totals = append(totals, n)
		c.file = file
	}
	if len(totals) < p.runs {
		if c.err == nil {
			c.err = errors.New("no complete run")
		}
		return c
	}
	c.err = nil
	c.total = medianInt(totals)
	for try := 0; try < 6; try++ {
		n, err := valgrind(env, filepath.Join(dir, tag+"-init.out"), p, []string{"--toggle-collect=runtime.doInit1"})
		if err == nil {
			c.init = n
			break
		}
	}
	return c
}

// valgrind runs p once under callgrind and returns the instructions it
// counted; an error when callgrind aborted or p exited unexpectedly.
func valgrind(env []string, file string, p cgProgram, extra []string) (int64, error) {
	args := append([]string{"--tool=callgrind", "--callgrind-out-file=" + file}, extra...)
	cmd := exec.Command("valgrind", append(args, p.argv...)...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		return 0, err
	}
	if code != p.exit || strings.Contains(stderr.String(), "Assertion") {
		return 0, fmt.Errorf("callgrind aborted or the program exited %d", code)
	}
	return totalsOf(file)
}

// totalsOf reads the totals line of a callgrind profile.
func totalsOf(file string) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "totals: "); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s has no totals", file)
}

// annotateLine is a line of callgrind_annotate's function list:
// "330,794 ( 6.69%)  ./runtime/slice.go:runtime.growslice [/bin/ward]".
var annotateLine = regexp.MustCompile(`^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S+)`)

type pkgCost struct {
	pkg string
	ir  int64
}

// packageCosts sums a profile's self cost by Go package.
func packageCosts(file string) ([]pkgCost, error) {
	out, err := exec.Command("callgrind_annotate", "--threshold=100", file).Output()
	if err != nil {
		return nil, err
	}
	sums := map[string]int64{}
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
		loc := m[2]
		fn := loc[strings.LastIndex(loc, ":")+1:]
		sums[goPackage(fn)] += n
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
