package launcher

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/internal/atomicfile"
	"github.com/wardsecrets/ward/internal/syshint"
	"github.com/wardsecrets/ward/launcher/dotenv"
	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
	"github.com/wardsecrets/ward/resolve/local"
	"github.com/wardsecrets/ward/resolve/stores"
	"github.com/wardsecrets/ward/signals"
)

func importCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "move a .env file's values into the local store and reference them from the manifest",
		ArgsUsage: "[FILE|-]",
		Description: `Reads a dotenv FILE (default .env; - for standard input), or a JSON object of names and values
(doppler secrets download --format json, chamber export --format json, vault kv get -format=json
-field=data, a Secrets Manager SecretString), and splits it: values that are plainly
configuration (small numbers, booleans, development/production, log levels, URLs
without credentials, host:port, empty values) go into the manifest as {value: ...};
the rest are secrets, stored in the local store as PREFIX+KEY and referenced as
KEY: local://PREFIX+KEY. A name that says secret (TOKEN, PASSWORD, KEY...) is always a
secret. The split is printed (names only); --secret and --plain move a variable.
Nothing is written when a manifest variable or a different local entry already exists,
unless --force. The store is written in one step and the manifest after it: an
interrupted import leaves both as they were, or the store filled and the manifest
untouched (run it again). The .env file is left in place: delete it once ward run works.

Example:
   ward import                              # .env, names prefixed with this directory's name
   ward import --profile production .env.production
   ward import --secret PORT --plain SENTRY_ENV config/dev.env
   vault kv get -format=json -field=data secret/myapp | ward import -`,
		Flags: []cli.Flag{
			manifestFlag(),
			&cli.StringFlag{Name: "name-prefix", EnvVars: []string{"WARD_NAME_PREFIX"}, Usage: "`PREFIX` of the local store names", DefaultText: "this directory's name and /, such as myapp/"},
			&cli.StringFlag{Name: "profile", Usage: "import into the manifest's profile `NAME` (profiles.NAME.env)"},
			&cli.StringSliceFlag{Name: "secret", Usage: "treat these variables as secrets (`NAME,...`)"},
			&cli.StringSliceFlag{Name: "plain", Usage: "keep these variables in the manifest as plain values (`NAME,...`)"},
			forceFlag("replace local entries and manifest variables that already exist"),
		},
		Action: func(c *cli.Context) error { return cmdImport(c, stdio) },
	}
}

// importJob is one ward import: what was read, and where it goes.
type importJob struct {
	file     string // "standard input" when it is (FILE -)
	stdin    bool
	profile  string
	pairs    []dotenv.Pair
	plain    []bool   // by pair: kept in the manifest
	names    []string // the local store names, by pair ("" for plain ones)
	manifest string
	// target is where the manifest is written: where its symbolic link
	// leads (see linkedManifest).
	target string
	old    []byte // the manifest as it was; nil when there was none
	store  *local.Store
	// force is --force: local entries that hold another value are
	// replaced.
	force bool
}

