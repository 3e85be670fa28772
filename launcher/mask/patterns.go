package mask

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/coregx/ahocorasick"
)

// Secret is a resolved value and the variable it was resolved for.
type Secret struct {
	Name  string
	Value []byte
}

// Owner is a secret whose value has a form equal to a pattern.
type Owner struct {
	// Secret is the index in the list given to Compile.
	Secret   int
	Name     string
	Encoding Encoding
}

// Match is an occurrence of a pattern: buf[Start:End] equals it.
type Match struct {
	Start, End int
	// Pattern indexes Patterns.Owners.
	Pattern int
}

// Patterns is the compiled set of every form of every secret value, searched
// all at once by an Aho-Corasick automaton. It is read-only once compiled and
// safe for concurrent use, so the stdout and stderr Writers can share one.
type Patterns struct {
	ac     *ahocorasick.Automaton
	pats   [][]byte
	owners [][]Owner
	minLen int
	maxLen int

	// The search skips text with two bit sets of 4-byte grams (see next):
	// stride is minLen-3, grams holds the grams at offsets 0..stride-1 of
	// every pattern, starts those at offset 0.
	stride int
	shift  uint
	grams  []uint64
	starts []uint64
	// byStart lists the patterns by their first 4 bytes, for prefixTail;
	// short1 and short2 are the 1- and 2-byte pattern prefixes, short3 the
	// 3-byte ones.
	byStart map[uint32][]int32
	short1  [4]uint64
	short2  []uint64
	short3  map[uint32]bool
}

// Compile builds the patterns for secrets. It returns the names of the
// secrets skipped because their values are shorter than MinLen, in order,
// so the caller can warn naming the variable (never the value).
func Compile(secrets []Secret) (*Patterns, []string) {
	p := &Patterns{byStart: map[uint32][]int32{}, short3: map[uint32]bool{}, short2: make([]uint64, 1<<16/64)}
	var skipped []string
	index := map[string]int{}
	for si, s := range secrets {
		if len(s.Value) < MinLen {
			skipped = append(skipped, s.Name)
			continue
		}
		for _, f := range FormsOf(s.Value) {
			o := Owner{Secret: si, Name: s.Name, Encoding: f.Encoding}
			if id, ok := index[string(f.Bytes)]; ok {
				// Two variables may share a value: report both, mask as the first.
				p.owners[id] = append(p.owners[id], o)
				continue
			}
			index[string(f.Bytes)] = len(p.pats)
			p.pats = append(p.pats, f.Bytes)
			p.owners = append(p.owners, []Owner{o})
		}
	}
	if len(p.pats) == 0 {
		return p, skipped
	}
	ac, err := ahocorasick.NewBuilder().AddPatterns(p.pats).SetMatchKind(ahocorasick.LeftmostLongest).Build()
	if err != nil {
		// Build fails only for an empty pattern list, excluded above.
		panic(fmt.Sprintf("mask: build automaton: %v", err))
	}
	p.ac = ac
	p.minLen, p.maxLen = len(p.pats[0]), 0
	for _, pat := range p.pats {
		p.minLen = min(p.minLen, len(pat))
		p.maxLen = max(p.maxLen, len(pat))
	}
	p.stride = p.minLen - 3
	p.sizeFilters()
	for id, pat := range p.pats {
		for j := range p.stride {
			setBit(p.grams, p.hash(gram(pat[j:])))
		}
		g := gram(pat)
		setBit(p.starts, p.hash(g))
		p.byStart[g] = append(p.byStart[g], int32(id))
		p.short1[pat[0]/64] |= 1 << (pat[0] % 64)
		setBit(p.short2, uint32(pat[0])|uint32(pat[1])<<8)
		p.short3[g&0xffffff] = true
	}
	return p, skipped
}

// Owners returns, for each pattern, the secrets it is a form of; the first
// is the one a Writer names.
func (p *Patterns) Owners(pattern int) []Owner {
	return p.owners[pattern]
}

// Len returns the number of patterns.
func (p *Patterns) Len() int { return len(p.pats) }

// MaxLen returns the length of the longest pattern: a stream searcher never
// needs to keep more than MaxLen-1 bytes of unmatched input.
func (p *Patterns) MaxLen() int { return p.maxLen }

