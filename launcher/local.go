package launcher

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/resolve/local"
	"github.com/wardsecrets/ward/signals"
)

func localCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  local.Scheme,
		Usage: "manage the embedded encrypted store (" + local.Scheme + ":// references)",
		Description: `The local store is one age-encrypted file ($XDG_DATA_HOME/ward/store.age), encrypted
to an identity created on first use ($XDG_CONFIG_HOME/ward/identity.txt, mode 0600).
Values are read from stdin or a no-echo prompt, never from the command line.

Example:
   ward local set myapp/database_url
   printf %s "$TOKEN" | ward local set myapp/api_token
   ward local list`,
		Subcommands: []*cli.Command{
			{
				Name:      "set",
				Usage:     "store a value read from stdin (or a no-echo prompt on a terminal)",
				ArgsUsage: "NAME",
				Description: `Example:
   ward local set myapp/database_url          # prompts, without echo
   printf %s "$VALUE" | ward local set myapp/api_token
The trailing newline of one line of text on stdin is dropped; a value of
several lines (< key.pem) and binary data (a NUL byte, or
control bytes in what is not UTF-8) are stored exactly. An empty value is refused (an unset
variable piped in, a mistake that would start the program with an empty secret)
unless --allow-empty. The previous value is kept: see ward local history.`,
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "allow-empty", Usage: "store an empty value on purpose"}},
				Action: func(c *cli.Context) error { return localSet(c, stdio) },
			},
			{
				Name:      "get",
				Usage:     "print one value to stdout, for scripts",
				ArgsUsage: "NAME",
				Description: `Prints the value's bytes exactly as stored (binary data too), with no newline
added, except when standard output is a terminal, where one ends the line.

Example:
   export PGPASSWORD="$(ward local get myapp/db_password)"
   ward local get myapp/keystore > keystore.p12`,
				Action: func(c *cli.Context) error { return localGet(c, stdio) },
			},
			{
				Name:  "list",
				Usage: "list the names in the store (never values)",
				Description: `Example:
   ward local list`,
				Action: func(c *cli.Context) error { return localList(c, stdio) },
			},
			{
				Name:      "history",
				Usage:     "list the versions kept of one value (never values)",
				ArgsUsage: "NAME",
				Description: `The store keeps the last 10 earlier versions of each value, so a mistaken
set or a rotation can be undone with ward local rollback.

Example:
   ward local history myapp/api_token`,
				Action: func(c *cli.Context) error { return localHistory(c, stdio) },
			},
			{
				Name:      "rollback",
				Usage:     "make an earlier version of a value current again (as a new version)",
				ArgsUsage: "NAME",
				Description: `Example:
   ward local rollback myapp/api_token          # undo the last set (again: the one before)
   ward local rollback --to v3 myapp/api_token  # v3 as ward local history lists it

Without --to, each rollback steps back one set: after two mistaken sets, two
rollbacks give the value before both (a rollback does not undo the one before
it; for that, give --to the version it replaced).`,
				Flags: []cli.Flag{&cli.StringFlag{Name: "to", Usage: "the `VERSION` to restore, as ward local history prints it (v3, or 3)", DefaultText: "one set back"}},
				Action: func(c *cli.Context) error {
					to := 0
					if c.IsSet("to") {
						var err error
						if to, err = rollbackVersion(c.String("to")); err != nil {
							return err
						}
					}
					return withEntry(c, stdio, func(s *local.Store, name string) error { return s.Rollback(name, to) })
				},
			},
			{
				Name:      "rm",
				Usage:     "remove a value and every earlier version of it",
				ArgsUsage: "NAME",
				Description: `What is removed cannot be rolled back: that is the point of removing a leaked
or unused secret, no copy of it stays in the store.

Example:
   ward local rm myapp/old_token`,
				Action: func(c *cli.Context) error {
					return withEntry(c, stdio, func(s *local.Store, name string) error { return s.Remove(name) })
				},
			},
		},
	}
}

// rollbackVersion reads --to: a version as history and list print it
// (v3), or its number.
func rollbackVersion(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimPrefix(v, "v"), "V"))
	if err != nil || n < 1 {
		return 0, failure.New(fmt.Errorf("--to %s: no such version", v), "versions count from 1, as v1, v2...: see them with ward local history NAME")
	}
	return n, nil
}

