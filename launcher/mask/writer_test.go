package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// refMask is the reference the Writer must agree with: the forms of every
// value (and those with style runs in them, without them), matched
// leftmost-longest by a plain loop over the whole input's text (without
// its style runs, unless a value is little but styles), each match with
// the run of values that overlap it (see Patterns.cover), with the styles
// from inside a match put after its <ward:NAME>.
func refMask(secrets []Secret, input []byte) []byte {
	type pat struct {
		b    []byte
		name string
	}
	// textOf returns b without its style runs, each text byte with the
	// run that follows it, and the run b starts with. When a value holds a
	// shift byte, shifts are left out wherever they are.
	styles := true
	shifts := false
	for _, s := range secrets {
		if len(s.Value) >= MinLen && hasShift(s.Value) {
			// Not one little but shifts: it is matched as it is.
			text, _, _ := (&Writer{shifts: true}).unstyle(s.Value, false)
			shifts = shifts || len(text) >= MinLen
		}
	}
	textOf := func(b []byte) (text []byte, after [][]byte, lead []byte) {
		for i := 0; i < len(b); {
			// At the input's end, a run's complete sequences are
			// styles, partial or not.
			n, _ := styleRun(b[i:])
			if shifts && isShift(b[i]) {
				// A shift draws nothing either; a run of them longer
				// than one of styles may be is text.
				if n = shiftRun(b[i:]); n > maxStyleRun {
					for end := i + n; i < end; i++ {
						text = append(text, b[i])
						after = append(after, nil)
					}
					continue
				}
			}
			if styles && n > 0 {
				if len(text) == 0 {
					lead = append(lead, b[i:i+n]...)
				} else {
					after[len(after)-1] = append(after[len(after)-1], b[i:i+n]...)
				}
				i += n
				continue
			}
			text = append(text, b[i])
			after = append(after, nil)
			i++
		}
		return text, after, lead
	}
	var pats []pat
	seen := map[string]bool{}
	add := func(b []byte, name string) {
		if !seen[string(b)] {
			seen[string(b)] = true
			pats = append(pats, pat{b, name})
		}
	}
	short := false
	for _, s := range secrets {
		for _, f := range Forms(s.Value) {
			add(f, s.Name)
		}
		for _, f := range Forms(s.Value) {
			if t, _, _ := textOf(f); len(t) < len(f) && len(t) >= MinLen {
				add(t, s.Name)
			} else if len(t) < len(f) && bytes.IndexByte(f, esc) >= 0 {
				short = true
			}
			// Up to a style left open at its end, if any; a head too
			// short to match is dropped.
			var head []byte
			for i := 0; i < len(f); {
				if k := shiftRun(f[i:]); shifts && k > 0 {
					if k > maxStyleRun {
						head = append(head, f[i:i+k]...)
					}
					i += k
					continue
				}
				n, partial := styleRun(f[i:])
				if partial {
					if len(head) >= MinLen {
						add(head, s.Name)
					}
					break
				}
				if n > 0 {
					i += n
					continue
				}
				head = append(head, f[i])
				i++
			}
		}
	}
	styles = !short
	text, after, out := textOf(input)
	longestAt := func(i int) int {
		best := -1
		for j, p := range pats {
			if bytes.HasPrefix(text[i:], p.b) && (best < 0 || len(p.b) > len(pats[best].b)) {
				best = j
			}
		}
		return best
	}
	for i := 0; i < len(text); {
		best := longestAt(i)
		if best < 0 {
			out = append(out, text[i])
			out = append(out, after[i]...)
			i++
			continue
		}
		// The run of values overlapping it: each next one the value
		// that starts inside the one before and reaches furthest past
		// it (the first of those).
		// Each value's name, then the styles after the text bytes it
		// adds.
		start, end := i, i+len(pats[best].b)
		for {
			next, nextEnd := -1, end
			for k := start + 1; k < end; k++ {
				for j, p := range pats {
					if k+len(p.b) > nextEnd && bytes.HasPrefix(text[k:], p.b) {
						next, nextEnd = j, k+len(p.b)
						i = k
					}
				}
			}
			out = append(out, "<ward:"+pats[best].name+">"...)
			upTo := end
			if next >= 0 {
				upTo = i
			}
			for k := start; k < upTo; k++ {
				out = append(out, after[k]...)
			}
			if next < 0 {
				break
			}
			best, start, end = next, i, nextEnd
		}
		i = end
	}
	return out
}

// maskChunks writes input to a new Writer in the given chunk sizes (the
// last chunk takes the rest), then closes it.
func maskChunks(t testing.TB, secrets []Secret, input []byte, sizes []int) []byte {
	t.Helper()
	p, _ := Compile(secrets)
	return maskChunksWith(t, p, input, sizes)
}

func maskChunksWith(t testing.TB, p *Patterns, input []byte, sizes []int) []byte {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out, p)
	for _, n := range sizes {
		n = min(n, len(input))
		if _, err := w.Write(input[:n]); err != nil {
			t.Fatalf("write: %v", err)
		}
		input = input[n:]
	}
	if _, err := w.Write(input); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return out.Bytes()
}

// diff describes how got differs from want without printing either: they
// may hold test values, and failure messages never show a value.
func diff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Sprintf("output differs from want at byte %d (got %d bytes, want %d)", i, len(got), len(want))
}

func TestWriterSplitAtEveryPoint(t *testing.T) {
	secrets := []Secret{{Name: "API_TOKEN", Value: []byte("tok-3f9a2c7e")}}
	input := []byte("connecting with tok-3f9a2c7e to host\n")
	want := []byte("connecting with <ward:API_TOKEN> to host\n")
	everySplit(t, secrets, input, want)
}

// everySplit masks input written in two parts, split at every point, and
// byte by byte, the worst case for a pseudo-terminal: each gives want.
func everySplit(t *testing.T, secrets []Secret, input, want []byte) {
	t.Helper()
	for i := 0; i <= len(input); i++ {
		if got := maskChunks(t, secrets, input, []int{i}); !bytes.Equal(got, want) {
			t.Errorf("split at %d: %s", i, diff(got, want))
		}
	}
	ones := make([]int, len(input))
	for i := range ones {
		ones[i] = 1
	}
	if got := maskChunks(t, secrets, input, ones); !bytes.Equal(got, want) {
		t.Errorf("one byte per write: %s", diff(got, want))
	}
}

