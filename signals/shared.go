package signals

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// GroupShared reports whether ward's process group holds, or is to hold,
// a process that is neither ward, one of its ancestors (the shell or make
// that started it) nor one of its descendants: another recipe of a
// `make -j`, another command that `concurrently` or `xargs -P` runs beside
// ward. Those get Ctrl-C from the terminal with ward's group, and would
// not if ward gave its child the terminal.
//
// A group ward leads (a job of an interactive shell) holds nothing but
// what ward starts. A parallel make says so in MAKEFLAGS: its next recipe
// may start after ward asks (a busy machine, or one that waits for
// another), and the terminal given away by then is not taken back.
// Otherwise ward looks at the processes there now (Linux's /proc).
func GroupShared() bool {
	if unix.Getpgrp() == os.Getpid() {
		return false
	}
	if ParallelMake(os.Getenv("MAKEFLAGS")) {
		return true
	}
	return groupHoldsOthers()
}

// ParallelMake reports whether flags, a MAKEFLAGS, is a make's that runs
// more than one recipe at a time: GNU make's " -j2 --jobserver-auth=3,4"
// (or "fifo:PATH" since 4.4, "--jobserver-fds" before 4.2), " -j" with no
// limit, BSD make's "-j 4". The command line's variables, after " -- ",
// are not read: a value there may look like a flag.
func ParallelMake(flags string) bool {
	words := strings.Fields(flags)
	for i, w := range words {
		switch {
		case w == "--":
			return false
		case strings.HasPrefix(w, "--jobserver-auth=") || strings.HasPrefix(w, "--jobserver-fds="):
			return true
		case w == "-j":
			if i+1 < len(words) {
				if n, err := strconv.Atoi(words[i+1]); err == nil {
					return n != 1
				}
			}
			return true
		case strings.HasPrefix(w, "-j"):
			if n, err := strconv.Atoi(w[2:]); err == nil && n != 1 {
				return true
			}
		}
	}
	return false
}
