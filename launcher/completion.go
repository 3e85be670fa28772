package launcher

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/launcher/failure"
)

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
				return failure.New(fmt.Errorf("want one shell, got %d arguments", c.NArg()), "choose one of: "+strings.Join(shells, ", "))
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
					return failure.New(fmt.Errorf("generate the fish completion: %w", err), "")
				}
				script = s
			default:
				return failure.New(fmt.Errorf("unknown shell %q", c.Args().First()), "choose one of: "+strings.Join(shells, ", "))
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
