package manifest

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestBytesYAMLTakesInNoFile: a NUL byte, another control character or
// bytes that are not UTF-8, as editors and generators leave them (a file
// saved as UTF-16 without its byte order mark, as Latin-1, a value pasted
// with an escape sequence), after a BOM, CRLF or CR line ends and
// multi-byte text. Each is refused at its own line and column, as an
// editor counts them, and says what it is; yaml.v3 names no place for
// these, and ward said "1:1: invalid YAML: control characters are not
// allowed", or "invalid leading UTF-8 octet", with a hint on indentation
// and quoting, wherever the byte was. Neither the byte nor the text
// around it is in the error.
func TestBytesYAMLTakesInNoFile(t *testing.T) {
	const secret = "canary-s3cr"
	utf16 := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			b.WriteByte(byte(r))
			b.WriteByte(0)
		}
		return b.String()
	}
	tests := []struct{ name, in, pos, msg string }{
		{"NUL in a quoted value", "version: 1\nenv:\n  A: {value: \"" + secret + "\x00\"}\n", "3:26", "a NUL byte"},
		{"NUL after a BOM and CRLF", "\ufeffversion: 1\r\nenv:\r\n  A: local://app/a\r\n  B: {value: " + secret + "\x00}\r\n", "4:25", "a NUL byte"},
		{"UTF-16 without its BOM", utf16("version: 1\nenv:\n  A: local://app/a\n"), "1:2", "a NUL byte"},
		{"an escape after multi-byte text", "version: 1\nenv:\n  A: {value: \"日本語 " + secret + "\x1b[2J\"}\n", "3:30", "a control character"},
		{"DEL", "version: 1\nenv:\n  A: {value: " + secret + "\x7f}\n", "3:25", "a control character"},
		{"C1 control", "version: 1\nenv:\n  A: {value: " + secret + "\u009b}\n", "3:25", "a control character"},
		{"Latin-1", "version: 1\nenv:\n  # caf\xe9\n  A: local://app/a\n", "3:8", "not UTF-8"},
		{"a lone surrogate's bytes", "version: 1\nenv:\n  A: {value: \"" + secret + "\xed\xa0\x80\"}\n", "3:26", "not UTF-8"},
		{"CR line ends", "version: 1\renv:\r  A: local://app/a\r  B: {value: " + secret + "\xff}\r", "4:25", "not UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("ward.yaml", []byte(tc.in))
			e := oneError(t, err)
			if !strings.HasPrefix(e.Error(), "ward.yaml:"+tc.pos+": ") || !strings.Contains(e.Error(), tc.msg) {
				t.Errorf("got %q, want it at %s saying %q", e.Error(), tc.pos, tc.msg)
			}
			if strings.Contains(e.Error()+e.Hint(), "indentation") {
				t.Errorf("the error speaks of indentation: %s (%s)", e, e.Hint())
			}
			if strings.Contains(e.Error()+e.Hint(), secret) {
				t.Errorf("the error quotes the text around the byte")
			}
		})
	}
	// What YAML does take: a tab inside a value, a BOM, CRLF, UTF-16
	// with its BOM, and a control character written as an escape.
	for _, in := range []string{
		"\ufeffversion: 1\r\nenv:\r\n  A: {value: \"a\tb\"}\r\n  B: {value: \"\\x1b\\u0085\"}",
		"\xff\xfe" + utf16("version: 1\nenv:\n  A: local://app/a\n"),
	} {
		if _, err := Parse("ward.yaml", []byte(in)); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// TestYAMLParserErrorLines: the YAML mistakes yaml.v3's parser (not its
// scanner) finds, a flow mapping left open or holding a ": " or " #", a
// key out of line, an unknown tag handle, are named at the line they are
// on, or at the first line of the block or flow collection they break;
// each was named at the line above (yaml.v3 numbers its parser's lines
// from 0), which the hint then said to check.
func TestYAMLParserErrorLines(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"a ': ' in a flow value", "version: 1\nenv:\n  B: local://app/b\n  A: {value: a: b}\n", "4:1: invalid YAML: did not find expected ',' or '}'"},
		{"a ' #' in a flow value", "version: 1\nenv:\n  A: {value: a #b}\n", "3:1: invalid YAML: did not find expected ',' or '}'"},
		{"a flow mapping left open", "version: 1\nenv:\n  A: {value: x\n  C: local://app/c\n", "3:1: invalid YAML: did not find expected ',' or '}'"},
		{"a flow sequence left open", "version: 1\ninherit: [A, B\n", "2:1: invalid YAML: did not find expected ',' or ']'"},
		{"a bracket left open at the end", "version: 1\nenv:\n  A: local://app/a\n---\n{\n", "5:1: invalid YAML: did not find expected node content"},
		{"at the end, no last line break", "version: 1\nenv:\n  A: {value: x,", "3:1: invalid YAML: did not find expected node content"},
		{"at the end, after blank lines", "version: 1\nenv:\n  A: {value: x,\n\n  \n", "3:1: invalid YAML: did not find expected node content"},
		{"a flow mapping on the first line", "{version: 1,\n env: x y: 2}\n", "2:1: invalid YAML: did not find expected ',' or '}'"},
		{"a key out of line", "version: 1\nenv:\n  A: local://app/a\n B: local://app/b\n", "4:1: invalid YAML: did not find expected key"},
		{"no node", "version: 1\nenv:\n  A: local://app/a\n  B: ]\n", "4:1: invalid YAML: did not find expected node content"},
		{"an unknown tag handle", "version: 1\nenv:\n  A: !x!y local://app/a\n", "3:1: invalid YAML: found undefined tag handle"},
		{"a mapping's key in a sequence", "version: 1\nfiles:\n  - path: a\n    ref: local://app/a\n  x: 1\n", "3:1: invalid YAML: did not find expected '-' indicator"},
		// The scanner's, which were right, stay so.
		{"a key with no colon", "version: 1\nenv:\n  A: local://app/a\n  B local://app/b\n", "4:1: invalid YAML: could not find expected ':'"},
		{"a quote left open", "version: 1\nenv:\n  A: \"local://app/a\n  C: local://app/c\n", "3:1: invalid YAML: found unexpected end of stream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("ward.yaml", []byte(tc.in))
			if err == nil || !strings.HasPrefix(err.Error(), "ward.yaml:"+tc.want) {
				t.Errorf("got %v, want ward.yaml:%s", err, tc.want)
			}
		})
	}
}

