package launcher

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/internal/atomicfile"
	"github.com/wardsecrets/ward/launcher/dotenv"
	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/resolve/local"
)

func importCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "move a .env file's values into the local store and reference them from the manifest",
		ArgsUsage: "[FILE]",
		Description: `Reads a dotenv FILE (default .env), stores each value in the local store as
PREFIX+KEY, and adds KEY: local://PREFIX+KEY to the manifest's env (creating the
manifest if needed). Nothing is written when a local entry or a manifest variable
already exists, unless --force. Only names are printed, never values. The .env file
is left in place: delete it once ward run works.

Example:
   ward import                          # .env, names prefixed with this directory's name
   ward import --name-prefix myapp/ config/dev.env`,
		Flags: []cli.Flag{
			manifestFlag(),
			&cli.StringFlag{Name: "name-prefix", EnvVars: []string{"WARD_NAME_PREFIX"}, Usage: "prefix of the local store names (default: this directory's name and /)", DefaultText: "DIR/"},
			forceFlag("replace local entries and manifest variables that already exist"),
		},
		Action: func(c *cli.Context) error { return cmdImport(c, stdio) },
	}
}

// importJob is one `ward import`: what was read, and where it goes.
type importJob struct {
	file     string
	pairs    []dotenv.Pair
	names    []string // the local store names, by pair
	manifest string
	old      []byte // the manifest as it was; nil when there was none
	store    *local.Store
}

func cmdImport(c *cli.Context, stdio IO) error {
	if c.NArg() > 1 {
		return failure.New(fmt.Errorf("want at most one FILE, got %d arguments", c.NArg()), "write: ward import [flags] [FILE]")
	}
	job := &importJob{file: ".env", manifest: c.String("manifest")}
	if c.NArg() == 1 {
		job.file = c.Args().First()
	}
	if err := job.read(stdio); err != nil {
		return err
	}
	defer job.forget()
	if err := job.name(c); err != nil {
		return err
	}
	existed, err := job.conflicts(c.Bool("force"))
	if err != nil {
		return err
	}
	if err := job.write(existed); err != nil {
		return err
	}
	job.report(stdio)
	return nil
}

// read parses the dotenv file, printing its warnings.
func (j *importJob) read(stdio IO) error {
	data, err := os.ReadFile(j.file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return failure.New(fmt.Errorf("%s: no such file", j.file), "name the dotenv file: ward import path/to/.env")
		}
		return failure.New(fmt.Errorf("read %s: %w", j.file, err), "")
	}
	pairs, warns, err := dotenv.Parse(data)
	clear(data)
	if err != nil {
		return failure.New(fmt.Errorf("%s: %w", j.file, err), `quote values with spaces, '#' or several lines: KEY="..." or KEY='...'`)
	}
	j.pairs = pairs
	for _, w := range warns {
		fmt.Fprintf(stdio.Stderr, "ward: warning: %s: %s\n", j.file, w)
	}
	if len(pairs) == 0 {
		return failure.New(fmt.Errorf("%s holds no variables", j.file), "")
	}
	return nil
}

// forget clears the values read.
func (j *importJob) forget() {
	for _, p := range j.pairs {
		clear(p.Value)
	}
}

// name gives each variable its local store name.
func (j *importJob) name(c *cli.Context) error {
	prefix := c.String("name-prefix")
	if !c.IsSet("name-prefix") {
		var err error
		if prefix, err = defaultNamePrefix(); err != nil {
			return err
		}
	}
	j.names = make([]string, len(j.pairs))
	for i, p := range j.pairs {
		j.names[i] = prefix + p.Key
		if !local.ValidName(j.names[i]) {
			return failure.New(fmt.Errorf("invalid local store name %q", j.names[i]), "choose a --name-prefix of slash-separated letters, digits, '_', '.', '-', such as myapp/")
		}
	}
	return nil
}

// conflicts refuses names taken in the store or the manifest, unless
// force; it returns which local names existed.
func (j *importJob) conflicts(force bool) (map[string]bool, error) {
	old, err := os.ReadFile(j.manifest)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, failure.New(fmt.Errorf("read %s: %w", j.manifest, err), "")
	}
	declared := map[string]bool{}
	if err == nil {
		j.old = old
		m, err := manifest.Parse(j.manifest, old)
		if err != nil {
			return nil, failure.New(err, "fix the manifest first (ward check), then import again")
		}
		for _, v := range m.Env {
			declared[v.Name] = true
		}
	}
	if j.store, err = openLocal(); err != nil {
		return nil, err
	}
	entries, err := j.store.List()
	if err != nil {
		return nil, failure.New(err, "")
	}
	stored := map[string]bool{}
	for _, e := range entries {
		stored[e.Name] = true
	}
	var inStore, inManifest []string
	for i, p := range j.pairs {
		if stored[j.names[i]] {
			inStore = append(inStore, j.names[i])
		}
		if declared[p.Key] {
			inManifest = append(inManifest, p.Key)
		}
	}
	if (len(inStore) == 0 && len(inManifest) == 0) || force {
		return stored, nil
	}
	var parts []string
	if len(inStore) > 0 {
		parts = append(parts, "in the local store: "+strings.Join(inStore, ", "))
	}
	if len(inManifest) > 0 {
		parts = append(parts, "in "+j.manifest+": "+strings.Join(inManifest, ", "))
	}
	return nil, failure.New(fmt.Errorf("nothing was imported: these already exist %s", strings.Join(parts, "; ")), "run again with --force to replace them, or choose another --name-prefix")
}

