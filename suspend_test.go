package main

// A laptop that sleeps and a machine that stalls: ward, its store helper
// and its child stopped (SIGSTOP, the cgroup freezer) for longer than
// what ward tracks, then continued.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/wardsecrets/ward/testdata/helper"
)

// TestRotationAfterWatchQueueOverflow: a ward stopped (a container
// paused, a VM stalled) while more happens in a watched directory than
// the kernel queues for it (fs.inotify.max_queued_events: a deploy
// unpacking thousands of files beside the secret) loses the events past
// the queue, the secret's change among them, and hears only that the
// queue overflowed. On waking it reads the watched files again: it
// logged "file watch error" and left the child on the old value until
// the next rotation.poll (here ten minutes).
func TestRotationAfterWatchQueueOverflow(t *testing.T) {
	w := newWardEnv(t)
	v1, v2 := canary("overflow1"), canary("overflow2")
	dir := filepath.Join(w.dir, "mounted")
	src := filepath.Join(dir, "token")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(src, []byte(v1), 0o600)
	m := w.manifest("version: 1\nenv:\n  A: file://" + src + "\nrotation:\n  poll: 10m\n  debounce: 100ms\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	stdout, stderr := startedLines(t, cmd)
	if got := envHash(stdout, "A"); got != helper.Hash(v1) {
		t.Fatalf("the first child does not have the first value")
	}
	stderr.waitForContaining("watching secret files")

	queued := 16384
	if b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events"); err == nil {
		queued, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	syscall.Kill(cmd.Process.Pid, syscall.SIGSTOP)
	waitState(t, "the stopped ward", cmd.Process.Pid, "T")
	// Each rename is two events (moved from, moved to) in the watched
	// directory: the queue fills with names ward does not use.
	a, b := filepath.Join(dir, "unpacked-a"), filepath.Join(dir, "unpacked-b")
	os.WriteFile(a, nil, 0o600)
	for i := 0; i < queued/2+100; i++ {
		if err := os.Rename(a, b); err != nil {
			t.Fatal(err)
		}
		a, b = b, a
	}
	os.WriteFile(src+".new", []byte(v2), 0o600)
	os.Rename(src+".new", src)
	syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)

	if got := envHash(stdout, "A"); got != helper.Hash(v2) {
		t.Errorf("the restarted child does not have the new value")
	}
	if n := stopAndCount(t, cmd, stdout, stderr, v1, v2); n != 0 {
		t.Errorf("the child listed its environment %d more times after the restart, want 0", n)
	}
}
