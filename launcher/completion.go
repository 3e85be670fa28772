package launcher

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/resolve/local"
	"github.com/wardsecrets/ward/signals"
)

func completionCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Description: `The scripts ask ward what may come next: commands, flags, the manifest's
profiles after -p, files after -m, levels and formats after --log-level and
--log-format, the local store's names after ward local get, set, rm, history and
rollback, and programs, then files, after ward run (or --).

Example:
   source <(ward completion bash)                                   # in ~/.bashrc
   ward completion zsh > "${fpath[1]}/_ward"                        # then restart zsh
   ward completion fish > ~/.config/fish/completions/ward.fish`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return failure.New(fmt.Errorf("want one shell, got %d arguments", c.NArg()), "choose one of: "+strings.Join(completionShells, ", "))
			}
			shell := c.Args().First()
			script, ok := completionScripts[shell]
			if !ok {
				return failure.New(fmt.Errorf("unknown shell %q", shell), "choose one of: "+strings.Join(completionShells, ", "))
			}
			quote := shellQuote
			if shell == "fish" {
				quote = fishQuote
			}
			fmt.Fprint(c.App.Writer, strings.ReplaceAll(script, "@WARD@", quote(selfPath())))
			return nil
		},
	}
}

var completionShells = []string{"bash", "zsh", "fish"}

// selfPath is the ward that prints a completion script, as its caller
// named it, made absolute: the script asks it when the command line's
// first word is not a program the shell can run as it stands
// ($GOBIN/ward), and when ward is not on $PATH. "ward" when it cannot
// be found.
func selfPath() string {
	p, err := exec.LookPath(os.Args[0])
	if err != nil {
		return "ward"
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return p
}

// shellQuote quotes s for bash and zsh, fishQuote for fish.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

var completionScripts = map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}

// completeCommand is what the completion scripts call: `ward __complete
// WORD... CURRENT` (the words after ward, the last one being completed)
// prints what may come next, one per line, each maybe followed by a tab
// and a description; or a single directive, ":files" (the shell completes
// file names) or ":programs" (program names). It never runs anything.
func completeCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:            "__complete",
		Hidden:          true,
		HideHelp:        true,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			for _, line := range completions(c.App, c.Args().Slice()) {
				fmt.Fprintln(stdio.Stdout, line)
			}
			return nil
		},
	}
}

// Directives of ward __complete.
const (
	completeFiles    = ":files"
	completePrograms = ":programs"
)

// completions is what may follow words, the last of which is the word
// being completed.
func completions(app *cli.App, words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, before := words[len(words)-1], words[:len(words)-1]
	l := readCommandLine(app, before)
	argv := l.cmd != nil && takesArgv(l.cmd) && l.positional > 0
	switch {
	case l.valueOf != nil:
		return flagValues(l.valueOf, before, cur)
	case strings.HasPrefix(cur, "-") && strings.Contains(cur, "=") && !l.dashdash && !argv:
		return inlineValues(l.flags, before, cur)
	case strings.HasPrefix(cur, "-") && !l.dashdash && !argv:
		return flagNames(l.flags, before, cur)
	case l.positional == 0 && len(l.subs) > 0:
		var out []string
		for _, c := range l.subs {
			if !c.Hidden && strings.HasPrefix(c.Name, cur) && !(l.helping && c.Name == "help") {
				out = append(out, c.Name+"\t"+c.Usage)
			}
		}
		return out
	case l.cmd == nil, l.helping:
		return nil
	}
	return positionals(strings.Join(l.path, " "), l.positional, cur)
}

// commandLine is what the words before the one being completed say.
type commandLine struct {
	cmd        *cli.Command // nil: ward itself
	path       []string     // the command's full name: local get
	subs       []*cli.Command
	flags      []cli.Flag
	positional int  // positional arguments so far
	dashdash   bool // a -- was seen
	helping    bool // ward help COMMAND...: command names only
	valueOf    cli.Flag
}

// readCommandLine reads the words as ward would: commands, then flags
// (and their values) and positional arguments. valueOf is set when the
// last word is a flag that takes a value.
func readCommandLine(app *cli.App, words []string) commandLine {
	l := commandLine{subs: app.Commands, flags: app.Flags}
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case l.dashdash || (l.cmd != nil && takesArgv(l.cmd) && l.positional > 0):
			l.positional++
		case w == "--":
			l.dashdash = true
		case len(w) > 1 && w[0] == '-':
			if !takesValue(l.flags, w) {
				continue
			}
			// bash splits --flag=value at '=' (COMP_WORDBREAKS): the
			// "=" stands between the flag and its value.
			if i+1 < len(words) && words[i+1] == "=" {
				i++
			}
			if i == len(words)-1 {
				l.valueOf = lookupFlag(l.flags, strings.TrimLeft(w, "-"))
			}
			i++
		case l.positional == 0 && len(l.subs) > 0:
			sub := findCommand(l.subs, w)
			switch {
			case sub == nil:
				l.positional++
			case l.helping:
				l.subs = sub.Subcommands
			case sub.Name == "help":
				l.cmd, l.subs, l.flags, l.helping = sub, app.Commands, sub.Flags, true
			default:
				l.cmd, l.subs, l.flags = sub, sub.Subcommands, sub.Flags
				l.path = append(l.path, sub.Name)
			}
		default:
			l.positional++
		}
	}
	return l
}