// write stores the values and writes the manifest: all of it, or nothing.
func (j *importJob) write(existed map[string]bool) error {
	keys := make([]string, len(j.pairs))
	refs := make([]string, len(j.pairs))
	for i, p := range j.pairs {
		keys[i], refs[i] = p.Key, "local://"+j.names[i]
	}
	text, err := manifest.AddEnv(j.old, j.old != nil, keys, refs)
	if err != nil {
		return failure.New(fmt.Errorf("update %s: %w", j.manifest, err), "")
	}
	if _, err := manifest.Parse(j.manifest, text); err != nil {
		// A bug in AddEnv, not the user's: write nothing.
		return failure.New(fmt.Errorf("the updated manifest does not validate, so nothing was written: %w", err), "")
	}
	// Stage the manifest first, so a file that cannot be written stops the
	// import before any value is stored.
	staged, err := atomicfile.Stage(j.manifest, text, 0o644, true)
	if err != nil {
		return failure.New(fmt.Errorf("write %s: %w", j.manifest, err), "")
	}
	previous, err := snapshot(j.store, j.names, existed)
	if err != nil {
		staged.Abort()
		return failure.New(err, "")
	}
	defer forget(previous)
	if err := storeAll(j.store, j.names, j.pairs, previous); err != nil {
		staged.Abort()
		return failure.New(fmt.Errorf("nothing was imported: %w", err), "")
	}
	if err := staged.Commit(); err != nil {
		undo(j.store, j.names, previous)
		return failure.New(fmt.Errorf("nothing was imported: write %s: %w", j.manifest, err), "")
	}
	return nil
}

// report prints what was imported (names only) and what to do next.
func (j *importJob) report(stdio IO) {
	w := stdio.Stdout
	verb := "updated"
	if j.old == nil {
		verb = "created"
	}
	fmt.Fprintf(w, "imported %s from %s into the local store; %s %s:\n", plural(len(j.pairs), "variable", "variables"), j.file, verb, j.manifest)
	for i, p := range j.pairs {
		fmt.Fprintf(w, "  %s: local://%s\n", p.Key, j.names[i])
	}
	fmt.Fprintf(w, "next: check with `ward run -- YOUR_PROGRAM`, then delete %s: the local store holds its values now (ward left the file in place)\n", j.file)

	tracked, ignored := gitStatus(j.file)
	switch {
	case tracked:
		fmt.Fprintf(stdio.Stderr, "ward: warning: %s is tracked by git: its values are in the repository's history, and deleting the file does not remove them\n", j.file)
		fmt.Fprintf(stdio.Stderr, "ward: warning: treat every value it held as leaked: rotate each one at its source, then `git rm --cached %s` and add it to .gitignore\n", j.file)
		fmt.Fprintf(stdio.Stderr, "ward: hint: see \"Dealing with a leaked secret\" in ward's README: https://github.com/wardsecrets/ward#dealing-with-a-leaked-secret\n")
	case ignored == ignoreNo:
		fmt.Fprintf(stdio.Stderr, "ward: hint: %s is not in .gitignore: add it there (ward init does) so it is never committed\n", j.file)
	}
}

// defaultNamePrefix is the current directory's name and a slash, made
// into a valid local store name.
func defaultNamePrefix() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", failure.New(fmt.Errorf("find the current directory: %w", err), "give --name-prefix")
	}
	name := appName(filepath.Base(wd))
	if name == "" {
		return "", failure.New(errors.New("cannot make a local store name from this directory's name"), "give --name-prefix, such as myapp/")
	}
	return name + "/", nil
}

var notNameChars = regexp.MustCompile(`[^A-Za-z0-9_.\-]+`)

// appName makes a directory name into one segment of a local store name,
// or "" when nothing usable is left.
func appName(dir string) string {
	name := notNameChars.ReplaceAllString(dir, "-")
	name = strings.TrimLeft(name, ".-")
	if !local.ValidName(name) {
		return ""
	}
	return name
}

// snapshot reads the values an import will replace, to put them back if
// it fails half-way.
func snapshot(store *local.Store, names []string, existed map[string]bool) (map[string][]byte, error) {
	previous := map[string][]byte{}
	for _, name := range names {
		if existed[name] {
			v, err := store.Get(name)
			if err != nil {
				forget(previous)
				return nil, err
			}
			previous[name] = v
		}
	}
	return previous, nil
}

func forget(values map[string][]byte) {
	for _, v := range values {
		clear(v)
	}
}

// storeAll sets every value, undoing what it did if one set fails.
func storeAll(store *local.Store, names []string, pairs []dotenv.Pair, previous map[string][]byte) error {
	for i, name := range names {
		if err := store.Set(name, pairs[i].Value); err != nil {
			undo(store, names[:i], previous)
			return fmt.Errorf("store %s: %w", name, err)
		}
	}
	return nil
}

// undo puts back the entries an import replaced and removes those it
// created.
func undo(store *local.Store, names []string, previous map[string][]byte) {
	for _, name := range names {
		if v, ok := previous[name]; ok {
			store.Set(name, v)
		} else {
			store.Remove(name)
		}
	}
}

type ignoreState int

const (
	ignoreUnknown ignoreState = iota // not in a git work tree, or no git
	ignoreYes
	ignoreNo
)

// gitStatus reports whether git tracks file, and whether git ignores it.
func gitStatus(file string) (tracked bool, ignored ignoreState) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return false, ignoreUnknown
	}
	git := func(args ...string) int {
		cmd := exec.Command("git", append(args, "--", filepath.Base(abs))...)
		cmd.Dir = filepath.Dir(abs)
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			return ee.ExitCode()
		}
		return -1
	}
	if git("ls-files", "--error-unmatch") == 0 {
		return true, ignoreUnknown
	}
	switch git("check-ignore", "-q") {
	case 0:
		return false, ignoreYes
	case 1:
		return false, ignoreNo
	}
	return false, ignoreUnknown
}
