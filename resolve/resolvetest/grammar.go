package resolvetest

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// MatchesGrammar checks a hand-written check against the expression it
// implements, on the given names and on 50,000 random strings of up to
// eight characters drawn from chars (the same ones every run).
func MatchesGrammar(t *testing.T, check func(string) bool, grammar string, chars string, names ...string) {
	t.Helper()
	re := regexp.MustCompile(grammar)
	runes := []rune(chars)
	r := rand.New(rand.NewPCG(1, 2))
	for range 50000 {
		b := make([]rune, r.IntN(9))
		for i := range b {
			b[i] = runes[r.IntN(len(runes))]
		}
		names = append(names, string(b))
	}
	for _, n := range names {
		if got, want := check(n), re.MatchString(n); got != want {
			t.Errorf("%q: the check says %v, the grammar %v", n, got, want)
		}
	}
}