// refAndEverySplit checks that the reference masks input as want, then
// that the Writer does, however the input is cut (see everySplit).
func refAndEverySplit(t *testing.T, secrets []Secret, input, want string) {
	t.Helper()
	if ref := refMask(secrets, []byte(input)); !bytes.Equal(ref, []byte(want)) {
		t.Fatalf("the reference: %s", diff(ref, []byte(want)))
	}
	everySplit(t, secrets, []byte(input), []byte(want))
}

// TestWriterLongValuesShareAHead: values longer than the automaton holds
// of a pattern (acPrefix), which share their first bytes, are told apart
// whole, and a shorter one equal to that head is masked where only the
// head is there, wherever the input is split: with the rest of the
// repeating text, which holds that head again, shifted (see
// Patterns.cover), up to its last whole occurrence.
func TestWriterLongValuesShareAHead(t *testing.T) {
	head := strings.Repeat("abcdefghij", 40) // 400 bytes
	secrets := []Secret{
		{Name: "ALPHA", Value: []byte(head + "-alpha")},
		{Name: "BETA", Value: []byte(head + "-beta")},
		{Name: "HEAD", Value: []byte(head[:acPrefix])},
	}
	// HEAD is in head at every ten bytes; the run takes, from each, the
	// furthest that starts inside it, up to the last whole one, and
	// leaves what follows that.
	last := (len(head) - acPrefix) / 10 * 10
	jump := (acPrefix - 1) / 10 * 10
	heads := strings.Repeat("<ward:HEAD>", 1+(last+jump-1)/jump)
	tail := head[last+acPrefix:]
	tests := []struct{ name, in, want string }{
		{"one", "= " + head + "-alpha =", "= <ward:ALPHA> ="},
		{"the other", "= " + head + "-beta =", "= <ward:BETA> ="},
		{"neither", "= " + head + "-gamma =", "= " + heads + tail + "-gamma ="},
		{"cut short", "= " + head + "-alph", "= " + heads + tail + "-alph"},
		{"both", head + "-beta" + head + "-alpha", "<ward:BETA><ward:ALPHA>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i <= len(tt.in); i += 7 {
				if got := maskChunks(t, secrets, []byte(tt.in), []int{i}); string(got) != tt.want {
					t.Fatalf("split at %d: %s", i, diff(got, []byte(tt.want)))
				}
			}
		})
	}
}

// TestWriterEveryByteValue: a binary secret that holds every byte value
// (a keystore does) is masked, raw and as base64, beside a text one;
// compiling its patterns panicked in the matching library.
func TestWriterEveryByteValue(t *testing.T) {
	binary := make([]byte, 512)
	for i := range binary {
		binary[i] = byte(i * 7)
	}
	secrets := []Secret{{Name: "KEYSTORE", Value: binary}, {Name: "TOKEN", Value: []byte("token-abcdef")}}
	in := "a " + string(binary) + " b " + base64.StdEncoding.EncodeToString(binary) + " c token-abcdef"
	// Its shift bytes (SI, SO) draw nothing: they come after its
	// <ward:NAME>, as styles inside a value do.
	var shifts []byte
	for _, c := range binary {
		if c == shiftIn || c == shiftOut {
			shifts = append(shifts, c)
		}
	}
	want := "a <ward:KEYSTORE>" + string(shifts) + " b <ward:KEYSTORE> c <ward:TOKEN>"
	if got := maskChunks(t, secrets, []byte(in), nil); string(got) != want {
		t.Errorf("%s", diff(got, []byte(want)))
	}
}

func TestWriterLongestMatchWins(t *testing.T) {
	secrets := []Secret{
		{Name: "SHORT", Value: []byte("secret")},
		{Name: "LONG", Value: []byte("secretvalue")},
		{Name: "INNER", Value: []byte("abcd1234")},
		{Name: "OUTER", Value: []byte("xxabcd1234yy")},
	}
	tests := []struct {
		name, in, want string
	}{
		{"longer at same start", "a secretvalue b", "a <ward:LONG> b"},
		{"prefix of longer only", "a secretval b", "a <ward:SHORT>val b"},
		{"inner alone", "=abcd1234=", "=<ward:INNER>="},
		{"inside a longer value", "=xxabcd1234yy=", "=<ward:OUTER>="},
		{"longer cut short", "=xxabcd1234y=", "=xx<ward:INNER>y="},
		{"adjacent", "secretsecretvalue", "<ward:SHORT><ward:LONG>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i <= len(tt.in); i++ {
				got := maskChunks(t, secrets, []byte(tt.in), []int{i})
				if string(got) != tt.want {
					t.Errorf("split at %d: %s", i, diff(got, []byte(tt.want)))
				}
			}
		})
	}
}

func TestFormsOf(t *testing.T) {
	v := []byte("p@ss w/rd+<ok>?")
	got := FormsOf(v)
	want := []Form{
		{Plain, v},
		{Base64, []byte(base64.StdEncoding.EncodeToString(v))},
		{Base64, []byte(base64.URLEncoding.EncodeToString(v))},
		{URL, []byte(url.QueryEscape(string(v)))},
		{URL, []byte(url.PathEscape(string(v)))},
		{JSON, []byte(`p@ss w/rd+\u003cok\u003e?`)},
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(f Form) bool { return f.Encoding == w.Encoding && bytes.Equal(f.Bytes, w.Bytes) }) {
			t.Errorf("no %s form of %d bytes", w.Encoding, len(w.Bytes))
		}
	}
	seen := map[string]bool{}
	for _, f := range got {
		if seen[string(f.Bytes)] {
			t.Errorf("a %s form appears twice", f.Encoding)
		}
		seen[string(f.Bytes)] = true
	}
	if !bytes.Equal(got[0].Bytes, v) {
		t.Errorf("first form is not the value")
	}
	if f := FormsOf([]byte("abc")); f != nil {
		t.Errorf("a 3-byte value got %d forms, want none", len(f))
	}
	// A URL-safe value has no URL forms of its own: they equal the value.
	for _, f := range FormsOf([]byte("plainvalue")) {
		if f.Encoding == URL || f.Encoding == JSON {
			t.Errorf("got a %s form equal to the value", f.Encoding)
		}
	}
}

