package main

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// initLine is one line of GODEBUG=inittrace=1:
// "init net/netip @18 ms, 0.28 ms clock, 728 bytes, 18 allocs".
var initLine = regexp.MustCompile(`^init (\S+) @[\d.]+ ms, ([\d.]+) ms clock, (\d+) bytes, (\d+) allocs`)

// initRun is one program start under inittrace.
type initRun struct {
	clock  time.Duration // sum over the packages
	bytes  int64
	pkgs   map[string]time.Duration
	allocs map[string]int64 // by package; the same on every run
	order  []string         // the packages in the order they initialised
}

// initProgram is a program whose initialisers are traced.
type initProgram struct {
	name string
	path string
	argv []string
	exit int
	runs []initRun
	err  error
}

// initialisers sums GODEBUG=inittrace=1 clock times of ward's core, the
// old binary and each helper, alternating between them: a store's
// initialisers run only in its helper.
func (b *bench) initialisers() error {
	progs := []*initProgram{
		{name: "empty Go program", path: b.bin.empty, argv: []string{b.bin.empty}},
		{name: "`ward version`", path: b.bin.ward, argv: []string{b.bin.ward, "version"}},
		{name: "`ward version`, built without `" + noDocsTag + "`", path: b.bin.wardNoTag, argv: []string{b.bin.wardNoTag, "version"}},
	}
	if b.bin.old != "" {
		progs = append(progs, &initProgram{name: "old single binary: `ward version`", path: b.bin.old, argv: []string{b.bin.old, "version"}})
	}
	for _, h := range b.bin.helpers {
		// Without the protocol flag a helper prints what it is and exits
		// 2, after every initialiser has run.
		progs = append(progs, &initProgram{name: "`" + filepath.Base(h) + "`", path: h, argv: []string{h}, exit: 2})
	}
	env := with(b.env, "GODEBUG=inittrace=1")
	for r := 0; r < b.cfg.initRuns; r++ {
		for k := range progs {
			p := progs[(r+k)%len(progs)]
			run, err := traceInit(env, p.argv, p.exit)
			if err != nil {
				p.err = err
				continue
			}
			p.runs = append(p.runs, run)
		}
	}

	var rows, top [][]string
	for _, p := range progs {
		deps, sdks, err := linkedModules(p.path)
		if err != nil {
			return err
		}
		if p.path == b.bin.ward {
			b.fig.sdksInWard = sdks
		}
		if len(p.runs) == 0 {
			rows = append(rows, []string{p.name, "failed: " + p.err.Error(), "", "", "", "", ""})
			continue
		}
		var clocks []time.Duration
		var heap []int64
		for _, r := range p.runs {
			clocks = append(clocks, r.clock)
			heap = append(heap, r.bytes)
		}
		rows = append(rows, []string{p.name, strconv.Itoa(len(p.runs[0].pkgs)), ms(median(clocks)), ms(pct(clocks, 90)),
			fmt.Sprintf("%.0f kB", float64(medianInt(heap))/1e3), strconv.Itoa(deps), strconv.Itoa(len(sdks))})
		pkgs := topInits(p.runs, 6)
		var parts []string
		for _, x := range pkgs {
			parts = append(parts, fmt.Sprintf("`%s` %.2f ms (%d allocs)", x.pkg, float64(x.clock)/float64(time.Millisecond), p.runs[0].allocs[x.pkg]))
		}
		top = append(top, []string{p.name, strings.Join(parts, ", ")})
		switch p.path {
		case b.bin.ward:
			b.fig.initWard = median(clocks)
			b.wardInitOrder = p.runs[0].order
			for _, x := range topInits(p.runs, 6) {
				if x.pkg != "runtime" && len(b.wardInits) < 5 {
					b.wardInits = append(b.wardInits, x.pkg)
				}
			}
		case b.bin.old:
			b.fig.initOld = median(clocks)
		case b.bin.empty:
			b.fig.initEmpty = median(clocks)
		}
		if filepath.Base(p.path) == "ward-vault" {
			b.fig.initVault = median(clocks)
		}
	}
	b.rep.section(fmt.Sprintf("Package initialisers (GODEBUG=inittrace=1, %d runs each, alternating)", b.cfg.initRuns))
	b.rep.text("The sum of the `ms clock` of every `init` line a start prints (the runtime's own included), median and p90 over the runs; heap is the bytes the initialisers allocated; modules are those `debug/buildinfo` lists as linked, and store SDK modules those of Vault, AWS, Azure and Google (%s).", strings.Join(sdkPrefixes, ", "))
	b.rep.table([]string{"program", "packages with initialisers", "init clock, median", "p90", "init heap", "modules linked", "store SDK modules"}, rows)
	b.rep.text("The largest initialisers (median clock over the runs; allocations, which do not depend on load, in brackets):")
	b.rep.table([]string{"program", "largest initialisers"}, top)
	return nil
}

// traceInit runs argv once with inittrace on and sums what it prints.
func traceInit(env, argv []string, exit int) (initRun, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == exit) {
		return initRun{}, fmt.Errorf("%s: %w", argv[0], err)
	}
	run := initRun{pkgs: map[string]time.Duration{}, allocs: map[string]int64{}}
	for _, line := range strings.Split(stderr.String(), "\n") {
		m := initLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		clock, _ := strconv.ParseFloat(m[2], 64)
		bytes, _ := strconv.ParseInt(m[3], 10, 64)
		allocs, _ := strconv.ParseInt(m[4], 10, 64)
		d := time.Duration(clock * float64(time.Millisecond))
		run.clock += d
		run.bytes += bytes
		run.pkgs[m[1]] += d
		run.allocs[m[1]] += allocs
		run.order = append(run.order, m[1])
	}
	if len(run.pkgs) == 0 {
		return initRun{}, fmt.Errorf("%s printed no inittrace lines", argv[0])
	}
	return run, nil
}

// initClock is one package's median init clock.
type initClock struct {
	pkg   string
	clock time.Duration
}

// topInits returns the n packages with the largest median init clock.
func topInits(runs []initRun, n int) []initClock {
	per := map[string][]time.Duration{}
	for _, r := range runs {
		for p, d := range r.pkgs {
			per[p] = append(per[p], d)
		}
	}
	var all []initClock
	for p, ds := range per {
		all = append(all, initClock{p, median(ds)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].clock > all[j].clock })
	return all[:min(n, len(all))]
}
