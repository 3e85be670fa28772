package plan

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/wardsecrets/ward/launcher/manifest"
)

// UndeliverableHint is the advice for a CheckDeliverable error.
const UndeliverableHint = "deliver a value this large, or with NUL bytes, as a file (files: in the manifest)"

// CheckDeliverable checks that execve will take the environment and argv:
// no NUL in a variable (execve would cut it), no string over the kernel's
// limit, and all of them within what the kernel passes (argLimit). Its
// errors name the variables, never a value, so a too-large secret is
// ward's failure (125) rather than the program's "argument list too
// long" (126). Every variable that cannot be passed is named at once: a
// manifest with two was mended one error at a time.
func CheckDeliverable(env, argv []string) error {
	total := 0
	type size struct {
		name string
		n    int
	}
	var sizes []size
	var bad []string
	maxArgStrlen := manifest.MaxArgStrlen()
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		switch {
		case strings.IndexByte(value, 0) >= 0:
			bad = append(bad, fmt.Sprintf("%s: the value holds a NUL byte, which an environment variable cannot", name))
		case len(kv)+1 > maxArgStrlen:
			bad = append(bad, fmt.Sprintf("%s: the value is %d bytes, more than the %d an environment variable may hold", name, len(value), maxArgStrlen-len(name)-2))
		}
		total += len(kv) + 1 + 8 // the string, its NUL and its pointer
		sizes = append(sizes, size{name, len(kv) + 1})
	}
	switch len(bad) {
	case 0:
	case 1:
		return errors.New(bad[0])
	default:
		return fmt.Errorf("%d values cannot be passed in the environment:\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
	for _, a := range argv {
		total += len(a) + 1 + 8
	}
	if max := argLimit(); total > max {
		// The largest first: what to move to a file.
		slices.SortStableFunc(sizes, func(a, b size) int { return b.n - a.n })
		var largest []string
		for _, s := range sizes[:min(3, len(sizes))] {
			largest = append(largest, fmt.Sprintf("%s (%d bytes)", s.name, s.n))
		}
		more := ""
		if n := len(sizes) - len(largest); n > 0 {
			more = fmt.Sprintf(", of %d variables", len(sizes))
		}
		return fmt.Errorf("the environment and arguments take %d bytes, more than the %d the kernel passes to a program (a quarter of the stack limit, at most 6 MiB): the largest are %s%s", total, max, strings.Join(largest, ", "), more)
	}
	return nil
}

// argLimit is how many bytes of arguments and environment (strings and
// pointers) execve takes: a quarter of the stack limit, but no more than
// three quarters of the kernel's default stack (8 MiB: 6 MiB, also under
// `ulimit -s unlimited`), and no less than ARG_MAX (131072 bytes, a
// constant, whatever the page size: unlike MAX_ARG_STRLEN, see
// manifest.MaxArgStrlen), as Linux's bprm_stack_limits computes it. ward checked only the
// quarter of the stack: under an unlimited stack it checked nothing, and
// the program's start failed with "argument list too long" (126); under
// a small one it refused what the kernel takes.
func argLimit() int {
	const defaultStack = 8 << 20
	limit := defaultStack / 4 * 3
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_STACK, &lim) == nil && lim.Cur != unix.RLIM_INFINITY && lim.Cur/4 < uint64(limit) {
		limit = int(lim.Cur / 4)
	}
	const argMax = 131072
	return max(limit, argMax)
}
