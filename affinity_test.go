//go:build linux

package main

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// affinityScript prints, one per line, "WHO LIST" for the child itself,
// every thread of ward (its parent) and every thread of ward's other
// children (the store helpers), LIST being the kernel's Cpus_allowed_list.
const affinityScript = `
list() { sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$1"; }
echo "child $(list /proc/self/status)"
for t in /proc/$PPID/task/*; do echo "ward $(list $t/status)"; done
for c in $(cat /proc/$PPID/task/*/children); do
	[ "$c" = "$$" ] && continue
	for t in /proc/$c/task/*; do echo "helper $(list $t/status)"; done
done
`

// TestAffinityKept: while ward catches signals it moves its threads to one
// CPU (the runtime enables each signal with a round trip between two
// threads, which is 5x slower across CPUs), so everything must be given
// back: the child, each of ward's threads and the store helpers (started
// before the move, and kept from starting during it) must have the CPUs
// ward was started with.
func TestAffinityKept(t *testing.T) {
	var own unix.CPUSet
	if err := unix.SchedGetaffinity(0, &own); err != nil {
		t.Fatal(err)
	}
	if own.Count() < 2 {
		t.Skip("one CPU: ward moves no thread, there is nothing to give back")
	}
	want := cpusAllowed(t)
	check := func(t *testing.T, out string, helpers bool) {
		t.Helper()
		seen := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			who, list, _ := strings.Cut(line, " ")
			seen[who]++
			if list != want {
				t.Errorf("%s runs on CPUs %q, want %q (ward's own)", who, list, want)
			}
		}
		if seen["child"] != 1 || seen["ward"] < 2 || helpers && seen["helper"] < 2 {
			t.Fatalf("expected the child, ward's threads and (%v) the helper's threads; got %v from:\n%s", helpers, seen, out)
		}
	}

	t.Run("child and ward", func(t *testing.T) {
		w := newWardEnv(t)
		m := w.manifest(emptyManifest)
		code, out, stderr := w.run("run", "-m", m, "--", "sh", "-c", affinityScript)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		check(t, out, false)
	})

	t.Run("exec", func(t *testing.T) {
		// The program ward became: what it reports as its parent's
		// threads are the test's own.
		w := newWardEnv(t)
		m := w.manifest(emptyManifest)
		code, out, stderr := w.run("run", "--exec", "-m", m, "--", "sh", "-c", affinityScript)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		check(t, out, false)
	})

	t.Run("store helper", func(t *testing.T) {
		_, addr, token := testVault(t)
		value := canary("affinity")
		kvPut(t, "secret", "affinity", map[string]any{"a": value})
		w := newWardEnv(t)
		w.canaries = append(w.canaries, value)
		w.env = append(w.env, "VAULT_ADDR="+addr, "VAULT_TOKEN="+token)
		m := w.manifest("version: 1\nenv:\n  A: vault://secret/affinity#a\n")
		code, out, stderr := w.run("run", "-m", m, "--", "sh", "-c", affinityScript)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		check(t, out, true)
	})
}

// cpusAllowed is this process's Cpus_allowed_list, which ward inherits.
func cpusAllowed(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("no Cpus_allowed_list in /proc/self/status")
	return ""
}
