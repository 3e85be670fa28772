package manifest

import (
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wardsecrets/ward/signals"
)

// TestCatchableSignals checks the schema's signal names against the
// system's: every signal Linux names is listed unless it cannot be caught,
// and every listed name is one signals.Parse reads.
func TestCatchableSignals(t *testing.T) {
	for n := syscall.Signal(1); n < 65; n++ {
		name := unix.SignalName(n)
		if name == "" {
			continue
		}
		listed := slices.Contains(catchableSignals, strings.TrimPrefix(name, "SIG"))
		if catchable := n != syscall.SIGKILL && n != syscall.SIGSTOP; listed != catchable {
			t.Errorf("%s: got listed=%v, want %v", name, listed, catchable)
		}
	}
	for _, name := range catchableSignals {
		if _, err := signals.Parse(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
