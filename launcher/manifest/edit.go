package manifest

import (
	"bytes"
	"errors"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Entry is one variable AddEnv writes: a reference, or (Plain) a value
// that is configuration, not a secret, written as {value: ...}.
type Entry struct {
	Key   string
	Ref   string
	Value string
	Plain bool
}

// AddEnv adds entries to the manifest's env (or to profile's env, when
// profile is set), replacing entries of the same name, or writes a new
// manifest when there is none. An existing manifest is edited as a
// yaml.v3 node tree, so its other entries and its comments stay; a
// manifest with CRLF line ends, a byte order mark or UTF-16 keeps them.
func AddEnv(old []byte, exists bool, profile string, entries []Entry) ([]byte, error) {
	if text, bigEndian, ok, err := fromUTF16(old); err != nil {
		return nil, err
	} else if ok {
		// Edited as UTF-8 and written back as it was saved.
		text, err := AddEnv(text, exists, profile, entries)
		if err != nil {
			return nil, err
		}
		return toUTF16(text, bigEndian), nil
	}
	const bom = "\ufeff"
	if rest, ok := bytes.CutPrefix(old, []byte(bom)); ok {
		// yaml.v3 reads the mark and does not write it back.
		text, err := AddEnv(rest, exists, profile, entries)
		if err != nil {
			return nil, err
		}
		return append([]byte(bom), text...), nil
	}
	if !bytes.Contains(old, []byte("\r\n")) {
		return addEnv(old, exists, profile, entries)
	}
	// yaml.v3 writes LF, and read a CRLF file's head comment with a
	// blank line after it: edit with LF, then put the CRLF back, so that
	// only the new lines show in a diff.
	text, err := addEnv(bytes.ReplaceAll(old, []byte("\r\n"), []byte("\n")), exists, profile, entries)
	if err != nil {
		return nil, err
	}
	return bytes.ReplaceAll(text, []byte("\n"), []byte("\r\n")), nil
}

func addEnv(old []byte, exists bool, profile string, entries []Entry) ([]byte, error) {
	if in, at, _ := yaml12(old); len(at) > 0 {
		// A %YAML 1.2 directive, which yaml.v3 does not take, given it as
		// 1.1 (see yaml12) and written back: below it when the edit
		// kept the text above the document, else before the document
		// yaml.v3 wrote anew, which has no directive.
		text, err := addEnv(in, exists, profile, entries)
		if err != nil {
			return nil, err
		}
		if last := at[len(at)-1]; bytes.HasPrefix(text, in[:last+3]) {
			for _, i := range at {
				copy(text[i:], "1.2")
			}
			return text, nil
		}
		return append([]byte("%YAML 1.2\n---\n"), text...), nil
	}
	if !exists {
		old = []byte(SchemaModeline + "\nversion: 1\n")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(old, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the manifest is not a mapping")
	}
	parent := doc.Content[0]
	if text, ok := appendProfile(old, parent, profile, entries); ok {
		return text, nil
	}
	var parentKey *yaml.Node
	if profile != "" {
		profiles, _, err := child(parent, "profiles")
		if err != nil {
			return nil, err
		}
		if parent, parentKey, err = child(profiles, profile); err != nil {
			return nil, err
		}
	}
	if text, ok := insertIntoEmptyEnv(old, parent, entries); ok {
		return text, nil
	}
	// A new env: is written as text after its mapping's last line,
	// looked for before the tree edit adds it.
	var text []byte
	textOK := false
	_, _, hadEnv := lookup(parent, "env")
	if !hadEnv {
		text, textOK = newEnvText(old, &doc, parent, parentKey, entries)
	}
	env, envKey, err := child(parent, "env")
	if err != nil {
		return nil, err
	}
	// Keep the indentation of a block-style env; new entries go in block
	// style, even into a `{}`.
	indent := 2
	if env.Style&yaml.FlowStyle == 0 && len(env.Content) > 0 && envKey != nil && env.Content[0].Column > envKey.Column {
		indent = env.Content[0].Column - envKey.Column
	}
	if env.Style&yaml.FlowStyle != 0 && envKey != nil && envKey.LineComment == "" {
		// `env: {} # note`: a block mapping's comment on its line is
		// its key's (yaml.v3 wrote none of the {}'s, and the note was
		// lost).
		envKey.LineComment, env.LineComment = env.LineComment, ""
	}
	// New entries only, into a block env: added as text after its last
	// line, the rest of the file as it was (blank lines, aligned values
	// and comments); re-encoded, yaml.v3 dropped every blank line and
	// collapsed the spacing, and a one-line import diffed the whole file.
	if hadEnv {
		text, textOK = insertAfterEnv(old, &doc, env, envKey, entries)
	}
	env.Style &^= yaml.FlowStyle
	// A comment below the last entry (a commented-out variable, a note)
	// is that entry's foot, which yaml.v3 writes with a blank line after
	// it: it goes above the first new entry instead, where it was in the
	// text, with no blank line added.
	var foot *yaml.Node
	if n := len(env.Content); n >= 2 && env.Content[n-2].FootComment != "" {
		foot = env.Content[n-2]
	}
	for _, e := range entries {
		value := e.node()
		replaced := false
		for j := 0; j+1 < len(env.Content); j += 2 {
			if env.Content[j].Value == e.Key {
				value.LineComment = env.Content[j+1].LineComment
				env.Content[j+1] = value
				replaced = true
			}
		}
		if !replaced {
			key := strNode(e.Key)
			if foot != nil {
				key.HeadComment, foot.FootComment, foot = foot.FootComment, "", nil
			}
			env.Content = append(env.Content, key, value)
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(indent)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	// The text is taken only where it reads as the tree edit's does.
	if textOK && sameYAML(text, b.Bytes()) {
		return text, nil
	}
	return b.Bytes(), nil
}

// insertAfterEnv writes entries, none of which env holds yet, as text
// after the last line of the block mapping env (under envKey), at its
// entries' indentation: after a comment under them at that indentation
// (a commented-out variable), before blank lines and the next key's
// comments. It reports false where it cannot (a flow or empty env).
func insertAfterEnv(old []byte, doc, env, envKey *yaml.Node, entries []Entry) ([]byte, bool) {
	if envKey == nil || env.Kind != yaml.MappingNode || env.Style&yaml.FlowStyle != 0 || len(env.Content) == 0 {
		return nil, false
	}
	// An entry env holds already as it would be written (the same file
	// imported again) is left as it is; one it holds otherwise is
	// replaced, by the tree edit.
	var fresh []Entry
	for _, e := range entries {
		held := false
		for j := 0; j+1 < len(env.Content); j += 2 {
			if env.Content[j].Value != e.Key {
				continue
			}
			if !sameEntry(env.Content[j+1], e) {
				return nil, false
			}
			held = true
		}
		if !held {
			fresh = append(fresh, e)
		}
	}
	if len(fresh) == 0 {
		return old, true
	}
	return insertAfterBlock(old, doc, env, envKey, entriesNode(fresh), 2)
}

// insertAfterBlock writes m, a mapping, as text after the last line of
// the non-empty block mapping block (under key), at its entries'
// indentation, m's own nested by step: after a comment under them at
// that indentation (a commented-out variable), before blank lines and
// the next key's comments.
func insertAfterBlock(old []byte, doc, block, key, m *yaml.Node, step int) ([]byte, bool) {
	col := block.Content[0].Column
	last := block.Content[len(block.Content)-2]
	// The block ends before the next node at its key's indentation or less.
	lines := strings.SplitAfter(string(old), "\n")
	next := len(lines) + 1
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Line > key.Line && n.Column <= key.Column && n.Line < next {
			next = n.Line
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(doc)
	// From the last entry on: its value's lines (deeper than the
	// entries: a block scalar's, blank lines among them) and a comment
	// right under it at the entries' indentation (a commented-out
	// variable) are the block's; a blank line before other text, a
	// comment at a lesser indentation (the next section's, ward init's
	// commented examples) or anything else is not.
	at := last.Line
	for j := last.Line; j < min(next-1, len(lines)); j++ {
		l := lines[j]
		trimmed := strings.TrimLeft(l, " ")
		indent := len(l) - len(trimmed)
		switch {
		case strings.TrimSpace(l) == "":
			continue
		case indent > col-1 && !strings.HasPrefix(trimmed, "#"):
			at = j + 1
			continue
		case strings.HasPrefix(trimmed, "#") && indent >= col-1 && j == at:
			at = j + 1
			continue
		}
		break
	}
	b, ok := encode(m, step)
	if !ok {
		return nil, false
	}
	var text strings.Builder
	for _, l := range strings.SplitAfter(strings.TrimSuffix(b.String(), "\n"), "\n") {
		text.WriteString(strings.Repeat(" ", col-1) + l)
	}
	text.WriteString("\n")
	head := strings.Join(lines[:at], "")
	if !strings.HasSuffix(head, "\n") {
		head += "\n"
	}
	return []byte(head + text.String() + strings.Join(lines[at:], "")), true
}

// newEnvText writes entries as text, in an env: of their own, where
// parent (the manifest, or the profile under key) has none: after the
// end of the manifest, or after the profile's last line at its keys'
// indentation, nested as the file nests its mappings. The rest keeps its
// text: re-encoded by yaml.v3, the manifest lost every blank line, and
// its indentation and the spacing before its comments were made yaml.v3's,
// a one-line import diffing the whole file. It reports false where it
// cannot (a flow or empty profile).
func newEnvText(old []byte, doc, parent, key *yaml.Node, entries []Entry) ([]byte, bool) {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{strNode("env"), entriesNode(entries)}}
	step := nesting(doc)
	if key == nil {
		return appendText(old, m, step)
	}
	if parent.Kind != yaml.MappingNode || parent.Style&yaml.FlowStyle != 0 || len(parent.Content) == 0 {
		return nil, false
	}
	return insertAfterBlock(old, doc, parent, key, m, step)
}

// nesting is how far the manifest indents a block mapping under its key
// (the first it has), 2 if it has none.
func nesting(doc *yaml.Node) int {
	step := 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		for i := 0; step == 0 && n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 && v.Content[0].Line > k.Line {
				step = v.Content[0].Column - k.Column
			}
		}
		for _, c := range n.Content {
			if step == 0 {
				walk(c)
			}
		}
	}
	walk(doc)
	if step < 2 || step > 8 {
		return 2
	}
	return step
}

// appendText writes m, a mapping, as text after the end of the manifest
// old, its mappings nested by step; false where text there would not be
// the manifest's (after a document's end marker, or a second document).
func appendText(old []byte, m *yaml.Node, step int) ([]byte, bool) {
	if len(bytes.TrimSpace(old)) == 0 {
		return nil, false
	}
	for _, l := range strings.Split(string(old), "\n") {
		if strings.HasPrefix(l, "...") || strings.HasPrefix(l, "---") {
			return nil, false
		}
	}
	b, ok := encode(m, step)
	if !ok {
		return nil, false
	}
	text := bytes.Clone(old)
	if !bytes.HasSuffix(text, []byte("\n")) {
		text = append(text, '\n')
	}
	return append(text, b.Bytes()...), true
}

// sameEntry reports whether v, an env entry's value, is what e writes:
// its reference, or its plain value.
func sameEntry(v *yaml.Node, e Entry) bool {
	if !e.Plain {
		return v.Kind == yaml.ScalarNode && v.Value == e.Ref
	}
	if v.Kind != yaml.MappingNode || len(v.Content) != 2 {
		return false
	}
	return v.Content[0].Value == "value" && v.Content[1].Kind == yaml.ScalarNode && v.Content[1].Value == e.Value
}

// sameYAML reports whether a and b read as the same document.
func sameYAML(a, b []byte) bool {
	var x, y any
	if yaml.Unmarshal(a, &x) != nil || yaml.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// entriesNode is entries as a mapping.
func entriesNode(entries []Entry) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, e := range entries {
		m.Content = append(m.Content, strNode(e.Key), e.node())
	}
	return m
}

// encode encodes m in block style, its mappings nested by step.
func encode(m *yaml.Node, step int) (*bytes.Buffer, bool) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(step)
	if enc.Encode(m) != nil || enc.Close() != nil {
		return nil, false
	}
	return &b, true
}

// node is the entry's value node.
func (e Entry) node() *yaml.Node {
	if e.Plain {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle, Content: []*yaml.Node{strNode("value"), quotedNode(e.Value)}}
	}
	return strNode(e.Ref)
}

