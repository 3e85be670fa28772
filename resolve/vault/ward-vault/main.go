// Command ward-vault is ward's helper for vault:// references: ward starts
// it, only when a manifest names Vault, and talks to it over pipes (see
// package resolve/remote), so that ward itself never links Vault's API
// client.
package main

import (
	"os"

	"github.com/wardsecrets/ward/resolve/remote"
	"github.com/wardsecrets/ward/resolve/vault"
	"github.com/wardsecrets/ward/resolve/vault/store"
)

func main() { os.Exit(remote.Main(vault.Kind, store.Open)) }
