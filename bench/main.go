// Command bench measures whole ward processes side by side with their
// baselines, alternating runs so that machine noise hits both alike, and
// writes a markdown table (bench/RESULTS.md by default).
//
//	go run ./bench [-n 200] [-out bench/RESULTS.md]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type result struct {
	name, baseline   string
	wardMed, baseMed time.Duration
	wardP90, baseP90 time.Duration
}

func main() {
	n := flag.Int("n", 200, "runs of each command")
	childMode := flag.String("child", "", "internal: act as the bench's child program")
	maskMB := flag.Int("mask-mb", 1024, "size of the log the masking benchmark pipes through")
	out := flag.String("out", "bench/RESULTS.md", "where to write the table")
	flag.Parse()
	if *childMode != "" {
		child(*childMode)
		return
	}

	tmp, err := os.MkdirTemp("", "ward-bench-")
	check(err)
	defer os.RemoveAll(tmp)
	ward := filepath.Join(tmp, "ward")
	build := exec.Command("go", "build", "-trimpath", "-o", ward, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	check(build.Run())

	env := append(os.Environ(),
		"XDG_DATA_HOME="+filepath.Join(tmp, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(tmp, "config"),
		"WARD_LOG_LEVEL=warn",
	)
	// 200 local entries, set once.
	var set strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&set, "printf 'bench-value-%03d' | %s local set bench/v%03d\n", i, ward, i)
	}
	sh := exec.Command("sh", "-e")
	sh.Stdin = strings.NewReader(set.String())
	sh.Env = env
	sh.Stderr = os.Stderr
	check(sh.Run())

	manifest := func(refs int) string {
		var b strings.Builder
		b.WriteString("version: 1\nenv:\n  PLAIN: {value: x}\n")
		for i := 0; i < refs; i++ {
			fmt.Fprintf(&b, "  V%03d: local://bench/v%03d\n", i, i)
		}
		p := filepath.Join(tmp, fmt.Sprintf("ward-%d.yaml", refs))
		check(os.WriteFile(p, []byte(b.String()), 0o644))
		return p
	}
	truePath, err := exec.LookPath("true")
	check(err)

	var results []result
	for _, refs := range []int{0, 20, 200} {
		m := manifest(refs)
		w, b := alternate(*n, env,
			[]string{ward, "run", "-m", m, "--", truePath},
			[]string{truePath})
		results = append(results, result{
			name:     fmt.Sprintf("`ward run -- true`, %d local refs", refs),
			baseline: "`true`",
			wardMed:  median(w), baseMed: median(b), wardP90: pct(w, 90), baseP90: pct(b, 90),
		})
	}
	rss := supervisingRSS(ward, manifest(20), env)
	sigP50, sigP99, directP50, directP99 := signalLatency(ward, manifest(0), env, *n)
	restarts := restartLatency(ward, tmp, env, 20)
	vaultRow := vaultRefs(ward, tmp, env, 20)
	pollRow := vaultPollRestart(ward, tmp, env, 20)
	maskRows := maskThroughput(ward, manifest(100), env, *maskMB)

	f, err := os.Create(*out)
	check(err)
	defer f.Close()
	fmt.Fprintf(f, "# ward benchmarks\n\nMachine: %d cores, %s/%s, %s. Command: `go run ./bench -n %d`. Each pair alternates ward and its baseline, %d runs each.\n\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, cpuModel(), *n, *n)
	fmt.Fprintf(f, "| measurement | ward median | baseline median | overhead (median) | ward p90 | baseline p90 |\n|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(f, "| %s vs %s | %s | %s | %s | %s | %s |\n", r.name, r.baseline, ms(r.wardMed), ms(r.baseMed), ms(r.wardMed-r.baseMed), ms(r.wardP90), ms(r.baseP90))
	}
	fmt.Fprintf(f, "\n| measurement | value |\n|---|---|\n")
	fmt.Fprintf(f, "| ward VmRSS while supervising a sleeping child (20 local refs) | %s |\n", rss)
	fmt.Fprintf(f, "| ward VmHWM (peak RSS) in the same run | %s |\n", hwm)
	fmt.Fprintf(f, "| signal forwarding latency, SIGUSR1 to ward -> child's handler (p50 / p99, %d signals) | %s / %s |\n", *n, us(sigP50), us(sigP99))
	fmt.Fprintf(f, "| the same signal sent to the child directly (p50 / p99) | %s / %s |\n", us(directP50), us(directP99))
	fmt.Fprintf(f, "| restart latency: `ward local set` returns -> new child running (debounce 0, p50 / max of 20) | %s |\n", restarts)
	fmt.Fprintf(f, "| %s |\n", vaultRow)
	fmt.Fprintf(f, "| %s |\n", pollRow)
	for _, r := range maskRows {
		fmt.Fprintf(f, "| %s |\n", r)
	}
	fmt.Printf("wrote %s\n", *out)
	data, _ := os.ReadFile(*out)
	os.Stdout.Write(data)
}

var hwm string

// alternate runs a and b n times each, interleaved, and returns their wall
// times.
func alternate(n int, env []string, a, b []string) (ta, tb []time.Duration) {
	run := func(argv []string) time.Duration {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		start := time.Now()
		check(cmd.Run())
		return time.Since(start)
	}
	// Warm up the page cache for both.
	run(a)
	run(b)
	for i := 0; i < n; i++ {
		ta = append(ta, run(a))
		tb = append(tb, run(b))
	}
	return ta, tb
}

// supervisingRSS starts ward over a child that waits on stdin, reads
// ward's VmRSS from /proc once the child is running, then ends the child.
func supervisingRSS(ward, manifest string, env []string) string {
	cmd := exec.Command(ward, "run", "-m", manifest, "--", "sh", "-c", "echo ready; read x")
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	check(err)
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		panic("child did not start: " + line)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	rss := "n/a"
	if err == nil {
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				rss = kb(l)
			}
			if strings.HasPrefix(l, "VmHWM:") {
				hwm = kb(l)
			}
		}
	}
	stdin.Close()
	cmd.Wait()
	return rss
}