func cmdImport(c *cli.Context, stdio IO) error {
	// It holds the .env's values from the first line it reads (see
	// hardenReader).
	hardenReader()
	if c.NArg() > 1 {
		return failure.New(fmt.Errorf("want at most one FILE, got %d arguments", c.NArg()), "write: ward import [flags] [FILE]")
	}
	switch c.String("manifest") {
	case "":
		return emptyManifest("import")
	case "-":
		_, err := stdinManifest(c)
		return err
	}
	if err := directoryManifest(c.String("manifest")); err != nil {
		return err
	}
	if err := specialManifest(c.String("manifest")); err != nil {
		return err
	}
	if c.IsSet("profile") && c.String("profile") == "" {
		// --profile "$ENV" with ENV unset: importing into the manifest's
		// env would put development values where production's
		// references are (with --force, in their place).
		return failure.New(errors.New("--profile names no profile: it is empty"), "leave out --profile to import into the manifest's env")
	}
	job := &importJob{file: ".env", manifest: c.String("manifest"), profile: c.String("profile")}
	if c.NArg() == 1 {
		job.file = c.Args().First()
	} else if st, err := os.Stat(job.file); err == nil && !st.Mode().IsRegular() {
		// The .env ward takes by default, not one named: a cloned
		// repository's .env -> /dev/tty had ward read the terminal, and
		// store what the user typed next. A pipe named on purpose
		// (`ward import <(op inject -i .env.tpl)`) is read.
		return failure.New(fmt.Errorf("%s is not a dotenv file ward can read: %s", job.file, notAFile(job.file, st)), "name the file to import: ward import path/to/.env, or ward import - for standard input")
	}
	if err := job.read(stdio); err != nil {
		return err
	}
	defer job.forget()
	if err := job.classify(c.StringSlice("secret"), c.StringSlice("plain")); err != nil {
		return err
	}
	if err := job.name(c); err != nil {
		return err
	}
	job.warnEmpty(stdio)
	// From the manifest's read to its rename, one import at a time: two
	// at once (a script's imports of several files in parallel) each
	// added their variables to the manifest as they read it, and the
	// second rename dropped the first's, both saying they had imported.
	target, err := linkedManifest(job.manifest)
	if err != nil {
		return err
	}
	job.target = target
	release, err := lockManifestDir(target, stdio.Stderr)
	if err != nil {
		return err
	}
	written := false
	defer func() { release(!written) }()
	if err := job.conflicts(stdio, c.Bool("force")); err != nil {
		return err
	}
	if err := job.write(); err != nil {
		return err
	}
	written = true
	job.report(stdio)
	return nil
}

// lockManifestDir locks the directory that holds target (a manifest as
// linkedManifest gives it: where its symbolic link leads), for an edit of
// it by ward import or ward init, making the directory if need be (two
// imports into a new folder's manifest locked nothing, and both wrote
// it), and removes the temporary files of an edit whose process was
// killed before its rename (they held the new references, for a commit
// to pick up). A wait of more than a second is said on stderr.
//
// release lets go of the lock; told that the edit failed, it first
// removes the folders this made, when they are still empty: a failed
// import into -m new/app/ward.yaml left new/app behind, half of what
// it set out to do. An edit waiting for the lock then finds its folder
// gone and makes it again.
func lockManifestDir(target string, stderr io.Writer) (release func(failed bool), err error) {
	dir := filepath.Dir(target)
	for tries := 0; ; tries++ {
		made := missingDirs(dir)
		// undo removes them, deepest first, each only while empty and
		// unlocked: a folder above that another import into it locks (or
		// one below it) is that import's now, though this made it. held:
		// this holds the first's lock.
		undo := func(held bool) {
			for i, d := range made {
				if i == 0 && held && os.Remove(d) != nil || (i > 0 || !held) && !atomicfile.RemoveDirIfFree(d) {
					return
				}
			}
		}
		err := os.MkdirAll(dir, 0o755)
		if err != nil {
			undo(false)
			if errors.Is(err, fs.ErrNotExist) && tries < 10 {
				continue // another's failed edit removed a folder as this made it
			}
			hint := syshint.For(err)
			if hint == "" {
				// A missing or refused folder on the way: the manifest
				// named where no folder can be made.
				hint = "name a manifest in a folder you may write (-m PATH, $WARD_MANIFEST), or create the folder first"
			}
			return nil, failure.New(fmt.Errorf("create %s: %w", dir, err), hint)
		}
		unlock, err := atomicfile.LockDir(dir, func() {
			fmt.Fprintf(stderr, "ward: waiting for the folder %s: another ward import or ward init is editing a manifest there (a lock on the folder)\n", manifest.QuotePath(dir))
		})
		if (errors.Is(err, atomicfile.ErrDirReplaced) || errors.Is(err, fs.ErrNotExist)) && tries < 10 {
			// Removed by another's failed edit as this made it.
			continue
		}
		if err != nil {
			undo(false)
			return nil, failure.New(err, "")
		}
		atomicfile.RemoveTemps(target)
		return func(failed bool) {
			if failed {
				undo(true)
			}
			unlock()
		}, nil
	}
}

