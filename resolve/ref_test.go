package resolve

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// TestValidEnvName checks the hand-written check against the expression it
// replaces, on chosen names and on random strings over the characters that
// matter.
func TestValidEnvName(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	names := []string{"", "A", "a", "_", "1", "A1", "_1", "1A", "DATABASE_URL", "db.url", "A-B", "É", "A\x00", "A ", " A", "Ä1", "__", "a_b_9"}
	r := rand.New(rand.NewPCG(1, 2))
	const chars = "Aaz_09.- \x00é"
	for range 20000 {
		b := make([]rune, r.IntN(5))
		for i := range b {
			b[i] = []rune(chars)[r.IntN(len([]rune(chars)))]
		}
		names = append(names, string(b))
	}
	for _, n := range names {
		if got, want := ValidEnvName(n), re.MatchString(n); got != want {
			t.Errorf("ValidEnvName(%q) = %v, want %v", n, got, want)
		}
	}
}
