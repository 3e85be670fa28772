package signals

import "testing"

// TestParallelMake: the MAKEFLAGS of GNU make 4.3 (as printed by a recipe
// of `make`, `make -j2`, `make -j`, `make -j1`, `make -ks -j3 FOO=bar`),
// of make 4.4 and 4.1, and of BSD make.
func TestParallelMake(t *testing.T) {
	for flags, want := range map[string]bool{
		"":                                       false,
		" -j2 --jobserver-auth=3,4":              true,
		" -j":                                    true,
		" -j1":                                   false,
		"ks -j3 --jobserver-auth=3,4 -- FOO=bar": true,
		" -j4 -l2 --jobserver-auth=3,4":          true,
		" -j8 --jobserver-auth=fifo:/tmp/GMfifo123": true,
		" --jobserver-fds=3,4 -j":                   true,
		"-J 15,16 -j 4":                             true,
		"-j 1":                                      false,
		"s -- CFLAGS=-j2":                           false,
		"ks":                                        false,
		" -- X=--jobserver-auth=3,4":                false,
	} {
		if got := ParallelMake(flags); got != want {
			t.Errorf("ParallelMake(%q) = %v, want %v", flags, got, want)
		}
	}
}