// missingDirs lists dir and those of its parents that do not exist, the
// deepest first.
func missingDirs(dir string) []string {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); !errors.Is(err, fs.ErrNotExist) {
			return missing
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			return missing
		}
	}
}

// msgSetInEnv warns of a variable of the file that is set where ward
// import runs.
const msgSetInEnv = "set in this environment too: the npm dotenv package, node --env-file and python-dotenv leave a variable that is set as it is (unless told to override), so a program started from here got the environment's value; under ward run it gets this line's"

// read parses the dotenv file, printing its warnings.
func (j *importJob) read(stdio IO) error {
	var data []byte
	var err error
	if j.file == "-" {
		// As for cat and the dotenv CLIs: `op inject -i .env.tpl | ward import -`.
		j.file, j.stdin = "standard input", true
		data, err = io.ReadAll(stdio.Stdin)
	} else {
		data, err = os.ReadFile(j.file)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return failure.New(fmt.Errorf("%s: no such file", j.file), "name the dotenv file: ward import path/to/.env")
		}
		return failure.New(fmt.Errorf("read %s: %w", j.file, err), "")
	}
	// A JSON export is a store's (doppler, chamber, Vault): the tool that
	// ran the program set its values over the environment's.
	export := dotenv.IsJSON(data)
	pairs, warns, err := dotenv.Parse(data)
	clear(data)
	if err != nil {
		hint := `quote values with spaces, '#' or several lines: KEY="..." or KEY='...'`
		if de := (*dotenv.Error)(nil); errors.As(err, &de) && de.Hint != "" {
			hint = de.Hint
		}
		return failure.New(fmt.Errorf("%s: %w", j.file, err), hint)
	}
	j.pairs = pairs
	for _, p := range pairs {
		// The dotenv libraries' default: a variable that is set wins
		// over the file's line, which then never reached the program.
		if _, set := os.LookupEnv(p.Key); set && !export {
			warns = append(warns, dotenv.Warning{Line: p.Line, Key: p.Key, Msg: msgSetInEnv})
		}
	}
	slices.SortStableFunc(warns, func(a, b dotenv.Warning) int { return a.Line - b.Line })
	for _, w := range warns {
		fmt.Fprintf(stdio.Stderr, "ward: warning: %s: %s\n", j.file, w)
	}
	if len(pairs) == 0 {
		return failure.New(fmt.Errorf("%s holds no variables", j.file), "")
	}
	for _, p := range pairs {
		if tool, hint := foreignReference(p.Value); tool != "" {
			if !j.stdin {
				hint = strings.ReplaceAll(hint, "FILE", j.file)
			}
			return failure.New(fmt.Errorf("%s: line %d: %s: the value is a reference of %s, which it resolved for the program: ward import would store the reference, not the secret", j.file, p.Line, p.Key, tool), hint)
		}
	}
	for _, p := range pairs {
		if len(p.Key)+len(p.Value)+2 > manifest.MaxArgStrlen() && len(p.Value) <= local.MaxValueSize {
			// Said now, not at the first ward run.
			fmt.Fprintf(stdio.Stderr, "ward: warning: %s: line %d: %s: the value is %d bytes, more than an environment variable may hold (%d): ward run will refuse it; deliver it as a file instead (files: in ward.yaml, with ref: local://NAME)\n", j.file, p.Line, p.Key, len(p.Value), manifest.MaxArgStrlen()-len(p.Key)-2)
		}
		if len(p.Value) > local.MaxValueSize {
			return failure.New(fmt.Errorf("%s: line %d: %s: the value is over 1 MiB, the most the local store takes", j.file, p.Line, p.Key), "")
		}
	}
	return nil
}

