package signals

import (
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Parse turns a signal name ("SIGHUP", "HUP", "hup") or number into a
// signal.
func Parse(name string) (syscall.Signal, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	if s := unix.SignalNum(n); s != 0 {
		return s, nil
	}
	var num int
	if _, err := fmt.Sscanf(name, "%d", &num); err == nil && num > 0 && num < 65 && fmt.Sprint(num) == strings.TrimSpace(name) {
		return syscall.Signal(num), nil
	}
	return 0, fmt.Errorf("unknown signal %q", name)
}

// Name returns the conventional name of a signal, such as SIGTERM.
func Name(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return fmt.Sprintf("signal %d", int(s))
}
