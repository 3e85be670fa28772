package mask

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// WriteAddMask writes a GitHub Actions "::add-mask::" command to w for every
// form of every secret (see Forms), so the runner masks them in the job's
// log. The runner masks line by line, so a multi-line form is registered one
// line at a time; lines shorter than MinLen are left out, as are values
// shorter than MinLen, whose names are returned for a warning. Call it
// before the child starts, on ward's stdout (the stream the runner reads).
func WriteAddMask(w io.Writer, secrets []Secret) (skipped []string, err error) {
	bw := bufio.NewWriter(w)
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s.Value) < MinLen {
			skipped = append(skipped, s.Name)
			continue
		}
		for _, form := range Forms(s.Value) {
			for _, line := range bytes.Split(form, []byte("\n")) {
				line = bytes.TrimSuffix(line, []byte("\r"))
				if len(line) < MinLen || seen[string(line)] {
					continue
				}
				seen[string(line)] = true
				bw.WriteString("::add-mask::")
				bw.WriteString(escapeCommandData(string(line)))
				bw.WriteString("\n")
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
