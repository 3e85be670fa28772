// Command ward-gcp is ward's helper for gcpsm:// references: ward starts
// it, only when a manifest names Google Cloud Secret Manager, and talks to
// it over pipes (see package resolve/remote), so that ward itself never
// links Google's libraries.
package main

import (
	"os"

	"github.com/wardsecrets/ward/resolve/gcp"
	"github.com/wardsecrets/ward/resolve/gcp/store"
	"github.com/wardsecrets/ward/resolve/remote"
)

func main() { os.Exit(remote.Main(gcp.Kind, store.Open)) }
