package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/local"
	"github.com/wardsecrets/ward/signals"
)

// devCommands are the local-development commands: import a .env file,
// start a manifest, print shell completion.
func devCommands(stdio IO) []*cli.Command {
	cmds := []*cli.Command{importCommand(stdio), initCommand(stdio), completionCommand(stdio)}
	for _, c := range cmds {
		c.OnUsageError = usageError
	}
	return cmds
}

func devManifestFlag() cli.Flag {
	return &cli.StringFlag{Name: "manifest", Aliases: []string{"m"}, Value: "ward.yaml", EnvVars: []string{"WARD_MANIFEST"}, Usage: "the manifest `FILE`", TakesFile: true}
}

// forceFlag has no WARD_* variable on purpose: replacing secrets should be
// asked for on the command line each time, not by a forgotten export.
func forceFlag(usage string) cli.Flag {
	return &cli.BoolFlag{Name: "force", Usage: usage}
}

func failed(err error, hint string) error {
	return &codeError{code: signals.ExitWardFailure, err: err, hint: hint}
}

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
			devManifestFlag(),
			&cli.StringFlag{Name: "name-prefix", EnvVars: []string{"WARD_NAME_PREFIX"}, Usage: "prefix of the local store names (default: this directory's name and /)", DefaultText: "DIR/"},
			forceFlag("replace local entries and manifest variables that already exist"),
		},
		Action: func(c *cli.Context) error { return cmdImport(c, stdio) },
	}
}

func cmdImport(c *cli.Context, stdio IO) error {
	if c.NArg() > 1 {
		return failed(fmt.Errorf("want at most one FILE, got %d arguments", c.NArg()), "write: ward import [flags] [FILE]")
	}
	file := ".env"
	if c.NArg() == 1 {
		file = c.Args().First()
	}
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return failed(fmt.Errorf("%s: no such file", file), "name the dotenv file: ward import path/to/.env")
		}
		return failed(fmt.Errorf("read %s: %w", file, err), "")
	}
	pairs, warns, err := parseDotenv(data)
	clear(data)
	if err != nil {
		return failed(fmt.Errorf("%s: %w", file, err), `quote values with spaces, '#' or several lines: KEY="..." or KEY='...'`)
	}
	defer func() {
		for _, p := range pairs {
			clear(p.Value)
		}
	}()
	for _, w := range warns {
		fmt.Fprintf(stdio.Stderr, "ward: warning: %s: %s\n", file, w)
	}
	if len(pairs) == 0 {
		return failed(fmt.Errorf("%s holds no variables", file), "")
	}

	prefix := c.String("name-prefix")
	if !c.IsSet("name-prefix") {
		if prefix, err = defaultNamePrefix(); err != nil {
			return err
		}
	}
	names := make([]string, len(pairs))
	for i, p := range pairs {
		names[i] = prefix + p.Key
		if !resolve.ValidLocalName(names[i]) {
			return failed(fmt.Errorf("invalid local store name %q", names[i]), "choose a --name-prefix of slash-separated letters, digits, '_', '.', '-', such as myapp/")
		}
	}

	path := c.String("manifest")
	old, err := os.ReadFile(path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return failed(fmt.Errorf("read %s: %w", path, err), "")
	}
	var declared map[string]bool
	if exists {
		m, err := ParseManifest(path, old)
		if err != nil {
			return failed(err, "fix the manifest first (ward check), then import again")
		}
		declared = map[string]bool{}
		for _, v := range m.Env {
			declared[v.Name] = true
		}
	}

	store, err := local.Open(os.Getenv)
	if err != nil {
		return failed(err, "")
	}
	entries, err := store.List()
	if err != nil {
		return failed(err, "")
	}
	stored := map[string]bool{}
	for _, e := range entries {
		stored[e.Name] = true
	}
	var inStore, inManifest []string
	for i, p := range pairs {
		if stored[names[i]] {
			inStore = append(inStore, names[i])
		}
		if declared[p.Key] {
			inManifest = append(inManifest, p.Key)
		}
	}
	force := c.Bool("force")
	if (len(inStore) > 0 || len(inManifest) > 0) && !force {
		var parts []string
		if len(inStore) > 0 {
			parts = append(parts, "in the local store: "+strings.Join(inStore, ", "))
		}
		if len(inManifest) > 0 {
			parts = append(parts, "in "+path+": "+strings.Join(inManifest, ", "))
		}
		return failed(fmt.Errorf("nothing was imported: these already exist %s", strings.Join(parts, "; ")), "run again with --force to replace them, or choose another --name-prefix")
	}

	refs := make([]string, len(pairs))
	for i := range pairs {
		refs[i] = "local://" + names[i]
	}
	keys := make([]string, len(pairs))
	for i, p := range pairs {
		keys[i] = p.Key
	}
	text, err := extendManifest(old, exists, keys, refs)
	if err != nil {
		return failed(fmt.Errorf("update %s: %w", path, err), "")
	}
	if _, err := ParseManifest(path, text); err != nil {
		// A bug in extendManifest, not the user's: write nothing.
		return failed(fmt.Errorf("the updated manifest does not validate, so nothing was written: %w", err), "")
	}

	// Stage the manifest first, so a file that cannot be written stops the
	// import before any value is stored.
	commit, abort, err := stageFile(path, text)
	if err != nil {
		return failed(fmt.Errorf("write %s: %w", path, err), "")
	}
	previous, err := snapshot(store, names, stored)
	if err != nil {
		abort()
		return failed(err, "")
	}
	defer forget(previous)
	if err := storeAll(store, names, pairs, previous); err != nil {
		abort()
		return failed(fmt.Errorf("nothing was imported: %w", err), "")
	}
	if err := commit(); err != nil {
		undo(store, names, previous)
		return failed(fmt.Errorf("nothing was imported: write %s: %w", path, err), "")
	}

	w := stdio.Stdout
	verb := "updated"
	if !exists {
		verb = "created"
	}
	fmt.Fprintf(w, "imported %s from %s into the local store; %s %s:\n", plural(len(pairs), "variable"), file, verb, path)
	for i, p := range pairs {
		fmt.Fprintf(w, "  %s: %s\n", p.Key, refs[i])
	}
	fmt.Fprintf(w, "next: check with `ward run -- YOUR_PROGRAM`, then delete %s: the local store holds its values now (ward left the file in place)\n", file)

	tracked, ignored := gitStatus(file)
	switch {
	case tracked:
		fmt.Fprintf(stdio.Stderr, "ward: warning: %s is tracked by git: its values are in the repository's history, and deleting the file does not remove them\n", file)
		fmt.Fprintf(stdio.Stderr, "ward: warning: treat every value it held as leaked: rotate each one at its source, then `git rm --cached %s` and add it to .gitignore\n", file)
		fmt.Fprintf(stdio.Stderr, "ward: hint: see \"Dealing with a leaked secret\" in ward's README: https://github.com/wardsecrets/ward#dealing-with-a-leaked-secret\n")
	case ignored == ignoreNo:
		fmt.Fprintf(stdio.Stderr, "ward: hint: %s is not in .gitignore: add it there (ward init does) so it is never committed\n", file)
	}
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// defaultNamePrefix is the current directory's name and a slash, made
// into a valid local store name.
func defaultNamePrefix() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", failed(fmt.Errorf("find the current directory: %w", err), "give --name-prefix")
	}
	name := appName(filepath.Base(wd))
	if name == "" {
		return "", failed(errors.New("cannot make a local store name from this directory's name"), "give --name-prefix, such as myapp/")
	}
	return name + "/", nil
}

