// Command ward runs a program with its secrets: it resolves the references
// in a manifest, starts the program with a scoped environment, forwards
// signals, reaps zombies and exits with the program's status.
package main

import (
	"os"

	"github.com/wardsecrets/ward/launcher"
)

func main() {
	os.Exit(launcher.Main(os.Args, launcher.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}