func TestWriterEveryForm(t *testing.T) {
	value := []byte("Zq3/x+y=\"w\"<é>\n")
	secrets := []Secret{{Name: "DB_PASS", Value: value}}
	for i, f := range FormsOf(value) {
		t.Run(fmt.Sprintf("%s-%d", f.Encoding, i), func(t *testing.T) {
			in := slices.Concat([]byte("before "), f.Bytes, []byte(" after"))
			want := []byte("before <ward:DB_PASS> after")
			for split := 0; split <= len(in); split++ {
				if got := maskChunks(t, secrets, in, []int{split}); !bytes.Equal(got, want) {
					t.Errorf("split at %d: %s", split, diff(got, want))
				}
			}
		})
	}
	// The fragment of a value's base64 inside a longer base64 text.
	basic := base64.StdEncoding.EncodeToString([]byte("admin:Zq3/x+y=\"w\"<é>\n"))
	got := maskChunks(t, secrets, []byte("Authorization: Basic "+basic), nil)
	if bytes.Contains(got, []byte(basic)) || !bytes.Contains(got, []byte("<ward:DB_PASS>")) {
		t.Errorf("value inside a base64 text not masked")
	}
}

func TestWriterHundredValues(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	secrets := make([]Secret, 100)
	for i := range secrets {
		n := 4 + r.Intn(40)
		if i%10 == 0 {
			// Long enough for base64 wrapped into lines.
			n = 58 + r.Intn(150)
		}
		secrets[i] = Secret{Name: fmt.Sprintf("SECRET_%d", i), Value: randToken(r, n)}
	}
	var in bytes.Buffer
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&in, "%d INFO handled request id=%d", i, r.Int())
		if r.Intn(4) == 0 {
			s := secrets[r.Intn(len(secrets))]
			f := Forms(s.Value)
			in.Write(f[r.Intn(len(f))])
		}
		in.WriteByte('\n')
	}
	want := refMask(secrets, in.Bytes())
	for round := 0; round < 20; round++ {
		// Small writes, and writes longer than any form after a held tail.
		got := maskChunks(t, secrets, in.Bytes(), randSizes(r, []int{64, 4096}[round%2]))
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: %s", round, diff(got, want))
		}
	}
	for i, s := range secrets {
		if bytes.Contains(want, s.Value) {
			t.Fatalf("reference output holds value %d", i)
		}
	}
}

func TestWriterNoSecretIsIdentical(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	secrets := []Secret{
		{Name: "A", Value: []byte("correct-horse-battery")},
		{Name: "B", Value: []byte("\x00\x01\x02\x03\xff")},
		{Name: "C", Value: []byte("INFO")[:3]}, // skipped: too short
	}
	binary := make([]byte, 1<<20)
	r.Read(binary)
	logText := bytes.Repeat([]byte("2024-05-01T12:00:00Z INFO correct horse battery staple\r\n\x1b[32mok\x1b[0m "), 5000)
	for _, in := range [][]byte{binary, logText, {}, []byte("x"), []byte("correct-horse-batter")} {
		if !bytes.Equal(refMask(secrets, in), in) {
			t.Fatalf("test input of %d bytes holds a value", len(in))
		}
		for round := 0; round < 5; round++ {
			if got := maskChunks(t, secrets, in, randSizes(r, 5000)); !bytes.Equal(got, in) {
				t.Fatalf("round %d: %s", round, diff(got, in))
			}
		}
	}
}

func TestWriterPrompt(t *testing.T) {
	var out bytes.Buffer
	w, _ := New(&out, []Secret{{Name: "TOKEN", Value: []byte("hunter2-xyz")}})
	steps := []struct {
		write, shown string
	}{
		// Nothing in it can start the value: shown at once.
		{"Password: ", "Password: "},
		// "h" could start it: held until the next write decides.
		{"Enter h", "Password: Enter "},
		{"ello\n", "Password: Enter hello\n"},
		{"hunter2", "Password: Enter hello\n"},
		{"-xyz> ", "Password: Enter hello\n<ward:TOKEN>> "},
		{"hunt", "Password: Enter hello\n<ward:TOKEN>> "},
	}
	for i, s := range steps {
		if _, err := w.Write([]byte(s.write)); err != nil {
			t.Fatal(err)
		}
		if out.String() != s.shown {
			t.Fatalf("step %d: %s", i, diff(out.Bytes(), []byte(s.shown)))
		}
	}
	// At the end of the stream the held start is shown as it is.
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "Password: Enter hello\n<ward:TOKEN>> hunt"; out.String() != want {
		t.Fatalf("after flush: %s", diff(out.Bytes(), []byte(want)))
	}
}

// TestWriterValuePastedWithSpace: a value stored with the space or line
// break it was pasted with ("\ncanary...\n", " token ") holds back no
// output that ends in a space or a line break: a line-by-line reader got
// each line only when the next came, and "Password: " showed as
// "Password:". The value is masked, as its trimmed form, with what was
// around it shown.
func TestWriterValuePastedWithSpace(t *testing.T) {
	// A value that only ends in a line break too: the line break after
	// it was taken with it (<ward:TOKEN>next).
	for _, value := range []string{"\nnl-canary-12345\n", " spaced-canary-123 ", "\t\r\nmixed-canary-99 \n", "trail-canary-12345\n", "crlf-canary-12345\r\n"} {
		var out bytes.Buffer
		secrets := []Secret{{Name: "TOKEN", Value: []byte(value)}}
		w, _ := New(&out, secrets)
		shown := ""
		for _, write := range []string{"line one\n", "Password: ", "value: " + value, "\n"} {
			if _, err := w.Write([]byte(write)); err != nil {
				t.Fatal(err)
			}
			shown += write
			if write == "value: "+value {
				// What comes after the value may yet continue it: the
				// flush below shows the rest.
				shown = strings.Replace(shown, strings.TrimSpace(value), "<ward:TOKEN>", 1)
				continue
			}
			if write != "\n" && out.String() != shown {
				t.Errorf("%q: after %q, shown %q, want %q (held back)", value, write, out.String(), shown)
			}
		}
		w.Flush()
		if out.String() != shown {
			t.Errorf("%q: after the flush, shown %q, want %q", value, out.String(), shown)
		}
		everySplit(t, secrets, []byte("a "+value+" b\n"), refMask(secrets, []byte("a "+value+" b\n")))
	}
}

