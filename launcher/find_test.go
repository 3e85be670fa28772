package launcher

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindManifest(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"repo/.git", "repo/src/api", "repo/sub/.git", "repo/sub/x", "plain/a/b", "repo/dangling", "repo/dir/ward.yaml", "repo/loop"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"ward.yaml", "repo/ward.yaml", "repo/src/other.yaml", "plain/a/ward.yaml"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("version: 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A ward.yaml there but unreadable must not send ward to the parent's.
	os.Symlink("/nonexistent/ward.yaml", filepath.Join(root, "repo/dangling/ward.yaml"))
	os.Symlink("ward.yaml", filepath.Join(root, "repo/loop/ward.yaml"))
	tests := []struct {
		name, dir, file string
		want            string // "" when none is found
		wantErr         string
	}{
		{"here", "repo", "ward.yaml", "ward.yaml", ""},
		{"in a parent", "repo/src/api", "ward.yaml", "../../ward.yaml", ""},
		{"another name", "repo/src/api", "other.yaml", "../other.yaml", ""},
		{"not past the repository's top", "repo/sub/x", "ward.yaml", "", "no ward.yaml in " + root + "/repo/sub/x or its parents up to " + root + "/repo/sub (the repository's top)"},
		{"out of a repository, up to the root", "plain/a/b", "ward.yaml", "../ward.yaml", ""},
		{"a path is taken as it is", "repo/src", "conf/ward.yaml", "conf/ward.yaml", ""},
		{"a dangling symlink is not skipped", "repo/dangling", "ward.yaml", "", "dangling/ward.yaml is not a manifest ward can read"},
		{"a symlink loop is not skipped", "repo/loop", "ward.yaml", "", "loop/ward.yaml is not a manifest ward can read"},
		{"a directory is not skipped", "repo/dir", "ward.yaml", "", "dir/ward.yaml is not a manifest ward can read: it is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findManifest(filepath.Join(root, tt.dir), tt.file)
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %q, %v; want the error %q", got, err, tt.wantErr)
			case tt.wantErr == "" && (err != nil || got != tt.want):
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestFindManifestThroughSymlink: a directory reached through a symlink
// (~/api -> ~/src/monorepo/services/api, the shell's $PWD) is searched
// where it is, as git finds its repository: the repository's manifest,
// relative to the directory the process is really in.
func TestFindManifestThroughSymlink(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"links/x", "src/mono/.git", "src/mono/services/api"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "src/mono/ward.yaml"), []byte("version: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "links/x/api")
	if err := os.Symlink(filepath.Join(root, "src/mono/services/api"), link); err != nil {
		t.Fatal(err)
	}
	got, err := findManifest(link, "ward.yaml")
	if err != nil || got != "../../ward.yaml" {
		t.Errorf("got %q, %v; want %q", got, err, "../../ward.yaml")
	}
}

// TestProfileSource: the error for an unknown profile blames what named
// it. The flag parser takes -p, --p, -profile and --profile, with the
// value after = or next; a -p after the program is the program's. (Only
// -p and --profile were seen, and any -p before -- was taken for ward's.)
func TestProfileSource(t *testing.T) {
	env := func(v string) func(string) string { return func(string) string { return v } }
	app := NewApp(IO{})
	for _, tt := range []struct {
		args    []string
		profile string
		envVal  string
		want    string
	}{
		{[]string{"ward", "check", "-profile", "nope"}, "nope", "", "the -p flag"},
		{[]string{"ward", "run", "--p", "nope", "--", "true"}, "nope", "", "the -p flag"},
		{[]string{"ward", "check", "-profile=nope"}, "nope", "", "the -p flag"},
		{[]string{"ward", "run", "env", "-p", "x"}, "nope", "nope", "$WARD_PROFILE"},
		{[]string{"ward", "run", "--", "prog", "-p", "nope"}, "nope", "nope", "$WARD_PROFILE"},
		{[]string{"ward", "check"}, "nope", "nope", "$WARD_PROFILE"},
		// Without --, the program's -p too.
		{[]string{"ward", "run", "-m", "x.yaml", "env", "-p", "nope"}, "nope", "nope", "$WARD_PROFILE"},
		{[]string{"ward", "run", "-m", "-p", "-p", "nope", "env"}, "nope", "", "the -p flag"},
		{[]string{"ward", "check", "-p", ""}, "", "", "the -p flag"},
		{[]string{"ward", "check"}, "", "", "$WARD_PROFILE"},
	} {
		if got := profileSource(readOwnArgs(app, tt.args).words, tt.profile, env(tt.envVal)); got != tt.want {
			t.Errorf("%v (WARD_PROFILE=%q): got %q, want %q", tt.args, tt.envVal, got, tt.want)
		}
	}
}