// hardenReader hardens a command that reads values (ward check
// --resolve, ward scan, ward import) from its start, as ward run and
// the ward local commands are: another process of the user could attach
// to it or read its memory, and a SIGABRT or SIGQUIT left a core holding
// the values in the working directory (scan's: the repository).
func hardenReader() {
	signals.Harden()
}

// openLocal opens the local store at its default place. Every command
// that does is hardened as ward run is: the values pass through its
// memory. A write that has to wait for another writer's lock says so on
// stderr.
func openLocal(stderr io.Writer) (*local.Store, error) {
	signals.Harden()
	s, err := local.Open(os.Getenv)
	if err != nil {
		return nil, failure.New(err, "")
	}
	s.Waiting = func(lock string) {
		fmt.Fprintf(stderr, "ward: waiting for the local store's lock %s: another ward local or ward import is writing the store\n", lock)
	}
	return s, nil
}

// oneName is the NAME argument of a local subcommand.
func oneName(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		// The command's form: `ward local get` alone, or `ward local rm
		// a b`, is not a value on the command line.
		hint := "write: ward local " + c.Command.Name + " " + c.Command.ArgsUsage
		if c.Command.Name == "set" && c.NArg() > 1 {
			hint = `values are read from stdin or a prompt, never from the command line: printf %s "$VALUE" | ward local set NAME`
		}
		return "", failure.New(fmt.Errorf("want exactly one NAME, got %d arguments", c.NArg()), hint)
	}
	name := c.Args().First()
	if before, _, ok := strings.Cut(name, "="); ok && !local.ValidName(name) {
		// `ward local set API_TOKEN=ghp_...`, as a .env line or a shell's
		// assignment is written: a name and a value, which ward printed
		// back whole in the error. The value is not quoted.
		hint := "write the name alone: ward local " + c.Command.Name + " NAME"
		if c.Command.Name == "set" {
			hint = `the value is read from stdin or a prompt, never from the command line: printf %s "$VALUE" | ward local set NAME`
		}
		return "", failure.New(fmt.Errorf("invalid name %q: a name and a value (NAME=...)? a name holds no =", before+"=..."), hint+"; if the value was a secret, it is now in your shell's history: rotate it")
	}
	if !local.ValidName(name) {
		return "", failure.New(fmt.Errorf("invalid name %q", name), local.NameHint)
	}
	return name, nil
}

// errValuesDiffer is why a value typed twice at the prompt was not stored.
var errValuesDiffer = errors.New("the two values differ; nothing was stored")

// withEntry runs fn on the store and the NAME argument.
func withEntry(c *cli.Context, stdio IO, fn func(s *local.Store, name string) error) error {
	name, err := oneName(c)
	if err != nil {
		return err
	}
	s, err := openLocal(stdio.Stderr)
	if err != nil {
		return err
	}
	if err := fn(s, name); err != nil {
		hint := ""
		if errors.Is(err, local.ErrNoSuchVersion) {
			hint = "ward local history " + name + " lists the versions it holds"
		}
		return failure.New(err, hint)
	}
	return nil
}

func localSet(c *cli.Context, stdio IO) error {
	name, err := oneName(c)
	if err != nil {
		return err
	}
	// Before the value is read: at the prompt, a Ctrl-\ (ward ends by
	// SIGQUIT) dumped a core holding what was typed, and another
	// process of the user could read ward's memory.
	signals.Harden()
	value, err := readValue(stdio, name)
	if err != nil {
		hint := ""
		switch {
		case errors.Is(err, errSeveralLines):
			hint = "the prompt takes one line: read the value from a file instead: ward local set " + name + " < FILE"
		case errors.Is(err, errValuesDiffer):
			hint = "type the same value at both prompts, or read it from a file: ward local set " + name + " < FILE"
		case errors.Is(err, errTooLong), errors.Is(err, signals.ErrLineTooLong):
			hint = "the local store takes values of up to 1 MiB: keep a larger one (a keystore, a bundle) in Vault or a cloud's secret manager, and give it to the program as a file (files:)"
		}
		return failure.New(err, hint)
	}
	defer clear(value)
	s, err := openLocal(stdio.Stderr)
	if err != nil {
		return err
	}
	var opts []local.Option
	if c.Bool("allow-empty") {
		opts = append(opts, local.AllowEmpty)
	}
	if err := s.Set(name, value, opts...); err != nil {
		hint := ""
		if errors.Is(err, local.ErrEmptyValue) {
			hint = "nothing was stored; to store an empty value on purpose: ward local set --allow-empty " + name
		}
		return failure.New(err, hint)
	}
	return nil
}

