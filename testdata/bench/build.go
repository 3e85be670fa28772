package main

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// noDocsTag drops urfave/cli's man-page renderer and its initialisers.
const noDocsTag = "urfave_cli_no_docs"

// binaries are the programs under test.
type binaries struct {
	ward      string // the core, with noDocsTag; its helpers sit next to it
	wardNoTag string // the core without noDocsTag
	helpers   []string
	empty     string // a Go program whose main is empty
	// floor runs a child the least a Go program can (testdata/bench/floor);
	// vaultFloor reads Vault documents the least a program using vault/api
	// can (testdata/bench/vaultfloor).
	floor, vaultFloor string
	old               string // the old single binary; "" when not built
	oldRev            string
}

// build compiles everything with CGO_ENABLED=0 and -trimpath, as the
// Dockerfile does.
func build(root, tmp, oldRev string) (*binaries, error) {
	b := &binaries{oldRev: oldRev}
	newDir := filepath.Join(tmp, "new")
	helperPkgs, err := filepath.Glob(filepath.Join(root, "resolve", "*", "ward-*", "main.go"))
	if err != nil {
		return nil, err
	}
	pkgs := []string{"."}
	for _, m := range helperPkgs {
		rel, err := filepath.Rel(root, filepath.Dir(m))
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, "./"+filepath.ToSlash(rel))
		b.helpers = append(b.helpers, filepath.Join(newDir, filepath.Base(filepath.Dir(m))))
	}
	sort.Strings(b.helpers)
	// One go build for the core and every helper: the -o directory gets
	// each main package under its own name (ward, ward-vault, ...).
	if err := goBuild(root, append([]string{"-tags", noDocsTag, "-o", newDir + "/"}, pkgs...)...); err != nil {
		return nil, err
	}
	b.ward = filepath.Join(newDir, "ward")
	b.wardNoTag = filepath.Join(tmp, "notag", "ward")
	if err := goBuild(root, "-o", b.wardNoTag, "."); err != nil {
		return nil, err
	}

	emptyDir := filepath.Join(tmp, "empty-src")
	if err := os.MkdirAll(emptyDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(emptyDir, "go.mod"), []byte("module empty\n\ngo 1.26\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(emptyDir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		return nil, err
	}
	b.empty = filepath.Join(tmp, "bin", "empty")
	if err := goBuild(emptyDir, "-o", b.empty, "."); err != nil {
		return nil, err
	}

	b.floor, b.vaultFloor = filepath.Join(tmp, "bin", "floor"), filepath.Join(tmp, "bin", "vaultfloor")
	if err := goBuild(root, "-o", b.floor, "./testdata/bench/floor"); err != nil {
		return nil, err
	}
	if err := goBuild(root, "-o", b.vaultFloor, "./testdata/bench/vaultfloor"); err != nil {
		return nil, err
	}

	if oldRev != "" {
		src := filepath.Join(tmp, "old-src")
		if err := archive(root, oldRev, src); err != nil {
			return nil, err
		}
		b.old = filepath.Join(tmp, "old", "ward")
		if err := goBuild(src, "-o", b.old, "."); err != nil {
			return nil, fmt.Errorf("build the old binary (%s): %w", oldRev, err)
		}
	}
	return b, nil
}

// goBuild runs go build in dir with CGO_ENABLED=0 and -trimpath.
func goBuild(dir string, args ...string) error {
	cmd := exec.Command("go", append([]string{"build", "-trimpath"}, args...)...)
	cmd.Dir = dir
	cmd.Env = with(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return nil
}

// archive extracts commit rev's tree into dir with `git archive | tar`,
// which reads the repository and changes neither its work tree nor its
// index.
func archive(root, rev, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	git := exec.Command("git", "-C", root, "archive", rev)
	tar := exec.Command("tar", "-x", "-C", dir)
	pipe, err := git.StdoutPipe()
	if err != nil {
		return err
	}
	tar.Stdin = pipe
	var gitErr, tarErr bytes.Buffer
	git.Stderr, tar.Stderr = &gitErr, &tarErr
	if err := git.Start(); err != nil {
		return err
	}
	tarRun := tar.Run()
	// A tar that ended early must not leave git blocked on the pipe.
	pipe.Close()
	// git's failure first: tar's "does not look like a tar archive" is
	// what a revision git does not have (a shallow clone) looks like.
	if err := git.Wait(); err != nil {
		return fmt.Errorf("git archive %s: %w: %s (a shallow clone has not the revision: fetch it with git fetch --unshallow, or skip the old binary with -old \"\")", rev, err, strings.TrimSpace(gitErr.String()))
	}
	if tarRun != nil {
		return fmt.Errorf("extract %s: %w: %s", rev, tarRun, tarErr.String())
	}
	return nil
}

// sdkPrefixes are the module paths of the store SDKs ward's core must not
// link.
var sdkPrefixes = []string{
	"github.com/hashicorp/vault/",
	"github.com/aws/aws-sdk-go-v2",
	"github.com/aws/smithy-go",
	"github.com/Azure/azure-sdk-for-go",
	"github.com/AzureAD/",
	"cloud.google.com/go",
	"google.golang.org/api",
	"google.golang.org/grpc",
}

// linkedModules returns how many modules a binary links and which of them
// are store SDKs.
func linkedModules(path string) (int, []string, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return 0, nil, err
	}
	var sdks []string
	for _, d := range info.Deps {
		for _, p := range sdkPrefixes {
			if strings.HasPrefix(d.Path, p) {
				sdks = append(sdks, d.Path)
				break
			}
		}
	}
	return len(info.Deps), sdks, nil
}

// strippedSize is the size of path after strip --strip-all, which is
// within a few kB of building with -ldflags "-s -w" as the Dockerfile does;
// -1 when strip is not installed.
func strippedSize(path, tmp string) (int64, error) {
	strip, err := exec.LookPath("strip")
	if err != nil {
		return -1, nil
	}
	out := filepath.Join(tmp, "stripped-"+filepath.Base(filepath.Dir(path))+"-"+filepath.Base(path))
	if msg, err := exec.Command(strip, "--strip-all", "-o", out, path).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("strip %s: %w: %s", path, err, msg)
	}
	defer os.Remove(out)
	return fileSize(out)
}

func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
