package plan

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/wardsecrets/ward/launcher/manifest"
)

// maxArgStrlen is the kernel's limit on one argument or environment
// string (manifest.MaxArgStrlen).
const maxArgStrlen = manifest.MaxArgStrlen

// UndeliverableHint is the advice for a CheckDeliverable error.
const UndeliverableHint = "deliver a value this large, or with NUL bytes, as a file (files: in the manifest)"

// CheckDeliverable checks that execve will take the environment and argv:
// no NUL in a variable (execve would cut it), no string over the kernel's
// limit, and all of them within ARG_MAX (a quarter of the stack limit).
// Its errors name the variable, never the value, so a too-large secret is
// ward's failure (125) rather than the program's "argument list too long"
// (126).
func CheckDeliverable(env, argv []string) error {
	total := 0
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		switch {
		case strings.IndexByte(value, 0) >= 0:
			return fmt.Errorf("%s: the value holds a NUL byte, which an environment variable cannot", name)
		case len(kv)+1 > maxArgStrlen:
			return fmt.Errorf("%s: the value is %d bytes, more than the %d an environment variable may hold", name, len(value), maxArgStrlen-len(name)-2)
		}
		total += len(kv) + 1 + 8 // the string, its NUL and its pointer
	}
	for _, a := range argv {
		total += len(a) + 1 + 8
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_STACK, &lim) == nil && lim.Cur != unix.RLIM_INFINITY {
		if max := int(lim.Cur / 4); total > max {
			return fmt.Errorf("the environment and arguments take %d bytes, more than the %d the system passes to a program (a quarter of the stack limit)", total, max)
		}
	}
	return nil
}
