package store_test

import (
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

func TestContract(t *testing.T) {
	srv := emulator(t)
	// Key Vault names have no '/': the contract's names become hyphenated.
	name := func(n string) string { return strings.ReplaceAll(n, "/", "-") }
	resolvetest.Run(t, resolvetest.Harness{
		Store: newStore(t, azure.Options{}),
		Put: func(t *testing.T, n string, v []byte) resolve.Ref {
			srv.SetSecret(name(n), string(v))
			return ref(t, srv, name(n))
		},
		Missing: func(t *testing.T) resolve.Ref { return ref(t, srv, "contract-missing") },
	})
}