var notNameChars = regexp.MustCompile(`[^A-Za-z0-9_.\-]+`)

// appName makes a directory name into one segment of a local store name,
// or "" when nothing usable is left.
func appName(dir string) string {
	name := notNameChars.ReplaceAllString(dir, "-")
	name = strings.TrimLeft(name, ".-")
	if !resolve.ValidLocalName(name) {
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
func storeAll(store *local.Store, names []string, pairs []dotenvPair, previous map[string][]byte) error {
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

// stageFile writes data to a temporary file next to path; commit renames
// it over path, abort removes it. An existing file's mode is kept.
func stageFile(path string, data []byte) (commit func() error, abort func(), err error) {
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, nil, err
	}
	name := tmp.Name()
	abort = func() { os.Remove(name) }
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		abort()
		return nil, nil, err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		abort()
		return nil, nil, err
	}
	if err := tmp.Close(); err != nil {
		abort()
		return nil, nil, err
	}
	commit = func() error {
		if err := os.Rename(name, path); err != nil {
			abort()
			return err
		}
		return nil
	}
	return commit, abort, nil
}

// extendManifest adds KEY: REF entries to the manifest's env, replacing
// entries of the same name, or writes a new manifest when there is none.
// An existing manifest is edited as a yaml.v3 node tree, so its other
// entries and its comments stay.
func extendManifest(old []byte, exists bool, keys, refs []string) ([]byte, error) {
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
	root := doc.Content[0]
	var envKey, env *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "env" {
			envKey, env = root.Content[i], root.Content[i+1]
		}
	}
	if env == nil {
		env = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		root.Content = append(root.Content, strNode("env"), env)
	}
	if env.Kind == yaml.ScalarNode && env.Tag == "!!null" {
		*env = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: env.HeadComment, LineComment: env.LineComment, FootComment: env.FootComment}
	}
	if env.Kind != yaml.MappingNode {
		return nil, errors.New("env is not a mapping")
	}
	// Keep the indentation of a block-style env; new entries go in block
	// style, even into a `{}`.
	indent := 2
	if env.Style&yaml.FlowStyle == 0 && len(env.Content) > 0 && envKey != nil && env.Content[0].Column > envKey.Column {
		indent = env.Content[0].Column - envKey.Column
	}
	env.Style &^= yaml.FlowStyle
	for i, key := range keys {
		value := strNode(refs[i])
		replaced := false
		for j := 0; j+1 < len(env.Content); j += 2 {
			if env.Content[j].Value == key {
				value.LineComment = env.Content[j+1].LineComment
				env.Content[j+1] = value
				replaced = true
			}
		}
		if !replaced {
			env.Content = append(env.Content, strNode(key), value)
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
	return b.Bytes(), nil
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
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

func initCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "write a starter manifest and keep .env out of git",
		Description: `Writes a starter manifest (a plain value, and commented examples of every
reference scheme, a template and a profile) with a yaml-language-server modeline
pointing at ward's JSON Schema, and adds .env to .gitignore (creating it if needed).

Example:
   ward init
   ward import .env        # then move an existing .env file in`,
		Flags: []cli.Flag{devManifestFlag(), forceFlag("replace an existing manifest")},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return failed(fmt.Errorf("want no arguments, got %d", c.NArg()), "name the manifest with -m FILE")
			}
			path := c.String("manifest")
			if _, err := os.Stat(path); err == nil && !c.Bool("force") {
				return failed(fmt.Errorf("%s already exists; nothing was written", path), "run again with --force to replace it, or add to it with ward import")
			}
			wd, err := os.Getwd()
			if err != nil {
				return failed(fmt.Errorf("find the current directory: %w", err), "")
			}
			app := appName(filepath.Base(wd))
			if app == "" {
				app = "myapp"
			}
			text := starterManifest(app, false)
			if _, err := ParseManifest(path, []byte(text)); err != nil {
				return failed(fmt.Errorf("the starter manifest does not validate: %w", err), "")
			}
			commit, _, err := stageFile(path, []byte(text))
			if err == nil {
				err = commit()
			}
			if err != nil {
				return failed(fmt.Errorf("write %s: %w", path, err), "")
			}
			fmt.Fprintf(stdio.Stdout, "wrote %s\n", path)
			added, err := ignoreDotenv(".gitignore")
			if err != nil {
				return failed(fmt.Errorf("update .gitignore: %w", err), "")
			}
			if added {
				fmt.Fprintln(stdio.Stdout, "added .env to .gitignore")
			}
			fmt.Fprintf(stdio.Stdout, "next: ward import .env (if you have one), ward check, ward run -- YOUR_PROGRAM\n")
			return nil
		},
	}
}