// insertIntoEmptyEnv writes the entries as text right under an `env:`
// that holds nothing but comments (the starter ward init writes), so
// those comments keep their place and indentation: re-encoded by yaml.v3
// they would move to the end of the file, flattened.
func insertIntoEmptyEnv(old []byte, parent *yaml.Node, entries []Entry) ([]byte, bool) {
	value, key, _ := lookup(parent, "env")
	if key == nil || value.Kind != yaml.ScalarNode || value.Tag != "!!null" || value.Line != key.Line {
		return nil, false
	}
	b, ok := encode(entriesNode(entries), 2)
	if !ok {
		return nil, false
	}
	indent := strings.Repeat(" ", key.Column-1+2)
	var block strings.Builder
	for _, l := range strings.SplitAfter(strings.TrimSuffix(b.String(), "\n"), "\n") {
		block.WriteString(indent + l)
	}
	block.WriteString("\n")
	lines := strings.SplitAfter(string(old), "\n")
	if key.Line > len(lines) || !strings.HasSuffix(strings.TrimRight(lines[key.Line-1], " \r\n"), "env:") {
		return nil, false
	}
	out := strings.Join(lines[:key.Line], "") + block.String() + strings.Join(lines[key.Line:], "")
	return []byte(out), true
}

// appendProfile writes, as text after the end of the manifest, a
// profiles: mapping that holds profile and its entries, when the manifest
// has none: the rest keeps its text, the comments of ward init's starter
// among them, which re-encoded by yaml.v3 would lose their indentation
// and their places. A manifest with profiles: is edited as a tree.
func appendProfile(old []byte, root *yaml.Node, profile string, entries []Entry) ([]byte, bool) {
	if profile == "" || len(bytes.TrimSpace(old)) == 0 {
		return nil, false
	}
	if _, _, ok := lookup(root, "profiles"); ok {
		return nil, false
	}
	prof := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{strNode("env"), entriesNode(entries)}}
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
		strNode("profiles"), {Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{strNode(profile), prof}},
	}}
	return appendText(old, m, nesting(root))
}

// child returns the mapping under key in m, creating it (or turning an
// empty value into it) when needed, and the key's node.
func child(m *yaml.Node, key string) (value, keyNode *yaml.Node, err error) {
	value, keyNode, _ = lookup(m, key)
	if value == nil {
		value = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		m.Content = append(m.Content, strNode(key), value)
	}
	if value.Kind == yaml.ScalarNode && value.Tag == "!!null" {
		*value = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: value.HeadComment, LineComment: value.LineComment, FootComment: value.FootComment}
	}
	if value.Kind != yaml.MappingNode {
		return nil, nil, errors.New(key + " is not a mapping")
	}
	return value, keyNode, nil
}

// lookup returns the value under key in mapping m, and the key's node
// (the last, if the key is there twice).
func lookup(m *yaml.Node, key string) (value, keyNode *yaml.Node, ok bool) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			keyNode, value, ok = m.Content[i], m.Content[i+1], true
		}
	}
	return value, keyNode, ok
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// quotedNode is a string written in double quotes, so that a value such
// as 3000 or true stays a string.
func quotedNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}
