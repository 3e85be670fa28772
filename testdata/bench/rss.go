package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// memFields are the /proc/PID/status lines the memory table shows.
var memFields = []string{"VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"}

// memStatus is a process's memory figures in bytes, by /proc field.
type memStatus map[string]int64

// settle is how long a supervising ward runs before its memory is read:
// past its start-up and the file watches it starts 100 ms after the child.
const settle = 500 * time.Millisecond

// memory reads ward's memory while it supervises a child that waits on
// stdin (asleep in read), for the new core and the old binary in turn,
// and with one Vault ref the helper's too.
func (b *bench) memory() error {
	m20 := b.localManifest(20)
	type subject struct {
		name, ward, manifest string
		env                  []string
		wards, helper        []memStatus
		err                  error
	}
	subjects := []*subject{{name: "ward, 20 `local://` refs", ward: b.bin.ward, manifest: m20, env: b.env}}
	if b.bin.old != "" {
		subjects = append(subjects, &subject{name: "old single binary, 20 `local://` refs", ward: b.bin.old, manifest: m20, env: b.env})
	}
	if b.vault != nil {
		m := b.manifest("vault-1-rss.yaml", "version: 1\nenv:\n  V: vault://secret/bench/one#a\n")
		subjects = append(subjects, &subject{name: "ward, 1 Vault ref", ward: b.bin.ward, manifest: m, env: b.vault.env(b.env)})
	}
	for r := 0; r < b.cfg.rssRuns; r++ {
		for k := range subjects {
			s := subjects[(r+k)%len(subjects)]
			w, h, err := supervising(s.ward, s.manifest, s.env)
			if err != nil {
				s.err = err
				continue
			}
			s.wards = append(s.wards, w)
			s.helper = append(s.helper, h...)
		}
	}
	var rows [][]string
	row := func(name string, st []memStatus) {
		cells := []string{name}
		for _, f := range memFields {
			var v []int64
			for _, s := range st {
				v = append(v, s[f])
			}
			cells = append(cells, mib(medianInt(v)))
		}
		rows = append(rows, cells)
	}
	for i, s := range subjects {
		if len(s.wards) == 0 {
			rows = append(rows, []string{s.name, "failed: " + s.err.Error(), "", "", "", ""})
			continue
		}
		row(s.name, s.wards)
		if len(s.helper) > 0 {
			row("… its `ward-vault` helper, alive while ward supervises", s.helper)
		} else if strings.Contains(s.name, "Vault") {
			rows = append(rows, []string{"… its `ward-vault` helper", "not running while ward supervises", "", "", "", ""})
		}
		med := func(f string) int64 {
			var v []int64
			for _, st := range s.wards {
				v = append(v, st[f])
			}
			return medianInt(v)
		}
		switch i {
		case 0:
			b.fig.hwm, b.fig.rss = med("VmHWM"), med("VmRSS")
		case 1:
			if b.bin.old != "" {
				b.fig.oldHWM, b.fig.oldRSS = med("VmHWM"), med("VmRSS")
			}
		}
	}
	b.rep.section(fmt.Sprintf("Memory while supervising a sleeping child (median of %d runs each, alternating)", b.cfg.rssRuns))
	b.rep.text("From `/proc/PID/status` of ward %s after its child (`sh -c 'echo ready; read x'`) said ready. RssFile is pages of the binary (and other files) mapped and touched, RssAnon heap, stacks and runtime data. Goal: VmHWM ≤ 10 MiB with 20 local refs.", settle)
	b.rep.table(append([]string{"process"}, memFields...), rows)
	return nil
}

// supervising runs ward over a child that waits on stdin and reads the
// memory of ward and of its ward-* helpers while the child waits.
func supervising(ward, manifest string, env []string) (memStatus, []memStatus, error) {
	cmd := exec.Command(ward, "run", "-m", manifest, "--", "sh", "-c", "echo ready; read x")
	cmd.Env = env
	cmd.Stderr = devnull
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	defer func() { _ = cmd.Wait() }()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		return nil, nil, fmt.Errorf("%s run: the child did not start (%v)", ward, err)
	}
	time.Sleep(settle)
	w, err := readStatus(cmd.Process.Pid)
	if err != nil {
		return nil, nil, err
	}
	var helpers []memStatus
	for _, pid := range children(cmd.Process.Pid) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.HasPrefix(string(comm), "ward-") {
			if h, err := readStatus(pid); err == nil {
				helpers = append(helpers, h)
			}
		}
	}
	return w, helpers, nil
}

func readStatus(pid int) (memStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	st := memStatus{}
	for _, l := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 2 && f[1] == "kB" {
			kb, _ := strconv.ParseInt(f[0], 10, 64)
			st[name] = kb << 10
		}
	}
	return st, nil
}

// children lists pid's child processes, from every thread's children
// file.
func children(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(s); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}
