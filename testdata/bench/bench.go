package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// config is the command line.
type config struct {
	rounds      int
	oldRev      string
	out         string
	vaultTrials int
	pollTrials  int
	signals     int
	restarts    int
	initRuns    int
	rssRuns     int
	maskMB      int
	maskRuns    int
	callgrind   bool
	cgRuns      int
	// command is the command line as given, for the report.
	command string
}

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&c.rounds, "n", 150, "rounds of the alternating start-up and 1-ref Vault loops (each command runs once per round)")
	fs.StringVar(&c.oldRev, "old", "9653bba", "commit of the old single binary to build from `git archive` and compare (\"\" skips it)")
	fs.StringVar(&c.out, "out", "", "where to write the tables (default testdata/bench/RESULTS.md in the module)")
	fs.IntVar(&c.vaultTrials, "vault-trials", 20, "rounds of the 200-ref Vault comparison")
	fs.IntVar(&c.pollTrials, "poll-trials", 20, "Vault changes timed for the polled restart (about 1.2 s each; 0 skips)")
	fs.IntVar(&c.signals, "signals", 200, "signals timed for forwarding latency")
	fs.IntVar(&c.restarts, "restarts", 20, "`ward local set` changes timed for restart latency")
	fs.IntVar(&c.initRuns, "init-runs", 20, "runs of each program under GODEBUG=inittrace=1")
	fs.IntVar(&c.rssRuns, "rss-runs", 5, "supervising runs sampled for RSS")
	fs.IntVar(&c.maskMB, "mask-mb", 1024, "MiB of log text the masking benchmark pipes through")
	fs.IntVar(&c.maskRuns, "mask-runs", 5, "alternating runs of each masking command")
	fs.BoolVar(&c.callgrind, "callgrind", true, "count instructions of the start-up commands under valgrind --tool=callgrind")
	fs.IntVar(&c.cgRuns, "callgrind-runs", 3, "callgrind runs of each start-up command (median)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	cmd := []string{"go run ./testdata/bench"}
	fs.Visit(func(f *flag.Flag) { cmd = append(cmd, fmt.Sprintf("-%s=%s", f.Name, f.Value)) })
	c.command = strings.Join(cmd, " ")
	return c, nil
}

// bench is one run of the harness: the binaries under test and what every
// measurement shares.
type bench struct {
	cfg   *config
	root  string // the module's directory
	tmp   string
	bin   *binaries
	env   []string     // ward's environment: private XDG dirs, log level warn
	vault *vaultServer // nil without VAULT_TEST_ADDR
	rep   *report
	fig   *figures
	start time.Time
	// wardInits are the core's largest initialisers by inittrace, which
	// the callgrind section counts one by one; wardInitOrder is the order
	// in which its packages initialise.
	wardInits, wardInitOrder []string
}

func run(args []string) int {
	cfg, err := parseFlags(args)
	if err != nil {
		return 2
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: error:", err)
		return 1
	}
	if cfg.out == "" {
		cfg.out = filepath.Join(root, "testdata", "bench", "RESULTS.md")
	}
	tmp, err := os.MkdirTemp("", "ward-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: error:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	b := &bench{cfg: cfg, root: root, tmp: tmp, vault: vaultFromEnv(), rep: &report{}, fig: &figures{}, start: time.Now()}
	if err := b.all(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: error:", err)
		return 1
	}
	return 0
}

// all builds, measures each section in turn and writes the report.
func (b *bench) all() error {
	loadStart := loadavg()
	b.progress("building ward, its helpers, the empty program and the old binary (%s)", b.cfg.oldRev)
	bin, err := build(b.root, b.tmp, b.cfg.oldRev)
	if err != nil {
		return err
	}
	b.bin = bin
	b.env = wardEnv(b.tmp)
	if err := b.setup(); err != nil {
		return err
	}
	loadBefore := loadavg()
	sections := []struct {
		name string
		run  func() error
	}{
		{"start-up", b.startup},
		{"initialisers", b.initialisers},
		{"callgrind", b.instructions},
		{"vault, 1 ref", b.vaultOne},
		{"vault, 200 refs", b.vaultMany},
		{"memory", b.memory},
		{"masking", b.masking},
		{"signals and restarts", b.latencies},
		{"binary sizes", b.sizes},
	}
	for _, s := range sections {
		b.progress("%s", s.name)
		if err := s.run(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	b.summary()
	loadAfter := loadavg()
	faults := faultCost()

	var head strings.Builder
	fmt.Fprintf(&head, "# ward benchmarks\n\n")
	fmt.Fprintf(&head, "Machine: %d cores, %s/%s, %s, %s; %s. Load average (1, 5, 15 min): %s at the start, %s after the builds (when measuring began), %s at the end. A first touch of a fresh page: %s.\n\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, cpuModel(), runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 UTC"), loadStart, loadBefore, loadAfter, faults)
	if busy(loadBefore) || busy(loadAfter) {
		fmt.Fprintf(&head, "**The machine was busy** (load average above its %d cores, other builds running): wall times are inflated and noisier than on a quiet machine; runs alternate, so the ratios hold better than the absolute figures, and the callgrind instruction counts do not depend on load.\n\n", runtime.NumCPU())
	}
	vault := "without a Vault test server (the Vault rows are skipped)"
	if b.vault != nil {
		vault = "with the Vault test server's VAULT_TEST_ADDR and VAULT_TEST_TOKEN set (`scripts/vault-server.sh start DIR && . DIR/vault.env`)"
	}
	fmt.Fprintf(&head, "Command (from the module's directory, %s): `%s`, %s in all.\n\n", vault, b.cfg.command, time.Since(b.start).Round(time.Second))
	fmt.Fprintf(&head, "Method: whole processes, started by this harness with fork/exec and waited for; wall time from start to exit. Things compared run in one loop: each round runs each of them once, in an order that rotates by one each round, after one untimed warm-up run each; median and p90 are nearest-rank over the rounds. CPU times, page faults and context switches come from wait4's rusage, which includes the children the process waited for (`true`, a helper). Binaries are built with CGO_ENABLED=0 -trimpath; ward with `-tags urfave_cli_no_docs` unless a row says otherwise; the helpers sit next to ward, where it finds them first.\n\n")

	doc := head.String() + b.rep.String()
	if err := os.WriteFile(b.cfg.out, []byte(doc), 0o644); err != nil {
		return err
	}
	fmt.Print(doc)
	fmt.Fprintf(os.Stderr, "bench: wrote %s\n", b.cfg.out)
	return nil
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench [%4.0fs]: %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

// wardEnv is the environment every ward run gets: the caller's, minus any
// ward or Vault settings, plus a private local store.
func wardEnv(tmp string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "WARD_") || strings.HasPrefix(name, "VAULT_") || name == "GODEBUG" || name == "GOMAXPROCS" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"XDG_DATA_HOME="+filepath.Join(tmp, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(tmp, "config"),
		"XDG_CACHE_HOME="+filepath.Join(tmp, "cache"),
		"WARD_LOG_LEVEL=warn",
	)
}

// with returns env plus more settings.
func with(env []string, more ...string) []string {
	return append(append([]string(nil), env...), more...)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run from inside the ward module (go run ./testdata/bench)")
	}
	return filepath.Dir(mod), nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// busy reports whether a load average line is above the number of cores.
func busy(load string) bool {
	var one float64
	if _, err := fmt.Sscanf(load, "%g", &one); err != nil {
		return false
	}
	return one > float64(runtime.NumCPU())
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			_, v, _ := strings.Cut(l, ":")
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