// foreignReference tells a value that is another tool's reference to a
// secret, as the env file of `op run --env-file` or the environment of
// secrets-init holds them, and how to import the secrets instead. The
// program was given the secret, never the reference.
func foreignReference(value []byte) (tool, hint string) {
	v := bytes.TrimSpace(value)
	if inner, ok := bytes.CutPrefix(v, []byte("{{")); ok && bytes.HasSuffix(inner, []byte("}}")) {
		v = bytes.TrimSpace(inner[:len(inner)-2])
	}
	if bytes.HasPrefix(v, []byte("op://")) || bytes.Contains(v, []byte("{{ op://")) || bytes.Contains(v, []byte("{{op://")) {
		return "1Password (op run)", "resolve the file's references as op run did, into ward import: op inject -i FILE | ward import -"
	}
	// The forms another tool gives a store's secrets are the store's to
	// know (resolve.Scheme.Foreign).
	for _, name := range stores.Registry.SchemeNames() {
		if foreign := stores.Registry.Scheme(name).Foreign; foreign != nil {
			if tool, instead := foreign(v); tool != "" {
				return tool, "name it in ward.yaml instead: KEY: " + instead + ", then ward check --resolve"
			}
		}
	}
	return "", ""
}

// forget clears the values read.
func (j *importJob) forget() {
	for _, p := range j.pairs {
		clear(p.Value)
	}
}

// namesOf lists the pairs' names for a message, the first ten.
func namesOf(pairs []dotenv.Pair) string {
	var names []string
	for _, p := range pairs {
		names = append(names, p.Key)
	}
	if len(names) > 10 {
		return strings.Join(names[:10], ", ") + fmt.Sprintf(" and %d more", len(names)-10)
	}
	return strings.Join(names, ", ")
}

// classify splits configuration from secrets, with the user's overrides.
func (j *importJob) classify(secret, plain []string) error {
	keys := map[string]bool{}
	for _, p := range j.pairs {
		keys[p.Key] = true
	}
	split := func(list []string, flag string) (map[string]bool, error) {
		out := map[string]bool{}
		for _, item := range list {
			for _, n := range strings.Split(item, ",") {
				if n = strings.TrimSpace(n); n == "" {
					continue
				}
				if !keys[n] {
					return nil, failure.New(fmt.Errorf("--%s %s: %s has no such variable", flag, n, j.file), "--secret and --plain name variables of "+j.file+" ("+namesOf(j.pairs)+"), commas between them")
				}
				out[n] = true
			}
		}
		return out, nil
	}
	forceSecret, err := split(secret, "secret")
	if err != nil {
		return err
	}
	forcePlain, err := split(plain, "plain")
	if err != nil {
		return err
	}
	j.plain = make([]bool, len(j.pairs))
	for i, p := range j.pairs {
		switch {
		case forceSecret[p.Key] && forcePlain[p.Key]:
			return failure.New(fmt.Errorf("%s is given to both --secret and --plain", p.Key), "")
		case forceSecret[p.Key]:
		case forcePlain[p.Key]:
			j.plain[i] = true
		default:
			j.plain[i] = dotenv.IsPlain(p.Key, p.Value)
		}
		if j.plain[i] && strings.ContainsAny(string(p.Value), "\x00") {
			return failure.New(fmt.Errorf("%s holds a NUL byte, which no environment variable can", p.Key), "")
		}
		if j.plain[i] && !utf8.Valid(p.Value) {
			return failure.New(fmt.Errorf("%s: line %d: %s: the value is not UTF-8 text, which a manifest cannot hold", j.file, p.Line, p.Key), "leave it to the local store (no --plain "+p.Key+")")
		}
	}
	return nil
}