func localHistory(c *cli.Context, stdio IO) error {
	return withEntry(c, stdio, func(s *local.Store, name string) error {
		entries, err := s.History(name)
		if err != nil {
			return err
		}
		for i, e := range entries {
			note := ""
			if i == 0 {
				note = "\tcurrent"
			}
			if e.RestoredFrom != 0 {
				note += fmt.Sprintf("\trestored from v%d", e.RestoredFrom)
			}
			fmt.Fprintf(c.App.Writer, "v%d\t%s%s\n", e.Version, e.Updated.UTC().Format("2006-01-02T15:04:05Z"), note)
		}
		return nil
	})
}

func localGet(c *cli.Context, stdio IO) error {
	return withEntry(c, stdio, func(s *local.Store, name string) error {
		v, err := s.Get(name)
		if err != nil {
			return err
		}
		defer clear(v)
		c.App.Writer.Write(v)
		if term.IsTerminal(int(stdio.Stdout.Fd())) {
			c.App.Writer.Write([]byte("\n"))
		}
		return nil
	})
}

func localList(c *cli.Context, stdio IO) error {
	if c.NArg() > 0 {
		return failure.New(fmt.Errorf("want no arguments, got %d", c.NArg()), "write: ward local list")
	}
	s, err := openLocal(stdio.Stderr)
	if err != nil {
		return err
	}
	entries, err := s.List()
	if err != nil {
		return failure.New(err, "")
	}
	if why := s.Absent(); len(entries) == 0 && why != nil {
		// Nothing listed, and why: a store kept elsewhere (XDG_DATA_HOME
		// set since it was made) looked empty.
		fmt.Fprintf(stdio.Stderr, "ward: %s\n", strings.TrimSuffix(why.Error(), ": "+local.ErrNoStore.Error()))
	}
	w := bufio.NewWriter(c.App.Writer)
	defer w.Flush()
	for _, e := range entries {
		fmt.Fprintf(w, "%s\tv%d\t%s\n", e.Name, e.Version, e.Updated.Format("2006-01-02T15:04:05Z"))
	}
	return nil
}

// readHidden shows the prompt once echo is off, reads a line from
// terminal f without echoing it, and gives the terminal its modes back
// also when a signal ends ward meanwhile (Ctrl-C at the prompt): a shell
// that does not restore them itself (dash, a script) was left with echo
// off. A value pasted as soon as the prompt showed was echoed when the
// prompt came before echo went off.
func readHidden(f *os.File, prompt func(afresh bool)) (v []byte, pasted bool, err error) {
	fd := int(f.Fd())
	old, err := term.GetState(fd)
	if err != nil {
		return nil, false, err
	}
	// Caught before echo goes off: a Ctrl-C typed between the two (the
	// prompt is on the screen already) ended ward by Go's default action
	// and left the terminal without echo.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGTSTP)
	done := make(chan struct{})
	stopped := make(chan struct{}, 1)
	var mu sync.Mutex // the terminal's modes (the read's, or a stop's), and shown
	shown := false
	defer func() {
		signal.Stop(sigs)
		close(done)
	}()
	go func() {
		for {
			select {
			case sig := <-sigs:
				mu.Lock()
				hidden, _ := term.GetState(fd)
				term.Restore(fd, old)
				if sig == syscall.SIGTSTP {
					// Ctrl-Z: the shell gets its terminal as it gave it,
					// and after fg the input is hidden again, the prompt
					// shown again (echo stayed on: what was typed after
					// fg was shown in clear). With no shell to continue
					// ward (its group orphaned: ssh -t, docker exec -it,
					// script -c), the key does nothing, as the kernel has
					// it do for such a group: ward stopped itself for good
					// there, echo on. Either way what was typed before it
					// is dropped, as the key's flush drops it.
					orphaned := signals.GroupOrphaned()
					if !orphaned {
						signals.StopSelf(syscall.SIGTSTP)
					}
					if hidden != nil {
						term.Restore(fd, hidden)
					}
					select {
					case stopped <- struct{}{}:
					default:
					}
					if shown {
						// Shown again (on a line of its own where no
						// shell wrote one): what was typed is gone.
						prompt(orphaned)
					}
					mu.Unlock()
					continue
				}
				// Die by the signal, as without the handler, by the
				// kernel's action: Go's own for Ctrl-\ printed every
				// goroutine's stack over the terminal.
				signals.EndBy(sig.(syscall.Signal), false)
				os.Exit(128 + int(sig.(syscall.Signal)))
			case <-done:
				return
			}
		}
	}()
	// Echo stays off until the rest of a paste has been discarded: its
	// lines may still be arriving when the first has been read.
	mu.Lock()
	restore, err := signals.HideInput(f)
	mu.Unlock()
	if err != nil {
		return nil, false, err
	}
	defer func() {
		mu.Lock()
		restore()
		mu.Unlock()
	}()
	mu.Lock()
	prompt(false)
	shown = true
	mu.Unlock()
	v, err = signals.ReadLine(f, stopped)
	if errors.Is(err, signals.ErrLineTooLong) {
		// The rest of the paste is discarded, as a paste of several
		// lines is: the shell ran it.
		signals.DiscardInput(f)
	}
	if err != nil {
		return nil, false, err
	}
	// The rest of a multi-line paste (a PEM key) must not be taken for
	// the confirmation, nor left for the shell to run.
	if signals.DiscardInput(f) {
		clear(v)
		return nil, true, nil
	}
	return v, false, nil
}

