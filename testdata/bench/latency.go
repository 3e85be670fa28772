package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// latencies times signal forwarding and restarts after a change, each
// against the harness's own child program, which stamps CLOCK_MONOTONIC.
func (b *bench) latencies() error {
	var rows [][]string
	viaWard, direct, err := signalLatency(b.bin.ward, b.localManifest(0), b.env, b.cfg.signals)
	if err != nil {
		return err
	}
	rows = append(rows,
		[]string{fmt.Sprintf("signal forwarding: SIGUSR1 to ward → the child's handler runs (p50 / p99, %d signals)", b.cfg.signals), us(median(viaWard)) + " / " + us(pct(viaWard, 99))},
		[]string{"the same signal sent to the child directly (p50 / p99)", us(median(direct)) + " / " + us(pct(direct, 99))},
	)

	m := b.manifest("restart.yaml", "version: 1\nenv:\n  V: local://bench/restart\nrotation:\n  debounce: 0\n  stop_timeout: 5s\n")
	d, err := timeRestarts(b.childArgv(b.bin.ward, m), b.env, b.cfg.restarts, func(i int) error {
		set := exec.Command(b.bin.ward, "local", "set", "bench/restart")
		set.Env = b.env
		set.Stdin = strings.NewReader(fmt.Sprintf("restart-value-%d", i))
		if out, err := set.CombinedOutput(); err != nil {
			return fmt.Errorf("ward local set: %w: %s", err, out)
		}
		return nil
	})
	if err != nil {
		return err
	}
	rows = append(rows, []string{fmt.Sprintf("restart: `ward local set` returns → the new child runs (debounce 0; p50 / max of %d)", b.cfg.restarts), ms(median(d)) + " / " + ms(pct(d, 100))})

	if b.vault != nil && b.cfg.pollTrials > 0 {
		b.progress("polled Vault restarts: %d changes, about 1.2 s each", b.cfg.pollTrials)
		m := b.manifest("poll.yaml", "version: 1\nenv:\n  V: vault://secret/bench/rotate#v\nrotation:\n  poll: 1s\n  jitter: 0%\n  debounce: 200ms\n  stop_timeout: 5s\n")
		d, err := timeRestarts(b.childArgv(b.bin.ward, m), b.vault.env(b.env), b.cfg.pollTrials, func(i int) error {
			return b.vault.put("bench/rotate", map[string]string{"v": fmt.Sprintf("value-%d", i)})
		})
		if err != nil {
			return err
		}
		rows = append(rows, []string{fmt.Sprintf("restart after a Vault KV change, poll 1s + debounce 200ms (goal ≤ 1300 ms; p50 / max of %d)", b.cfg.pollTrials), ms(median(d)) + " / " + ms(pct(d, 100))})
	} else {
		rows = append(rows, []string{"restart after a Vault KV change", "skipped (no VAULT_TEST_ADDR, or -poll-trials 0)"})
	}
	b.rep.section("Signals and restarts")
	b.rep.table([]string{"measurement", "value"}, rows)
	return nil
}

// childArgv is `ward run -m manifest -- <this harness as the startstamp child>`.
func (b *bench) childArgv(ward, manifest string) []string {
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return []string{ward, "run", "-m", manifest, "--", self, childArg, "startstamp"}
}

// signalLatency sends SIGUSR1 to ward n times and reads the child's stamp
// of each; then the same straight to the child.
func signalLatency(ward, manifest string, env []string, n int) (viaWard, direct []time.Duration, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(ward, "run", "-m", manifest, "--", self, childArg, "sigstamp")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, nil, fmt.Errorf("the signal child did not start: %w", err)
	}
	var childPid int
	if _, err := fmt.Sscanf(line, "ready %d", &childPid); err != nil {
		return nil, nil, fmt.Errorf("the signal child said %q", line)
	}
	measure := func(pid int) ([]time.Duration, error) {
		var out []time.Duration
		for i := 0; i < n; i++ {
			t0 := monotonic()
			if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
				return nil, err
			}
			line, err := r.ReadString('\n')
			if err != nil {
				return nil, err
			}
			var t1 int64
			if _, err := fmt.Sscanf(line, "usr1 %d", &t1); err != nil {
				return nil, fmt.Errorf("the signal child said %q", line)
			}
			out = append(out, time.Duration(t1-t0))
		}
		return out, nil
	}
	if viaWard, err = measure(cmd.Process.Pid); err != nil {
		return nil, nil, err
	}
	if direct, err = measure(childPid); err != nil {
		return nil, nil, err
	}
	return viaWard, direct, nil
}

// timeRestarts runs argv (ward over the startstamp child), makes trials
// changes, and times each from the change to the new child's start stamp.
func timeRestarts(argv, env []string, trials int, change func(i int) error) ([]time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	r := bufio.NewReader(stdout)
	if _, err := r.ReadString('\n'); err != nil {
		return nil, fmt.Errorf("the first child did not start: %w", err)
	}
	var d []time.Duration
	for i := 0; i < trials; i++ {
		if err := change(i); err != nil {
			return nil, err
		}
		t0 := monotonic()
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("no restart after change %d: %w", i, err)
		}
		var t1 int64
		if _, err := fmt.Sscanf(line, "started %d", &t1); err != nil {
			return nil, fmt.Errorf("the child said %q", line)
		}
		d = append(d, time.Duration(t1-t0))
	}
	return d, nil
}

func monotonic() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
