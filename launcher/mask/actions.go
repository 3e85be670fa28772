package mask

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// WriteAddMask writes a GitHub Actions "::add-mask::" command to w for every
// form of every secret (see FormsOf), so the runner masks them in the job's
// log. The runner masks line by line, so a multi-line form is registered one
// line at a time, trimmed, leaving out the lines that carry nothing (see
// ciLines: PEM armour, lines shorter than MinLen or without a letter or
// digit) and a wrapped base64 form's lines shorter than minFragmentLen;
// values shorter than MinLen are left out too, and their names are
// returned for a warning. Call it before the child starts, on ward's stdout
// (the stream the runner reads).
func WriteAddMask(w io.Writer, secrets []Secret) (skipped []string, err error) {
	bw := bufio.NewWriter(w)
	seen := map[string]bool{}
	register := func(line []byte) {
		if seen[string(line)] {
			return
		}
		seen[string(line)] = true
		bw.WriteString("::add-mask::")
		bw.WriteString(escapeCommandData(string(line)))
		bw.WriteString("\n")
	}
	for _, s := range secrets {
		if len(s.Value) < MinLen {
			skipped = append(skipped, s.Name)
			continue
		}
		for _, form := range FormsOf(s.Value) {
			if bytes.IndexByte(form.Bytes, '\n') < 0 {
				register(form.Bytes)
				if bytes.IndexByte(bytes.TrimRight(form.Bytes, "\r"), '\r') < 0 {
					continue
				}
				// A lone "\r" inside ends a line for the runner too:
				// the pieces as well (see runnerLines).
			}
			for _, line := range ciLines(form.Bytes) {
				// The last line of wrapped base64 may be a few
				// characters ("Zg=="), which the runner would mask
				// all over the log.
				if form.Encoding != Base64 || len(line) >= minFragmentLen {
					register(line)
				}
			}
		}
	}
	return skipped, bw.Flush()
}

// escapeCommandData escapes a workflow command's data as the runner
// unescapes it; unescaped, a value holding "%0A" would register another
// string than itself.
func escapeCommandData(s string) string {
	return commandData.Replace(s)
}

var commandData = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