// starterTemplate is the starter manifest. Lines marked "#:" are examples:
// commented out in the file ward init writes, and all valid together
// (starterManifest with uncomment set, which the tests parse).
const starterTemplate = `{modeline}
#
# The secrets {app} needs, as references to where they live: this file holds
# no values, so it is safe to commit. Check it with: ward check
# Run with: ward run -- YOUR_PROGRAM
# Reference: https://github.com/wardsecrets/ward#the-manifest
version: 1
env:
  # A plain value, not a secret:
  APP_ENV: {value: development}
  # A secret in ward's encrypted local store. Set it with
  # ward local set {app}/api_token, or move a .env file in with ward import:
  #: API_TOKEN: local://{app}/api_token
  # HashiCorp Vault, KV v1/v2 or a dynamic secret:
  #: DATABASE_URL: vault://secret/{app}/db#url
  # AWS Secrets Manager, one field of a JSON secret:
  #: STRIPE_KEY: awssm://prod/{app}/stripe#secret_key
  # AWS SSM Parameter Store:
  #: FEATURE_FLAGS: ssm:///{app}/prod/feature_flags
  # A file mounted by Docker or Kubernetes:
  #: TLS_KEY: file:///run/secrets/tls_key
  # A systemd credential (LoadCredential=db-password:...):
  #: DB_PASSWORD: creds://db-password
  # A variable of ward's own environment, such as one CI injects:
  #: DEPLOY_TOKEN: env://CI_DEPLOY_TOKEN
  # A value composed from other variables (it counts as a secret):
  #: DATABASE_DSN:
  #:   template: "postgres://app:{{ .DB_PASSWORD | urlquery }}@localhost:5432/app"
# Profiles (ward run -p ci -- ...) replace or add variables:
#: profiles:
#:   ci:
#:     env:
#:       API_TOKEN: env://API_TOKEN
`

