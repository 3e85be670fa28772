package mask

import "bytes"

// lineForms returns the lines of a multi-line value that are matched on
// their own, so that the value printed reformatted (a PEM key indented
// inside YAML, a key file re-indented) is still masked and found; the whole
// value is matched besides. A line, trimmed of spaces, tabs and "\r", counts
// if it is at least minFragmentLen bytes and either is a base64 line inside
// PEM armour (key material) or holds a token: minFragmentLen or more letters
// and digits in a row, both kinds among them (a key, a password, an id).
//
// Left out, because they would mask and report unrelated text: the armour
// lines ("-----BEGIN PRIVATE KEY-----" is the same in every key of a kind),
// short lines, and the structure of a config document ("apiVersion: v1",
// `"type": "service_account",`), which other files hold too.
func lineForms(value []byte) [][]byte {
	var out [][]byte
	armoured := false
	for _, l := range valueLines(value) {
		switch {
		case isArmour(l):
			armoured = bytes.Contains(l, []byte("BEGIN "))
		case len(l) < minFragmentLen:
		case armoured && isBase64Line(l), hasToken(l), isSymbolWord(l):
			out = append(out, l)
		}
	}
	return out
}

// CILineSecrets are the lines of secrets' multi-line values that a CI
// runner is given on their own (see ciLines), each named as its value,
// but the short ones: what the runner masks line by line is what a
// search of the files it passes on must find line by line too (a step
// output of one line of a key went unwarned), and a line of a few
// letters (`main`, `true`) found inside other words is no leak to warn
// of.
func CILineSecrets(secrets []Secret) []Secret {
	var out []Secret
	for _, s := range secrets {
		for _, l := range ciLines(s.Value) {
			if len(l) >= minFragmentLen {
				out = append(out, Secret{Name: s.Name, Value: l})
			}
		}
	}
	return out
}

// ciLines returns the lines of a multi-line form to register with a CI
// runner, which masks line by line and so shows in clear any line of the
// value it was not given: every line of at least MinLen bytes but those
// that carry nothing (armour, lines without a letter or digit, such as
// "-----" or "", unless isSymbolWord).
func ciLines(form []byte) [][]byte {
	var out [][]byte
	for _, l := range runnerLines(form) {
		if len(l) >= MinLen && !isArmour(l) && (hasAlnum(l) || isSymbolWord(l)) {
			out = append(out, l)
		}
	}
	return out
}

// runnerLines splits a value as a GitHub Actions runner splits a step's
// output before masking it, line by line: at "\n", "\r\n" and a lone "\r"
// (.NET's StreamReader.ReadLine, actions/runner's ProcessInvoker). Each
// line is trimmed of spaces and tabs; a value without a line break inside
// gives nil. A value with a lone "\r" inside was registered whole only,
// and printed as two lines neither of which the runner masked.
func runnerLines(v []byte) [][]byte {
	v = bytes.TrimRight(v, "\r\n")
	if !bytes.ContainsAny(v, "\r\n") {
		return nil
	}
	var lines [][]byte
	for len(v) > 0 {
		i := bytes.IndexAny(v, "\r\n")
		if i < 0 {
			lines = append(lines, bytes.Trim(v, " \t"))
			break
		}
		lines = append(lines, bytes.Trim(v[:i], " \t"))
		if v[i] == '\r' && i+1 < len(v) && v[i+1] == '\n' {
			i++
		}
		v = v[i+1:]
	}
	return lines
}

// valueLines splits a value containing a line break into its lines, each
// trimmed of spaces, tabs and "\r"; a value without one gives nil, being
// matched whole.
func valueLines(v []byte) [][]byte {
	if bytes.IndexByte(bytes.TrimRight(v, "\r\n"), '\n') < 0 {
		return nil
	}
	lines := bytes.Split(v, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.Trim(l, " \t\r")
	}
	return lines
}

// isArmour reports whether l is a PEM (RFC 7468), OpenPGP or SSH (RFC 4716)
// BEGIN or END line.
func isArmour(l []byte) bool {
	for _, p := range []string{"-----BEGIN ", "-----END ", "---- BEGIN ", "---- END "} {
		if bytes.HasPrefix(l, []byte(p)) {
			return bytes.HasSuffix(l, []byte("----"))
		}
	}
	return false
}

// isBase64Line reports whether l is made of standard base64 characters only.
func isBase64Line(l []byte) bool {
	for _, c := range l {
		if !isAlnum(c) && c != '+' && c != '/' && c != '=' {
			return false
		}
	}
	return true
}

// hasToken reports whether l holds minFragmentLen or more letters and digits
// in a row with at least one of each.
func hasToken(l []byte) bool {
	run, letter, digit := 0, false, false
	for _, c := range l {
		if !isAlnum(c) {
			run, letter, digit = 0, false, false
			continue
		}
		run++
		if c <= '9' {
			digit = true
		} else {
			letter = true
		}
		if run >= minFragmentLen && letter && digit {
			return true
		}
	}
	return false
}

// isSymbolWord reports whether l, a line without an ASCII letter or
// digit, is a password all the same: minFragmentLen or more bytes, no blank, and
// at least 5 different ones (")(*&^%$#@!"), which a rule ("-----",
// "=====", "+--+--+") or a document's structure ("}, {") has not.
func isSymbolWord(l []byte) bool {
	if len(l) < minFragmentLen || bytes.ContainsAny(l, " \t") || hasAlnum(l) {
		return false
	}
	var seen [256]bool
	n := 0
	for _, c := range l {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n >= 5
}

func hasAlnum(l []byte) bool {
	return bytes.ContainsFunc(l, func(r rune) bool { return r < 128 && isAlnum(byte(r)) })
}

func isAlnum(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}
