package manifest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestOnePassReportsEverything checks that one Parse reports template and
// file problems beside structural ones, each with its own hint, and
// nothing that only follows from another error: a variable whose value is
// wrong is still declared, and refused paths are not compared.
func TestOnePassReportsEverything(t *testing.T) {
	text := `version: 1
env:
  X: hunter2
  A: {template: "{{ .B }}{{ .X }}"}
  C: {template: "{{ .D }}"}
  D: {template: "{{ .C }}"}
files:
  - path: ""
    ref: local://a/b
  - path: ""
    template: "{{ .Y }}"
rotation:
  poll: 10ms
`
	_, err := Parse("w.yaml", []byte(text))
	var ve ValidationErrors
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want validation errors", err)
	}
	want := []string{
		"w.yaml:3:6: env.X: not a secret reference",
		"w.yaml:4:3: env.A: template reads undeclared variable B",
		"w.yaml:5:3: env.C: templates depend on each other in a cycle",
		`w.yaml:8:11: files[0].path: invalid path ""`,
		"w.yaml:10:5: files[1].template: template reads undeclared variable Y",
		`w.yaml:10:11: files[1].path: invalid path ""`,
		"w.yaml:13:9: rotation.poll: too short",
	}
	if len(ve) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(ve), len(want), err)
	}
	hints := map[string]bool{}
	for i, e := range ve.Unwrap() {
		if !strings.HasPrefix(e.Error(), want[i]) {
			t.Errorf("error %d: got %q, want prefix %q", i, e, want[i])
		}
		h, ok := e.(interface{ Hint() string })
		if !ok || h.Hint() == "" {
			t.Errorf("error %d (%s) has no hint of its own", i, e)
			continue
		}
		hints[h.Hint()] = true
	}
	if len(hints) < 5 {
		t.Errorf("got %d different hints for %d errors, want each error's own", len(hints), len(ve))
	}
}

// TestUnreadEnvDeclaresNothing checks that templates are not reported as
// reading undeclared variables when the env block they read could not be
// read at all.
func TestUnreadEnvDeclaresNothing(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"base", "version: 1\nenv: [A]\nfiles:\n  - path: x\n    template: '{{ .A }}'\n", "env: want a mapping"},
		{"profile", "version: 1\nprofiles:\n  dev:\n    env: A\n    files:\n      - path: x\n        template: '{{ .A }}'\n", "profiles.dev.env: want a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("w.yaml", []byte(tt.text))
			var ve ValidationErrors
			if !errors.As(err, &ve) || len(ve) != 1 || !strings.Contains(ve[0].Error(), tt.want) {
				t.Fatalf("got %v, want one error: %s", err, tt.want)
			}
		})
	}
}

// TestOneDocumentPerFile checks that a manifest is one YAML document: a
// second one was ignored, with whatever it declared and whatever was
// wrong in it. An empty one after a trailing --- is refused as well, so
// the rule has no exception to remember.
func TestOneDocumentPerFile(t *testing.T) {
	tests := []struct {
		name, text, want string // want "" is a manifest ward takes
	}{
		{"second document", "version: 1\nenv:\n  A: local://advb/c1\n---\nversion: 1\nenv:\n  B: lcoal://typo\nbogus: 1\n", "w.yaml:4:1: a second YAML document starts here"},
		{"after errors", "version: 2\n--- # dev\nenv: {}\n", "w.yaml:2:1: a second YAML document starts here"},
		{"empty second document", "version: 1\n---\n", "w.yaml:2:1: a second YAML document starts here"},
		{"second document of comments", "version: 1\n---\n# nothing\n", "w.yaml:2:1: a second YAML document starts here"},
		{"broken second document", "version: 1\n---\n{\n", "w.yaml:3:1: invalid YAML"},
		// The manifest after an empty first document: "the manifest is
		// empty", at 1:1, was the message.
		{"empty first document", "---\n---\nversion: 1\nenv: {}\n", "w.yaml:2:1: a second YAML document starts here, after an empty first one"},
		{"first document of comments", "# ward\n---\n# none\n...\n---\nversion: 1\n", "w.yaml:5:1: a second YAML document starts here"},
		{"only a marker", "---\n", "w.yaml:1:1: the manifest is empty"},
		{"leading marker", "---\nversion: 1\n", ""},
		{"end marker", "version: 1\n...\n", ""},
		{"marker and end marker", "# ward\n---\nversion: 1\n...\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("w.yaml", []byte(tt.text))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			var ve ValidationErrors
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want validation errors", err)
			}
			for _, e := range ve {
				if strings.HasPrefix(e.Error(), tt.want) {
					if e.Hint() == "" {
						t.Errorf("%s: no hint", e)
					}
					return
				}
			}
			t.Errorf("got:\n%v\nwant an error starting %q", err, tt.want)
		})
	}
}

