//go:build linux

package signals

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

// TestStartTooLong: a start that execve refuses with E2BIG is ward's
// failure (125), naming the largest variables and never a value; it was
// 126, "argument list too long", as if the program could not be run.
func TestStartTooLong(t *testing.T) {
	value := "v" + strings.Repeat("x", 200000) // over one string's 128 KiB
	env := []string{"SMALL=1", "BIG=" + value, "MID=" + strings.Repeat("m", 1000)}
	c, err := Start(StartOptions{Path: "/bin/true", Argv: []string{"true"}, Env: env})
	if err == nil {
		t.Fatalf("started pid %d", c.Pid)
	}
	var se *StartError
	if !errors.As(err, &se) || se.Code != ExitWardFailure || !errors.Is(err, syscall.E2BIG) {
		t.Fatalf("got %v, want a StartError with code %d over E2BIG", err, ExitWardFailure)
	}
	if msg := err.Error(); !strings.Contains(msg, "the largest are BIG (200006 bytes), MID (1005 bytes), SMALL (8 bytes)") || strings.Contains(msg, "xxxx") {
		t.Errorf("the error does not name the largest variables, or holds a value: %.300s", msg)
	}
	if err := Exec("/bin/true", []string{"true"}, env); !errors.As(err, &se) || se.Code != ExitWardFailure {
		t.Errorf("Exec: got %v, want code %d", err, ExitWardFailure)
	}
}
