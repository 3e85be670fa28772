package local

import (
	"testing"

	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// TestValidNameIsNameRE checks the hand-written check against the grammar
// the schema publishes.
func TestValidNameIsNameRE(t *testing.T) {
	resolvetest.MatchesGrammar(t, ValidName, nameRE.String(), "aZ9_.-/ é\x00",
		"", "a", "/", "a/", "/a", "a//b", "a/b", "myapp/api_token", ".a", "a.", "-a", "a-b", "_a", "a/.b", "a/_b", "a b", "é", "a/b/c.d-e_f", "A9", "9")
}