// newline is a line break when afresh.
func newline(afresh bool) string {
	if afresh {
		return "\n"
	}
	return ""
}

// errTooLong is a value over the 1 MiB the local store takes in one.
var errTooLong = errors.New("the value on stdin is over 1 MiB, the most ward local set takes")

// errNoValue is Ctrl-D at the prompt: the input ended.
var errNoValue = errors.New("the input ended (Ctrl-D) at the prompt; nothing was stored")

// errSeveralLines is a value of several lines pasted at the prompt.
var errSeveralLines = errors.New("the value pasted has several lines; nothing was stored, and the lines after the first were discarded")

// readValue reads a value from a no-echo prompt on a terminal, or from
// stdin otherwise (dropping the trailing newline of one line of text).
func readValue(stdio IO, name string) ([]byte, error) {
	fd := int(stdio.Stdin.Fd())
	if term.IsTerminal(fd) {
		v, pasted, err := readHidden(stdio.Stdin, func(afresh bool) { fmt.Fprintf(stdio.Stderr, "%svalue for %s (not echoed): ", newline(afresh), name) })
		fmt.Fprintln(stdio.Stderr)
		if errors.Is(err, io.EOF) {
			return nil, errNoValue
		}
		if err != nil {
			return nil, fmt.Errorf("read the value: %w", err)
		}
		if pasted {
			return nil, errSeveralLines
		}
		again, pasted, err := readHidden(stdio.Stdin, func(afresh bool) { fmt.Fprintf(stdio.Stderr, "%sagain: ", newline(afresh)) })
		fmt.Fprintln(stdio.Stderr)
		if err != nil {
			clear(v)
			if errors.Is(err, io.EOF) {
				return nil, errNoValue
			}
			return nil, fmt.Errorf("read the value: %w", err)
		}
		if pasted {
			clear(v)
			return nil, errSeveralLines
		}
		same := string(v) == string(again)
		clear(again)
		if !same {
			clear(v)
			return nil, errValuesDiffer
		}
		return v, nil
	}
	v, err := io.ReadAll(io.LimitReader(stdio.Stdin, 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("read the value from stdin: %w", err)
	}
	if len(v) > 1<<20 {
		return nil, errTooLong
	}
	if !isText(v) {
		// Binary data (a keystore, a DER key) is stored exactly: a last
		// byte of 0x0a is part of it, not the end of a line.
		return v, nil
	}
	// A value of several lines is a file's text (a PEM or OpenSSH key):
	// its last newline ends a line and is kept, as `vault kv put k=@file`
	// and file:// keep it; OpenSSH refuses a private key without it.
	if bytes.IndexByte(bytes.TrimSuffix(v, []byte("\n")), '\n') >= 0 {
		return v, nil
	}
	switch {
	case len(v) >= 2 && string(v[len(v)-2:]) == "\r\n":
		v = v[:len(v)-2]
	case len(v) >= 1 && v[len(v)-1] == '\n':
		v = v[:len(v)-1]
	}
	return v, nil
}

// isText reports whether v is text: without a NUL byte, and UTF-8 or,
// in a legacy encoding (Latin-1), without control bytes other than
// whitespace, which binary data (a keystore, a DER key) is never without.
func isText(v []byte) bool {
	if bytes.IndexByte(v, 0) >= 0 {
		return false
	}
	return utf8.Valid(v) || !bytes.ContainsFunc(v, func(r rune) bool {
		return r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' || r == 0x7f
	})
}