// signalLatency sends SIGUSR1 to ward n times and reads the child's
// CLOCK_MONOTONIC stamp of each; then the same straight to the child.
func signalLatency(ward, manifest string, env []string, n int) (p50, p99, dp50, dp99 time.Duration) {
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(ward, "run", "-m", manifest, "--", self, "-child", "sigstamp")
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	r := bufio.NewReader(stdout)
	line, _ := r.ReadString('\n')
	var childPid int
	fmt.Sscanf(line, "ready %d", &childPid)
	measure := func(pid int) []time.Duration {
		var out []time.Duration
		for i := 0; i < n; i++ {
			t0 := monotonic()
			check(syscall.Kill(pid, syscall.SIGUSR1))
			line, err := r.ReadString('\n')
			check(err)
			var t1 int64
			fmt.Sscanf(line, "usr1 %d", &t1)
			out = append(out, time.Duration(t1-t0))
		}
		return out
	}
	viaWard := measure(cmd.Process.Pid)
	direct := measure(childPid)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	return median(viaWard), pct(viaWard, 99), median(direct), pct(direct, 99)
}

// restartLatency changes a local entry the child uses and times until the
// new child reports itself running.
func restartLatency(ward, tmp string, env []string, trials int) string {
	self, err := os.Executable()
	check(err)
	m := filepath.Join(tmp, "restart.yaml")
	check(os.WriteFile(m, []byte("version: 1\nenv:\n  V: local://bench/v000\nrotation:\n  debounce: 0\n  stop_timeout: 5s\n"), 0o644))
	d := timeRestarts([]string{ward, "run", "-m", m, "--", self, "-child", "startstamp"}, env, trials, func(i int) {
		set := exec.Command(ward, "local", "set", "bench/v000")
		set.Env = env
		set.Stdin = strings.NewReader(fmt.Sprintf("restart-value-%d", i))
		check(set.Run())
	})
	return fmt.Sprintf("%s / %s", ms(median(d)), ms(pct(d, 100)))
}