func TestNewSkipsShortValues(t *testing.T) {
	_, skipped := New(io.Discard, []Secret{
		{Name: "PORT", Value: []byte("80")},
		{Name: "TOKEN", Value: []byte("abcd")},
		{Name: "EMPTY", Value: nil},
		{Name: "YES", Value: []byte("yes")},
	})
	if want := []string{"PORT", "EMPTY", "YES"}; !slices.Equal(skipped, want) {
		t.Errorf("got skipped=%v, want %v", skipped, want)
	}
	// With every value skipped, output passes through.
	var out bytes.Buffer
	w, _ := New(&out, []Secret{{Name: "PORT", Value: []byte("80")}})
	w.Write([]byte("listening on 80"))
	w.Close()
	if out.String() != "listening on 80" {
		t.Errorf("got %q, want the input", out.String())
	}
}

func TestCopy(t *testing.T) {
	secrets := []Secret{{Name: "KEY", Value: []byte("k3y-v4lu3")}}
	in := []byte("a k3y-v4lu3 b k3y-v4l")
	var out bytes.Buffer
	w, _ := New(&out, secrets)
	if err := Copy(w, iotest.OneByteReader(bytes.NewReader(in))); err != nil {
		t.Fatal(err)
	}
	if want := "a <ward:KEY> b k3y-v4l"; out.String() != want {
		t.Errorf("%s", diff(out.Bytes(), []byte(want)))
	}
	// A read error still shows what was held.
	out.Reset()
	w, _ = New(&out, secrets)
	r := io.MultiReader(bytes.NewReader([]byte("k3y-v")), iotest.ErrReader(errors.New("boom")))
	if err := Copy(w, r); err == nil || err.Error() != "boom" {
		t.Errorf("got err=%v, want boom", err)
	}
	if out.String() != "k3y-v" {
		t.Errorf("held tail not shown at a read error")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("broken pipe")
	}
	f.n--
	return len(p), nil
}

func TestWriterErrorIsSticky(t *testing.T) {
	w, _ := New(&failWriter{n: 1}, []Secret{{Name: "K", Value: []byte("abcdef")}})
	if _, err := w.Write([]byte("one ")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("two ")); err == nil {
		t.Fatal("got no error from a failing writer")
	}
	if _, err := w.Write([]byte("three ")); err == nil || err.Error() != "broken pipe" {
		t.Fatalf("got err=%v, want the first error again", err)
	}
	w.Close()
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("got err=%v after close, want ErrClosed", err)
	}
}

