package scan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestScanAbsolutePaths(t *testing.T) {
	repo := newRepo(t)
	write(t, repo, ".gitignore", "*.local\nbuild/\n")
	write(t, repo, "config/app.env", "A=1\nDB_PASSWORD="+value+"\n")
	write(t, repo, "top.txt", value+"\n")
	write(t, repo, "secret.local", value+"\n")
	write(t, repo, "build/out.log", "token="+value+"\n")
	write(t, repo, "build/sub/cache.local", "\n"+value+"\n")
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
			[]Finding{found("build/out.log", 1), found("build/sub/cache.local", 2), found("config/app.env", 2), found("secret.local", 1), found("top.txt", 1)}},
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
		// And so is a directory: all its files, .gitignore or not. It
		// passed in silence, where its file named was found.
		{"an ignored directory named", Options{Dir: repo, Paths: []string{"build"}},
			[]Finding{found("build/out.log", 1), found("build/sub/cache.local", 2)}},
		{"an ignored directory named, absolute", Options{Dir: repo, Paths: []string{filepath.Join(repo, "build")}},
			[]Finding{found("build/out.log", 1), found("build/sub/cache.local", 2)}},
		{"a directory in an ignored one named", Options{Dir: repo, Paths: []string{"build/sub/"}},
			[]Finding{found("build/sub/cache.local", 2)}},
		{"an ignored directory named, beside the top", Options{Dir: repo, Paths: []string{".", "build"}},
			[]Finding{found("build/out.log", 1), found("build/sub/cache.local", 2), found("config/app.env", 2), found("top.txt", 1)}},
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

// TestScanNamedSymlinks names symbolic links on the command line, as
// `ward scan .env` does where .env links to the developer's own file: the
// file or directory it leads to is searched, as ripgrep and grep -r search
// a link they are given, and reported by the name given. A link met while
// searching a directory is still not followed. A named link that leads
// nowhere (dangling, a loop) is searched as its text, as git commits it
// and as the directory's search finds it: it was an error, so a hook that
// names the staged files failed every commit that staged such a link,
// however harmless, and found no token in one whose text held it.
func TestScanNamedSymlinks(t *testing.T) {
	outside := t.TempDir()
	write(t, outside, "o.txt", "\n"+value+"\n")
	for _, inRepo := range []bool{true, false} {
		var dir string
		if inRepo {
			dir = newRepo(t)
			write(t, dir, ".gitignore", "shared/\n")
		} else {
			dir = t.TempDir()
		}
		write(t, dir, "shared/dev.env", "DB_PASSWORD="+value+"\n")
		for link, to := range map[string]string{".env": "shared/dev.env", "conf": outside, "loop": "loop", "dangling": "nothing", "tokenlink": "/opt/" + value} {
			if err := os.Symlink(to, filepath.Join(dir, link)); err != nil {
				t.Fatal(err)
			}
		}
		name := map[bool]string{true: "in a work tree", false: "outside one"}[inRepo]
		tests := []struct {
			paths []string
			want  []Finding
		}{
			{[]string{".env"}, []Finding{{Path: ".env", Line: 1, Name: "DB_PASSWORD", Form: "plain"}}},
			{[]string{"conf"}, []Finding{{Path: "conf/o.txt", Line: 2, Name: "DB_PASSWORD", Form: "plain"}}},
		}
		for _, tt := range tests {
			t.Run(name+"/"+tt.paths[0], func(t *testing.T) {
				if got := scan(t, Options{Dir: dir, Paths: tt.paths}); !slices.Equal(got, tt.want) {
					t.Errorf("got findings %+v, want %+v", got, tt.want)
				}
			})
		}
		// A link that leads nowhere is searched as its text.
		for link, want := range map[string][]Finding{"loop": nil, "dangling": nil, "tokenlink": {{Path: "tokenlink", Line: 1, Name: "DB_PASSWORD", Form: "plain"}}} {
			got, err := Scan(context.Background(), secrets, Options{Dir: dir, Paths: []string{link}})
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("%s: the link %s: findings %+v, error %v; want %+v", name, link, got, err, want)
			}
		}
		// Searching the directory does not follow them: the token in a
		// link's text is found, nothing where the links lead.
		if got := scan(t, Options{Dir: dir}); inRepo && !slices.Equal(got, []Finding{{Path: "tokenlink", Line: 1, Name: "DB_PASSWORD", Form: "plain"}}) {
			t.Errorf("%s: got findings %+v for the directory, want the link's text alone (the links are not followed)", name, got)
		}
	}
}

// TestScanErrorsMaskPaths gives paths named with a value (a file named
// after a token, as the pre-commit framework passes every staged name)
// where they cause an error: the error names the path with the value
// masked, as findings do.
func TestScanErrorsMaskPaths(t *testing.T) {
	repo := newRepo(t)
	outside := t.TempDir()
	tests := []struct {
		name string
		opts Options
	}{
		{"missing", Options{Dir: repo, Paths: []string{"keys/" + value + ".json"}}},
		{"missing, staged", Options{Dir: repo, Staged: true, Paths: []string{value + ".json"}}},
		{"staged outside a work tree", Options{Dir: outside, Staged: true, Paths: []string{value + ".json"}}},
	}
	write(t, outside, value+".json", "{}\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Scan(context.Background(), secrets, tt.opts)
			if err == nil {
				t.Fatal("got no error")
			}
			if strings.Contains(err.Error(), value) || !strings.Contains(err.Error(), "<ward:DB_PASSWORD>.json") {
				t.Errorf("got an error that holds the value or does not name the path masked")
			}
		})
	}
}

// TestScanNamedPipeSaid: a named pipe named on the command line (or a
// link to a device) is not searched, and a warning says so: the scan
// passed, saying nothing of a path it had not searched.
func TestScanNamedPipeSaid(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"fifo", "zero"} {
		var warned []string
		got, err := Scan(context.Background(), secrets, Options{Dir: dir, Paths: []string{path}, Warn: func(msg string, args ...any) {
			warned = append(warned, fmt.Sprint(msg, args))
		}})
		if err != nil || len(got) > 0 || len(warned) != 1 || !strings.Contains(warned[0], "not searched: it is no file to read") || !strings.Contains(warned[0], path) {
			t.Errorf("%s: findings %+v, error %v, warnings %q; want one warning naming it", path, got, err, warned)
		}
	}
}
