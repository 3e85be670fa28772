package stores_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/env"
	"github.com/wardsecrets/ward/resolve/file"
	"github.com/wardsecrets/ward/resolve/local"
	"github.com/wardsecrets/ward/resolve/resolvetest"
	"github.com/wardsecrets/ward/resolve/stores"
)

func mustRef(t *testing.T, s string) resolve.Ref {
	t.Helper()
	r, err := stores.Registry.ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestContractLocal(t *testing.T) {
	dir := t.TempDir()
	s := &local.Store{Path: filepath.Join(dir, "store.age"), IdentityPath: filepath.Join(dir, "id.txt")}
	resolvetest.Run(t, resolvetest.Harness{
		Store: s,
		Put: func(t *testing.T, name string, v []byte) resolve.Ref {
			if err := s.Set(name, v); err != nil {
				t.Fatal(err)
			}
			return mustRef(t, "local://"+name)
		},
		Missing: func(t *testing.T) resolve.Ref { return mustRef(t, "local://contract/missing") },
	})
}

func TestContractFile(t *testing.T) {
	dir := t.TempDir()
	resolvetest.Run(t, resolvetest.Harness{
		Store: file.Store{},
		Put: func(t *testing.T, name string, v []byte) resolve.Ref {
			p := filepath.Join(dir, strings.ReplaceAll(name, "/", "_"))
			if err := os.WriteFile(p, v, 0o600); err != nil {
				t.Fatal(err)
			}
			return mustRef(t, "file://"+p)
		},
		Missing: func(t *testing.T) resolve.Ref { return mustRef(t, "file://"+dir+"/missing") },
	})
}

func TestContractCreds(t *testing.T) {
	dir := t.TempDir()
	resolvetest.Run(t, resolvetest.Harness{
		Store: file.CredsStore{Dir: dir},
		Put: func(t *testing.T, name string, v []byte) resolve.Ref {
			n := strings.ReplaceAll(name, "/", "_")
			if err := os.WriteFile(filepath.Join(dir, n), v, 0o600); err != nil {
				t.Fatal(err)
			}
			return mustRef(t, "creds://"+n)
		},
		Missing: func(t *testing.T) resolve.Ref { return mustRef(t, "creds://missing") },
	})
}

func TestContractEnv(t *testing.T) {
	vars := map[string]string{}
	resolvetest.Run(t, resolvetest.Harness{
		Store: env.Store{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }},
		Put: func(t *testing.T, name string, v []byte) resolve.Ref {
			n := strings.ToUpper(strings.ReplaceAll(name, "/", "_"))
			vars[n] = string(v)
			return mustRef(t, "env://"+n)
		},
		Missing: func(t *testing.T) resolve.Ref { return mustRef(t, "env://WARD_CONTRACT_MISSING") },
	})
}