// name gives each secret its local store name.
func (j *importJob) name(c *cli.Context) error {
	prefix := c.String("name-prefix")
	// An empty --name-prefix "" typed out means none; an empty
	// $WARD_NAME_PREFIX counts as unset (see unsetEmptyFlagVars).
	if !c.IsSet("name-prefix") {
		var err error
		if prefix, err = defaultNamePrefix(); err != nil {
			return err
		}
	}
	j.names = make([]string, len(j.pairs))
	for i, p := range j.pairs {
		if j.plain[i] {
			continue
		}
		j.names[i] = prefix + p.Key
		if !local.ValidName(j.names[i]) {
			return failure.New(fmt.Errorf("invalid local store name %q", j.names[i]), "choose a --name-prefix of slash-separated letters, digits, '_', '.', '-', such as myapp/")
		}
	}
	return nil
}

// warnEmpty warns of each secret whose value is empty: a template's
// placeholder (an .env.example) would otherwise become an empty secret
// in silence, and the program start with it, where `ward local set`
// stores an empty value only when told (--allow-empty).
func (j *importJob) warnEmpty(stdio IO) {
	for i, p := range j.pairs {
		if !j.plain[i] && len(p.Value) == 0 {
			fmt.Fprintf(stdio.Stderr, "ward: warning: %s: line %d: %s: the value is empty: it is stored as an empty secret, which the program gets under ward run (a template's placeholder? give it its value: ward local set %s)\n", j.file, p.Line, p.Key, j.names[i])
		}
	}
}

// conflicts refuses, unless force, variables the manifest declares
// already and local entries that hold another value (one that holds the
// same value is what an interrupted import left: importing it again is
// fine).
func (j *importJob) conflicts(stdio IO, force bool) error {
	j.force = force
	old, err := os.ReadFile(j.target)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return failure.New(fmt.Errorf("read %s: %w", j.manifest, err), "")
	}
	declared := map[string]*manifest.EnvVar{}
	if err == nil {
		j.old = old
		m, err := manifest.Parse(j.manifest, old)
		if err != nil {
			return failure.New(err, "fix the manifest first (ward check), then import again")
		}
		env := m.Env
		if j.profile != "" {
			env = nil
			if prof, ok := m.Profiles[j.profile]; ok {
				env = prof.Env
			}
		}
		for _, v := range env {
			declared[v.Name] = v
		}
	}
	if j.store, err = openLocal(stdio.Stderr); err != nil {
		return err
	}
	var inStore, inManifest []string
	// One read of the store for every name, as ward run reads it: the
	// store keeps only the values it was last asked for, and a read per
	// name decrypted a store of thousands of names once for each.
	var refs []resolve.Ref
	for i := range j.pairs {
		if !j.plain[i] {
			refs = append(refs, resolve.Ref{Scheme: local.Scheme, Path: j.names[i]})
		}
	}
	var secrets []resolve.Secret
	var errs []error
	if len(refs) > 0 {
		secrets, errs = j.store.FetchBatch(context.Background(), refs)
	}
	defer func() {
		for _, s := range secrets {
			clear(s.Value)
		}
	}()
	k := 0
	for i, p := range j.pairs {
		if v, ok := declared[p.Key]; ok && !j.importedBefore(i, v) {
			inManifest = append(inManifest, p.Key)
		}
		if j.plain[i] {
			continue
		}
		v, err := secrets[k].Value, errs[k]
		k++
		switch {
		case err == nil && !bytes.Equal(v, p.Value):
			inStore = append(inStore, j.names[i])
		case err != nil && !resolve.IsNotFound(err) && !errors.Is(err, local.ErrNoStore):
			return failure.New(err, "")
		}
	}
	if (len(inStore) == 0 && len(inManifest) == 0) || force {
		return nil
	}
	var parts []string
	if len(inStore) > 0 {
		parts = append(parts, "in the local store: "+someNames(inStore))
	}
	if len(inManifest) > 0 {
		parts = append(parts, "in "+j.manifest+": "+someNames(inManifest))
	}
	return failure.New(fmt.Errorf("nothing was imported: these already exist %s", strings.Join(parts, "; ")), "run again with --force to replace them, or choose another --name-prefix")
}