func TestWriteAddMask(t *testing.T) {
	var out bytes.Buffer
	key := "-----BEGIN KEY-----\nMIIB%0Aabc\r\n  xy\n-----\n\n  indented-line\n)(*&^%$#@!\n+--+--+--+\n-----END KEY-----\n"
	skipped, err := WriteAddMask(&out, []Secret{
		{Name: "KEY", Value: []byte(key)},
		{Name: "PIN", Value: []byte("123")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(skipped, []string{"PIN"}) {
		t.Errorf("got skipped=%v, want [PIN]", skipped)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for i, want := range []string{
		"::add-mask::MIIB%250Aabc",
		"::add-mask::indented-line",
		// A line of symbols alone is a password all the same.
		"::add-mask::)(*&^%25$#@!",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("wanted line %d is missing", i)
		}
	}
	// Lines that carry nothing are not masked in the whole log: the armour,
	// which every key of a kind has, and lines without a letter or digit.
	for i, unwanted := range []string{
		"::add-mask::-----BEGIN KEY-----",
		"::add-mask::-----END KEY-----",
		"::add-mask::-----",
		"::add-mask::",
		"::add-mask::+--+--+--+",
	} {
		if slices.Contains(lines, unwanted) {
			t.Errorf("got unwanted line %d", i)
		}
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "::add-mask::") || len(l) < len("::add-mask::")+MinLen || strings.Contains(l, "\r") {
			t.Errorf("bad line of %d bytes", len(l))
		}
		if strings.HasSuffix(l, "xy") {
			t.Errorf("a 2-byte line was registered")
		}
	}
	// The base64 form of the whole value is one line among them.
	b64 := base64.StdEncoding.EncodeToString([]byte(key))
	if !slices.Contains(lines, "::add-mask::"+b64) {
		t.Errorf("no base64 form")
	}

	// Base64 wrapped into lines is registered line by line, but for a
	// last line too short to mask all over the log: 58 bytes make 80
	// characters, 76 and 4 or 64 and 16.
	out.Reset()
	long := randToken(rand.New(rand.NewSource(8)), 58)
	if _, err := WriteAddMask(&out, []Secret{{Name: "LONG", Value: long}}); err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	b64 = base64.StdEncoding.EncodeToString(long)
	for i, want := range []string{b64[:76], b64[:64], b64[64:]} {
		if !slices.Contains(lines, "::add-mask::"+want) {
			t.Errorf("wrapped line %d is missing", i)
		}
	}
	if slices.Contains(lines, "::add-mask::"+b64[76:]) {
		t.Errorf("the 4-character last line was registered")
	}

	// So is hex wrapped as xxd -p prints it: 33 bytes make 66
	// characters, 60 and 6.
	out.Reset()
	long = randToken(rand.New(rand.NewSource(9)), 33)
	if _, err := WriteAddMask(&out, []Secret{{Name: "LONG", Value: long}}); err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	h := hex.EncodeToString(long)
	if !slices.Contains(lines, "::add-mask::"+h[:60]) {
		t.Errorf("the first line of wrapped hex is missing")
	}
	for _, l := range lines {
		if len(l) < len("::add-mask::")+minFragmentLen {
			t.Errorf("a line of %d bytes was registered", len(l)-len("::add-mask::"))
		}
	}
}

// TestPatternsAgainstReference compares streaming masking on many small
// random cases over a two-letter alphabet, where values overlap, nest and
// repeat, with the reference.
func TestPatternsAgainstReference(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 3000; i++ {
		var secrets []Secret
		for j := 0; j < 1+r.Intn(5); j++ {
			v := make([]byte, 4+r.Intn(5))
			for k := range v {
				v[k] = "ab"[r.Intn(2)]
			}
			secrets = append(secrets, Secret{Name: fmt.Sprint("S", j), Value: v})
		}
		in := make([]byte, r.Intn(60))
		for k := range in {
			in[k] = "ab\n"[r.Intn(3)]
		}
		want := refMask(secrets, in)
		if got := maskChunks(t, secrets, in, randSizes(r, 7)); !bytes.Equal(got, want) {
			t.Fatalf("case %d: %s", i, diff(got, want))
		}
	}
}

// TestPatternsAgainstReferenceRepeating: values that repeat a short
// period (zeros of several lengths, "ab" and "abc" repeated, some with a
// tail after the repeats), whose continuers are found in groups (see
// continuers.aligned), are masked as the reference masks them, in runs
// of the period and with other bytes in between, wherever the input is
// cut.
func TestPatternsAgainstReferenceRepeating(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	words := []string{"a", "ab", "abc", "aab", "abcde", "abcdefgh", "abcdefghijk"}
	for i := 0; i < 2000; i++ {
		word := words[r.Intn(len(words))]
		var secrets []Secret
		for j := 0; j < 1+r.Intn(6); j++ {
			n := 8 + r.Intn(60)
			v := []byte(strings.Repeat(word, n/len(word)+2)[r.Intn(len(word)) : n+len(word)])
			switch r.Intn(4) {
			case 0:
				v = append(v, "xyz"[:1+r.Intn(3)]...)
			case 1:
				// Less than a period of it, then other bytes: it
				// continues a value of the period only in the last
				// period (the unwrapped base64 of a wrapped one).
				if len(word) > MinLen {
					k := r.Intn(len(word) - MinLen)
					v = []byte(word[k:] + "xyzzy"[:1+r.Intn(5)])
				}
			}
			secrets = append(secrets, Secret{Name: fmt.Sprint("S", j), Value: v})
		}
		var in []byte
		for len(in) < 200 {
			switch r.Intn(4) {
			case 0:
				in = append(in, "xyz\n"[r.Intn(4)])
			default:
				in = append(in, strings.Repeat(word, 1+r.Intn(30))[r.Intn(len(word)):]...)
			}
		}
		want := refMask(secrets, in)
		if got := maskChunks(t, secrets, in, randSizes(r, 50)); !bytes.Equal(got, want) {
			t.Fatalf("case %d: %s", i, diff(got, want))
		}
	}
}

// TestPatternsAgainstReferenceRepeatingForms: values of 60 to 100 zeros
// (or "ab"), whose base64 and hex forms repeat too, wrapped in lines, in
// output made of their forms run together, are masked as the reference
// masks them, wherever the input is cut.
func TestPatternsAgainstReferenceRepeatingForms(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for i := 0; i < 60; i++ {
		word := []string{"0", "ab"}[r.Intn(2)]
		var secrets []Secret
		for j := 0; j < 2+r.Intn(3); j++ {
			v := strings.Repeat(word, 100)[:60+r.Intn(40)]
			secrets = append(secrets, Secret{Name: fmt.Sprint("S", j), Value: []byte(v)})
		}
		var in []byte
		for len(in) < 600 {
			forms := Forms(secrets[r.Intn(len(secrets))].Value)
			f := forms[r.Intn(len(forms))]
			in = append(in, f[r.Intn(len(f)/2):]...)
			if r.Intn(2) == 0 {
				in = append(in, " \n"[r.Intn(2)])
			}
		}
		want := refMask(secrets, in)
		if got := maskChunks(t, secrets, in, randSizes(r, 300)); !bytes.Equal(got, want) {
			t.Fatalf("case %d: %s", i, diff(got, want))
		}
	}
}

// TestWriterValueContinuesTheLastPeriod: a value that starts with less
// than a period of another that repeats one, and goes on with other bytes
// (the unwrapped base64 after a wrapped one's last line), is masked with
// it where it continues it.
func TestWriterValueContinuesTheLastPeriod(t *testing.T) {
	secrets := []Secret{
		{Name: "A", Value: []byte(strings.Repeat("abcdefgh", 5))},
		{Name: "B", Value: []byte("cdefghxy")},
	}
	refAndEverySplit(t, secrets, strings.Repeat("abcdefgh", 6)+"xy.", "<ward:A><ward:A><ward:B>.")
}

var marker = regexp.MustCompile(`<ward:[A-Z0-9_]+>`)

// FuzzWriter checks, for values and input chosen by the fuzzer and the input
// cut into writes at chosen points, that the output equals the reference,
// that no form of a value occurs in it outside the <ward:...> markers, and
// that it equals the input when no value occurs in it.
func FuzzWriter(f *testing.F) {
	f.Add([]byte("hunter2\x00s3cr3t-value"), []byte("login hunter2 with s3cr3t-value ok"), []byte{3, 7, 1})
	f.Add([]byte("abcd\x00abcdabcd"), []byte("abcdabcdabcdab"), []byte{1, 1, 1, 1, 1})
	f.Add([]byte("p@ss/w+rd"), []byte("cEBzcy93K3Jk p%40ss%2Fw%2Brd"), []byte{5})
	long := []byte("a-value-of-sixty-bytes-whose-base64-takes-two-lines-9f3Qx7Lm")
	f.Add(long, []byte("b64: "+printedBase64(long, 76, "\n")+printedBase64(long, 64, "\r\n")), []byte{9, 70, 1, 80})
	f.Add([]byte("hunter2-secret\x00abcd"), []byte("x hun\x1b[01;31m\x1b[Kter2-sec\x1b[m\x1b[Kret \x1b[1ab\x1b[mcd \x1b["), []byte{4, 9, 1, 2})
	f.Fuzz(func(t *testing.T, values, input, cuts []byte) {
		if len(values) > 64 || len(input) > 4<<10 {
			// Keeps each run short; size does not change the logic.
			t.Skip()
		}
		var secrets []Secret
		for i, v := range bytes.Split(values, []byte{0}) {
			if i == 8 {
				break
			}
			secrets = append(secrets, Secret{Name: fmt.Sprint("S", i), Value: v})
		}
		sizes := make([]int, len(cuts))
		for i, c := range cuts {
			sizes[i] = int(c)
		}
		p, _ := Compile(secrets)
		got := maskChunksWith(t, p, input, sizes)
		if want := refMask(secrets, input); !bytes.Equal(got, want) {
			t.Fatalf("%s", diff(got, want))
		}
		// In the text the terminal shows: without the styles, unless a
		// value is little but styles.
		shown := func(b []byte) []byte {
			w := NewWriter(io.Discard, p)
			if !w.styles {
				return b
			}
			text, _, _ := w.unstyle(b, false)
			return text
		}
		for _, seg := range marker.Split(string(got), -1) {
			if m, ok := p.Find(shown([]byte(seg)), 0); ok {
				t.Fatalf("a form of %s is left in the output", p.Owners(m.Pattern)[0].Name)
			}
		}
		if _, ok := p.Find(shown(input), 0); !ok && !bytes.Equal(got, input) {
			t.Fatalf("input with no value changed: %s", diff(got, input))
		}
	})
}

// printedBase64 returns the standard base64 of v as base64 tools print
// it: lines of width characters, each ending with eol.
func printedBase64(v []byte, width int, eol string) string {
	s := base64.StdEncoding.EncodeToString(v)
	var b strings.Builder
	for ; len(s) > width; s = s[width:] {
		b.WriteString(s[:width] + eol)
	}
	b.WriteString(s + eol)
	return b.String()
}

// TestWriterWrappedBase64: base64 printed in lines, as coreutils base64
// (76 characters) and openssl base64 (64) print it, with "\n" and, as a
// terminal shows it, "\r\n" line ends, is masked wherever the writes are
// cut; its first line alone is held back until what follows decides.
func TestWriterWrappedBase64(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, n := range []int{58, 100, 300} {
		secrets := []Secret{{Name: "CERT", Value: randToken(r, n)}}
		p, _ := Compile(secrets)
		for _, width := range []int{76, 64} {
			for _, eol := range []string{"\n", "\r\n"} {
				name := fmt.Sprintf("%d bytes at %d columns, eol %q", n, width, eol)
				in := []byte("before" + eol + printedBase64(secrets[0].Value, width, eol) + "after" + eol)
				want := []byte("before" + eol + "<ward:CERT>" + eol + "after" + eol)
				for split := 0; split <= len(in); split++ {
					if got := maskChunksWith(t, p, in, []int{split}); !bytes.Equal(got, want) {
						t.Fatalf("%s, split at %d: %s", name, split, diff(got, want))
					}
				}
				for round := range 20 {
					if got := maskChunksWith(t, p, in, randSizes(r, 2*width)); !bytes.Equal(got, want) {
						t.Fatalf("%s, round %d: %s", name, round, diff(got, want))
					}
				}
			}
		}
	}

	secrets := []Secret{{Name: "CERT", Value: randToken(r, 100)}}
	first, _, _ := strings.Cut(printedBase64(secrets[0].Value, 76, "\n"), "\n")
	var out bytes.Buffer
	w, _ := New(&out, secrets)
	w.Write([]byte("x\n" + first + "\n"))
	if want := "x\n"; out.String() != want {
		t.Fatalf("after the first line: %s", diff(out.Bytes(), []byte(want)))
	}
	// Not followed by the rest, it is not the value.
	w.Write([]byte("y\n"))
	if want := "x\n" + first + "\ny\n"; out.String() != want {
		t.Fatalf("after another line: %s", diff(out.Bytes(), []byte(want)))
	}
}

func randToken(r *rand.Rand, n int) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_/+="
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.Intn(len(alphabet))]
	}
	return b
}

