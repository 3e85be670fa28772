package store_test

import (
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

func TestContract(t *testing.T) {
	srv := emulator(t)
	// Secret ids have no '/': the contract's names become ids.
	id := func(name string) string { return strings.ReplaceAll(name, "/", "_") }
	resolvetest.Run(t, resolvetest.Harness{
		Store: newStore(t, srv, nil),
		Put: func(t *testing.T, name string, v []byte) resolve.Ref {
			srv.AddVersion(secretName(id(name)), v)
			return mustRef(t, "gcpsm://"+project+"/"+id(name))
		},
		Missing: func(t *testing.T) resolve.Ref { return mustRef(t, "gcpsm://"+project+"/contract_missing") },
	})
}