// someNames lists up to ten names and counts the rest: an import of a
// team's .env of thousands of keys named every one on one line, the hint
// lost after it.
func someNames(names []string) string {
	const show = 10
	s := strings.Join(names[:min(len(names), show)], ", ")
	if len(names) > show {
		s += fmt.Sprintf(" and %d more", len(names)-show)
	}
	return s
}

// importedBefore reports whether v, the entry the manifest (or the
// profile imported into) declares for pair i, is the one this import
// writes: the same reference or the same plain value, as a re-run finds
// it.
func (j *importJob) importedBefore(i int, v *manifest.EnvVar) bool {
	if j.plain[i] {
		return v.IsValue && v.Value == string(j.pairs[i].Value)
	}
	return v.Ref != nil && v.Ref.Raw == local.Scheme+"://"+j.names[i]
}

// write stores the secrets in one step, then writes the manifest; if the
// manifest cannot be written, the store is put back. An interrupt while
// it runs leaves no temporary file.
func (j *importJob) write() error {
	var entries []manifest.Entry
	var values []local.NamedValue
	for i, p := range j.pairs {
		if j.plain[i] {
			entries = append(entries, manifest.Entry{Key: p.Key, Value: string(p.Value), Plain: true})
			continue
		}
		entries = append(entries, manifest.Entry{Key: p.Key, Ref: local.Scheme + "://" + j.names[i]})
		values = append(values, local.NamedValue{Name: j.names[i], Value: p.Value})
	}
	text, err := manifest.AddEnv(j.old, j.old != nil, j.profile, entries)
	if err != nil {
		return failure.New(fmt.Errorf("update %s: %w", j.manifest, err), "")
	}
	if _, err := manifest.Parse(j.manifest, text); err != nil {
		// ward check would reject it: write nothing.
		return failure.New(fmt.Errorf("the updated manifest does not validate, so nothing was written: %w", err), "")
	}
	staged, err := atomicfile.Stage(j.target, text, atomicfile.Masked(0o664), true)
	if err != nil {
		return failure.New(fmt.Errorf("write %s: %w", j.manifest, err), "")
	}
	stop := abortOnSignal(staged.Abort)
	defer stop()
	opts := []local.Option{local.AllowEmpty}
	if !j.force {
		// Checked again under the store's lock: another import or a
		// `ward local set` may have stored a name since conflicts
		// looked.
		opts = append(opts, local.NoOtherValue)
	}
	written, err := j.store.SetMany(values, opts...)
	var notSynced *atomicfile.NotSyncedError
	var other *local.OtherValueError
	if err != nil {
		staged.Abort()
		if errors.As(err, &other) {
			return failure.New(fmt.Errorf("nothing was imported: these already exist in the local store, stored since the import began (another import, a ward local set): %s", someNames(other.Names)), "run again with --force to replace them, or choose another --name-prefix")
		}
		if errors.As(err, &notSynced) {
			// The store is written: the secrets are in it.
			return failure.New(fmt.Errorf("the secrets are in the local store, but %s was left as it was: %w", j.manifest, err), "run the import again: it finds them there")
		}
		return failure.New(fmt.Errorf("nothing was imported: %w", err), "")
	}
	if err := staged.Commit(); err != nil {
		if errors.As(err, &notSynced) {
			// The manifest is in place and refers to the secrets: they
			// stay (taken back, every reference of it would fail).
			// The errno's advice: "the disk may be failing" was said of
			// a full file system's ENOSPC too (NFS reports late).
			hint := "after a crash, run the import again"
			if cause := syshint.For(err); cause != "" {
				hint = cause + "; " + hint
			}
			return failure.New(fmt.Errorf("imported, but not surely kept: %w", err), hint)
		}
		if uerr := j.store.Undo(written); uerr != nil && !errors.As(uerr, &notSynced) {
			var names []string
			for _, w := range written {
				if w.Version != w.Previous {
					names = append(names, w.Name)
				}
			}
			return failure.New(fmt.Errorf("write %s: %w; and the secrets stored for it (%s) could not all be taken back out of the local store: %v", j.manifest, err, someNames(names), uerr), "`ward local list` shows what the store holds; run the import again once the manifest can be written (it finds them there), or `ward local rm` them")
		}
		return failure.New(fmt.Errorf("nothing was imported: write %s: %w", j.manifest, err), "")
	}
	return nil
}