func randSizes(r *rand.Rand, maxSize int) []int {
	sizes := make([]int, 200)
	for i := range sizes {
		sizes[i] = r.Intn(maxSize + 1)
	}
	return sizes
}

// TestWritersSharePatterns runs the stdout and stderr Writers of one child
// at once on shared Patterns (run with -race).
func TestWritersSharePatterns(t *testing.T) {
	secrets := []Secret{{Name: "A", Value: []byte("alpha-value-1")}, {Name: "B", Value: []byte("beta-value-22")}}
	p, _ := Compile(secrets)
	in := bytes.Repeat([]byte("x alpha-value-1 y beta-value-22 z\n"), 2000)
	want := refMask(secrets, in)
	done := make(chan []byte)
	for range 2 {
		go func() {
			var out bytes.Buffer
			w := NewWriter(&out, p)
			for off := 0; off < len(in); off += 100 {
				w.Write(in[off:min(off+100, len(in))])
			}
			w.Close()
			done <- out.Bytes()
		}()
	}
	for range 2 {
		if got := <-done; !bytes.Equal(got, want) {
			t.Errorf("%s", diff(got, want))
		}
	}
}

// TestSourceWriter: a Writer made from a Source masks the patterns the
// Source holds at each Write, so values added while it runs are masked
// from the next Write on, and the earlier ones still are.
func TestSourceWriter(t *testing.T) {
	first := Secret{Name: "A", Value: []byte("first-value-1234")}
	second := Secret{Name: "B", Value: []byte("second-value-5678")}
	p1, _ := Compile([]Secret{first})
	src := NewSource(p1)
	var out bytes.Buffer
	w := NewSourceWriter(&out, src)
	w.Write([]byte("one first-value-1234 second-value-5678\n"))
	p2, _ := Compile([]Secret{first, second})
	src.Set(p2)
	w.Write([]byte("two first-value-1234 second-value-5678\n"))
	w.Close()
	want := "one <ward:A> second-value-5678\ntwo <ward:A> <ward:B>\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// TestWriteAddMaskLoneCR: a GitHub Actions runner ends a line at a lone
// "\r" too, and masks line by line: a value with one inside is registered
// piece by piece as well, or its printed pieces would show in clear.
func TestWriteAddMaskLoneCR(t *testing.T) {
	var out bytes.Buffer
	if _, err := WriteAddMask(&out, []Secret{{Name: "CR", Value: []byte("first-part-1234\rsecond-part-5678")}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, want := range []string{"::add-mask::first-part-1234", "::add-mask::second-part-5678"} {
		if !slices.Contains(lines, want) {
			t.Errorf("%q is not registered; got %d lines", want, len(lines))
		}
	}
}

// TestWriterStyledValue: a value with colour codes inside it, as grep
// --color marks its match in it on a terminal, is masked; the codes from
// inside it come after <ward:NAME>, at every split of the writes. A run
// of styles too long to be a colouring is text, and a sequence cut at
// the end of the output is written as it is.
func TestWriterStyledValue(t *testing.T) {
	secrets := []Secret{{Name: "API_TOKEN", Value: []byte("sk_live_4eC39HqLyjWDarjtT1zdp7dc")}}
	tests := []struct{ name, input, want string }{
		{
			"grep --color",
			"token=sk_live_\x1b[01;31m\x1b[K4eC39\x1b[m\x1b[KHqLyjWDarjtT1zdp7dc\n",
			"token=<ward:API_TOKEN>\x1b[01;31m\x1b[K\x1b[m\x1b[K\n",
		},
		{
			"colour around it",
			"\x1b[32msk_live_4eC39HqLyjWDarjtT1zdp7dc\x1b[0m\n",
			"\x1b[32m<ward:API_TOKEN>\x1b[0m\n",
		},
		{
			"a colour set inside it",
			"sk_live_4eC39HqLy\x1b[1;31mjWDarjtT1zdp7dc still red\x1b[m",
			"<ward:API_TOKEN>\x1b[1;31m still red\x1b[m",
		},
		{
			"sgr0 as tmux writes it",
			"k=sk_live_\x1b[31m\x1b[1m4eC39\x1b(B\x1b[mHqLyjWDarjtT1zdp7dc\x1b[K\r\n",
			"k=<ward:API_TOKEN>\x1b[31m\x1b[1m\x1b(B\x1b[m\x1b[K\r\n",
		},
		{
			// tput sgr0 for TERM=screen, tmux-256color and linux: SI
			// after "\e[m" was text, inside the value, which went by
			// in clear.
			"sgr0 as screen and tmux's terminfo write it",
			"key: sk_live_\x1b[31m4eC39\x1b[m\x0fHqLyjWDarjtT1zdp7dc\n",
			"key: <ward:API_TOKEN>\x1b[31m\x1b[m\x0f\n",
		},
		{
			// Not after a style, and no value holds a shift.
			"a shift alone is text",
			"sk_live_4eC39\x0fHqLyjWDarjtT1zdp7dc",
			"sk_live_4eC39\x0fHqLyjWDarjtT1zdp7dc",
		},
		{
			"other escapes are text",
			"sk_live_4eC39\x1b[2JHqLyjWDarjtT1zdp7dc",
			"sk_live_4eC39\x1b[2JHqLyjWDarjtT1zdp7dc",
		},
		{
			// delta's, rich's: bold and 24-bit colours in one SGR, 47
			// bytes, went by as text, and the value unmasked.
			"bold and 24-bit colours in one sequence",
			"sk_live_\x1b[01;03;04;38;2;255;255;255;48;2;144;16;17m\x1b[K4eC39\x1b[m\x1b[KHqLyjWDarjtT1zdp7dc\n",
			"<ward:API_TOKEN>\x1b[01;03;04;38;2;255;255;255;48;2;144;16;17m\x1b[K\x1b[m\x1b[K\n",
		},
		{
			// With strike and an underline colour: 77 bytes.
			"every attribute and three 24-bit colours",
			"sk_live_4eC39\x1b[01;03;04;09;38;2;255;255;255;48;2;144;16;17;58;2;200;100;50mHqLyjWDarjtT1zdp7dc\x1b[m",
			"<ward:API_TOKEN>\x1b[01;03;04;09;38;2;255;255;255;48;2;144;16;17;58;2;200;100;50m\x1b[m",
		},
		{
			"a run of styles too long",
			"sk_live_4eC39" + strings.Repeat("\x1b[m", 100) + "HqLyjWDarjtT1zdp7dc",
			"sk_live_4eC39" + strings.Repeat("\x1b[m", 100) + "HqLyjWDarjtT1zdp7dc",
		},
		{
			"a sequence cut at the end",
			"sk_live_4eC39HqLyjWDarjtT1zdp7dc\x1b[01;3",
			"<ward:API_TOKEN>\x1b[01;3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { refAndEverySplit(t, secrets, tt.input, tt.want) })
	}
}

// TestWriterValueStartingWithAShift: a value whose first byte is SI or SO
// (a binary value's, 2 in 256), printed after a colour code, is masked:
// the shift was taken into the code's style run, the text then lacked
// the value's first byte, and it went by in clear (the first fix of
// sgr0's "\e[m\x0f").
func TestWriterValueStartingWithAShift(t *testing.T) {
	secrets := []Secret{
		{Name: "A", Value: []byte("\x0fsupersecretvalue")},
		{Name: "B", Value: []byte("\x0eother\x0f-secret")},
		// What a terminal shows of it is 3 bytes: not masked, as a
		// value that short is not.
		{Name: "C", Value: []byte("\x0fabc")},
	}
	// A shift before a value's text comes before its <ward:NAME>, one
	// inside it after, as styles do.
	in := "1 \x1b[m\x0fsupersecretvalue\n2 \x1b[1m\x0fsupersecretvalue\x1b[m\n3 \x1b[K\x0eother\x1b[31m\x0f-secret\n4 \x0eother\x0f-secret \x0fabc\n"
	want := "1 \x1b[m\x0f<ward:A>\n2 \x1b[1m\x0f<ward:A>\x1b[m\n3 \x1b[K\x0e<ward:B>\x1b[31m\x0f\n4 \x0e<ward:B>\x0f \x0fabc\n"
	refAndEverySplit(t, secrets, in, want)
}

// TestWriterValueLittleButShifts: a value whose text without its shift
// bytes is under 4 bytes ("ab\x0f\x0fc", a short binary value's) is
// matched as it is: it turned the look for shifts on, which left them out
// of the text, and it was never matched, even printed as it is.
func TestWriterValueLittleButShifts(t *testing.T) {
	secrets := []Secret{{Name: "V", Value: []byte("ab\x0f\x0fc")}, {Name: "API_TOKEN", Value: []byte("sk_live_4eC39HqLyjWDarjtT1zdp7dc")}}
	in := "x ab\x0f\x0fc y \x1b[1mab\x0f\x0fc\x1b[m sk_live_\x1b[31m4eC39HqLyjWDarjtT1zdp7dc\x1b[m\n"
	want := "x <ward:V> y \x1b[1m<ward:V>\x1b[m <ward:API_TOKEN>\x1b[31m\x1b[m\n"
	refAndEverySplit(t, secrets, in, want)
}

// TestWriterLongRunOfShifts: with a value that holds a shift byte, a run
// of shifts after a value's first bytes is text once it is longer than a
// run of styles may be, and goes out: it was held back whole (6 MiB of SI
// after "sk_li", none written, each write looking at all of it again).
func TestWriterLongRunOfShifts(t *testing.T) {
	secrets := []Secret{{Name: "API_TOKEN", Value: []byte("sk_live_4eC39HqLy")}, {Name: "BIN", Value: []byte("\x0eQQQQQ")}}
	p, _ := Compile(secrets)
	var out bytes.Buffer
	w := NewWriter(&out, p)
	w.Write([]byte("sk_li"))
	run := bytes.Repeat([]byte{shiftIn}, 64<<10)
	for range 4 {
		w.Write(run)
	}
	if held := 5 + 4*len(run) - out.Len(); held > maxStyleRun+5 {
		t.Errorf("%d bytes held back after a run of shifts, want at most %d", held, maxStyleRun+5)
	}
	w.Close()
	if want := append([]byte("sk_li"), bytes.Repeat(run, 4)...); !bytes.Equal(out.Bytes(), want) {
		t.Errorf("the output is not the input, which holds no value")
	}
}

// TestWriterStylesBesideAnEscapeInAValue: a value with an escape sequence
// in it (a keystore's bytes) is masked, and every other value is still
// found through the colours inside it: one such value turned that off
// for all of them, and grep --color printed the others whole.
func TestWriterStylesBesideAnEscapeInAValue(t *testing.T) {
	keystore := []byte("\x30\x82\x01\x0a\x1b[1m\x02\x82\x01\x01\x00\xc4\x1b\x07\x9e")
	secrets := []Secret{
		{Name: "API_TOKEN", Value: []byte("sk_live_4eC39HqLyjWDarjtT1zdp7dc")},
		{Name: "KEYSTORE", Value: keystore},
	}
	everySplit(t, secrets,
		[]byte("token=sk_live_\x1b[01;31m\x1b[K4eC39\x1b[m\x1b[KHqLyjWDarjtT1zdp7dc\n"),
		[]byte("token=<ward:API_TOKEN>\x1b[01;31m\x1b[K\x1b[m\x1b[K\n"))
	// The raw bytes, and the same inside colours: the style in them goes
	// after the marker, as any.
	everySplit(t, secrets, slices.Concat([]byte("ks="), keystore, []byte("\n")), []byte("ks=<ward:KEYSTORE>\x1b[1m\n"))
	everySplit(t, secrets, slices.Concat([]byte("\x1b[32m"), keystore, []byte("\x1b[0m")), []byte("\x1b[32m<ward:KEYSTORE>\x1b[1m\x1b[0m"))
}

// TestWriterValueMostlyStyles: a value that is little but style
// sequences ("Q\e[31m\e[1mZ\e[0m", two letters without them) is masked as
// it is; matched only without its styles, it was too short to be, and
// came out in clear.
func TestWriterValueMostlyStyles(t *testing.T) {
	secrets := []Secret{{Name: "E", Value: []byte("Q\x1b[31m\x1b[1mZ\x1b[0m")}, {Name: "API_TOKEN", Value: []byte("sk_live_4eC39HqLyjWDarjtT1zdp7dc")}}
	everySplit(t, secrets, []byte("v=Q\x1b[31m\x1b[1mZ\x1b[0m. t=sk_live_4eC39HqLyjWDarjtT1zdp7dc\n"), []byte("v=<ward:E>. t=<ward:API_TOKEN>\n"))
}

// TestWriterOverlappingValues: a value that starts inside another's
// occurrence and ends after it is masked with it, wherever the input is
// split (see Patterns.cover): the second's tail was printed in clear.
func TestWriterOverlappingValues(t *testing.T) {
	const password = "Xk9-mQ2vL8pRt4Zw"
	tests := []struct {
		name    string
		secrets []Secret
		in      string
		want    string
	}{{
		// A user and the password's first 12 characters, stored as one
		// secret (a login prefix), and the password.
		name: "a prefix and the value",
		secrets: []Secret{
			{Name: "LOGIN", Value: []byte("admin:" + password[:12])},
			{Name: "PASSWORD", Value: []byte(password)},
		},
		in:   "login admin:" + password + " ok\n",
		want: "login <ward:LOGIN><ward:PASSWORD> ok\n",
	}, {
		// A value that repeats itself, run into one that starts as it
		// ends: every occurrence is one link of the run, the last
		// reaching into the token.
		name: "a run into another",
		secrets: []Secret{
			{Name: "ABAB", Value: []byte("abababab")},
			{Name: "TOKEN", Value: []byte("ab-7Hq2xL9vKe")},
		},
		in:   strings.Repeat("ab", 71) + "-7Hq2xL9vKe done\n",
		want: strings.Repeat("<ward:ABAB>", 24) + "<ward:TOKEN> done\n",
	}, {
		// Each ends inside the next, three secrets long: C starts
		// inside A too, and reaches furthest, so B is within the run.
		name: "three",
		secrets: []Secret{
			{Name: "A", Value: []byte("one-two-th")},
			{Name: "B", Value: []byte("two-three-fo")},
			{Name: "C", Value: []byte("three-four-five")},
		},
		in:   "[one-two-three-four-five]",
		want: "[<ward:A><ward:C>]",
	}, {
		// A value that overlaps itself: the rest of its second
		// occurrence was printed ("abab" in "ababab" left "ab").
		name:    "itself",
		secrets: []Secret{{Name: "PIN", Value: []byte("4a4a4a4a")}},
		in:      "pin 4a4a4a4a4a ok",
		want:    "pin <ward:PIN><ward:PIN> ok",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ref := refMask(tt.secrets, []byte(tt.in)); string(ref) != tt.want {
				t.Fatalf("the reference: %s", diff(ref, []byte(tt.want)))
			}
			everySplit(t, tt.secrets, []byte(tt.in), []byte(tt.want))
			// Through colours too: a style inside each value.
			styled := strings.ReplaceAll(tt.in, "-", "\x1b[1m-\x1b[m")
			if got, want := maskChunks(t, tt.secrets, []byte(styled), []int{5, 3}), refMask(tt.secrets, []byte(styled)); !bytes.Equal(got, want) {
				t.Errorf("styled: %s", diff(got, want))
			} else if bytes.Contains(got, []byte("7Hq")) || bytes.Contains(got, []byte("Rt4Zw")) || bytes.Contains(got, []byte("five")) {
				t.Errorf("styled: a value's tail is in the output")
			}
		})
	}
}
