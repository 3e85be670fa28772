package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// masking pipes a log-like file through `ward run --mask -- cat` and
// through plain `cat`, with the same pipes on both sides (the file on
// stdin, a pipe the harness drains on stdout), and times a child printing
// 100 MB with and without --mask.
func (b *bench) masking() error {
	m100 := b.localManifest(100)
	log, size, err := writeLog(b.cfg.maskMB)
	if err != nil {
		return err
	}
	defer os.Remove(log)
	cat, err := exec.LookPath("cat")
	if err != nil {
		return err
	}
	head, err := exec.LookPath("head")
	if err != nil {
		return err
	}
	probes := []probe{
		{"`ward run --mask -- cat`", piped(b.env, log, b.bin.ward, "run", "--mask", "-m", m100, "--", cat)},
		{"`cat`", piped(b.env, log, cat)},
	}
	res := alternate(b.cfg.maskRuns, probes)
	const printed = 100_000_000
	probes = []probe{
		{"`ward run --mask -- head -c 100000000`", piped(b.env, log, b.bin.ward, "run", "--mask", "-m", m100, "--", head, "-c", fmt.Sprint(printed))},
		{"`ward run -- head -c 100000000`", piped(b.env, log, b.bin.ward, "run", "-m", m100, "--", head, "-c", fmt.Sprint(printed))},
		{"`head -c 100000000`", piped(b.env, log, head, "-c", fmt.Sprint(printed))},
	}
	res = append(res, alternate(b.cfg.maskRuns, probes)...)
	rate := func(s *series, n int64) float64 { return float64(n) / median(s.wall).Seconds() / 1e9 }
	var rows [][]string
	for i, s := range res {
		if !s.ok() {
			rows = append(rows, []string{s.name, "failed: " + s.err.Error(), "", ""})
			continue
		}
		// Relative to the same command without ward: cat for the first
		// pair, plain head for the rest.
		n, base := size, res[1]
		if i >= 2 {
			n, base = printed, res[4]
		}
		rel := "–"
		if base.ok() {
			rel = fmt.Sprintf("%.2fx", ratio(median(base.wall), median(s.wall)))
		}
		rows = append(rows, []string{s.name, ms(median(s.wall)), fmt.Sprintf("%.2f GB/s", rate(s, n)), rel})
	}
	b.rep.section(fmt.Sprintf("Masking (median of %d runs each, alternating)", b.cfg.maskRuns))
	b.rep.text("%d MiB of log text in /dev/shm on stdin, with 100 local values, some of which occur in the text; stdout is a pipe the harness drains with 1 MiB reads, the same for every command. Throughput is input bytes over wall time; the last column is throughput relative to the same command without ward (`cat`, `head`). Goal: `--mask` ≥ 0.8x `cat`.", b.cfg.maskMB)
	b.rep.table([]string{"command", "wall median", "throughput", "÷ without ward"}, rows)
	if res[0].ok() && res[1].ok() {
		b.fig.maskRate, b.fig.catRate = rate(res[0], size), rate(res[1], size)
	}
	return nil
}

// piped is a probe body that runs argv with file on stdin and a pipe on
// stdout that the harness drains.
func piped(env []string, file string, argv ...string) func() (sample, error) {
	buf := make([]byte, 1<<20)
	return func() (sample, error) {
		in, err := os.Open(file)
		if err != nil {
			return sample{}, err
		}
		defer in.Close()
		pr, pw, err := os.Pipe()
		if err != nil {
			return sample{}, err
		}
		defer pr.Close()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		cmd.Stdin, cmd.Stdout, cmd.Stderr = in, pw, devnull
		start := time.Now()
		if err := cmd.Start(); err != nil {
			pw.Close()
			return sample{}, err
		}
		pw.Close()
		var n int64
		for {
			k, err := pr.Read(buf)
			n += int64(k)
			if err == io.EOF {
				break
			}
			if err != nil {
				return sample{}, err
			}
		}
		if err := cmd.Wait(); err != nil {
			return sample{}, failure(env, argv, err)
		}
		wall := time.Since(start)
		if n == 0 {
			return sample{}, fmt.Errorf("%s wrote nothing", argv[0])
		}
		return processSample(wall, cmd.ProcessState), nil
	}
}

// writeLog writes mb MiB of log lines to /dev/shm (memory, so the disk
// does not set the pace); one line in 5000 holds a local value.
func writeLog(mb int) (string, int64, error) {
	f, err := os.CreateTemp("/dev/shm", "ward-bench-log-")
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
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
	if err := w.Flush(); err != nil {
		return "", 0, err
	}
	return f.Name(), written, nil
}
