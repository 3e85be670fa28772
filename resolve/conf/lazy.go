package conf

import (
	"regexp"
	"sync"
)

// Regexp is a regular expression compiled on first use rather than at
// package initialisation. ward's own binary links every store's
// reference grammar, and Go runs package initialisers before main on
// every start: compiled eagerly, the grammars' counted repetitions
// ({1,255}, {0,61}) cost most of ward's start-up before main, for
// schemes most manifests never name (measured with callgrind and
// GODEBUG=inittrace=1; README, Benchmarks).
type Regexp struct {
	src      string
	once     sync.Once
	compiled *regexp.Regexp
}

// Lazy returns the regular expression src, to be compiled when first
// matched. src must compile: the first use panics otherwise, as
// regexp.MustCompile does at initialisation. A package-level
// conf.Lazy(`...`) is laid out by the linker (the call is inlined into a
// composite literal), so it costs no initialiser at all.
func Lazy(src string) *Regexp {
	return &Regexp{src: src}
}

func (r *Regexp) re() *regexp.Regexp {
	r.once.Do(func() { r.compiled = regexp.MustCompile(r.src) })
	return r.compiled
}

// MatchString reports whether s contains a match.
func (r *Regexp) MatchString(s string) bool { return r.re().MatchString(s) }

// FindStringSubmatch is regexp.Regexp's FindStringSubmatch.
func (r *Regexp) FindStringSubmatch(s string) []string { return r.re().FindStringSubmatch(s) }

// String returns the source text, without compiling it.
func (r *Regexp) String() string { return r.src }

// ReplaceAllString is regexp.Regexp's ReplaceAllString.
func (r *Regexp) ReplaceAllString(src, repl string) string { return r.re().ReplaceAllString(src, repl) }
