package scan

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// WriteText writes one line per finding: "path:line: NAME (form)" for the
// working tree, "commit:path:line: NAME (form)" for history, and
// "commit:line: NAME (form in the commit message)" for a message.
func WriteText(w io.Writer, findings []Finding) error {
	bw := bufio.NewWriter(w)
	for _, f := range findings {
		if f.Commit != "" {
			fmt.Fprintf(bw, "%s:", f.Commit)
		}
		if f.Path != "" {
			// A commit's message has no path.
			fmt.Fprintf(bw, "%s:", f.Path)
		}
		fmt.Fprintf(bw, "%d: %s (%s)\n", f.Line, f.Name, f.Form)
	}
	return bw.Flush()
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