// TestFilePathLengths checks that a file path the file system cannot
// take is refused by the manifest, with its place and a hint, not by the
// run's openat: a name over NAME_MAX (255 bytes, counted in bytes, not
// characters), a file name that leaves no room for the temporary name
// rotation writes it through, a path over PATH_MAX less its NUL.
func TestFilePathLengths(t *testing.T) {
	dirs := func(n int) string { return strings.Repeat(strings.Repeat("d", 254)+"/", n) }
	tests := []struct {
		name, path, want string // want "" is a path ward takes
	}{
		{"directory of 255", strings.Repeat("d", 255) + "/f", ""},
		{"directory of 256", strings.Repeat("d", 256) + "/f", "a directory name of 256 bytes"},
		{"directory of 256 in 128 characters", strings.Repeat("é", 128) + "/f", "a directory name of 256 bytes"},
		{"file name of 239", "d/" + strings.Repeat("f", 239), ""},
		{"file name of 240", "d/" + strings.Repeat("f", 240), "a file name of 240 bytes"},
		{"file name of 300", strings.Repeat("f", 300), "a file name of 300 bytes"},
		{"path of 4095", dirs(16) + strings.Repeat("f", 4095-16*255), ""},
		{"path of 4096", dirs(16) + strings.Repeat("f", 4096-16*255), "a path of 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "version: 1\nfiles:\n  - path: " + tt.path + "\n    ref: local://a/b\n"
			_, err := Parse("w.yaml", []byte(text))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			e := oneError(t, err)
			if want := "w.yaml:3:11: files[0].path: " + tt.want; !strings.HasPrefix(e.Error(), want) {
				t.Errorf("got %q, want prefix %q", e.Error(), want)
			}
			if e.Hint() == "" {
				t.Errorf("%s: no hint", e)
			}
		})
	}
}

