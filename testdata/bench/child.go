package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// childArg makes the harness act as the child program ward runs in the
// signal and restart measurements.
const childArg = "-child"

// child runs one child mode and returns the exit code:
//
//	sigstamp    print "ready PID", then "usr1 NANOS" for each SIGUSR1
//	startstamp  print "started NANOS", then wait for SIGTERM
//
// NANOS is CLOCK_MONOTONIC, comparable with the harness's own clock.
func child(mode string) int {
	switch mode {
	case "sigstamp":
		ch := make(chan os.Signal, 16)
		signal.Notify(ch, syscall.SIGUSR1, syscall.SIGTERM)
		fmt.Printf("ready %d\n", os.Getpid())
		for s := range ch {
			if s == syscall.SIGTERM {
				return 0
			}
			fmt.Printf("usr1 %d\n", monotonic())
		}
	case "startstamp":
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		fmt.Printf("started %d\n", monotonic())
		<-ch
		return 0
	}
	fmt.Fprintf(os.Stderr, "bench: unknown child mode %q\n", mode)
	return 2
}
