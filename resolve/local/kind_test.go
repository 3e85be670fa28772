package local

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// TestValidNameIsNameRE checks the hand-written check against the grammar
// the schema publishes, on chosen names and on random strings over the
// characters that matter.
func TestValidNameIsNameRE(t *testing.T) {
	re := regexp.MustCompile(nameRE.String())
	names := []string{"", "a", "/", "a/", "/a", "a//b", "a/b", "myapp/api_token", ".a", "a.", "-a", "a-b", "_a", "a/.b", "a/_b", "a b", "é", "a/b/c.d-e_f", "A9", "9"}
	r := rand.New(rand.NewPCG(3, 4))
	const chars = "aZ9_.-/ é\x00"
	for range 50000 {
		b := make([]rune, r.IntN(7))
		for i := range b {
			b[i] = []rune(chars)[r.IntN(len([]rune(chars)))]
		}
		names = append(names, string(b))
	}
	for _, n := range names {
		if got, want := ValidName(n), re.MatchString(n); got != want {
			t.Errorf("ValidName(%q) = %v, the grammar says %v", n, got, want)
		}
	}
}
