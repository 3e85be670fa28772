package main

// ward among the other wrappers people put in front of it and behind it:
// timeout, su, sudo, tini, dumb-init, and ward itself.

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestTimeoutSignalsChildOnce: `timeout 60 ward run -- server` (a CI
// step's budget) when the time is up. GNU timeout, without --foreground,
// sends its signal to its command, ward, and then to its own process
// group, where ward is too. The kernel merges the two for a program run
// there without ward; ward had forwarded the first by the time the
// second came and forwarded it again, so the server, draining after the
// first SIGTERM (or SIGINT, `timeout -s INT`), got a second and took it
// for "stop now". The test fires timeout's timer with the SIGALRM it
// sets for itself, once the child is ready, and lets the child run on
// after the signal until a SIGUSR2 sent to ward, after any second copy.
func TestTimeoutSignalsChildOnce(t *testing.T) {
	if _, err := exec.LookPath("timeout"); err != nil {
		t.Fatalf("timeout (coreutils) is needed: %v", err)
	}
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	ward, err := exec.LookPath("ward")
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range []string{"TERM", "INT"} {
		t.Run(sig, func(t *testing.T) {
			// The second copy reaches ward only when ward has taken the
			// first before it arrives, one time in three here: the
			// rounds make a miss of the fault unlikely.
			for round := range 15 {
				cmd := exec.Command("timeout", "-s", sig, "1h", ward, "run", "-m", m, "--", "helper", "signals", "--exit-on", "USR2")
				cmd.Env, cmd.Dir = w.env, w.dir
				stdout, stderr := started(t, cmd)
				stdout.waitFor("child ready")
				cmd.Process.Signal(syscall.SIGALRM)
				stdout.waitFor("child SIG" + sig)
				wardPid := childOf(t, cmd.Process.Pid)
				syscall.Kill(wardPid, syscall.SIGUSR2)
				again := 0
				for {
					line := stdout.next("the child's SIGUSR2")
					if line == "child SIGUSR2" {
						break
					}
					if line == "child SIG"+sig {
						again++
					}
				}
				if code := exitWithin(t, cmd, 30*time.Second); code != 124 {
					t.Errorf("round %d: timeout exited %d, want 124 (ward's stderr: %s)", round, code, stderr)
				}
				if again > 0 {
					t.Fatalf("round %d: after the first SIG%s the child got it %d more time(s) (one event: timeout's signal to ward and to its group)", round, sig, again)
				}
			}
		})
	}
}