// positionals completes the positional argument number n of the command
// (its full name: local get).
func positionals(cmd string, n int, cur string) []string {
	switch cmd {
	case "run":
		if n == 0 {
			return []string{completePrograms}
		}
		return []string{completeFiles}
	case "scan", "import":
		return []string{completeFiles}
	case "completion":
		if n == 0 {
			return withPrefix(completionShells, cur)
		}
	case "local get", "local set", "local rm", "local history", "local rollback":
		if n == 0 {
			return withPrefix(localNames(), cur)
		}
	}
	return nil
}

// flagNames are the command's flags that start with cur, less those
// already given (a slice flag may repeat).
func flagNames(flags []cli.Flag, before []string, cur string) []string {
	var out []string
	for _, f := range flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		if given(f, before) && !isSlice(f) {
			continue
		}
		usage := ""
		if d, ok := f.(cli.DocGenerationFlag); ok {
			// Without the backquotes that mark the value's placeholder
			// for the help page (the manifest `FILE`), as it shows them.
			usage = strings.Replace(d.GetUsage(), "`", "", 2)
		}
		for _, n := range f.Names() {
			name := "--" + n
			if len(n) == 1 {
				name = "-" + n
			}
			if strings.HasPrefix(name, cur) {
				out = append(out, name+"\t"+usage)
			}
		}
	}
	return out
}

// inlineValues completes --flag=VALUE as one word, as zsh and fish pass
// it: each candidate is the whole word. Directives (:files) are left
// out, since the shell would complete the whole word as a file name.
func inlineValues(flags []cli.Flag, before []string, cur string) []string {
	name, value, _ := strings.Cut(cur, "=")
	if !takesValue(flags, name) {
		return nil
	}
	var out []string
	for _, v := range flagValues(lookupFlag(flags, strings.TrimLeft(name, "-")), before, value) {
		if !strings.HasPrefix(v, ":") {
			out = append(out, name+"="+v)
		}
	}
	return out
}

// flagValues completes the value of flag f.
func flagValues(f cli.Flag, before []string, cur string) []string {
	switch f.Names()[0] {
	case "profile":
		return withPrefix(profileNames(before), cur)
	case "log-level":
		return withPrefix([]string{"debug", "info", "warn", "error"}, cur)
	case "log-format":
		return withPrefix([]string{"text", "json", "auto"}, cur)
	}
	if s, ok := stringFlagOf(f); ok && s.TakesFile {
		return []string{completeFiles}
	}
	return nil
}