// abortOnSignal runs abort and exits 128+N if ward is interrupted or
// terminated before stop is called.
func abortOnSignal(abort func()) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			abort()
			os.Exit(signals.ExitSignalBase + int(sig.(syscall.Signal)))
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// report prints the split and the names (never values) and what to do
// next.
func (j *importJob) report(stdio IO) {
	w := stdio.Stdout
	verb := "updated"
	if j.old == nil {
		verb = "created"
	}
	var secrets, plain []string
	for i, p := range j.pairs {
		if j.plain[i] {
			plain = append(plain, p.Key)
		} else {
			secrets = append(secrets, p.Key)
		}
	}
	where := j.manifest
	if j.profile != "" {
		where += " (profile " + j.profile + ")"
	}
	fmt.Fprintf(w, "imported %s from %s; %s %s:\n", plural(len(j.pairs), "variable", "variables"), j.file, verb, where)
	// Each secret has a line of its own below, with its reference: the
	// summary names ten (it was one line of 170 KB for 10,000 keys).
	fmt.Fprintf(w, "  secrets, in the local store: %s\n", cmp.Or(someNames(secrets), "(none)"))
	fmt.Fprintf(w, "  plain values, in the manifest: %s\n", orNone(plain))
	for i, p := range j.pairs {
		if !j.plain[i] {
			fmt.Fprintf(w, "  %s: local://%s\n", p.Key, j.names[i])
		}
	}
	// A pipe (bash's <(op read ...)) is nothing to delete or to keep out
	// of git.
	st, err := os.Stat(j.file)
	file := !j.stdin && err == nil && st.Mode().IsRegular()
	// A template's (an .env.example's) secrets are empty: it holds
	// nothing to delete, to keep out of git or to rotate.
	held := false
	for i, p := range j.pairs {
		held = held || !j.plain[i] && len(p.Value) > 0
	}
	run := j.runCommand()
	next := "next: check with `" + run + "`"
	switch {
	case len(secrets) > 0 && !held:
		next = "next: give each secret its value (ward local set NAME: they are empty), then check with `" + run + "`"
	case file:
		next += ", then delete " + j.file + ": the local store holds its secrets now (ward left the file in place)"
	}
	fmt.Fprintf(w, "move one with --secret NAME or --plain NAME; %s\n", next)
	if j.old == nil {
		warnHidden(stdio, j.manifest)
	}
	if file && (held || len(secrets) == 0) {
		warnGit(stdio, j.file)
	}
}

// runCommand is the ward run that gives a program what was imported:
// with -p for a profile's variables, which a run without it does not
// give (the hint said `ward run -- YOUR_PROGRAM` after --profile dev,
// and the program got none of them), and with -m for a manifest that
// ward run would not find from here.
func (j *importJob) runCommand() string {
	run := "ward run" + manifestWords(j.manifest)
	if j.profile != "" {
		run += flagWords("-p", j.profile)
	}
	return run + " -- YOUR_PROGRAM"
}

// manifestWords is " -m FILE" for a manifest that ward would not find
// from the current directory without it, else "".
func manifestWords(path string) string {
	if filepath.Clean(path) == "ward.yaml" {
		return ""
	}
	return flagWords("-m", path)
}