// Find returns the leftmost match in buf starting at or after from, the
// longest one where several start there. It takes buf as the whole input;
// when more input may follow, only a match starting before Hold(buf, from)
// is final.
func (p *Patterns) Find(buf []byte, from int) (Match, bool) {
	if p.ac == nil {
		return Match{}, false
	}
	return p.next(buf, from)
}

// Hold returns where the undecided tail of buf starts when more input may
// follow: the earliest position t >= from such that buf[t:] is a proper
// prefix of some pattern, or len(buf) if there is none. A match that Find
// returns starting before it is final: no later input can make it longer
// or start one earlier. What starts at or after it is kept and presented
// again, followed by the next input. The result stays valid for any from up
// to it.
func (p *Patterns) Hold(buf []byte, from int) int {
	if p.ac == nil {
		return len(buf)
	}
	return p.prefixTail(buf, from)
}

// next finds the leftmost-longest complete match in buf[from:].
//
// Every pattern is at least minLen long, so an occurrence starting at t
// covers a 4-byte gram at a sampled position x = from + k*stride with
// t <= x < t+stride. Only where that gram is in the grams set can an
// occurrence start in (x-stride, x]; only where the gram at t is in the
// starts set can one start at t; and only there does the automaton run.
// On text with no value in it, this touches one position in stride.
func (p *Patterns) next(buf []byte, from int) (Match, bool) {
	s := p.stride
	for x := from; x+4 <= len(buf); x += s {
		if !hasBit(p.grams, p.hash(gram(buf[x:]))) {
			continue
		}
		for t := max(from, x-s+1); t <= x && t+p.minLen <= len(buf); t++ {
			if !hasBit(p.starts, p.hash(gram(buf[t:]))) {
				continue
			}
			// FindAt scans until the automaton falls back to its start
			// state; no pattern reaches past t+maxLen.
			end := min(len(buf), t+p.maxLen)
			if am, ok := p.ac.FindAt(buf[:end], t); ok {
				return Match{Start: am.Start, End: am.End, Pattern: am.PatternID}, true
			}
		}
	}
	return Match{}, false
}

// prefixTail returns the earliest position t >= from such that buf[t:] is a
// proper prefix of some pattern, or len(buf) if there is none.
func (p *Patterns) prefixTail(buf []byte, from int) int {
	for t := max(from, len(buf)-p.maxLen+1); t < len(buf); t++ {
		if p.isProperPrefix(buf[t:]) {
			return t
		}
	}
	return len(buf)
}

func (p *Patterns) isProperPrefix(tail []byte) bool {
	switch len(tail) {
	case 1:
		return p.short1[tail[0]/64]&(1<<(tail[0]%64)) != 0
	case 2:
		return hasBit(p.short2, uint32(tail[0])|uint32(tail[1])<<8)
	case 3:
		return p.short3[uint32(tail[0])|uint32(tail[1])<<8|uint32(tail[2])<<16]
	}
	g := gram(tail)
	if !hasBit(p.starts, p.hash(g)) {
		return false
	}
	for _, id := range p.byStart[g] {
		if pat := p.pats[id]; len(pat) > len(tail) && bytes.HasPrefix(pat, tail) {
			return true
		}
	}
	return false
}

// sizeFilters allocates the gram bit sets: about 64 bits per gram, so that
// few unrelated grams pass, and at most 1 MiB.
func (p *Patterns) sizeFilters() {
	n := len(p.pats) * p.stride * 64
	bits := uint(12)
	for 1<<bits < n && bits < 23 {
		bits++
	}
	p.shift = 32 - bits
	p.grams = make([]uint64, (1<<bits)/64)
	p.starts = make([]uint64, (1<<bits)/64)
}

// hash maps a gram to a bit index (multiplicative hashing).
func (p *Patterns) hash(g uint32) uint32 {
	return (g * 0x9E3779B1) >> p.shift
}

// gram reads the 4 bytes at the start of b.
func gram(b []byte) uint32 {
	return binary.LittleEndian.Uint32(b)
}

func setBit(set []uint64, i uint32) {
	set[i/64] |= 1 << (i % 64)
}

func hasBit(set []uint64, i uint32) bool {
	return set[i/64]&(1<<(i%64)) != 0
}