// profileNames are the profiles of the manifest the command would read:
// the one -m names in before, else $WARD_MANIFEST, else the nearest
// ward.yaml.
func profileNames(before []string) []string {
	file := os.Getenv("WARD_MANIFEST")
	for i, w := range before {
		name, value, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if !strings.HasPrefix(w, "-") || (name != "m" && name != "manifest") {
			continue
		}
		switch {
		case hasValue:
			file = value
		case i+2 < len(before) && before[i+1] == "=": // bash's split
			file = before[i+2]
		case i+1 < len(before):
			file = before[i+1]
		}
	}
	// The word as typed: ~/proj/ward.yaml, $HOME/proj/ward.yaml (the
	// shell expands it when it runs the line). Variables only: nothing
	// on the line is run.
	if rest, ok := strings.CutPrefix(file, "~/"); ok {
		file = filepath.Join(os.Getenv("HOME"), rest)
	}
	file = os.ExpandEnv(file)
	if file == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil
		}
		if file, err = findManifest(wd, defaultManifest); err != nil {
			return nil
		}
	}
	// A completion never waits: a manifest named on the line that is a
	// pipe or a device (-m /dev/stdin, a FIFO) would read the terminal
	// or wait for a writer, and the shell with it.
	if st, err := os.Stat(file); err != nil || !st.Mode().IsRegular() {
		return nil
	}
	m, err := manifest.Load(file)
	if err != nil {
		return nil
	}
	var names []string
	for name := range m.Profiles {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// localNames are the local store's names (never values). Reading them
// decrypts the store, so the process is hardened as ward local is.
func localNames() []string {
	signals.Harden()
	s, err := local.Open(os.Getenv)
	if err != nil {
		return nil
	}
	entries, err := s.List()
	if err != nil {
		return nil
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name
	}
	return names
}

// given reports whether before holds flag f.
func given(f cli.Flag, before []string) bool {
	for _, w := range before {
		if w == "--" {
			return false
		}
		if len(w) < 2 || w[0] != '-' {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}

func isSlice(f cli.Flag) bool {
	s, ok := f.(cli.DocGenerationSliceFlag)
	return ok && s.IsSliceFlag()
}

func withPrefix(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}

// bashCompletion asks ward itself what comes next (ward __complete).
const bashCompletion = `# bash completion for ward. Load it with:
#   source <(ward completion bash)
# or save it as ~/.local/share/bash-completion/completions/ward
_ward_complete() {
    COMPREPLY=()
    local cur=${COMP_WORDS[COMP_CWORD]}
    # --flag=<TAB>: bash made "=" a word of its own; the value is empty.
    [[ $cur == = ]] && cur=
    # ward as the command line names it, a leading ~ expanded as the shell
    # will (~/go/bin/ward); else ($GOBIN/ward, not on $PATH) the ward that
    # printed this script.
    local ward=${COMP_WORDS[0]}
    [[ $ward == "~/"* ]] && ward=$HOME/${ward#"~/"}
    type -P -- "$ward" >/dev/null || ward=@WARD@
    # Line by line, never through $(...) unquoted: bash would expand a
    # word of a cloned repository's manifest (a profile "/*/*/*/*/*")
    # as a glob over the whole filesystem.
    local -a out
    local line
    while IFS= read -r line; do
        out+=("$line")
    done < <("$ward" __complete "${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null)
    case ${out[0]-} in
    :files)
        compopt -o filenames 2>/dev/null
        while IFS= read -r line; do
            COMPREPLY+=("$line")
        done < <(compgen -f -- "$cur")
        ;;
    :programs)
        while IFS= read -r line; do
            COMPREPLY+=("$line")
        done < <(compgen -c -- "$cur")
        ;;
    *)
        # Quoted as the shell reads them back: bash inserts a reply as
        # it is, and a profile may be any text ("$(...)", "a;b", "a b").
        for line in "${out[@]}"; do
            printf -v line %q "${line%%$'\t'*}"
            COMPREPLY+=("$line")
        done
        ;;
    esac
}
complete -o bashdefault -o default -F _ward_complete ward
`

// zshCompletion does the same for zsh, with the descriptions.
const zshCompletion = `#compdef ward
# zsh completion for ward. Load it with:
#   source <(ward completion zsh)
# or save it as _ward in a directory of $fpath.
_ward() {
  local -a out cands
  local line ward=$words[1]
  # ward as the command line names it, a leading ~ expanded as the shell
  # will (~/go/bin/ward); else ($GOBIN/ward, not on $PATH) the ward that
  # printed this script.
  [[ $ward == '~/'* ]] && ward=$HOME/${ward#'~/'}
  [[ -x ${commands[$ward]:-$ward} ]] || ward=@WARD@
  out=("${(@f)$("$ward" __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  case $out[1] in
  :files) _files ;;
  :programs) _command_names -e ;;
  *)
    for line in "${out[@]}"; do
      [[ -n $line ]] || continue
      if [[ $line == *$'\t'* ]]; then
        cands+=("${${line%%$'\t'*}//:/\\:}:${line#*$'\t'}")
      else
        cands+=("${line//:/\\:}")
      fi
    done
    (( ${#cands} )) && _describe 'ward' cands
    ;;
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _ward "$@"
else
  compdef _ward ward
fi
`

// fishCompletion does the same for fish, with the descriptions.
const fishCompletion = `# fish completion for ward. Save it with:
#   ward completion fish > ~/.config/fish/completions/ward.fish
function __ward_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    # ward as the command line names it, a leading ~ expanded as the shell
    # will (~/go/bin/ward); else ($GOBIN/ward, not on $PATH) the ward that
    # printed this script.
    set -l ward (string replace -r '^~/' "$HOME/" -- $words[1])
    command -q -- $ward; or set ward @WARD@
    set -l out (command $ward __complete $words[2..-1] $cur 2>/dev/null)
    switch "$out[1]"
        case :files
            __fish_complete_path $cur
        case :programs
            __fish_complete_command $cur
        case '*'
            printf '%s\n' $out
    end
end
complete -c ward -f -a '(__ward_complete)'
`
