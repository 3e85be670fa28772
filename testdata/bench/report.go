package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// report accumulates the Markdown the sections write.
type report struct{ b strings.Builder }

func (r *report) section(title string) { fmt.Fprintf(&r.b, "## %s\n\n", title) }

func (r *report) text(format string, args ...any) {
	fmt.Fprintf(&r.b, format, args...)
	r.b.WriteString("\n\n")
}

func (r *report) table(head []string, rows [][]string) {
	r.b.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for range head {
		r.b.WriteString("---|")
	}
	r.b.WriteString("\n")
	for _, row := range rows {
		r.b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	r.b.WriteString("\n")
}

func (r *report) String() string { return r.b.String() }

// figures are the numbers the summary tables (goals, before and after)
// quote from the sections.
type figures struct {
	emptyGo, run0, run20, version  time.Duration
	oldVersion, old0, old20        time.Duration
	vault1, oldVault1, roundTrips  time.Duration
	vaultEmpty                     time.Duration // the empty program in the Vault loop
	vault200, old200, sequential   time.Duration
	rss, hwm, oldRSS, oldHWM       int64 // bytes
	maskRate, catRate              float64
	initWard, initOld, initEmpty   time.Duration
	initVault                      time.Duration // ward-vault's, 0 if not traced
	sizeWard, sizeOld, sizeHelpers int64
	sdksInWard                     []string
	// The floors (0 when not measured): a Go program that only runs
	// `true`, the same catching every signal, and vault/api reading the
	// one and the 50 documents in one process with no child.
	floorExec, floorSignals   time.Duration
	vaultFloor1, vaultFloor50 time.Duration
	// wardInitIR is the instructions of ward's initialisers (before main,
	// minus the empty program's); storeInit those of the packages of
	// helper-served stores that initialise in ward, by package.
	wardInitIR         int64
	storeInit          map[string]int64
	haveOld, haveVault bool
	haveVault200       bool
}

// summary writes the before/after table and the goals of issue 15.
func (b *bench) summary() {
	f, r := b.fig, b.rep
	if f.haveOld {
		r.section(fmt.Sprintf("Before (%s, one binary) and after (core + helpers), from the tables above", b.bin.oldRev))
		rows := [][]string{
			{"`ward version`, wall median", ms(f.oldVersion), ms(f.version), fmt.Sprintf("%.2fx", ratio(f.version, f.oldVersion))},
			{"`ward run -- true`, 0 refs", ms(f.old0), ms(f.run0), fmt.Sprintf("%.2fx", ratio(f.run0, f.old0))},
			{"`ward run -- true`, 20 local refs", ms(f.old20), ms(f.run20), fmt.Sprintf("%.2fx", ratio(f.run20, f.old20))},
		}
		if f.haveVault && f.oldVault1 > 0 {
			rows = append(rows, []string{"`ward run -- true`, 1 Vault KV ref", ms(f.oldVault1), ms(f.vault1), fmt.Sprintf("%.2fx", ratio(f.vault1, f.oldVault1))})
		}
		if f.haveVault200 && f.old200 > 0 {
			rows = append(rows, []string{"`ward run -- true`, 200 Vault refs over 50 paths", ms(f.old200), ms(f.vault200), fmt.Sprintf("%.2fx", ratio(f.vault200, f.old200))})
		}
		rows = append(rows,
			[]string{"package initialisers, sum of inittrace clock (`ward version`)", ms(f.initOld), ms(f.initWard), fmt.Sprintf("%.2fx", ratio(f.initWard, f.initOld))},
			[]string{"VmHWM supervising a sleeping child, 20 local refs", mib(f.oldHWM), mib(f.hwm), fmt.Sprintf("%.2fx", float64(f.hwm)/float64(max(f.oldHWM, 1)))},
			[]string{"binary size (unstripped)", mib(f.sizeOld), fmt.Sprintf("%s core (+ %s of helpers)", mib(f.sizeWard), mib(f.sizeHelpers)), fmt.Sprintf("%.2fx core", float64(f.sizeWard)/float64(max(f.sizeOld, 1)))},
		)
		r.table([]string{"measurement", "before", "after", "after / before"}, rows)
	}

	r.section("Goals of issue 15")
	e := f.emptyGo
	rows := [][]string{
		{"`ward run -- true`, 0 refs ≤ 2x the empty Go program", fmt.Sprintf("%s vs %s: %.2fx", ms(f.run0), ms(e), ratio(f.run0, e)), met(ratio(f.run0, e) <= 2)},
		{"`ward run -- true`, 20 local refs ≤ 2x the empty Go program", fmt.Sprintf("%s vs %s: %.2fx", ms(f.run20), ms(e), ratio(f.run20, e)), met(ratio(f.run20, e) <= 2)},
	}
	if f.haveVault {
		bound := f.vaultEmpty + f.roundTrips + 3*time.Millisecond
		rows = append(rows,
			[]string{"1 Vault KV ref ≤ empty Go + 2 round trips + 3 ms", fmt.Sprintf("%s vs %s + %s + 3 ms = %s", ms(f.vault1), ms(f.vaultEmpty), ms(f.roundTrips), ms(bound)), met(f.vault1 <= bound)},
			[]string{"1 Vault KV ref ≤ 3x the empty Go program", fmt.Sprintf("%s vs %s: %.2fx", ms(f.vault1), ms(f.vaultEmpty), ratio(f.vault1, f.vaultEmpty)), met(ratio(f.vault1, f.vaultEmpty) <= 3)},
		)
	} else {
		rows = append(rows, []string{"1 Vault KV ref", "not measured: no VAULT_TEST_ADDR", "–"})
	}
	if f.haveVault200 {
		rows = append(rows, []string{"200 Vault refs over 50 paths ≤ 0.25x 200 sequential reads", fmt.Sprintf("%s vs %s: %.2fx", ms(f.vault200), ms(f.sequential), ratio(f.vault200, f.sequential)), met(ratio(f.vault200, f.sequential) <= 0.25)})
	}
	sdk := "no store SDK module linked, so no SDK initialiser runs"
	if len(f.sdksInWard) > 0 {
		sdk = "SDK modules linked: " + strings.Join(f.sdksInWard, ", ")
	}
	verdict := met(len(f.sdksInWard) == 0)
	var storeIR int64
	var names []string
	for pkg, ir := range f.storeInit {
		storeIR += ir
		names = append(names, fmt.Sprintf("`%s` %s", strings.TrimPrefix(pkg, "github.com/wardsecrets/ward/"), millions(ir)))
	}
	sort.Strings(names)
	if len(names) > 0 {
		share := float64(storeIR) / float64(max(f.wardInitIR, 1))
		sdk += fmt.Sprintf("; but the packages of helper-served stores still initialise in ward: %s instructions, %.0f%% of ward's initialisers", strings.Join(names, ", "), 100*share)
		if share > 0.1 {
			verdict = "SDKs: met; store packages: **not met**"
		}
	}
	rows = append(rows,
		[]string{"linking another store does not move the 0-ref figure", sdk, verdict},
		[]string{"peak RSS supervising a sleeping child, 20 local refs ≤ 10 MB", fmt.Sprintf("VmHWM %s, VmRSS %s", mib(f.hwm), mib(f.rss)), met(f.hwm <= 10<<20)},
		[]string{"`--mask` end to end ≥ 0.8x cat's throughput", fmt.Sprintf("%.2f vs %.2f GB/s: %.2fx", f.maskRate, f.catRate, f.maskRate/max(f.catRate, 1e-9)), met(f.maskRate >= 0.8*f.catRate)},
	)
	r.table([]string{"goal", "measured", ""}, rows)
	b.floors()
}

// floors sets each start-up goal beside the least a Go program does for
// the same job (testdata/bench/floor and vaultfloor): a goal below its
// floor cannot be met by any wrapper written in Go with vault/api.
func (b *bench) floors() {
	f, r := b.fig, b.rep
	if f.floorExec == 0 {
		return
	}
	r.section("The floors under the start-up goals")
	r.text("Each floor is a Go program, built like ward, that does only part of the job: it reads no manifest and forwards nothing. Its ratio to the empty program is the least any Go wrapper could show for that row; ward's distance to it is what ward itself costs.")
	e := f.emptyGo
	row := func(job string, goal float64, floor, ward, base time.Duration) []string {
		below := "above the floor: reachable"
		if goal < ratio(floor, base) {
			below = "below the floor: no Go wrapper can meet it"
		}
		return []string{job, fmt.Sprintf("%.2fx", goal), fmt.Sprintf("%s (%.2fx)", ms(floor), ratio(floor, base)),
			fmt.Sprintf("%s (%.2fx)", ms(ward), ratio(ward, base)), ms(ward - floor), below}
	}
	rows := [][]string{
		row("run `true`, 0 refs: floor = fork/exec + wait", 2, f.floorExec, f.run0, e),
		row("run `true`, 0 refs: floor = the same, catching every signal (os/signal, no pinning)", 2, f.floorSignals, f.run0, e),
	}
	if f.haveVault && f.vaultFloor1 > 0 {
		rows = append(rows, row("1 Vault KV ref: floor = vault/api reads it (2 round trips), no child", 3, f.vaultFloor1, f.vault1, f.vaultEmpty))
	}
	if f.haveVault200 && f.vaultFloor50 > 0 {
		rows = append(rows, row("200 Vault refs / 50 paths: floor = vault/api reads the 50 paths, no child (÷ sequential reads)", 0.25, f.vaultFloor50, f.vault200, f.sequential))
	}
	r.table([]string{"job", "goal", "floor (÷ base)", "ward (÷ base)", "ward − floor", "the goal is"}, rows)
}
