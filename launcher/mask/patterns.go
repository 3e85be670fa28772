package mask

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

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
	ac *ahocorasick.Automaton
	// acPats maps the automaton's patterns to pats: the index of the one
	// it is, or -1 for the first acPrefix bytes of longer ones (see
	// longestAt).
	acPats []int
	pats   [][]byte
	owners [][]Owner
	maxLen int
	// unstyled is set when a value is matched only as it is, never in
	// the text without its styles (see matchForms).
	unstyled bool
	// shifts is set when a value holds a shift byte (see unstyle).
	shifts bool

	// The automaton runs only where a pattern may start: long and short
	// find such places for the patterns of at least shortLen bytes and for
	// the others (see filter), and starts holds the first 4 bytes of every
	// pattern (hashed, see bloom), checked before running it.
	long, short filter
	starts      bloom
	// byStart lists the patterns by their first 4 bytes, for prefixTail;
	// prefix1 and prefix2 are the 1- and 2-byte pattern prefixes, prefix3
	// the 3-byte ones.
	byStart map[uint32][]int32
	prefix1 [4]uint64
	prefix2 []uint64
	prefix3 map[uint32]bool

	// overlaps lists, for each pattern, the offsets (ascending) at which
	// the rest of it is a proper prefix of a pattern (itself too): where
	// a value may start inside its occurrence and end after it (see
	// cover). Most patterns have none, and their matches cost nothing
	// more. heads maps the 1- to 3-byte heads of patterns to them, for
	// the overlaps that short.
	overlaps [][]overlap
	heads    map[string][]int32
	// continuers holds, for each pattern, the patterns of its overlaps,
	// each overlap's from first to last.
	continuers [][]int32
}

// overlap is a place in a pattern where the rest of it is the start of a
// longer pattern, those patterns (see Patterns.continuers); reach is how
// far from the pattern's start the longest such pattern at this place, or
// at any place before it, ends.
type overlap struct {
	at, reach, first, last int32
	// next has a bit for each byte that follows the rest of the
	// pattern in one of them: a place whose patterns all go on with
	// another byte than buf's next is passed over at once (the end of
	// a run of zeros beside 50 values of zeros looked at every one).
	next [4]uint64
}

// continuers finds the overlaps of patterns (see Patterns.overlaps),
// reusing its space from one pattern to the next.
type continuers struct {
	z, zq  []int32
	seen   map[int32]bool
	others []int32
	found  []uint64 // place<<32 | pattern (see foundAt)
	groups map[alignedKey][]alignedPattern
	// shortRests holds, for each place in the period an aligned
	// continuer starts at, the rests shorter than a period that are its
	// start (see aligned), nil until looked at.
	shortRests [][]int32
}

// foundAt is a continuer of a pattern, q, at place i of it, as found holds
// it: sorted, by place and then by pattern.
func foundAt(i, q int32) uint64 {
	return uint64(i)<<32 | uint64(q)
}

// alignedPeriod bounds the smallest period of a pattern whose continuers
// are found as those that repeat it (see continuers.aligned): base64 of
// zeros wrapped at 76 characters repeats every 77 bytes, or 78 with CRLF.
const alignedPeriod = 128

// alignedKey groups the patterns that repeat a pattern's period from
// their start (see continuers.aligned) by what follows the repeats, and
// where in the period the repeats end.
type alignedKey struct {
	tail  string
	phase int
}

// alignedPattern is a pattern of a group, and its length.
type alignedPattern struct {
	len int
	id  int32
}

