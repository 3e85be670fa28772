// Command ward-azure is ward's helper for azkv:// references: ward starts
// it, only when a manifest names Azure Key Vault, and talks to it over
// pipes (see package resolve/remote), so that ward itself never links the
// Azure SDK.
package main

import (
	"os"

	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/azure/store"
	"github.com/wardsecrets/ward/resolve/remote"
)

func main() { os.Exit(remote.Main(azure.Kind, store.Open)) }
