// Package earlystop catches the stop signals of `ward run` as the process
// starts, before the rest of ward's packages initialise.
//
// Until a signal is caught, the Go runtime's own handler ends the process:
// exit 2, with a goroutine dump for SIGQUIT, and as PID 1, which the
// kernel does not let die of the signal, exit 2 without a word. A
// container stopped as it starts (docker stop, a pod deleted) sent its
// SIGTERM into that window, which the package initialisers made a
// millisecond or more long. This package depends on os/signal alone, so
// it initialises right after it (Go initialises packages in import path
// order as their imports are ready), before the rest: the window is the
// runtime's start and the few standard packages before os/signal.
package earlystop

import (
	"os"
	"os/signal"
	"syscall"
)

// Stops are the signals that end a process by default and that a user
// or a service manager sends to stop it.
var Stops = []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT}

// Signals receives the stop signals caught at the start of `ward run`
// (those not ignored when ward started, which stay ignored); nil in any
// other process. signals.Notify catches the rest on it.
var Signals chan os.Signal

func init() {
	if len(os.Args) < 2 || os.Args[1] != "run" {
		return
	}
	Signals = make(chan os.Signal, 128)
	var stops []os.Signal
	for _, sig := range Stops {
		if !signal.Ignored(sig) {
			stops = append(stops, sig)
		}
	}
	if len(stops) > 0 {
		// Not Notify with no signals: that is every signal.
		signal.Notify(Signals, stops...)
	}
}