// starterManifest returns the manifest ward init writes for app; with
// uncomment, its examples are live.
func starterManifest(app string, uncomment bool) string {
	text := strings.NewReplacer("{modeline}", SchemaModeline, "{app}", app).Replace(starterTemplate)
	mark := "# "
	if uncomment {
		mark = ""
	}
	return strings.ReplaceAll(text, "#: ", mark)
}

// ignoreDotenv adds a .env line to the .gitignore file at path unless a
// line there already ignores .env; it reports whether it added one.
func ignoreDotenv(path string) (bool, error) {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	for _, line := range strings.Split(string(old), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "!") {
			continue
		}
		pattern := strings.TrimPrefix(line, "**/")
		pattern = strings.TrimPrefix(pattern, "/")
		if ok, _ := filepath.Match(pattern, ".env"); ok {
			return false, nil
		}
	}
	var b bytes.Buffer
	b.Write(old)
	if len(old) > 0 && old[len(old)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteString(".env\n")
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	return true, os.WriteFile(path, b.Bytes(), mode)
}

func completionCommand(stdio IO) *cli.Command {
	shells := []string{"bash", "zsh", "fish"}
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Description: `Example:
   source <(ward completion bash)                                   # in ~/.bashrc
   ward completion zsh > "${fpath[1]}/_ward"                        # then restart zsh
   ward completion fish > ~/.config/fish/completions/ward.fish`,
		BashComplete: func(c *cli.Context) {
			if c.NArg() == 0 {
				fmt.Fprintln(c.App.Writer, strings.Join(shells, "\n"))
			}
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return failed(fmt.Errorf("want one shell, got %d arguments", c.NArg()), "choose one of: "+strings.Join(shells, ", "))
			}
			var script string
			switch c.Args().First() {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return failed(fmt.Errorf("generate the fish completion: %w", err), "")
				}
				script = s
			default:
				return failed(fmt.Errorf("unknown shell %q", c.Args().First()), "choose one of: "+strings.Join(shells, ", "))
			}
			_, err := fmt.Fprint(stdio.Stdout, script)
			return err
		},
	}
}

// bashCompletion asks ward itself what comes next (urfave/cli's
// --generate-bash-completion) and falls back to file names, as after --.
const bashCompletion = `# bash completion for ward. Load it with:
#   source <(ward completion bash)
# or save it as ~/.local/share/bash-completion/completions/ward
_ward_complete() {
    COMPREPLY=()
    local cur=${COMP_WORDS[COMP_CWORD]}
    local args=("${COMP_WORDS[@]:1:COMP_CWORD-1}")
    local word
    for word in "${args[@]}"; do
        # After --, the words are the program's: complete file names.
        [[ $word == -- ]] && return 0
    done
    # A partial flag asks for flag names. Never pass a bare --: urfave/cli
    # would then run the command instead of completing it.
    if [[ $cur == -- ]]; then
        args+=(-)
    elif [[ $cur == -* ]]; then
        args+=("$cur")
    fi
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" "${args[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
}
complete -o bashdefault -o default -F _ward_complete ward
`

// zshCompletion does the same for zsh; 0=zsh makes urfave/cli add each
// command's usage as its description.
const zshCompletion = `#compdef ward
# zsh completion for ward. Load it with:
#   source <(ward completion zsh)
# or save it as _ward in a directory of $fpath.
_ward() {
  local -a opts args
  args=("${(@)words[2,CURRENT-1]}")
  if (( ${args[(I)--]} )); then
    _files
    return
  fi
  # A partial flag asks for flag names. Never pass a bare --: urfave/cli
  # would then run the command instead of completing it.
  if [[ $words[CURRENT] == -- ]]; then
    args+=(-)
  elif [[ $words[CURRENT] == -* ]]; then
    args+=("$words[CURRENT]")
  fi
  opts=("${(@f)$(env 0=zsh "$words[1]" "${args[@]}" --generate-bash-completion 2>/dev/null)}")
  if [[ -n ${opts[1]} ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _ward "$@"
else
  compdef _ward ward
fi
`
