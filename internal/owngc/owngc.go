// Package owngc keeps the garbage collector's settings of ward and its
// store helpers their own.
package owngc

import (
	"math"
	"os"
	"runtime/debug"
)

// Reset gives this process the collector's defaults where $GOGC or
// $GOMEMLIMIT say otherwise. They are there for the child, which gets
// them unchanged: a Go program's image sets GOGC=off with a GOMEMLIMIT of
// the container's memory, as Go's GC guide suggests, and ward (its
// ENTRYPOINT) and its store helpers read them too. They collected
// nothing below that limit, each growing with every poll (about 18 KB a
// Vault poll between them) towards the memory the program was to have.
func Reset() {
	if os.Getenv("GOGC") != "" {
		debug.SetGCPercent(100)
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		debug.SetMemoryLimit(math.MaxInt64)
	}
}
