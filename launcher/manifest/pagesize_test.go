package manifest

import (
	"os"
	"strings"
	"testing"
)

// TestValueOfThePageSizesLimit: a plain value up to the kernel's limit on
// one environment string, 32 of its pages, is taken: 2 MiB less the name
// with the 64 KiB pages of ppc64le's kernels and some arm64 ones, where
// ward refused what was over 32 * 4096 (see plan's
// TestValueUpToThirtyTwoPages for how to run it so).
func TestValueOfThePageSizesLimit(t *testing.T) {
	value := strings.Repeat("x", 32*os.Getpagesize()-8)
	if _, err := Parse("w.yaml", []byte("version: 1\nenv:\n  N: {value: "+value+"}\n")); err != nil {
		t.Errorf("a value of %d bytes, under 32 pages of %d bytes with its name: %.300v", len(value), os.Getpagesize(), err)
	}
}