// flagWords is " FLAG VALUE" as a shell reads it back and ward takes
// it: the value quoted when it holds a character a shell treats
// specially, and after = when it starts with a dash (-m=-x.yaml).
func flagWords(flag, value string) string {
	word := value
	if value == "" || strings.Trim(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./@%+=:,-") != "" {
		word = shellQuote(value)
	}
	if strings.HasPrefix(value, "-") {
		return " " + flag + "=" + word
	}
	return " " + flag + " " + word
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

// warnGit warns when the file is, or ever was, in git: its values are
// then in the repository's history.
func warnGit(stdio IO, file string) {
	tracked, ignored, inHistory := gitStatus(file)
	switch {
	case tracked || inHistory:
		what := "is tracked by git"
		if !tracked {
			what = "is in the git history (it was committed once)"
		}
		fmt.Fprintf(stdio.Stderr, "ward: warning: %s %s: its values are in the repository's history, and deleting the file does not remove them\n", file, what)
		// Only what is left to do: `git rm --cached` of a file no
		// longer tracked fails ("did not match any files").
		then := ""
		switch {
		case tracked && ignored != ignoreYes:
			then = fmt.Sprintf(", then `git rm --cached %s` and add it to .gitignore", file)
		case tracked:
			then = fmt.Sprintf(", then `git rm --cached %s`", file)
		case ignored == ignoreNo:
			then = ", and add it to .gitignore"
		}
		fmt.Fprintf(stdio.Stderr, "ward: warning: treat every value it held as leaked: rotate each one at its source%s\n", then)
		fmt.Fprintf(stdio.Stderr, "ward: hint: see \"Dealing with a leaked secret\" in ward's README: https://github.com/wardsecrets/ward#dealing-with-a-leaked-secret\n")
	case ignored == ignoreNo:
		// ward init adds .env, and no other name.
		byInit := ""
		if filepath.Base(file) == ".env" {
			byInit = " (ward init does)"
		}
		fmt.Fprintf(stdio.Stderr, "ward: hint: %s is not in .gitignore: add it there%s so it is never committed\n", file, byInit)
	}
}

// defaultNamePrefix is the current directory's name and a slash, made
// into a valid local store name.
func defaultNamePrefix() (string, error) {
	wd, err := workingDir("give --name-prefix")
	if err != nil {
		return "", err
	}
	name := appName(filepath.Base(wd))
	if name == "" {
		return "", failure.New(errors.New("cannot make a local store name from this directory's name"), "give --name-prefix, such as myapp/")
	}
	return name + "/", nil
}

var notNameChars = conf.Lazy(`[^A-Za-z0-9_.\-]+`)

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

type ignoreState int

const (
	ignoreUnknown ignoreState = iota // not in a git work tree, or no git
	ignoreYes
	ignoreNo
)

// gitStatus reports whether git tracks file, whether git ignores it, and
// whether any commit of any ref ever held it.
func gitStatus(file string) (tracked bool, ignored ignoreState, inHistory bool) {
	var log strings.Builder
	if gitOn(file, &log, "log", "--all", "--format=%H", "-1") == 0 && strings.TrimSpace(log.String()) != "" {
		inHistory = true
	}
	if gitOn(file, nil, "ls-files", "--error-unmatch") == 0 {
		return true, ignoreUnknown, inHistory
	}
	return false, gitIgnored(file), inHistory
}

// gitIgnored reports whether git ignores file (which need not exist).
func gitIgnored(file string) ignoreState {
	state, _ := gitIgnoredBy(file)
	return state
}

// gitOn runs git with args and file, in file's directory, and returns its
// exit code: -1 when it could not run.
func gitOn(file string, out *strings.Builder, args ...string) int {
	abs, err := filepath.Abs(file)
	if err != nil {
		return -1
	}
	cmd := exec.Command("git", append(args, "--", filepath.Base(abs))...)
	cmd.Dir = filepath.Dir(abs)
	if out != nil {
		cmd.Stdout = out
	}
	err = signals.Run(cmd)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}
