package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestNotifyRelay plays systemd's side of the notify protocol: ward hands
// the child a socket of its own and relays READY/STATUS/STOPPING as its
// own messages (sent from ward's pid, as NotifyAccess=main requires),
// dropping MAINPID.
func TestNotifyRelay(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	sockPath := filepath.Join(t.TempDir(), "notify.sock")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	raw, _ := sock.SyscallConn()
	raw.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1) })

	cmd := w.command("run", "-m", m, "--", "helper", "notify", "READY=1", "STATUS=serving", "MAINPID=4242")
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+sockPath)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	readLines(t, out).waitFor("notified")

	sock.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	oob := make([]byte, 256)
	n, oobn, _, _, err := sock.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatalf("no notify message reached systemd's socket: %v", err)
	}
	if got := string(buf[:n]); got != "READY=1\nSTATUS=serving" {
		t.Errorf("got message %q, want READY=1 and STATUS without MAINPID", got)
	}
	msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
	var sender int32 = -1
	for _, msg := range msgs {
		if cred, err := syscall.ParseUnixCredentials(&msg); err == nil {
			sender = cred.Pid
		}
	}
	if int(sender) != cmd.Process.Pid {
		t.Errorf("got the message from pid %d, want ward's pid %d (NotifyAccess=main)", sender, cmd.Process.Pid)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	if _, err := os.Stat(filepath.Join(w.runtime)); err == nil {
		if files := listFiles(t, w.runtime); len(files) > 0 {
			t.Errorf("left behind: %v", files)
		}
	}
}

// TestSocketActivation: sockets systemd passed to ward (LISTEN_FDS, with
// LISTEN_PID naming ward) reach the child as fd 3 with LISTEN_PID
// rewritten to the child's pid.
func TestSocketActivation(t *testing.T) {
	for _, execMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("exec=%v", execMode), func(t *testing.T) {
			w := newWardEnv(t)
			m := w.manifest(emptyManifest)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			lf, _ := ln.(*net.TCPListener).File()
			ward := "ward run"
			if execMode {
				ward += " --exec"
			}
			// As systemd does: LISTEN_PID is the pid that execs ward.
			cmd := w.command()
			cmd.Path = "/bin/sh"
			cmd.Args = []string{"sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web exec ` + ward + ` -m ` + m + ` -- helper listen`}
			cmd.ExtraFiles = []*os.File{lf}
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			l := readLines(t, out)
			line := l.waitFor("LISTEN_PID=")
			var listenPid, pid int
			var fds, names string
			fmt.Sscanf(line, "LISTEN_PID=%d pid=%d LISTEN_FDS=%s LISTEN_FDNAMES=%s", &listenPid, &pid, &fds, &names)
			if listenPid != pid || fds != "1" || names != "web" {
				t.Errorf("got %q, want LISTEN_PID equal to the child's pid, LISTEN_FDS=1, LISTEN_FDNAMES=web", line)
			}
			if !execMode && pid == cmd.Process.Pid {
				t.Errorf("the child has ward's pid without --exec")
			}
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			greeting, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if greeting != "hello from the child\n" {
				t.Errorf("got %q from the passed socket, want the child's greeting", greeting)
			}
			if code := exitCode(t, cmd.Wait()); code != 0 {
				t.Errorf("got exit code %d, want 0", code)
			}
		})
	}
}
