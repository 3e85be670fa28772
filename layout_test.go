package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayout checks the import rules the layout promises (README:
// Layout): imports run one way, the CLI's packages are the CLI's own, and
// ward's own binary links no store SDK, so a manifest without Vault, AWS,
// GCP or Azure references never pays for their initialisers.
func TestLayout(t *testing.T) {
	const mod = "github.com/wardsecrets/ward/"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}:{{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		imports[strings.TrimPrefix(pkg, mod)] = strings.Fields(deps)
	}
	for pkg, deps := range imports {
		for _, d := range deps {
			dep, ours := strings.CutPrefix(d, mod)
			if !ours {
				continue
			}
			switch {
			case (strings.HasPrefix(pkg, "resolve") || strings.HasPrefix(pkg, "signals")) && strings.HasPrefix(dep, "launcher"):
				t.Errorf("%s imports %s: resolve and signals never know the CLI", pkg, dep)
			case strings.HasPrefix(pkg, "launcher/") && dep == "launcher":
				t.Errorf("%s imports the CLI package launcher", pkg)
			case storeOf(pkg) != "" && storeOf(dep) != "" && storeOf(pkg) != storeOf(dep):
				t.Errorf("%s imports %s: a store knows no other store", pkg, dep)
			}
		}
	}

	out, err = exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	sdks := []string{"github.com/hashicorp/vault/", "github.com/aws/", "cloud.google.com/", "google.golang.org/api", "google.golang.org/grpc", "github.com/Azure/", "github.com/AzureAD/"}
	for _, p := range strings.Fields(string(out)) {
		for _, sdk := range sdks {
			if strings.HasPrefix(p, sdk) {
				t.Errorf("ward's own binary links %s: store SDKs belong in the store helpers (ward-vault, ward-aws...)", p)
			}
		}
		if p == "crypto/tls" {
			// Its certificates' packages add some twenty initialisers
			// to every start; only the helpers speak TLS.
			t.Errorf("ward's own binary links crypto/tls: TLS belongs in the store helpers")
		}
	}
}

// storeOf names the store a package belongs to (resolve/vault/store is
// vault's), or "" for a package that is no store's.
func storeOf(pkg string) string {
	rest, ok := strings.CutPrefix(pkg, "resolve/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	switch name {
	case "stores", "remote", "conf", "resolvetest", "certerr":
		return ""
	}
	return name
}