// find returns the overlaps of pattern id and their patterns. For a
// pattern that repeats itself, each pattern that may continue it is
// compared with it once: by arithmetic when it repeats the same period
// (see aligned), else by the Z-array of the two joined (a value of 256 KiB
// of zeros took seconds when each place was compared with each pattern on
// its own); a rest of under MinLen bytes is looked up in heads.
func (c *continuers) find(p *Patterns, id int) ([]overlap, []int32) {
	pat := p.pats[id]
	c.found = c.found[:0]
	c.z = prefixLengths(pat, c.z)
	period := len(pat)
	for i := 1; i < len(pat); i++ {
		if int(c.z[i]) == len(pat)-i {
			period = i
			break
		}
	}
	// A value that repeats a short period (zeros, "abab", and its base64
	// and hex) is continued at every place by every other value that
	// repeats it: those are found in groups, below (see aligned), and
	// its own rests of a period and more with them.
	fast := period <= len(pat)/4 && period <= alignedPeriod
	// Itself: its rest is its own start ("abab", "0000").
	from := 1
	if fast {
		from = max(from, len(pat)-max(period, MinLen)+1)
	}
	for i := from; i < len(pat); i++ {
		if int(c.z[i]) == len(pat)-i {
			c.found = append(c.found, foundAt(int32(i), int32(id)))
		}
	}
	// Others, at places whose rest is MinLen bytes or more: those that
	// start with the 4 bytes there, by the bloom first (nearly none), and
	// are longer than the rest (a bundle's line, found inside its whole,
	// cannot continue it). Compared at each place, where they differ
	// within a few bytes; but for a value that repeats itself (its
	// smallest period a quarter of it or less: zeros, "abab", and its
	// base64 and hex), whose forms share thousands of bytes at every
	// place, each once, as said above.
	periodic := period <= len(pat)/4
	if c.seen == nil {
		c.seen = map[int32]bool{}
	}
	clear(c.seen)
	c.others = c.others[:0]
	// A pattern that repeats itself has the same 4 bytes a period on:
	// the last period of places holds them all, each where the shortest
	// rest (the most patterns longer than it) starts.
	start := 1
	if periodic {
		start = max(start, len(pat)-MinLen-period+1)
	}
	for i := start; i+MinLen <= len(pat); i++ {
		g := binary.LittleEndian.Uint32(pat[i:])
		if !p.starts.has(g) {
			continue
		}
		for _, q := range p.byStart[g] {
			switch {
			case len(p.pats[q]) <= len(pat)-i || int(q) == id:
			case !periodic:
				if bytes.HasPrefix(p.pats[q], pat[i:]) {
					c.found = append(c.found, foundAt(int32(i), q))
				}
			case !c.seen[q]:
				c.seen[q] = true
				c.others = append(c.others, q)
			}
		}
	}
	if fast {
		if c.groups == nil {
			c.groups = map[alignedKey][]alignedPattern{}
		}
		clear(c.groups)
		c.shortRests = slices.Grow(c.shortRests[:0], period)[:period]
		clear(c.shortRests)
		c.aligned(pat, period, p.pats[id], int32(id), true)
	}
	for _, q := range c.others {
		qb := p.pats[q]
		if fast && c.aligned(pat, period, qb, q, false) {
			continue
		}
		// z of q followed by the rest of pat shorter than q: at
		// len(q)+i-from, how much of pat's rest from i is q's start.
		from := max(1, len(pat)-len(qb)+1)
		if fast {
			// Not aligned: a rest of a period or more starts with a
			// whole period, which q does not, so only the shorter
			// ones may be its start, and its first period is all
			// they are compared with (unwrapped base64 continues
			// the last line of a wrapped one).
			from = max(from, len(pat)-period+1)
			qb = qb[:min(len(qb), period)]
		}
		c.zq = prefixLengths(slices.Concat(qb, pat[from:]), c.zq)
		for i := from; i+MinLen <= len(pat); i++ {
			if int(c.zq[len(qb)+i-from]) == len(pat)-i {
				c.found = append(c.found, foundAt(int32(i), q))
			}
		}
	}
	if fast {
		c.alignedFound(len(pat), period)
	}
	// Rests of 1 to 3 bytes.
	for i := max(1, len(pat)-MinLen+1); i < len(pat); i++ {
		tail := pat[i:]
		for _, q := range p.heads[string(tail)] {
			if int(q) != id && len(p.pats[q]) > len(tail) && bytes.HasPrefix(p.pats[q], tail) {
				c.found = append(c.found, foundAt(int32(i), q))
			}
		}
	}
	if len(c.found) == 0 {
		return nil, nil
	}
	slices.Sort(c.found)
	var overlaps []overlap
	cands := make([]int32, 0, len(c.found))
	reach := int32(0)
	for j, placed := range c.found {
		at, id := int32(placed>>32), int32(uint32(placed))
		if j == 0 || placed>>32 != c.found[j-1]>>32 {
			overlaps = append(overlaps, overlap{at: at, first: int32(len(cands))})
		}
		o := &overlaps[len(overlaps)-1]
		q := p.pats[id]
		if int(at)+len(q) > len(pat) {
			b := q[len(pat)-int(at)]
			o.next[b/64] |= 1 << (b % 64)
		}
		cands = append(cands, id)
		o.last = int32(len(cands))
		reach = max(reach, at+int32(len(q)))
		o.reach = reach
	}
	return overlaps, cands
}

