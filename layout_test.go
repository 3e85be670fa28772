package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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
	case "stores", "remote", "conf", "resolvetest", "certerr", "bodylimit", "proxyconnect":
		return ""
	}
	return name
}

// TestInstallLinksNoC checks that the builds a user makes as the README,
// the quickstart and the examples say link no C library: where a C
// compiler is installed Go builds net and os/user with cgo by default,
// and a dynamically linked ward pays the dynamic loader on every start
// (README: Installing). The go list runs as on such a machine
// (CGO_ENABLED=1), with the line's own settings on top.
func TestInstallLinksNoC(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, install, _ := strings.Cut(string(readme), "## Installing\n\n```sh\n")
	install, _, _ = strings.Cut(install, "\n")
	var env, tags []string
	words := strings.Fields(install)
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env, words = append(env, words[0]), words[1:]
	}
	for i, w := range words {
		if w == "-tags" && i+1 < len(words) {
			tags = append(tags, "-tags", words[i+1])
		}
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "install" {
		t.Fatalf("README: Installing: the first line of its sh block is not a go install: %q", install)
	}
	args := append(append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, tags...),
		".", "./resolve/vault/ward-vault", "./resolve/aws/ward-aws", "./resolve/gcp/ward-gcp", "./resolve/azure/ward-azure")
	cmd := exec.Command("go", args...)
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=1"), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "runtime/cgo" {
			t.Errorf("README's install line %q links runtime/cgo on a machine with a C compiler: ward and its helpers become dynamically linked", install)
			break
		}
	}

	// Every other go build or go install a user copies says the same.
	for _, file := range []string{"README.md", "scripts/quickstart.sh", "examples/ci/github-actions.yml", "examples/ci/gitlab-ci.yml", "examples/gcp-cloud-run/Dockerfile", "examples/azure-aks/README.md"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if (strings.Contains(line, "go install ") || strings.Contains(line, "go build ")) && !strings.Contains(line, "`") && !strings.Contains(line, "CGO_ENABLED=0 go ") {
				t.Errorf("%s:%d: %q builds ward without CGO_ENABLED=0", file, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// TestOwnInitialisersAreSmall checks that ward's own packages build next
// to nothing before main (GODEBUG=inittrace=1 ward version, which the Go
// runtime prints the same on every run): every start pays what they
// build, a run whose manifest needs none of it too. A package-level
// regexp.MustCompile of two usage errors' patterns cost every `ward run`
// 0.26 M instructions, 13% of its start up to the child's exec. What
// they build is counted in bytes allocated, which does not vary from run
// to run as a time would; the bound is twice the largest today (the
// dotenv package's 2 KiB of tables).
func TestOwnInitialisersAreSmall(t *testing.T) {
	const most = 4096
	seen := 0
	for _, line := range initTrace(t, "version") {
		// init github.com/wardsecrets/ward/launcher @2.6 ms, 0.007 ms clock, 336 bytes, 2 allocs
		f := strings.Fields(line)
		if !strings.HasPrefix(f[1], "github.com/wardsecrets/ward") {
			continue
		}
		seen++
		bytes, err := strconv.Atoi(f[7])
		if err != nil || f[8] != "bytes," {
			t.Fatalf("cannot read the init trace line %q", line)
		}
		if bytes > most {
			t.Errorf("package %s allocates %d bytes before main (at most %d): build it on first use (sync.OnceValue)", f[1], bytes, most)
		}
	}
	if seen < 5 {
		t.Fatalf("the init trace names %d of ward's packages; is GODEBUG=inittrace=1 still honoured?", seen)
	}
}

// TestStopsCaughtBeforeInitialisers: `ward run` catches the stop signals
// before its packages initialise, right after os/signal does, ahead of
// every package of ward's own and the libraries: until then Go's handler
// ended ward (exit 2, a goroutine dump for SIGQUIT; as PID 1, exit 2
// without a word): a SIGQUIT 1 to 3 ms into a run did so in 175 of 200
// runs (133 with it), a SIGTERM to ward as PID 1 in 83 of 160 (27).
func TestStopsCaughtBeforeInitialisers(t *testing.T) {
	const early = "github.com/wardsecrets/ward/internal/earlystop"
	m := filepath.Join(t.TempDir(), "ward.yaml")
	if err := os.WriteFile(m, []byte("version: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, line := range initTrace(t, "run", "-m", m, "--", "true") {
		order = append(order, strings.Fields(line)[1])
	}
	at := slices.Index(order, early)
	if at < 0 {
		t.Fatalf("%s does not initialise in ward run: %v", early, order)
	}
	if order[at-1] != "os/signal" {
		t.Errorf("%s initialises after %s, not right after os/signal: it must import nothing that os/signal does not", early, order[at-1])
	}
	for _, pkg := range order[:at] {
		if strings.Contains(pkg, ".") {
			t.Errorf("%s initialises before the stop signals are caught", pkg)
		}
	}
}

// initTrace builds ward as README "Installing" builds it (the ward on the
// tests' $PATH is the test binary, which links the emulators), runs it
// with args and GODEBUG=inittrace=1, and returns the trace's lines, a
// package each, in the order they initialised.
func initTrace(t *testing.T, args ...string) []string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ward")
	build := exec.Command("go", "build", "-trimpath", "-tags", "urfave_cli_no_docs", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ward %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var lines []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 10 && f[0] == "init" {
			lines = append(lines, line)
		}
	}
	return lines
}
