package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// localEntries is how many local:// entries setup stores
// (bench/V000...), each holding bench-value-NNN.
const localEntries = 200

// setup fills the local store, writes the manifests and, with a Vault
// test server, the Vault documents. The entries go in with one
// `ward import` (the store written once), not one `ward local set` each.
func (b *bench) setup() error {
	b.progress("storing %d local entries", localEntries)
	var env strings.Builder
	var names []string
	for i := 0; i < localEntries; i++ {
		fmt.Fprintf(&env, "V%03d=bench-value-%03d\n", i, i)
		names = append(names, fmt.Sprintf("V%03d", i))
	}
	dotenv := filepath.Join(b.tmp, "bench.env")
	if err := os.WriteFile(dotenv, []byte(env.String()), 0o600); err != nil {
		return err
	}
	imp := exec.Command(b.bin.ward, "import", "-m", filepath.Join(b.tmp, "import.yaml"), "--name-prefix", "bench/", "--secret", strings.Join(names, ","), dotenv)
	imp.Env = b.env
	if out, err := imp.CombinedOutput(); err != nil {
		return fmt.Errorf("fill the local store: ward import: %w: %s", err, out)
	}
	set := exec.Command(b.bin.ward, "local", "set", "bench/restart")
	set.Env = b.env
	set.Stdin = strings.NewReader("restart-initial")
	if out, err := set.CombinedOutput(); err != nil {
		return fmt.Errorf("fill the local store: ward local set: %w: %s", err, out)
	}
	if b.vault != nil {
		return b.vault.fill()
	}
	return nil
}

// localManifest writes a manifest with refs local:// references and
// returns its path.
func (b *bench) localManifest(refs int) string {
	var m strings.Builder
	m.WriteString("version: 1\nenv:\n  PLAIN: {value: x}\n")
	for i := 0; i < refs; i++ {
		fmt.Fprintf(&m, "  V%03d: local://bench/V%03d\n", i, i)
	}
	return b.manifest(fmt.Sprintf("local-%d.yaml", refs), m.String())
}

// manifest writes a manifest file under the run's directory.
func (b *bench) manifest(name, body string) string {
	p := filepath.Join(b.tmp, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		panic(err)
	}
	return p
}

// startup times the start-up commands of issue 15 in one alternating
// loop: the floors, the new core with 0, 20 and 200 local refs, the core
// without the build tag, and the old single binary.
func (b *bench) startup() error {
	truePath, err := exec.LookPath("true")
	if err != nil {
		return err
	}
	m0, m20, m200 := b.localManifest(0), b.localManifest(20), b.localManifest(200)
	runTrue := func(ward, m string) []string { return []string{ward, "run", "-m", m, "--", truePath} }
	probes := []probe{
		{"`" + truePath + "`", command(b.env, truePath)},
		{"empty Go program (`func main() {}`)", command(b.env, b.bin.empty)},
		{"`ward version`", command(b.env, b.bin.ward, "version")},
		{"`ward run -- true`, 0 refs", command(b.env, runTrue(b.bin.ward, m0)...)},
		{"`ward run -- true`, 20 `local://` refs", command(b.env, runTrue(b.bin.ward, m20)...)},
		{"`ward run -- true`, 200 `local://` refs", command(b.env, runTrue(b.bin.ward, m200)...)},
		{"`ward version`, built without `" + noDocsTag + "`", command(b.env, b.bin.wardNoTag, "version")},
		{"`ward run -- true`, 0 refs, built without `" + noDocsTag + "`", command(b.env, runTrue(b.bin.wardNoTag, m0)...)},
	}
	if b.bin.old != "" {
		old := "old single binary (" + b.bin.oldRev + "): "
		probes = append(probes,
			probe{old + "`ward version`", command(b.env, b.bin.old, "version")},
			probe{old + "`ward run -- true`, 0 refs", command(b.env, runTrue(b.bin.old, m0)...)},
			probe{old + "`ward run -- true`, 20 `local://` refs", command(b.env, runTrue(b.bin.old, m20)...)},
		)
	}
	floors := len(probes)
	probes = append(probes,
		probe{"floor: a Go program that fork/execs `true` and waits (`testdata/bench/floor exec`)", command(b.env, b.bin.floor, "exec", truePath)},
		probe{"floor: the same after catching every signal with os/signal.Notify, as ward does without its one-CPU pinning (`floor signals`)", command(b.env, b.bin.floor, "signals", truePath)},
	)
	b.progress("start-up loop: %d rounds of %d commands", b.cfg.rounds, len(probes))
	res := alternate(b.cfg.rounds, probes)
	empty := median(res[1].wall)
	goals := map[int]bool{3: true, 4: true}
	var rows [][]string
	for i, s := range res {
		if !s.ok() {
			rows = append(rows, []string{s.name, "failed: " + s.err.Error(), "", "", "", "", ""})
			continue
		}
		goal := ""
		if goals[i] {
			r := ratio(median(s.wall), empty)
			goal = fmt.Sprintf("≤ 2x: %s", met(r <= 2))
		}
		if s.failed > 0 {
			goal += fmt.Sprintf(" (%d runs failed: %v)", s.failed, s.err)
		}
		rows = append(rows, []string{s.name, ms(median(s.wall)), ms(pct(s.wall, 90)), s.cpuCell(), s.rusageCell(),
			fmt.Sprintf("%.2fx", ratio(median(s.wall), empty)), goal})
	}
	b.rep.section(fmt.Sprintf("Start-up: whole processes, one alternating loop (%d rounds)", b.cfg.rounds))
	b.rep.text("User / system CPU, page faults and context switches are medians of each run's rusage (children included: `true`). Page faults and instructions (next sections) do not depend on load; wall and CPU times do.")
	b.rep.table([]string{"command", "wall median", "wall p90", "user / sys CPU", "page faults / context switches", "÷ empty Go (median wall)", "goal"}, rows)

	f := b.fig
	f.emptyGo, f.version, f.run0, f.run20 = empty, median(res[2].wall), median(res[3].wall), median(res[4].wall)
	if b.bin.old != "" && res[8].ok() && res[9].ok() && res[10].ok() {
		f.haveOld = true
		f.oldVersion, f.old0, f.old20 = median(res[8].wall), median(res[9].wall), median(res[10].wall)
	}
	if res[floors].ok() && res[floors+1].ok() {
		f.floorExec, f.floorSignals = median(res[floors].wall), median(res[floors+1].wall)
	}
	return nil
}