// TestProfileErrorsNameRealFields checks that a problem found with a
// profile applied names the field that holds it, where it is written: a
// base file keeps files[N], a profile's file is profiles.NAME.files[N] by
// its index in the profile, not in the merged list; a problem of the base
// alone is reported once, not again for every profile.
func TestProfileErrorsNameRealFields(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"profile variable and base file", `version: 1
env:
  A: {value: x}
files:
  - path: a
    template: "{{ .A }}"
    env: X
  - path: b
    template: "{{ .A }}"
profiles:
  dev:
    env:
      X: {value: y}
    files:
      - path: a/x
        template: "{{ .A }}"
`, []string{
			"w.yaml:7:10: files[0].env: variable X is also declared under profiles.dev.env (with profile dev)",
			`w.yaml:15:9: profiles.dev.files[0].path: path "a/x" and path "a" (files[0]) cannot both be files (with profile dev)`,
		}},
		{"two path variables", `version: 1
files:
  - path: a
    ref: local://a/b
    env: AF
profiles:
  dev:
    files:
      - path: b
        ref: local://a/b
        env: AF
`, []string{"w.yaml:11:14: profiles.dev.files[0].env: variable AF is also the path variable of files[0] (with profile dev)"}},
		{"replacing file and base variable", `version: 1
env:
  AF: {value: x}
files:
  - path: a
    ref: local://a/b
profiles:
  dev:
    files:
      - path: a
        ref: local://a/c
        env: AF
`, []string{"w.yaml:12:14: profiles.dev.files[0].env: variable AF is also declared under env (with profile dev)"}},
		{"replacing file drops the base's path variable", `version: 1
env:
  T: {template: "key at {{ .KEY_FILE }}"}
files:
  - path: k
    ref: local://a/b
    env: KEY_FILE
profiles:
  qa:
    files:
      - path: k
        ref: local://a/c
  renamed:
    files:
      - path: k
        ref: local://a/c
        env: QA_KEY_FILE
  kept:
    files:
      - path: k
        ref: local://a/c
        env: KEY_FILE
`, []string{
			"w.yaml:11:9: profiles.qa.files[0]: this file replaces files[0], whose env: KEY_FILE it leaves out",
			"w.yaml:15:9: profiles.renamed.files[0]: this file replaces files[0], whose env: KEY_FILE it leaves out",
		}},
		// A cycle is named whole, and the base's reported once, not
		// again with each profile that leaves it as it is; a cycle a
		// profile makes is its own, one it breaks not reported with it.
		{"template cycles named once", `version: 1
env:
  C1: {template: "{{ .C2 }}"}
  C2: {template: "x{{ .C3 }}"}
  C3: {template: "{{ .C1 }}"}
  D: {value: d}
profiles:
  a: {env: {}}
  b: {env: {X: {value: x}}}
  breaks: {env: {C3: {value: c}}}
  loops:
    env:
      C3: {value: c}
      D: {template: "{{ .E }}"}
      E: {template: "{{ .D }}"}
`, []string{
			"w.yaml:3:3: env.C1: templates depend on each other in a cycle: C1 -> C2 -> C3 -> C1",
			"w.yaml:14:7: profiles.loops.env.D: templates depend on each other in a cycle: D -> E -> D (with profile loops)",
		}},
		{"path twice in a profile", `version: 1
files:
  - path: a
    ref: local://a/b
profiles:
  dev:
    files:
      - path: a
        ref: local://a/c
      - path: a
        ref: local://a/d
`, []string{`w.yaml:10:9: profiles.dev.files[1].path: path "a" used twice (profiles.dev.files[0])`}},
		{"base problem once", `version: 1
files:
  - path: a
    ref: local://a/b
  - path: a
    ref: local://a/c
profiles:
  dev:
    env:
      B: {value: x}
`, []string{`w.yaml:5:5: files[1].path: path "a" used twice (files[0])`}},
		{"profile templates", `version: 1
env:
  A: {value: x}
profiles:
  dev:
    env:
      T: {template: "{{ .C }}"}
    files:
      - path: f
        template: "{{ .D }}"
`, []string{
			"w.yaml:7:7: profiles.dev.env.T: template reads undeclared variable C (with profile dev)",
			"w.yaml:9:9: profiles.dev.files[0].template: template reads undeclared variable D (with profile dev)",
		}},
		{"files' path variables are declared", `version: 1
env:
  GIT_SSH_COMMAND: {template: "ssh -i {{ .SSH_KEY }}"}
files:
  - path: ssh/id
    ref: local://a/id
    env: SSH_KEY
profiles:
  dev:
    env:
      T: {template: "{{ .DEV_KEY }} {{ .NOPE }}"}
    files:
      - path: dev/id
        ref: local://a/dev
        env: DEV_KEY
`, []string{"w.yaml:11:7: profiles.dev.env.T: template reads undeclared variable NOPE (with profile dev)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("w.yaml", []byte(tt.text))
			var ve ValidationErrors
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want validation errors", err)
			}
			var got []string
			for _, e := range ve {
				got = append(got, e.Error())
				if e.Hint() == "" {
					t.Errorf("%s: no hint", e)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestOtherVersionIsOneError: a manifest of another version is reported
// as that alone, not with its fields as this version's mistakes, which
// would send the user to edit it rather than to upgrade ward.
func TestOtherVersionIsOneError(t *testing.T) {
	for _, text := range []string{"version: 2\nsecrets:\n  A: x\nenv:\n  B: 3\n", "version: 0\nenv: [a]\n"} {
		_, err := Parse("w.yaml", []byte(text))
		var ve ValidationErrors
		if !errors.As(err, &ve) || len(ve) != 1 || !strings.Contains(ve[0].Error(), "unsupported version") {
			t.Errorf("%q: got %v, want the unsupported version alone", text, err)
		}
	}
}

// TestManyFiles checks that the files' path checks stay linear: a hostile
// manifest within the 1 MiB limit holds 30,000 files. Each pair was
// compared, for the base and again for every profile (30,000 distinct
// paths took `ward check` 20 s), and each pair with one path was an
// error (1,000 files at one path gave half a million).
func TestManyFiles(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nfiles:\n")
	for i := 0; i < 1000; i++ {
		b.WriteString("  - {path: x, ref: local://a/b}\n")
	}
	_, err := Parse("w.yaml", []byte(b.String()))
	var ve ValidationErrors
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want validation errors", err)
	}
	if len(ve) != 999 {
		t.Errorf("got %d errors for 1,000 files at one path, want 999, one for each file after the first", len(ve))
	}

	b.Reset()
	b.WriteString("version: 1\nfiles:\n")
	for i := 0; i < 30000; i++ {
		fmt.Fprintf(&b, "  - {path: d%d/f, ref: local://a/b}\n", i)
	}
	b.WriteString("profiles:\n  dev:\n    files:\n      - {path: d7, ref: local://a/b}\n  prod: {}\n")
	start := time.Now()
	_, err = Parse("w.yaml", []byte(b.String()))
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("30,000 files took %v to check, want well under 5s", elapsed)
	}
	want := `w.yaml:30006:9: profiles.dev.files[0].path: path "d7" and path "d7/f" (files[7]) cannot both be files (with profile dev)`
	if !errors.As(err, &ve) || len(ve) != 1 || ve[0].Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
