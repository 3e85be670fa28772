package plan

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestValueUpToThirtyTwoPages: the kernel takes an environment string of
// up to 32 of its pages (MAX_ARG_STRLEN), its NUL included: 128 KiB with
// 4 KiB pages, 2 MiB with the 64 KiB pages of ppc64le's kernels and some
// arm64 ones. ward checked against a fixed 32 * 4096, and refused with
// 125 there a value the kernel passes. (This machine's kernel has 4 KiB
// pages; qemu-user with QEMU_PAGESIZE=65536 shows a program 64 KiB ones,
// as such a kernel does: GOARCH=ppc64le QEMU_PAGESIZE=65536 go test.)
func TestValueUpToThirtyTwoPages(t *testing.T) {
	limit := 32 * os.Getpagesize()
	const name = "BUNDLE"
	// A little under the limit: with the default 8 MiB stack, the
	// kernel's limit on the whole environment is a quarter of it, 2 MiB,
	// which 32 pages of 64 KiB fill on their own.
	fits := name + "=" + strings.Repeat("c", limit-len(name)-2-64)
	if err := CheckDeliverable([]string{fits}, []string{"true"}); err != nil {
		t.Errorf("a string of %d bytes with its NUL, under 32 pages of %d bytes: %v", len(fits)+1, os.Getpagesize(), err)
	}
	over := name + "=" + strings.Repeat("c", limit-len(name)-1)
	err := CheckDeliverable([]string{over}, []string{"true"})
	if err == nil {
		t.Fatalf("a string of %d bytes with its NUL, over 32 pages of %d bytes: taken", len(over)+1, os.Getpagesize())
	}
	if want := "more than the " + strconv.Itoa(limit-len(name)-2) + " an environment variable may hold"; !strings.Contains(err.Error(), want) {
		t.Errorf("got %q, want it to say %q", err.Error()[:min(200, len(err.Error()))], want)
	}
}