// vaultRefs times ward resolving 200 refs over 50 KV v2 paths from the
// Vault test server (VAULT_TEST_ADDR) against a one-path-at-a-time
// baseline: 200 sequential reads, as envconsul and secrets-init fetch.
func vaultRefs(ward, tmp string, env []string, trials int) string {
	addr, token := os.Getenv("VAULT_TEST_ADDR"), os.Getenv("VAULT_TEST_TOKEN")
	if addr == "" {
		return "200 Vault KV refs | skipped: no VAULT_TEST_ADDR (scripts/vault-server.sh start DIR)"
	}
	put := func(path, body string) {
		req, _ := http.NewRequest("POST", addr+"/v1/secret/data/"+path, strings.NewReader(body))
		req.Header.Set("X-Vault-Token", token)
		resp, err := http.DefaultClient.Do(req)
		check(err)
		resp.Body.Close()
	}
	var b strings.Builder
	b.WriteString("version: 1\nenv:\n")
	for p := 0; p < 50; p++ {
		put(fmt.Sprintf("bench/p%02d", p), `{"data":{"a":"1","b":"2","c":"3","d":"4"}}`)
		for _, f := range []string{"a", "b", "c", "d"} {
			fmt.Fprintf(&b, "  V%02d_%s: vault://secret/bench/p%02d#%s\n", p, f, p, f)
		}
	}
	m := filepath.Join(tmp, "vault.yaml")
	check(os.WriteFile(m, []byte(b.String()), 0o644))
	truePath, _ := exec.LookPath("true")
	venv := append(append([]string{}, env...), "VAULT_ADDR="+addr, "VAULT_TOKEN="+token)
	baseline := func() {
		for p := 0; p < 50; p++ {
			for range 4 {
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/secret/data/bench/p%02d", addr, p), nil)
				req.Header.Set("X-Vault-Token", token)
				resp, err := http.DefaultClient.Do(req)
				check(err)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
	var tw, tb []time.Duration
	for i := 0; i < trials; i++ {
		start := time.Now()
		cmd := exec.Command(ward, "run", "-m", m, "--", truePath)
		cmd.Env = venv
		cmd.Stderr = os.Stderr
		check(cmd.Run())
		tw = append(tw, time.Since(start))
		start = time.Now()
		baseline()
		tb = append(tb, time.Since(start))
	}
	return fmt.Sprintf("200 Vault KV refs over 50 paths: whole `ward run -- true` vs 200 sequential reads in-process (median of %d) | %s vs %s (%.2fx)", trials, ms(median(tw)), ms(median(tb)), float64(median(tw))/float64(median(tb)))
}

// maskThroughput pipes a log-like file through `ward run --mask -- cat`
// (100 secret values, some of them in the text) and through plain `cat`,
// alternating, and times a 100 MB print with and without --mask.
func maskThroughput(ward, manifest string, env []string, mb int) []string {
	f, err := os.CreateTemp("/dev/shm", "ward-bench-log-")
	check(err)
	defer os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 1<<20)
	size := int64(mb) << 20
	var written int64
	for i := 0; written < size; i++ {
		line := fmt.Sprintf("2026-11-26T02:%02d:%02d.%06dZ INFO request handled method=GET path=/api/v1/items/%d status=200 duration=%dus user=u%04d\n", i/60%60, i%60, i%1000000, i, i%997, i%9973)
		if i%5000 == 0 {
			line = fmt.Sprintf("2026-11-26T02:00:00Z DEBUG token=bench-value-%03d leaked into a log line\n", i%100)
		}
		n, _ := w.WriteString(line)
		written += int64(n)
	}
	check(w.Flush())
	f.Close()
	cat, _ := exec.LookPath("cat")
	run := func(argv ...string) time.Duration {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		cmd.Stdout = io.Discard
		cmd.Stderr = os.Stderr
		start := time.Now()
		check(cmd.Run())
		return time.Since(start)
	}
	var tw, tc []time.Duration
	for i := 0; i < 3; i++ {
		tw = append(tw, run(ward, "run", "--mask", "-m", manifest, "--", cat, f.Name()))
		tc = append(tc, run(cat, f.Name()))
	}
	rate := func(d time.Duration) string {
		return fmt.Sprintf("%.2f GB/s", float64(written)/d.Seconds()/1e9)
	}
	head, _ := exec.LookPath("head")
	var pm, pp []time.Duration
	for i := 0; i < 3; i++ {
		pm = append(pm, run(ward, "run", "--mask", "-m", manifest, "--", head, "-c", "100000000", f.Name()))
		pp = append(pp, run(ward, "run", "-m", manifest, "--", head, "-c", "100000000", f.Name()))
	}
	return []string{
		fmt.Sprintf("masking throughput, %d MiB of log text, 100 values: `ward run --mask -- cat` vs `cat` (median of 3) | %s vs %s", mb, rate(median(tw)), rate(median(tc))),
		fmt.Sprintf("a child printing 100 MB: `ward run --mask` vs `ward run` (median of 3) | %s vs %s (+%s)", ms(median(pm)), ms(median(pp)), ms(median(pm)-median(pp))),
	}
}

// vaultPollRestart changes a KV v2 value the child uses and times until
// the new child runs, with poll 1s and debounce 200ms: the goal is at most
// poll + debounce + 100 ms.
func vaultPollRestart(ward, tmp string, env []string, trials int) string {
	addr, token := os.Getenv("VAULT_TEST_ADDR"), os.Getenv("VAULT_TEST_TOKEN")
	if addr == "" {
		return "restart after a Vault KV change | skipped: no VAULT_TEST_ADDR"
	}
	put := func(v string) {
		req, _ := http.NewRequest("POST", addr+"/v1/secret/data/bench/rotate", strings.NewReader(`{"data":{"v":"`+v+`"}}`))
		req.Header.Set("X-Vault-Token", token)
		resp, err := http.DefaultClient.Do(req)
		check(err)
		resp.Body.Close()
	}
	put("initial")
	self, err := os.Executable()
	check(err)
	m := filepath.Join(tmp, "poll.yaml")
	check(os.WriteFile(m, []byte("version: 1\nenv:\n  V: vault://secret/bench/rotate#v\nrotation:\n  poll: 1s\n  jitter: 0%\n  debounce: 200ms\n  stop_timeout: 5s\n"), 0o644))
	venv := append(append([]string{}, env...), "VAULT_ADDR="+addr, "VAULT_TOKEN="+token)
	d := timeRestarts([]string{ward, "run", "-m", m, "--", self, "-child", "startstamp"}, venv, trials, func(i int) {
		put(fmt.Sprintf("value-%d", i))
	})
	return fmt.Sprintf("restart after a Vault KV change, poll 1s + debounce 200ms (goal <= 1300 ms; p50 / max of %d) | %s / %s", trials, ms(median(d)), ms(pct(d, 100)))
}

// timeRestarts runs argv (ward over the startstamp child), makes trials
// changes, and times each from the change to the new child's start stamp.
func timeRestarts(argv, env []string, trials int, change func(i int)) []time.Duration {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	r := bufio.NewReader(stdout)
	r.ReadString('\n')
	var d []time.Duration
	for i := 0; i < trials; i++ {
		change(i)
		t0 := monotonic()
		line, err := r.ReadString('\n')
		check(err)
		var t1 int64
		fmt.Sscanf(line, "started %d", &t1)
		d = append(d, time.Duration(t1-t0))
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	return d
}

func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// child is the bench's own child program (re-exec'd with -child MODE).
func child(mode string) {
	switch mode {
	case "sigstamp":
		ch := make(chan os.Signal, 16)
		signal.Notify(ch, syscall.SIGUSR1, syscall.SIGTERM)
		fmt.Printf("ready %d\n", os.Getpid())
		for s := range ch {
			if s == syscall.SIGTERM {
				os.Exit(0)
			}
			fmt.Printf("usr1 %d\n", monotonic())
		}
	case "startstamp":
		fmt.Printf("started %d\n", monotonic())
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		<-ch
		os.Exit(0)
	}
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func kb(line string) string {
	f := strings.Fields(line)
	v, _ := strconv.Atoi(f[1])
	return fmt.Sprintf("%.1f MB", float64(v)/1024)
}

func median(d []time.Duration) time.Duration { return pct(d, 50) }

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			return strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
		}
	}
	return "unknown CPU"
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
