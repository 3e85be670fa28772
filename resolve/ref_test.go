package resolve_test

import (
	"testing"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// TestValidEnvName checks the hand-written check against the expression it
// replaces.
func TestValidEnvName(t *testing.T) {
	resolvetest.MatchesGrammar(t, resolve.ValidEnvName, `^[A-Za-z_][A-Za-z0-9_]*$`, "Aaz_09.- \x00é",
		"", "A", "a", "_", "1", "A1", "_1", "1A", "DATABASE_URL", "db.url", "A-B", "É", "A\x00", "A ", " A", "Ä1", "__", "a_b_9")
}