// TestTabInTheIndentation: a tab in a line's indentation (an editor set
// to indent with tabs, a block pasted from a Makefile) is named at the
// tab's line and column, as what it is. After a line ending in a plain
// value (`A: local://app/a`) yaml.v3 blamed the line above ("found a tab
// character that violates indentation"), and elsewhere it said "found
// character that cannot start any token", neither with a word of tabs.
func TestTabInTheIndentation(t *testing.T) {
	tests := []struct{ name, in, pos string }{
		{"after a plain value", "version: 1\nenv:\n  A: local://app/a\n\tB: local://app/b\n", "4:1"},
		{"after a plain value, CRLF", "version: 1\r\nenv:\r\n  A: local://app/a\r\n  \tB: local://app/b\r\n", "4:3"},
		{"in a files entry", "version: 1\nfiles:\n  - path: a\n\t  ref: local://app/a\n", "4:1"},
		{"after a flow value", "version: 1\nenv:\n  A: {value: x}\n\tB: {value: y}\n", "4:1"},
		{"the first key", "version: 1\nenv:\n\tA: local://app/a\n", "3:1"},
		{"the first line, after a BOM", "\ufeff\tversion: 1\n", "1:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("ward.yaml", []byte(tc.in))
			e := oneError(t, err)
			if want := "ward.yaml:" + tc.pos + ": invalid YAML: a tab in the indentation"; !strings.HasPrefix(e.Error(), want) || !strings.Contains(e.Hint(), "spaces") {
				t.Errorf("got %q (%s), want %q...", e.Error(), e.Hint(), want)
			}
		})
	}
	// A tab elsewhere is no error: after a colon, inside a value.
	if _, err := Parse("ward.yaml", []byte("version: 1\nenv:\n  A:\tlocal://app/a\n  B: {value: \"a\tb\"}\n")); err != nil {
		t.Error(err)
	}
}

// TestKeyOverYAMLsLimit: a key of more than 1,024 characters on one line
// (a variable or profile name generated, or pasted twice over), which
// YAML does not read as a key. It is named as what it is, at the key,
// with its length and never its text; yaml.v3 said "could not find
// expected ':'" (or "mapping values are not allowed in this context") of
// a line whose colon was there, with the hint to check its quoting.
func TestKeyOverYAMLsLimit(t *testing.T) {
	long := strings.Repeat("K", 1025)
	tests := []struct{ name, in, want string }{
		{"a variable", "version: 1\nenv:\n  B: local://app/b\n  " + long + ": local://app/a\n", "4:3: invalid YAML: a key of 1025 characters: YAML reads a key of at most 1024"},
		{"quoted, CRLF", "version: 1\r\nenv:\r\n  \"" + long[:1023] + "\": local://app/a\r\n", "3:3: invalid YAML: a key of 1025 characters"},
		{"multi-byte", "version: 1\nenv:\n  Ä" + strings.Repeat("Ü", 1030) + ": local://app/a\n", "3:3: invalid YAML: a key of 1031 characters"},
		{"a profile", "version: 1\nprofiles:\n  " + long + ":\n    env: {}\n", "3:3: invalid YAML: a key of 1025 characters"},
		{"in a sequence", "version: 1\nfiles:\n  - " + long + ": a\n", "3:5: invalid YAML: a key of 1025 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("ward.yaml", []byte(tc.in))
			if err == nil || !strings.HasPrefix(err.Error(), "ward.yaml:"+tc.want) || strings.Contains(err.Error(), "KKKK") {
				t.Errorf("got %.300v, want ward.yaml:%s", err, tc.want)
			}
		})
	}
	// 1,024 is read.
	if _, err := Parse("ward.yaml", []byte("version: 1\nenv:\n  "+long[:1024]+": local://app/a\n")); err != nil {
		t.Errorf("%.300v", err)
	}
}

