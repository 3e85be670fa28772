// Command vault is the real HashiCorp Vault CLI and server (v1.16.0), built
// from the github.com/hashicorp/vault module for ward's integration tests.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() { os.Exit(command.Run(os.Args[1:])) }
