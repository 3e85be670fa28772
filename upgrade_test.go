package main

// ward across an upgrade: its own binary and its store helpers replaced
// or removed under a long-running ward, and versions mixed.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// installedWard copies the ward under test into a directory of its own,
// as an install puts it, and returns its path: a test may then replace or
// remove it as an upgrade does.
func installedWard(t *testing.T) string {
	t.Helper()
	src, err := exec.LookPath("ward")
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(t.TempDir(), "bin", "ward")
	os.MkdirAll(filepath.Dir(dst), 0o755)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestUpgradeSocketActivationRestart: a socket-activated ward (its
// trampoline is ward itself, run again for each start of the child)
// whose binary an upgrade replaced, or an uninstall removed, while it ran
// still restarts the child on rotation, with the sockets and LISTEN_PID
// naming it. It ran the file now at its path: a removed one ended the
// service at the first rotation ("ward: error: .../ward: no such file or
// directory"), and a replaced one ran another program, or another
// version's trampoline, in its place.
func TestUpgradeSocketActivationRestart(t *testing.T) {
	for _, upgrade := range []string{"removed", "replaced"} {
		t.Run(upgrade, func(t *testing.T) {
			w := newWardEnv(t)
			w.set("app/a", canary("upgrade1"))
			m := w.manifest("version: 1\nenv:\n  A: local://app/a\nrotation:\n  debounce: 100ms\n")
			ward := installedWard(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			lf, _ := ln.(*net.TCPListener).File()
			// As systemd does: LISTEN_PID is the pid that execs ward.
			cmd := w.command()
			cmd.Path = "/bin/sh"
			cmd.Args = []string{"sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web exec ` + ward + ` run -m ` + m + ` -- helper listen`}
			cmd.ExtraFiles = []*os.File{lf}
			out, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			l := readLines(t, out)
			l.waitFor("LISTEN_PID=")

			switch upgrade {
			case "removed":
				if err := os.Remove(ward); err != nil {
					t.Fatal(err)
				}
			case "replaced":
				// Another program renamed over it, as `go install` and
				// package managers do: one that is not this ward.
				marker := filepath.Join(w.dir, "replacement-ran")
				other := ward + ".new"
				if err := os.WriteFile(other, []byte("#!/bin/sh\ntouch "+marker+"\necho the replacement ran\nexit 3\n"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(other, ward); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if _, err := os.Stat(marker); err == nil {
						t.Errorf("ward ran the program an upgrade put at its path, not itself")
					}
				})
			}
			w.set("app/a", canary("upgrade2"))

			line := l.waitFor("LISTEN_PID=")
			var listenPid, pid int
			var fds, names string
			fmt.Sscanf(line, "LISTEN_PID=%d pid=%d LISTEN_FDS=%s LISTEN_FDNAMES=%s", &listenPid, &pid, &fds, &names)
			if listenPid != pid || fds != "1" || names != "web" {
				t.Errorf("the restarted child: got %q, want LISTEN_PID equal to its pid, LISTEN_FDS=1, LISTEN_FDNAMES=web", line)
			}
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			greeting, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if greeting != "hello from the child\n" {
				t.Errorf("got %q from the passed socket, want the restarted child's greeting", greeting)
			}
			if code := exitWithin(t, cmd, 10*time.Second); code != 0 {
				t.Errorf("got exit code %d, want 0; stderr:\n%s", code, redactAll(stderr.String(), w.canaries...))
			}
			for _, c := range w.canaries {
				if strings.Contains(stderr.String(), c) {
					t.Errorf("a canary is in ward's stderr")
				}
			}
		})
	}
}
