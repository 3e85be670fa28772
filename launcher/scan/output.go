package scan

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// WriteText writes one line per finding: "path:line: NAME (form)" for the
// working tree, "commit:path:line: NAME (form)" for history, and
// "commit:line: NAME (form in the commit message)" for a message. A path
// that a terminal or a line reader would not take as it is, is quoted.
func WriteText(w io.Writer, findings []Finding) error {
	bw := bufio.NewWriter(w)
	for _, f := range findings {
		if f.Commit != "" {
			fmt.Fprintf(bw, "%s:", f.Commit)
		}
		if f.Path != "" {
			// A commit's message has no path.
			fmt.Fprintf(bw, "%s:", quotePath(f.Path))
		}
		fmt.Fprintf(bw, "%d: %s (%s)\n", f.Line, f.Name, f.Form)
	}
	return bw.Flush()
}

// quotePath returns path quoted (as Go quotes a string, much as git's
// core.quotePath does) when it holds a control character or bytes that
// are not UTF-8, or starts with a quote: a line break in a file's name
// would split a finding in two for a reader, and an escape sequence would
// be run by the terminal, not shown.
func quotePath(path string) string {
	if utf8.ValidString(path) && !strings.HasPrefix(path, `"`) && !strings.ContainsFunc(path, unicode.IsControl) {
		return path
	}
	return strconv.Quote(path)
}

// WriteJSON writes the findings as one JSON array of objects with the keys
// path, line, commit (history only), name and form; no findings give [].
func WriteJSON(w io.Writer, findings []Finding) error {
	if findings == nil {
		findings = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(findings)
}
