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
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

type result struct {
	name, baseline   string
	wardMed, baseMed time.Duration
	wardP90, baseP90 time.Duration
}

func main() {
	n := flag.Int("n", 200, "runs of each command")
	out := flag.String("out", "bench/RESULTS.md", "where to write the table")
	flag.Parse()

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
