package scan

import (
	"path/filepath"
	"slices"
	"testing"
)

func TestScanAbsolutePaths(t *testing.T) {
	repo := newRepo(t)
	write(t, repo, ".gitignore", "*.local\n")
	write(t, repo, "config/app.env", "A=1\nDB_PASSWORD="+value+"\n")
	write(t, repo, "top.txt", value+"\n")
	write(t, repo, "secret.local", value+"\n")
	commitAll(t, repo, "first")
	other := newRepo(t)
	write(t, other, ".gitignore", "*.local\n")
	write(t, other, "other.env", "\n"+value+"\n")
	write(t, other, "other.local", value+"\n")
	plain := t.TempDir()
	write(t, plain, "notes/plain.txt", "\n\n"+value+"\n")

	found := func(path string, line int) Finding {
		return Finding{Path: filepath.ToSlash(path), Line: line, Name: "DB_PASSWORD", Form: "plain"}
	}
	tests := []struct {
		name string
		opts Options
		want []Finding
	}{
		{"the directory itself", Options{Dir: repo, Paths: []string{repo}},
			[]Finding{found("config/app.env", 2), found("top.txt", 1)}},
		{"a file under the directory", Options{Dir: repo, Paths: []string{filepath.Join(repo, "config/app.env")}},
			[]Finding{found("config/app.env", 2)}},
		{"with no-ignore", Options{Dir: repo, Paths: []string{repo}, NoIgnore: true},
			[]Finding{found("config/app.env", 2), found("secret.local", 1), found("top.txt", 1)}},
		{"the same file twice", Options{Dir: repo, Paths: []string{filepath.Join(repo, "top.txt"), "top.txt"}},
			[]Finding{found("top.txt", 1)}},
		{"a file outside any work tree", Options{Dir: repo, Paths: []string{filepath.Join(plain, "notes/plain.txt")}},
			[]Finding{found(filepath.Join(plain, "notes/plain.txt"), 3)}},
		{"a directory outside any work tree", Options{Dir: repo, Paths: []string{plain}},
			[]Finding{found(filepath.Join(plain, "notes/plain.txt"), 3)}},
		{"another work tree, its .gitignore respected", Options{Dir: repo, Paths: []string{other}},
			[]Finding{found(filepath.Join(other, "other.env"), 2)}},
		{"from outside any work tree", Options{Dir: plain, Paths: []string{repo}},
			[]Finding{found(filepath.Join(repo, "config/app.env"), 2), found(filepath.Join(repo, "top.txt"), 1)}},
		{"above the directory, absolute", Options{Dir: filepath.Join(repo, "config"), Paths: []string{filepath.Join(repo, "top.txt")}},
			[]Finding{found(filepath.Join(repo, "top.txt"), 1)}},
		{"above the directory, relative", Options{Dir: filepath.Join(repo, "config"), Paths: []string{"../top.txt", "app.env"}},
			[]Finding{found("../top.txt", 1), found("app.env", 2)}},
		// As ripgrep searches a file it is given: the user asked for it.
		{"an ignored file named", Options{Dir: repo, Paths: []string{"secret.local"}},
			[]Finding{found("secret.local", 1)}},
		{"an ignored file named, beside its directory", Options{Dir: repo, Paths: []string{".", "secret.local"}},
			[]Finding{found("config/app.env", 2), found("secret.local", 1), found("top.txt", 1)}},
		{"staged", Options{Dir: repo, Paths: []string{filepath.Join(repo, "config")}, Staged: true},
			[]Finding{found("config/app.env", 2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scan(t, tt.opts); !slices.Equal(got, tt.want) {
				t.Errorf("got findings %+v, want %+v", got, tt.want)
			}
		})
	}
	// ward scan "$PWD": Dir is the current directory.
	t.Run("the current directory by its absolute path", func(t *testing.T) {
		t.Chdir(repo)
		want := []Finding{found("config/app.env", 2), found("top.txt", 1)}
		if got := scan(t, Options{Paths: []string{repo}}); !slices.Equal(got, want) {
			t.Errorf("got findings %+v, want %+v", got, want)
		}
	})
}
