// Command floor does what any Go wrapper that runs a child must do at
// least, for testdata/bench to set ward's start-up beside:
//
//	floor exec PROGRAM      fork/exec PROGRAM, wait for it, exit
//	floor signals PROGRAM   the same after catching every signal with
//	                        os/signal.Notify, as ward does but without
//	                        ward's one-CPU pinning (signals/cpu_linux.go)
//
// It reads no manifest, resolves nothing and forwards nothing: no wrapper
// written in Go can start `true` faster than the first form.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "exec" && os.Args[1] != "signals") {
		fmt.Fprintln(os.Stderr, "usage: floor exec|signals PROGRAM")
		os.Exit(2)
	}
	if os.Args[1] == "signals" {
		signal.Notify(make(chan os.Signal, 128))
	}
	pid, err := syscall.ForkExec(os.Args[2], os.Args[2:], &syscall.ProcAttr{Files: []uintptr{0, 1, 2}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(126)
	}
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	os.Exit(ws.ExitStatus())
}