// aligned adds q, which continues pat at some place, to its group, when
// its start repeats pat's period (whose smallest is period) at least once
// whole (a rotation of it: it starts where pat's rest does), and reports
// whether it did; one that does not is compared with pat by the Z-array.
// Continuing pat at place i is then arithmetic: the rest of pat there,
// whose length r is a period or more, is q's start when q repeats the
// period for r bytes or more, from the same place in it (i's, modulo the
// period). The rests shorter than a period but MinLen or more are
// compared here (not of pat itself: find did those).
//
// Of the continuers whose text past pat's end is the same (the same
// length, e, past it, of the same tail after the repeats, which end at
// the same place in the period), cover takes the one that starts first,
// whichever matches, as they reach as far and match the same bytes: the
// longest. So each group gives, for each e, only that one (see
// alignedFound): 100 values of 400 to 500 zeros had 45,000 continuers
// each, and took 27 s and 320 MB to compile.
func (c *continuers) aligned(pat []byte, period int, q []byte, id int32, itself bool) bool {
	if len(q) < period {
		return false
	}
	// Where in the period q starts: its first period in pat's first two
	// periods (pat holds four and more).
	s := bytes.Index(pat[:2*period-1], q[:period])
	if s < 0 {
		return false
	}
	repeats := period
	for repeats < len(q) && q[repeats] == q[repeats-period] {
		repeats++
	}
	if !itself {
		// q's start is pat's from s, for a period and more: which of
		// pat's short rests it starts with depends on s alone.
		rests := c.shortRests[s]
		if rests == nil {
			rests = []int32{}
			for r := MinLen; r < period; r++ {
				if i := len(pat) - r; i >= 1 && bytes.HasPrefix(pat[s:], pat[i:]) {
					rests = append(rests, int32(r))
				}
			}
			c.shortRests[s] = rests
		}
		for _, r := range rests {
			if int(r) < len(q) {
				c.found = append(c.found, foundAt(int32(len(pat))-r, id))
			}
		}
	}
	k := alignedKey{tail: string(q[repeats:]), phase: (s + repeats) % period}
	c.groups[k] = append(c.groups[k], alignedPattern{len: len(q), id: id})
	return true
}

// alignedFound adds to found, for each group of aligned (the patterns
// that continue a pattern of length n whose smallest period is period
// with the same tail) and each length e that a continuer goes past its
// end, the longest of the group that does so (see aligned): at place
// n-(len-e), the rest there r = len-e long, a period and MinLen or more,
// and the place one or more. The places of a group are those at the
// same place in the period as its patterns' starts: its es go by periods.
func (c *continuers) alignedFound(n, period int) {
	least := max(period, MinLen)
	for k, group := range c.groups {
		slices.SortFunc(group, func(a, b alignedPattern) int { return b.len - a.len })
		// e's place in the period: the rest starts at i, in step with
		// the group's starts, and the repeats end at k.phase.
		e := max(1, len(k.tail))
		step := ((k.phase+len(k.tail)-n-e)%period + period) % period
		for e += step; e+least <= group[0].len; e += period {
			// The longest that starts at place one or more.
			j, _ := slices.BinarySearchFunc(group, e+n-1, func(a alignedPattern, limit int) int {
				if a.len > limit {
					return -1
				}
				return 1
			})
			if j < len(group) && group[j].len >= e+least {
				c.found = append(c.found, foundAt(int32(n-(group[j].len-e)), group[j].id))
			}
		}
	}
}

// acPrefix is how much of a pattern the automaton holds: its memory
// grows with the bytes it holds times the byte values they use (a
// transition table per byte), and a certificate bundle's forms are some
// forty times its size. A longer pattern's first acPrefix bytes find
// where it may start, and the pattern is compared there whole. At 256,
// 100 values of 60 to 300 letters (some thirty forms each) made an
// automaton of 460 MB in 2.3 s, before the child's first output; at 16,
// 21 MB in 38 ms, and their output is masked faster (a smaller table
// stays in the cache). 16 bytes of a form are still nearly always one
// value's alone; where several share them (a JWT's header, wrapped
// base64's first line), they are compared whole (see longestAt).
const acPrefix = 16