// TestYAMLVersionDirective: a manifest that starts with "%YAML 1.2" (as
// ruamel.yaml writes it with version (1, 2), or as a user adds it so
// that editors read `on:` and 0400 as ward does) is read, after a BOM,
// with CRLF line ends and comments; yaml.v3 takes only 1.1's directive,
// and ward refused the file: "found incompatible YAML document", with a
// hint on indentation and quoting. Another version is refused, saying
// which ward reads.
func TestYAMLVersionDirective(t *testing.T) {
	for _, in := range []string{
		"%YAML 1.2\n---\nversion: 1\nenv:\n  on: local://app/a\n  NO: {value: 0400}\n",
		"\ufeff%YAML 1.2\r\n# generated\r\n---\r\nversion: 1\r\nenv:\r\n  on: local://app/a\r\n  NO: {value: 0400}\r\n",
		"# generated\n\n%YAML\t1.2 # the version\n--- # the manifest\nversion: 1\nenv:\n  on: local://app/a\n  NO: {value: 0400}\n",
		"%YAML 1.1\n---\nversion: 1\nenv:\n  on: local://app/a\n  NO: {value: 0400}\n",
	} {
		m, err := Parse("ward.yaml", []byte(in))
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if len(m.Env) != 2 || m.Env[0].Name != "on" || m.Env[0].Ref == nil || m.Env[1].Name != "NO" || m.Env[1].Value != "0400" {
			t.Errorf("%q: got %+v", in, m.Env)
		}
	}
	// The place of an error after it is the file's.
	_, err := Parse("ward.yaml", []byte("%YAML 1.2\n---\nversion: 1\nenv:\n  B: bogus\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "ward.yaml:5:6: env.B: not a secret reference") {
		t.Errorf("got %v", err)
	}
	for _, in := range []string{"%YAML 1.3\n---\nversion: 1\n", "# c\n%YAML 2.0\n---\nversion: 1\n"} {
		_, err := Parse("ward.yaml", []byte(in))
		var ve ValidationErrors
		if !errors.As(err, &ve) || len(ve) != 1 || !strings.Contains(ve[0].Error(), "%YAML directive of a version ward does not read: it reads YAML 1.2") || !strings.Contains(ve[0].Hint(), "%YAML 1.2") {
			t.Errorf("%q: got %v", in, err)
		}
	}
}

// TestAddEnvKeepsYAML12Directive: `ward import` into a manifest that
// starts with "%YAML 1.2" adds its entries and keeps the directive, with
// a BOM and CRLF line ends, whether the edit keeps the text (an env of
// comments only) or yaml.v3 writes the document anew. The edit failed,
// "yaml: found incompatible YAML document", after the secrets were in
// the local store.
func TestAddEnvKeepsYAML12Directive(t *testing.T) {
	entries := []Entry{{Key: "TOKEN", Ref: "local://app/token"}}
	tests := []struct{ in, want string }{
		{"\ufeff%YAML 1.2\r\n---\r\nversion: 1\r\nenv:\r\n  on: local://app/a\r\n", "\ufeff%YAML 1.2\r\n---\r\nversion: 1\r\nenv:\r\n  on: local://app/a\r\n  TOKEN: local://app/token\r\n"},
		{"%YAML 1.2\n---\nversion: 1\nenv:\n  # none yet\n", "%YAML 1.2\n---\nversion: 1\nenv:\n  TOKEN: local://app/token\n  # none yet\n"},
	}
	for _, tc := range tests {
		got, err := AddEnv([]byte(tc.in), true, "", entries)
		if err != nil || string(got) != tc.want {
			t.Errorf("AddEnv(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			continue
		}
		if _, err := Parse("ward.yaml", got); err != nil {
			t.Errorf("%q: %v", got, err)
		}
	}
}

// TestAddEnvAfterAFootComment: `ward import` into an env whose last
// entry has a comment under it (a commented-out variable, a note) adds
// its entries under the comment, as the text had it, in a manifest and in
// a profile. yaml.v3 wrote the comment with a blank line after it.
func TestAddEnvAfterAFootComment(t *testing.T) {
	entries := []Entry{{Key: "B", Ref: "local://app/b"}, {Key: "C", Value: "2", Plain: true}}
	tests := []struct{ profile, in, want string }{
		{"", "version: 1\nenv:\n  A: local://app/a\n  # D: local://app/d\nfiles: []\n",
			"version: 1\nenv:\n  A: local://app/a\n  # D: local://app/d\n  B: local://app/b\n  C: {value: \"2\"}\nfiles: []\n"},
		{"", "version: 1\nenv:\n    A: local://app/a # line\n    # foot\n",
			"version: 1\nenv:\n    A: local://app/a # line\n    # foot\n    B: local://app/b\n    C: {value: \"2\"}\n"},
		{"dev", "version: 1\nprofiles:\n  dev:\n    env:\n      A: local://app/a\n      # foot\n  prod: {}\n",
			"version: 1\nprofiles:\n  dev:\n    env:\n      A: local://app/a\n      # foot\n      B: local://app/b\n      C: {value: \"2\"}\n  prod: {}\n"},
		// Replaced, not added: the comment stays where it is.
		{"", "version: 1\nenv:\n  B: local://app/old\n  # foot\n",
			"version: 1\nenv:\n  B: local://app/b\n  # foot\n  C: {value: \"2\"}\n"},
	}
	checkAddEnv(t, entries, tests)
}

// TestAddEnvIntoAFlowEnvWithAComment: `env: {} # note` (or a flow env
// with entries) keeps its note on the env line when ward import writes
// it in block style; it was dropped.
func TestAddEnvIntoAFlowEnvWithAComment(t *testing.T) {
	entries := []Entry{{Key: "B", Ref: "local://app/b"}}
	tests := []struct{ profile, in, want string }{
		{"", "version: 1\nenv: {} # note\nfiles: []\n",
			"version: 1\nenv: # note\n  B: local://app/b\nfiles: []\n"},
		{"", "version: 1\nenv: {A: local://app/a} # note\n",
			"version: 1\nenv: # note\n  A: local://app/a\n  B: local://app/b\n"},
		{"dev", "version: 1\nprofiles:\n  dev:\n    env: {} # dev's\n",
			"version: 1\nprofiles:\n  dev:\n    env: # dev's\n      B: local://app/b\n"},
	}
	checkAddEnv(t, entries, tests)
}

// checkAddEnv wants AddEnv of each case's manifest to give its text,
// one that Parse takes.
func checkAddEnv(t *testing.T, entries []Entry, tests []struct{ profile, in, want string }) {
	t.Helper()
	for _, tc := range tests {
		got, err := AddEnv([]byte(tc.in), true, tc.profile, entries)
		if err != nil || string(got) != tc.want {
			t.Errorf("AddEnv(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			continue
		}
		if _, err := Parse("ward.yaml", got); err != nil {
			t.Errorf("%q: %v", got, err)
		}
	}
}

// TestDocumentOfNothing: a manifest of a "---" and comments (a starter
// whose lines are all commented out, a generator's empty document), or
// of a bare null, is "the manifest is empty" at 1:1, as a file of
// comments is. It was "want a mapping, got nothing" at the line after
// the file's last, with the hint to write NAME: VALUE lines "indented
// under the field".
func TestDocumentOfNothing(t *testing.T) {
	for _, in := range []string{
		"---\n",
		"---\n# version: 1\n# env:\n#   A: local://app/a\n",
		"\ufeff--- # ward\r\n\r\n",
		"%YAML 1.2\n---\n",
		"null\n",
		"~",
	} {
		_, err := Parse("ward.yaml", []byte(in))
		var ve ValidationErrors
		if !errors.As(err, &ve) || len(ve) != 1 || ve[0].Error() != "ward.yaml:1:1: the manifest is empty" || !strings.Contains(ve[0].Hint(), "version: 1") {
			t.Errorf("%q: got %v", in, err)
		}
	}
}

// TestManyAliasesReportedOnce: a manifest of 300,000 aliases in 900 KB
// (an alias bomb's last level written out), or of 300,000 raw U+2028,
// gives the first 100 errors and one that counts the rest. Each was an
// error of its own: 300,000 of them, 75 MB of text.
func TestManyAliasesReportedOnce(t *testing.T) {
	tests := []struct{ name, in, last string }{
		{"aliases", "version: 1\na: &a x\nenv:\n  L: {value: [" + strings.Repeat("*a,", 299999) + "*a]}\n", "and 299900 more YAML aliases, merge keys or tags after this one"},
		{"line separators", "version: 1\nenv:\n  A: {value: \"" + strings.Repeat("\u2028", 300000) + "\"}\n", "and 299900 more raw U+0085, U+2028 or U+2029 after this one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("ward.yaml", []byte(tc.in))
			var ve ValidationErrors
			if !errors.As(err, &ve) || len(ve) != 101 || !strings.HasSuffix(ve[100].Error(), tc.last) || ve[100].Hint() == "" {
				n, last := len(ve), ""
				if n > 0 {
					last = ve[n-1].Error()
				}
				t.Errorf("got %d errors, the last %q; want 101, the last ending %q", n, last, tc.last)
			}
		})
	}
	// 100 are reported one by one, as before.
	_, err := Parse("ward.yaml", []byte("version: 1\na: &a x\nenv:\n  L: {value: ["+strings.Repeat("*a,", 99)+"*a]}\n"))
	if ve := (ValidationErrors)(nil); !errors.As(err, &ve) || len(ve) != 100 || strings.Contains(err.Error(), "more YAML aliases") {
		t.Errorf("got %d errors, want 100", len(ve))
	}
}

// TestRenderErrorColumn: a template that fails over the values it reads
// names the action's column as the manifest's columns are counted, from
// 1 in characters: after multi-byte text on its line, and on a block's
// second line. It gave text/template's, a byte offset from 0: the space
// before the action, and six further on after "日本語 ".
func TestRenderErrorColumn(t *testing.T) {
	m, err := Parse("ward.yaml", []byte("version: 1\nenv:\n  A: {value: x}\n  T: {template: \"{{ index .A 99 }}\"}\n  U: {template: \"日本語 {{ index .A 99 }}\"}\n  V:\n    template: |\n      é\n      ü: {{ index .A 99 }}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"T": "(at 1:4 in the template)", "U": "(at 1:8 in the template)", "V": "(at 2:7 in the template)"}
	for _, v := range m.Env {
		if v.Template == nil {
			continue
		}
		_, err := v.Template.Render(map[string]string{"A": "x"})
		if err == nil || !strings.Contains(err.Error(), want[v.Name]) {
			t.Errorf("%s: got %v, want %s", v.Name, err, want[v.Name])
		}
	}
}

// TestKeysThatAreNoNames: a key that is a list or a mapping (`? [a, b]`,
// `{[A]: x}`), or nothing (`? ` alone), where a variable's, a field's or
// a profile's name goes, is "a key that is a list" at the key; so is a
// profile named "" refused, which no -p can ask for. They were
// `invalid variable name ""`, an unknown field "" (now "of 0
// characters, not shown"), and a profile named "" taken without a word.
func TestKeysThatAreNoNames(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"a list as a variable", "version: 1\nenv:\n  ? [a, b]\n  : local://app/a\n", "ward.yaml:3:5: env: a key that is a list: a key here is a name"},
		{"in flow style", "version: 1\nenv: {[A]: local://app/a}\n", "ward.yaml:2:7: env: a key that is a list"},
		{"nothing", "version: 1\nenv:\n  ? \n  : local://app/a\n", "ward.yaml:3:4: env: a key that is nothing"},
		{"a mapping as a field", "version: 1\n? {a: b}\n: 1\n", "ward.yaml:2:3: a key that is a mapping"},
		{"a list as a profile", "version: 1\nprofiles:\n  ? [dev]\n  : {}\n", "ward.yaml:3:5: profiles: a key that is a list"},
		{"a profile named \"\"", "version: 1\nprofiles:\n  \"\": {}\n  dev: {}\n", "ward.yaml:3:3: profiles.: a profile's name is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("ward.yaml", []byte(tc.in))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

// TestInvisibleCharacterInAReference: a zero-width space, a byte order
// mark or a no-break space pasted into a reference that reads right
// (`local://app/a`, a Vault path or field) is named, with its code point
// and place, at its column. It was "invalid local store name", and at
// the start Vault's "400: Bad Request" or "no field", each naming a
// reference that looked like the one meant.
func TestInvisibleCharacterInAReference(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"zero-width space", "version: 1\nenv:\n  A: local://app/a\u200b\n", "ward.yaml:3:19: env.A: the reference holds an invisible character, U+200B, as its character 14"},
		{"in a Vault path", "version: 1\nenv:\n  A: vault://secret/app\u200b#k\n", "ward.yaml:3:24: env.A: the reference holds an invisible character, U+200B, as its character 19"},
		{"no-break space in a field", "version: 1\nenv:\n  A: {ref: \"vault://secret/app#k\u00a0\"}\n", "ward.yaml:3:33: env.A.ref: the reference holds an invisible character, U+00A0"},
		{"byte order mark in a file's", "version: 1\nfiles:\n  - path: f\n    ref: local://app/a\ufeff\n", "ward.yaml:4:23: files[0].ref: the reference holds an invisible character, U+FEFF"},
		// At the start of a reference: it was "not a secret reference",
		// with the hint to rotate a pasted secret.
		{"zero-width space first", "version: 1\nenv:\n  A: \"\u200blocal://app/a\"\n", "ward.yaml:3:7: env.A: the reference holds an invisible character, U+200B, as its character 1"},
		{"no-break space first", "version: 1\nenv:\n  A: \u00a0local://app/a\n", "ward.yaml:3:6: env.A: the reference holds an invisible character, U+00A0, as its character 1"},
		{"byte order mark first", "version: 1\nenv:\n  B: local://app/b\n  A: \ufefflocal://app/a\n", "ward.yaml:4:6: env.A: the reference holds an invisible character, U+FEFF, as its character 1"},
		// Two files joined: the second's mark starts a line.
		{"byte order mark starting a line", "version: 1\nenv:\n  B: local://app/b\n\ufeff  A: local://app/a\n", "ward.yaml:4:1: a byte order mark at the start of a line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("ward.yaml", []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
	// A narrow no-break space, as macOS names a screenshot, in a file's path.
	if _, err := Parse("ward.yaml", []byte("version: 1\nenv:\n  A: file:///run/secrets/a\u202fb\n")); err != nil {
		t.Error(err)
	}
}

// oneError returns err's one validation error, and stops the test when
// err is not exactly one.
func oneError(t *testing.T, err error) *ValidationError {
	t.Helper()
	var ve ValidationErrors
	if !errors.As(err, &ve) || len(ve) != 1 {
		t.Fatalf("got %s, want one validation error", hideCanaries(fmt.Sprint(err)))
	}
	return ve[0]
}

// canaryRE matches the canary values these tests write into manifests.
var canaryRE = regexp.MustCompile(`canary[-_0-9A-Za-z]*`)

// hideCanaries is s, an error to report, with the tests' canary values
// left out: a failure that shows them would be the leak it reports.
func hideCanaries(s string) string { return canaryRE.ReplaceAllString(s, "<canary>") }

// TestUTF16ManifestsAreCheckedAsText: a manifest saved as UTF-16 with its
// byte order mark (Windows PowerShell's `>`, Notepad's "Unicode") is
// checked as its UTF-8 twin is: a raw U+2028 that hides a line from
// editors, a control character, each at its line and column; the
// checks skipped such a file, and a variable written after a comment's
// U+2028 reached the child. Half a character is refused, and `ward
// import` writes such a file back as it was saved.
func TestUTF16ManifestsAreCheckedAsText(t *testing.T) {
	const secret = "canary-s3cr"
	tests := []struct{ name, in, pos, msg, hint string }{
		{"a U+2028 in a comment", "version: 1\nenv:\n  A: local://app/a\n  # a comment\u2028  B: {value: hidden}\n", "4:14", "U+2028", `"\u2028"`},
		{"a U+0085", "version: 1\nenv:\n  A: {value: \"" + secret + "\u0085\"}\n", "3:26", "U+0085", `"\u0085"`},
		{"a U+2029", "version: 1\nenv:\n  A: {value: \"" + secret + "\u2029\"}\n", "3:26", "U+2029", `"\u2029"`},
		{"an escape", "version: 1\nenv:\n  A: local://app/a\n  B: {value: \"" + secret + "\x1b[2J\"}\n", "4:26", "a control character", `"\x1b"`},
	}
	for _, tc := range tests {
		for _, bigEndian := range []bool{false, true} {
			in := toUTF16([]byte("\ufeff"+tc.in), bigEndian)
			_, err := Parse("ward.yaml", in)
			e := oneError(t, err)
			if !strings.HasPrefix(e.Error(), "ward.yaml:"+tc.pos+": ") || !strings.Contains(e.Error(), tc.msg) {
				t.Errorf("%s (big endian %v): got %q, want it at %s saying %q", tc.name, bigEndian, hideCanaries(e.Error()), tc.pos, tc.msg)
			}
			// The escape to write is that of the character found.
			if !strings.Contains(e.Hint(), tc.hint) {
				t.Errorf("%s: the hint %q does not give the escape %s", tc.name, e.Hint(), tc.hint)
			}
			if strings.Contains(e.Error()+e.Hint(), secret) {
				t.Errorf("%s: the error quotes the text around the character", tc.name)
			}
		}
	}
	good := "\ufeffversion: 1\nenv:\n  A: local://app/a\n"
	if _, err := Parse("ward.yaml", append(toUTF16([]byte(good), false), 'x')); err == nil || !strings.Contains(err.Error(), "odd number of bytes") {
		t.Errorf("an odd length: got %v, want it refused as not UTF-16", err)
	}
	lone := []byte{0xFF, 0xFE, 'v', 0, 0x00, 0xD8, '\n', 0}
	if _, err := Parse("ward.yaml", lone); err == nil || !strings.Contains(err.Error(), "unpaired surrogate") {
		t.Errorf("a lone surrogate: got %v", err)
	}
	for _, bigEndian := range []bool{false, true} {
		in := toUTF16([]byte(good), bigEndian)
		got, err := AddEnv(in, true, "", []Entry{{Key: "B", Ref: "local://app/b"}})
		want := toUTF16([]byte(good+"  B: local://app/b\n"), bigEndian)
		if err != nil || string(got) != string(want) {
			t.Errorf("AddEnv (big endian %v) = %q, %v; want %q", bigEndian, got, err, want)
		}
		if m, err := Parse("ward.yaml", got); err != nil || len(m.Env) != 2 {
			t.Errorf("the edited file: %v", err)
		}
	}
}

// TestPastedNameValueIsNotShown: a NAME=VALUE written where a variable's
// name goes (`env: {DB_PASS=...}`, a file's `env:`, a profile's) is
// refused naming only what comes before the "=", in the message and the
// field alike; the whole key was quoted twice in each error.
func TestPastedNameValueIsNotShown(t *testing.T) {
	const secret = "canary-5f1e0c2b"
	in := "version: 1\nenv: {DB_PASS=" + secret + "1, my-var: local://a/b}\nfiles:\n  - path: k\n    ref: local://app/a\n    env: K=" + secret + "2\nprofiles:\n  dev:\n    env:\n      ? TOKEN=" + secret + "3\n      : local://app/t\n"
	_, err := Parse("ward.yaml", []byte(in))
	var es ValidationErrors
	if !errors.As(err, &es) || len(es) != 4 {
		t.Fatalf("got %s, want four errors", hideCanaries(fmt.Sprint(err)))
	}
	for i, want := range []string{`ward.yaml:2:7: env.DB_PASS=: invalid variable name "DB_PASS=" and 16 characters more, not shown`, `ward.yaml:2:33: env.my-var: invalid variable name "my-var"`, `ward.yaml:6:10: files[0].env: invalid variable name "K=" and 16 characters more`, `ward.yaml:10:9: profiles.dev.env.TOKEN=: invalid variable name "TOKEN="`} {
		if !strings.HasPrefix(es[i].Error(), want) {
			t.Errorf("error %d: got %q, want it to start %q", i, hideCanaries(es[i].Error()), want)
		}
		if strings.Contains(es[i].Error()+es[i].Hint()+es[i].Field, secret) {
			t.Errorf("error %d shows the value after =", i)
		}
	}
}

// TestPastedPatternsAreNotShown: a NAME=VALUE or a token written in
// inherit: or deny: (a list's item, or inherit's one value) is named as
// a variable name is (see TestPastedNameValueIsNotShown): the pattern was
// quoted whole, "invalid pattern \"DB_PASS=...\"".
func TestPastedPatternsAreNotShown(t *testing.T) {
	const secret = "canary0b9e4c1d"
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{
			"version: 1\ninherit: [PATH, DB_PASS=" + secret + ", \"APP_*\", my-var]\ndeny: [TOKEN=" + secret + "]\n",
			[]string{`ward.yaml:2:17: inherit[1]: invalid pattern "DB_PASS=" and 14 characters more, not shown`, `ward.yaml:2:50: inherit[3]: invalid pattern "my-var"`, `ward.yaml:3:8: deny[0]: invalid pattern "TOKEN=" and 14 characters more, not shown`},
		},
		{"version: 1\ninherit: DB_PASS=" + secret + "\n", []string{`ward.yaml:2:10: inherit: invalid value "DB_PASS=" and 14 characters more, not shown`}},
		{"version: 1\ndeny: [\"admin:" + secret + "\"]\n", []string{`ward.yaml:2:8: deny[0]: an invalid pattern of 20 characters, not shown`}},
	} {
		_, err := Parse("ward.yaml", []byte(tc.in))
		var es ValidationErrors
		if !errors.As(err, &es) || len(es) != len(tc.want) {
			t.Fatalf("got %d errors, want %d", len(es), len(tc.want))
		}
		for i, want := range tc.want {
			if !strings.HasPrefix(es[i].Error(), want) {
				t.Errorf("error %d: got %q, want it to start %q", i, hideCanaries(es[i].Error()), want)
			}
			if strings.Contains(es[i].Error()+es[i].Hint()+es[i].Field, secret) {
				t.Errorf("error %d shows the value", i)
			}
			if !strings.Contains(want, `"my-var"`) && !strings.Contains(es[i].Hint(), "rotate it") {
				t.Errorf("error %d: the hint %q does not say to rotate it", i, es[i].Hint())
			}
		}
	}
}

// TestPastedValueKeysAreNotShown: a key that may be a pasted value (a
// NAME=VALUE twice, a token with nothing after it, a token that is no
// valid name, `{value s3cr3t, value s3cr3t}`) is not quoted in any
// error, field or hint: duplicates quoted the key whole, and a token
// with no value was named in the field and, lower-cased, in the hint.
func TestPastedValueKeysAreNotShown(t *testing.T) {
	const secret = "canary7e3d1f0a"
	in := "version: 1\nenv:\n  DB_PASS=" + secret + ": local://a/b\n  DB_PASS=" + secret + ": local://a/b\n  ghp_" + secret + "XyZ0123456789abcdef:\n  sk-proj-" + secret + "XyZ0123456789: local://a/b\n  A: {value s3" + secret + ", value s3" + secret + "}\nprofiles:\n  dev:\n    env:\n      ghp_" + secret + "XyZ0123456789abcdef:\n"
	_, err := Parse("ward.yaml", []byte(in))
	var es ValidationErrors
	if !errors.As(err, &es) || len(es) < 6 {
		t.Fatalf("got %s, want six errors or more", hideCanaries(fmt.Sprint(err)))
	}
	for i, e := range es {
		if strings.Contains(e.Error()+e.Hint()+e.Field, secret) {
			t.Errorf("error %d shows the key", i)
		}
	}
}

// TestAddEnvKeepsTheLayout: new entries go in as text after the env's
// last line, the rest of a hand-formatted manifest as it was: blank
// lines, values and comments aligned, a block scalar above, a profile's
// env. yaml.v3 re-encoded the whole file: every blank line dropped, the
// spacing collapsed, a one-line import a diff of the whole file.
func TestAddEnvKeepsTheLayout(t *testing.T) {
	in := "version: 1\n\nenv:\n  PORT:    {value: '8080'}      # aligned\n  DB:      local://app/db\n  T:\n    template: |\n      a {{ .DB }}\n\n# profiles below\nprofiles:\n\n  dev:\n    env:\n      X:   local://app/x   # dev's\n\n  prod: {}\n"
	entries := []Entry{{Key: "NEW_TOKEN", Ref: "local://app/new"}, {Key: "MODE", Value: "fast", Plain: true}}
	tests := []struct{ profile, in, want string }{
		{"", in, strings.Replace(in, "      a {{ .DB }}\n", "      a {{ .DB }}\n  NEW_TOKEN: local://app/new\n  MODE: {value: \"fast\"}\n", 1)},
		{"dev", in, strings.Replace(in, "      X:   local://app/x   # dev's\n", "      X:   local://app/x   # dev's\n      NEW_TOKEN: local://app/new\n      MODE: {value: \"fast\"}\n", 1)},
	}
	checkAddEnv(t, entries, tests)
}

// TestAddEnvAgainAndBeforeCommentedExamples: the same entries imported
// again leave the file as it is (it was written anew, blank lines and
// alignment lost); new ones go after env's last entry, before a
// commented-out block that follows it (ward init's `# profiles:`
// example), not under that block's last line, where uncommenting the
// example put them in a profile.
func TestAddEnvAgainAndBeforeCommentedExamples(t *testing.T) {
	entries := []Entry{{Key: "API_TOKEN", Ref: "local://rr/API_TOKEN"}, {Key: "LOG_LEVEL", Value: "info", Plain: true}}
	again := "version: 1\n\nenv:\n  PORT:     {value: \"8080\"}    # aligned\n  API_TOKEN: local://rr/API_TOKEN\n  LOG_LEVEL: {value: \"info\"}\n\n# files below\nfiles: []\n"
	examples := "version: 1\nenv:\n  X_TOKEN: local://a/X_TOKEN\n  # B: local://app/b\n\n# profiles:\n  # ci:\n    # env:\n      # API_TOKEN: env://API_TOKEN\n"
	ended := "---\nversion: 1\nenv:\n  A:  {value: x}\n...\n"
	tests := []struct{ profile, in, want string }{
		{"", again, again},
		{"", examples, strings.Replace(examples, "  # B: local://app/b\n", "  # B: local://app/b\n  API_TOKEN: local://rr/API_TOKEN\n  LOG_LEVEL: {value: \"info\"}\n", 1)},
		{"", ended, strings.Replace(ended, "  A:  {value: x}\n", "  A:  {value: x}\n  API_TOKEN: local://rr/API_TOKEN\n  LOG_LEVEL: {value: \"info\"}\n", 1)},
	}
	checkAddEnv(t, entries, tests)
}
