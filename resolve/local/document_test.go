package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// FuzzDecodeDocument: any plaintext is a document or a damage, never a
// panic; it is read as encoding/json reads it (referenceDecode); and a
// document ward reads, it writes back so that it reads the same again.
func FuzzDecodeDocument(f *testing.F) {
	for _, h := range hostile {
		f.Add([]byte(h.plain))
	}
	f.Add([]byte(`{"format":"ward-local-store/1"}`))
	f.Add([]byte(`{"format":"ward-local-store/1","entries":null}`))
	f.Add([]byte(` { "format" : "ward-local-store/1" , "x" : { "y" : [ 1 , "]}\"" ] } , "entries" : { "a/b" : { "value" : "aGk=" , "version" : 3 , "updated" : "2024-05-01T10:00:00Z" , "restored_from" : 1 , "tag" : "t" ,` +
		`"history" : [ { "value" : null , "version" : 1 , "updated" : null , "n" : 1 } , { "value" : "" , "version" : 2 , "history" : 5 , "restored_from" : null } ] } } } `))
	f.Add([]byte(`{"format":"ward-local-\u0073tore/1","entries":{"\u00e9\t":{"value":"aG\u006b=","version":1},"\xff":{"value":"","version":1}}}`))
	f.Fuzz(func(t *testing.T, plain []byte) {
		doc, err := decodeDocument(bytes.Clone(plain))
		if err != nil {
			var d damage
			if !errors.As(err, &d) {
				t.Fatalf("got a %T, want a damage", err)
			}
		}
		if !duplicateKeys(plain) {
			ref, refErr := referenceDecode(plain)
			switch {
			case (err == nil) != (refErr == nil):
				t.Fatalf("got %v, encoding/json's reading gives %v", err, refErr)
			case err == nil && !bytes.Equal(doc.encode(), ref.encode()):
				t.Fatalf("read differently from encoding/json's reading")
			}
		}
		if err != nil {
			return
		}
		once := doc.encode()
		again, err := decodeDocument(bytes.Clone(once))
		if err != nil {
			t.Fatalf("ward cannot read what it wrote: %v", err)
		}
		if !bytes.Equal(again.encode(), once) {
			t.Fatalf("a rewrite changed the document")
		}
	})
}

// referenceDecode is decodeDocument written plainly with encoding/json,
// each object decoded into a map and then each member: too slow for
// ward's start-up, simple enough to check the fast one against.
func referenceDecode(plain []byte) (*document, error) {
	notWard := errors.New("not a ward store")
	var top map[string]json.RawMessage
	if err := json.Unmarshal(plain, &top); err != nil || top == nil {
		return nil, notWard
	}
	var format string
	if json.Unmarshal(top["format"], &format) != nil || format != formatName {
		return nil, notWard
	}
	doc := newDocument()
	var raws map[string]json.RawMessage
	if err := json.Unmarshal(top["entries"], &raws); top["entries"] != nil && err != nil {
		return nil, notWard
	}
	for name, raw := range raws {
		cur, hist, err := referenceVersion(raw, true)
		if err != nil {
			return nil, err
		}
		e := &entry{current: cur, extra: cur.extra}
		e.current.extra = nil
		var items []json.RawMessage
		if hist != nil && json.Unmarshal(hist, &items) != nil {
			return nil, notWard
		}
		for i, item := range items {
			v, _, err := referenceVersion(item, false)
			if err != nil {
				return nil, err
			}
			if i > 0 && v.number <= e.history[i-1].number || v.number >= cur.number {
				return nil, notWard
			}
			e.history = append(e.history, v)
		}
		doc.entries[name] = e
	}
	for k, v := range top {
		if k != "format" && k != "entries" {
			if doc.extra == nil {
				doc.extra = map[string]json.RawMessage{}
			}
			doc.extra[k] = v
		}
	}
	return doc, nil
}

func referenceVersion(raw json.RawMessage, top bool) (v version, history json.RawMessage, err error) {
	bad := errors.New("bad version")
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return v, nil, bad
	}
	for k, val := range m {
		switch {
		case k == "value":
			if json.Unmarshal(val, &v.value) != nil {
				return v, nil, bad
			}
		case k == "version":
			if json.Unmarshal(val, &v.number) != nil || v.number < 1 || int64(v.number) > 999999999999999 {
				return v, nil, bad
			}
		case k == "updated":
			if json.Unmarshal(val, &v.updated) != nil {
				return v, nil, bad
			}
		case k == "restored_from":
			if json.Unmarshal(val, &v.restoredFrom) != nil || v.restoredFrom < 0 || int64(v.restoredFrom) > 999999999999999 {
				return v, nil, bad
			}
		case k == "history" && top:
			history = val
		default:
			if v.extra == nil {
				v.extra = map[string]json.RawMessage{}
			}
			v.extra[k] = val
		}
	}
	if _, ok := m["value"]; !ok {
		return v, nil, bad
	}
	if _, ok := m["version"]; !ok {
		return v, nil, bad
	}
	return v, history, nil
}

// duplicateKeys reports whether some object in plain (valid JSON or not)
// names a member twice, which encoding/json and decodeDocument may read
// differently (both safely).
func duplicateKeys(plain []byte) bool {
	d := json.NewDecoder(bytes.NewReader(plain))
	type frame struct {
		object bool
		seen   map[string]bool
		key    bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := d.Token()
		if err == io.EOF || err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if s, ok := tok.(string); ok && top != nil && top.object && top.key {
			if top.seen[s] {
				return true
			}
			top.seen[s] = true
			top.key = false
			continue
		}
		if top != nil && top.object {
			top.key = true // a value ends; the next string is a key
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, seen: map[string]bool{}, key: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].key = true
			}
		}
	}
}