// shortLen is the length from which a pattern is searched by 4-byte grams;
// shorter ones leave too short a stride for them and go by 2-byte grams.
const shortLen = 8

// Compile builds the patterns for secrets. It returns the names of the
// secrets skipped because their values are shorter than MinLen, in order,
// so the caller can warn naming the variable (never the value).
func Compile(secrets []Secret) (*Patterns, []string) {
	p := &Patterns{byStart: map[uint32][]int32{}, prefix3: map[uint32]bool{}, prefix2: make([]uint64, 1<<16/64), heads: map[string][]int32{}}
	var skipped []string
	index := map[string]int{}
	for _, s := range secrets {
		if len(s.Value) >= MinLen && hasShift(s.Value) {
			// Shifts are left out of the text for a value that is
			// matched without its own; one that is little but shifts
			// ("ab\x0f\x0fc") is matched only as it is, which such
			// a text would never hold.
			text, _, _ := (&Writer{shifts: true}).unstyle(s.Value, false)
			p.shifts = p.shifts || len(text) >= MinLen
		}
	}
	for si, s := range secrets {
		if len(s.Value) < MinLen {
			skipped = append(skipped, s.Name)
			continue
		}
		forms, short := matchForms(s.Value, p.shifts)
		p.unstyled = p.unstyled || short
		for _, f := range forms {
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
	var acPats [][]byte
	acIndex := map[string]int{}
	for id, pat := range p.pats {
		head := pat[:min(len(pat), acPrefix)]
		if i, ok := acIndex[string(head)]; ok {
			// The head of a longer pattern, or a pattern that is one:
			// compared whole where it matches.
			p.acPats[i] = -1
			continue
		}
		acIndex[string(head)] = len(acPats)
		acPats = append(acPats, head)
		if len(head) < len(pat) {
			p.acPats = append(p.acPats, -1)
		} else {
			p.acPats = append(p.acPats, id)
		}
	}
	// The library numbers the byte values the patterns use in a byte,
	// from 1: with 255 or more of them (a binary secret, a keystore,
	// holds nearly all) the count wraps and Build panics. Every byte is
	// its own class then, as the library does when told to.
	ac, err := ahocorasick.NewBuilder().AddPatterns(acPats).SetMatchKind(ahocorasick.LeftmostLongest).SetByteClasses(distinctBytes(acPats) < 255).Build()
	if err != nil {
		// Build fails only for an empty pattern list, excluded above.
		panic(fmt.Sprintf("mask: build automaton: %v", err))
	}
	p.ac = ac
	var long, short [][]byte
	for _, pat := range p.pats {
		p.maxLen = max(p.maxLen, len(pat))
		if len(pat) >= shortLen {
			long = append(long, pat)
		} else {
			short = append(short, pat)
		}
	}
	p.long = newFilter(long, 4)
	p.short = newFilter(short, 2)
	p.starts = newBloom(len(p.pats))
	for id, pat := range p.pats {
		g := gram(pat)
		p.starts.add(g)
		p.byStart[g] = append(p.byStart[g], int32(id))
		p.prefix1[pat[0]/64] |= 1 << (pat[0] % 64)
		setBit(p.prefix2, gram2(pat))
		p.prefix3[g&0xffffff] = true
		for n := 1; n < MinLen; n++ {
			p.heads[string(pat[:n])] = append(p.heads[string(pat[:n])], int32(id))
		}
	}
	p.overlaps = make([][]overlap, len(p.pats))
	p.continuers = make([][]int32, len(p.pats))
	var c continuers
	for id := range p.pats {
		p.overlaps[id], p.continuers[id] = c.find(p, id)
	}
	return p, skipped
}

// prefixLengths returns, for each place i in b, the length of the longest
// common prefix of b and b[i:] (the Z-array; 0 at 0), in z's space.
func prefixLengths(b []byte, z []int32) []int32 {
	z = slices.Grow(z[:0], len(b))[:len(b)]
	clear(z)
	for i, l, r := 1, 0, 0; i < len(b); i++ {
		if i < r {
			z[i] = int32(min(r-i, int(z[i-l])))
		}
		for i+int(z[i]) < len(b) && b[z[i]] == b[i+int(z[i])] {
			z[i]++
		}
		if i+int(z[i]) > r {
			l, r = i, i+int(z[i])
		}
	}
	return z
}

// link is one value of a run of overlapping values (see cover): pattern
// at start.
type link struct{ start, pattern int }

// cover returns the run of overlapping values that match m begins, and
// where it ends: m, then the value that starts inside m and reaches
// furthest past its end, then the one that starts inside that one and
// reaches furthest past it, and so on (a secret "admin:" followed by a
// password's first characters, and the password: replacing m alone
// printed the rest of the other in clear; "abab" in "ababab" left "ab").
// Only the places each pattern's overlaps list are looked at, so a match
// of a value that no other can continue (nearly all) costs nothing more.
// The run has no bound but buf's end. Its links are chosen so that a run
// taken up again at any of them, in a buffer that starts there, goes on
// as it would have: the value that starts there and reaches furthest is
// the longest there, which Find returns. With more set (input
// may follow buf), undecided is the index of the first link that buf
// ends inside a possible successor of, and -1 when the run is decided;
// the links before it are. links is scratch space, returned as the run.
func (p *Patterns) cover(buf []byte, m Match, more bool, links []link) (run []link, end, undecided int) {
	run = append(links[:0], link{start: m.Start, pattern: m.Pattern})
	end = m.End
	for {
		cur := run[len(run)-1]
		next := link{start: -1}
		nextEnd := end
		// From the last place back: the furthest reach is found early,
		// and the places that cannot reach it are not looked at (a
		// value of 2,000 zeros in a run of them: one look a link, where
		// every place was compared whole). Of equal reaches, the one
		// that starts first is taken.
		overlaps := p.overlaps[cur.pattern]
		for j := len(overlaps) - 1; j >= 0; j-- {
			o := overlaps[j]
			k := cur.start + int(o.at)
			if cur.start+int(o.reach) < nextEnd || next.start < 0 && cur.start+int(o.reach) <= end {
				// Nor can a value here, or before, be cut off by
				// buf's end, which is past nextEnd.
				break
			}
			if end < len(buf) && o.next[buf[end]/64]&(1<<(buf[end]%64)) == 0 {
				continue
			}
			// Each q here starts with the rest of pat from k, which is
			// buf up to end: only what follows end is compared.
			for _, id := range p.continuers[cur.pattern][o.first:o.last] {
				q := p.pats[id]
				switch e := k + len(q); {
				case len(buf) < e:
					// buf ends inside it: undecided while it is a
					// prefix of q and more may follow.
					if more && bytes.HasPrefix(q[end-k:], buf[end:]) {
						return run, end, len(run) - 1
					}
				case (e > nextEnd || e == nextEnd && next.start >= 0) && bytes.Equal(buf[end:e], q[end-k:]):
					next, nextEnd = link{start: k, pattern: int(id)}, e
				}
			}
		}
		if next.start < 0 {
			return run, end, -1
		}
		run = append(run, next)
		end = nextEnd
	}
}

// matchForms returns the forms of value a Writer looks for: FormsOf's
// and, for a form with style sequences in it (a binary value, a keystore's
// bytes, may hold "\e[1m" by chance), the form without them, as the
// Writer sees the text of output with styles in it. Such a value once
// turned the Writer's look through styles off for every value:
// `grep --color` printed every other secret whole, coloured.
// A value whose text without styles is shorter than MinLen ("Q\e[31mZ")
// cannot be matched so: for it (short reports it), values are matched
// as they are, never without their styles, as before. With shifts set
// (see Patterns.shifts), forms are also without their shift bytes.
func matchForms(value []byte, shifts bool) (forms []Form, short bool) {
	forms = FormsOf(value)
	var plain []Form
	// The text as the Writer sees it: with shifts set, without any (a
	// view that always left them out dropped the head "\x0e\x0e00" of
	// "\x0e\x0e00\e", a value little but shifts that leaves them in).
	view := &Writer{shifts: shifts}
	for _, f := range forms {
		if !view.styled(f.Bytes) {
			continue
		}
		// Without its styles, and, when it ends inside one ("...\e[1",
		// completed by what the program prints after it), up to that
		// one: the terminal shows no more of it, and it was printed
		// in clear.
		text, _, _ := view.unstyle(f.Bytes, false)
		switch {
		case len(text) == len(f.Bytes):
		case len(text) < MinLen:
			// One that is little but shifts is matched as it is (see
			// Compile), and not as a terminal shows it, as a value
			// that short is not.
			short = short || bytes.IndexByte(f.Bytes, esc) >= 0
		default:
			plain = append(plain, Form{Encoding: f.Encoding, Bytes: bytes.Clone(text)})
		}
		// A head shorter than MinLen is not matched, as a value that
		// short is not: it turned the look through styles off for
		// every value, and another was printed in clear.
		if head, _, cut := view.unstyle(f.Bytes, true); cut < len(f.Bytes) && len(head) >= MinLen {
			plain = append(plain, Form{Encoding: f.Encoding, Bytes: bytes.Clone(head)})
		}
	}
	return append(slices.Clip(forms), plain...), short
}

// distinctBytes counts the byte values that occur in pats.
func distinctBytes(pats [][]byte) int {
	var seen [256]bool
	n := 0
	for _, pat := range pats {
		for _, b := range pat {
			if !seen[b] {
				seen[b] = true
				n++
			}
		}
	}
	return n
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
	tl := p.long.candidate(buf, from)
	ts := p.short.candidate(buf, from)
	for {
		t := min(tl, ts)
		if t >= len(buf) {
			return Match{}, false
		}
		if t+MinLen <= len(buf) && p.starts.has(gram(buf[t:])) {
			// FindAt runs until the automaton falls back to its start
			// state; no pattern reaches past t+maxLen.
			end := min(len(buf), t+p.maxLen)
			if am, ok := p.ac.FindAt(buf[:end], t); ok {
				if id := p.acPats[am.PatternID]; id >= 0 {
					return Match{Start: am.Start, End: am.End, Pattern: id}, true
				}
				if id, ok := p.longestAt(buf[:end], am.Start); ok {
					return Match{Start: am.Start, End: am.Start + len(p.pats[id]), Pattern: id}, true
				}
				// Only a longer pattern's head matched there, and
				// nothing starts between t and it: go on after it.
				t = am.Start
				tl, ts = t, t
			}
		}
		if tl == t {
			tl = p.long.candidate(buf, t+1)
		}
		if ts == t {
			ts = p.short.candidate(buf, t+1)
		}
	}
}

// longestAt returns the longest pattern that buf holds at start. The
// automaton found none starting before it, and its longest match there
// was the head of a longer pattern: every pattern that starts there
// starts with the same 4 bytes.
func (p *Patterns) longestAt(buf []byte, start int) (int, bool) {
	best := -1
	for _, id := range p.byStart[gram(buf[start:])] {
		pat := p.pats[id]
		if (best < 0 || len(pat) > len(p.pats[best])) && bytes.HasPrefix(buf[start:], pat) {
			best = int(id)
		}
	}
	return best, best >= 0
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
		return p.prefix1[tail[0]/64]&(1<<(tail[0]%64)) != 0
	case 2:
		return hasBit(p.prefix2, gram2(tail))
	case 3:
		return p.prefix3[uint32(tail[0])|uint32(tail[1])<<8|uint32(tail[2])<<16]
	}
	g := gram(tail)
	if !p.starts.has(g) {
		return false
	}
	for _, id := range p.byStart[g] {
		if pat := p.pats[id]; len(pat) > len(tail) && bytes.HasPrefix(pat, tail) {
			return true
		}
	}
	return false
}

// filter finds where a pattern of one group may start without looking at
// every position. Every pattern of the group is at least minLen long, so an
// occurrence starting at t covers the q-byte gram at one sampled position
// x = from + k*stride with t <= x < t+stride, stride being minLen-q+1.
// Only where that gram is one of the grams at offsets 0..stride-1 of some
// pattern can an occurrence start in (x-stride, x], and only where the gram
// at t is the first of some pattern can one start at t. On text with no
// value in it, this looks at one position in stride.
//
// q is 4 (grams hashed into a bloom) for long patterns and 2 (grams as bit
// indexes, exact) for short ones, whose stride would be 1 to 4 with q=4.
type filter struct {
	q, stride, minLen int
	grams, starts     bloom
}

func newFilter(pats [][]byte, q int) filter {
	if len(pats) == 0 {
		return filter{}
	}
	f := filter{q: q, minLen: len(pats[0])}
	for _, pat := range pats {
		f.minLen = min(f.minLen, len(pat))
	}
	f.stride = f.minLen - q + 1
	if q == 4 {
		f.grams, f.starts = newBloom(len(pats)*f.stride), newBloom(len(pats))
	} else {
		f.grams, f.starts = exactBloom16(), exactBloom16()
	}
	for _, pat := range pats {
		for j := range f.stride {
			f.grams.add(f.gram(pat[j:]))
		}
		f.starts.add(f.gram(pat))
	}
	return f
}

// candidate returns the earliest position t >= from where a pattern of the
// group may start, or len(buf).
func (f *filter) candidate(buf []byte, from int) int {
	switch f.q {
	case 4:
		return f.candidate4(buf, from)
	case 2:
		return f.candidate2(buf, from)
	}
	return len(buf)
}

// candidate4 and candidate2 are candidate for each gram size, written out
// because this loop is where masking spends its time.
func (f *filter) candidate4(buf []byte, from int) int {
	s, grams, shift := f.stride, f.grams.bits, f.grams.shift
	for x := from; x+4 <= len(buf); x += s {
		h := (binary.LittleEndian.Uint32(buf[x:]) * hashMul) >> shift
		if grams[h/64]&(1<<(h%64)) == 0 {
			continue
		}
		for t := max(from, x-s+1); t <= x && t+f.minLen <= len(buf); t++ {
			if f.starts.has(gram(buf[t:])) {
				return t
			}
		}
	}
	return len(buf)
}

func (f *filter) candidate2(buf []byte, from int) int {
	s, grams := f.stride, f.grams.bits
	for x := from; x+2 <= len(buf); x += s {
		g := binary.LittleEndian.Uint16(buf[x:])
		if grams[g/64]&(1<<(g%64)) == 0 {
			continue
		}
		for t := max(from, x-s+1); t <= x && t+f.minLen <= len(buf); t++ {
			if f.starts.has(gram2(buf[t:])) {
				return t
			}
		}
	}
	return len(buf)
}

func (f *filter) gram(b []byte) uint32 {
	if f.q == 2 {
		return gram2(b)
	}
	return gram(b)
}

// bloom is a set of 32-bit grams as a bit set indexed by a multiplicative
// hash: has may say yes for a gram never added, never no for one that was.
// An exact one (see exactBloom16) is indexed by the gram itself.
type bloom struct {
	bits  []uint64
	shift uint
	exact bool
}

// newBloom returns a bloom for about n grams: 64 bits a gram keeps
// unrelated grams out, mostly; at most 8 Mi bits (1 MiB).
func newBloom(n int) bloom {
	size := uint(12)
	for 1<<size < n*64 && size < 23 {
		size++
	}
	return bloom{bits: make([]uint64, (1<<size)/64), shift: 32 - size}
}

// exactBloom16 returns a bloom holding 2-byte grams exactly.
func exactBloom16() bloom {
	return bloom{bits: make([]uint64, 1<<16/64), exact: true}
}

func (b *bloom) index(g uint32) uint32 {
	if b.exact {
		return g
	}
	return (g * hashMul) >> b.shift
}

// hashMul is Knuth's multiplicative hashing constant, 2^32 divided by the
// golden ratio.
const hashMul = 0x9E3779B1

func (b *bloom) add(g uint32) { setBit(b.bits, b.index(g)) }

func (b *bloom) has(g uint32) bool { return hasBit(b.bits, b.index(g)) }

// gram reads the 4 bytes at the start of b.
func gram(b []byte) uint32 {
	return binary.LittleEndian.Uint32(b)
}

// gram2 reads the 2 bytes at the start of b.
func gram2(b []byte) uint32 {
	return uint32(binary.LittleEndian.Uint16(b))
}

func setBit(set []uint64, i uint32) {
	set[i/64] |= 1 << (i % 64)
}

func hasBit(set []uint64, i uint32) bool {
	return set[i/64]&(1<<(i%64)) != 0
}
