package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

// probe is one thing an alternating loop times.
type probe struct {
	name string
	run  func() (sample, error)
}

// sample is one timed run.
type sample struct {
	wall time.Duration
	// The process's rusage from wait4, which includes the children it
	// waited for: CPU time, minor page faults and context switches
	// (voluntary and not). Zero for something that is not a process.
	user, sys        time.Duration
	faults, switches int64
}

// processSample is a sample of a process that ran for wall.
func processSample(wall time.Duration, ps *os.ProcessState) sample {
	s := sample{wall: wall, user: ps.UserTime(), sys: ps.SystemTime()}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		s.faults, s.switches = int64(ru.Minflt)+int64(ru.Majflt), int64(ru.Nvcsw)+int64(ru.Nivcsw)
	}
	return s
}

// series is what the loop measured for one probe.
type series struct {
	name             string
	wall, user, sys  []time.Duration
	faults, switches []int64
	// err is why the probe was not timed (its warm-up failed) or the last
	// failure of a timed run; failed counts those.
	err    error
	failed int
}

func (s *series) ok() bool { return len(s.wall) > 0 }

// alternate runs every probe once per round, rotating which goes first, so
// that noise on the machine lands on all of them alike. Each probe runs
// once untimed first; one that fails then is left out of the loop.
func alternate(rounds int, probes []probe) []*series {
	out := make([]*series, len(probes))
	var live []int
	for i, p := range probes {
		out[i] = &series{name: p.name}
		if _, err := p.run(); err != nil {
			out[i].err = err
			continue
		}
		live = append(live, i)
	}
	for r := 0; r < rounds; r++ {
		for k := range live {
			i := live[(r+k)%len(live)]
			s, err := probes[i].run()
			if err != nil {
				out[i].err = err
				out[i].failed++
				continue
			}
			o := out[i]
			o.wall, o.user, o.sys = append(o.wall, s.wall), append(o.user, s.user), append(o.sys, s.sys)
			o.faults, o.switches = append(o.faults, s.faults), append(o.switches, s.switches)
		}
	}
	return out
}

var devnull = func() *os.File {
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	return f
}()

// command is a probe body that runs argv to completion with its output
// discarded; a non-zero exit is an error that quotes its stderr.
func command(env []string, argv ...string) func() (sample, error) {
	return func() (sample, error) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		// Files, not writers: no copying goroutine in the harness.
		cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start)
		if err != nil {
			return sample{}, failure(env, argv, err)
		}
		return processSample(wall, cmd.ProcessState), nil
	}
}

// failure runs argv again to quote what it says on stderr. ward's errors
// name references, never values.
func failure(env, argv []string, err error) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run()
	msg := strings.TrimSpace(stderr.String())
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, msg)
}

// cpuCell is a series' median user / system time, "–" when it is not
// a process.
func (s *series) cpuCell() string {
	if median(s.user)+median(s.sys) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f / %.1f ms", float64(median(s.user))/1e6, float64(median(s.sys))/1e6)
}

// rusageCell is a series' median page faults and context switches.
func (s *series) rusageCell() string {
	if medianInt(s.faults) == 0 {
		return "–"
	}
	return fmt.Sprintf("%d / %d", medianInt(s.faults), medianInt(s.switches))
}

func median(d []time.Duration) time.Duration { return pct(d, 50) }

// pct is the nearest-rank percentile.
func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (p*len(s)+99)/100 - 1
	if i < 0 {
		i = 0
	}
	return s[i]
}

func medianInt(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]int64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func mib(bytes int64) string { return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)) }

// met says whether a goal holds, for the tables.
func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}
