package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/wardsecrets/ward/launcher"
	"github.com/wardsecrets/ward/resolve/aws"
	awsstore "github.com/wardsecrets/ward/resolve/aws/store"
	"github.com/wardsecrets/ward/resolve/azure"
	azurestore "github.com/wardsecrets/ward/resolve/azure/store"
	"github.com/wardsecrets/ward/resolve/gcp"
	gcpstore "github.com/wardsecrets/ward/resolve/gcp/store"
	"github.com/wardsecrets/ward/resolve/remote"
	"github.com/wardsecrets/ward/resolve/vault"
	vaultstore "github.com/wardsecrets/ward/resolve/vault/store"
	"github.com/wardsecrets/ward/testdata/helper"
)

// TestMain makes the test binary serve as `ward`, the store helpers and
// `helper` too, on $PATH, for the scripts and the process tests.
func TestMain(m *testing.M) {
	testscript.Main(cleanupM{m}, map[string]func(){
		"ward": func() {
			os.Exit(launcher.Main(os.Args, launcher.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
		},
		"helper": func() { os.Exit(helper.Main()) },
		// The store helpers ward starts for the stores whose SDKs it does
		// not link itself; on $PATH, where ward looks for them.
		"ward-vault": func() { os.Exit(remote.Main(vault.Kind, vaultstore.Open)) },
		"ward-aws":   func() { os.Exit(remote.Main(aws.Kind, awsstore.Open)) },
		"ward-azure": func() { os.Exit(remote.Main(azure.Kind, azurestore.Open)) },
		"ward-gcp":   func() { os.Exit(remote.Main(gcp.Kind, gcpstore.Open)) },
	})
}

// cleanupM runs the tests, then removes the programs they built.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	defer removePrograms()
	return c.m.Run()
}

// TestScripts runs the CLI scripts in testdata/script: every command and
// every error path, as a user runs them.
func TestScripts(t *testing.T) {
	// completion.txtar runs the zsh and fish scripts where those shells
	// are installed, scan_pre_commit.txtar the pre-commit framework; CI
	// installs them, and must not skip those lines.
	if os.Getenv("WARD_REQUIRE_INTEGRATION") == "1" {
		for _, program := range []string{"zsh", "fish", "pre-commit"} {
			if _, err := exec.LookPath(program); err != nil {
				t.Fatalf("WARD_REQUIRE_INTEGRATION=1 but %s is not installed (scripts/test.sh installs it)", program)
			}
		}
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup:               setupScript,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"hash":   cmdHash,
			"nofile": cmdNoFile,
			"status": cmdStatus,
			"expand": cmdExpand,
		},
	})
}

// setupScript gives each script a private local store, identity and
// runtime directory on tmpfs, and a unique canary in $CANARY.
func setupScript(env *testscript.Env) error {
	work := env.WorkDir
	env.Setenv("HOME", work)
	env.Setenv("XDG_DATA_HOME", filepath.Join(work, ".data"))
	env.Setenv("XDG_CONFIG_HOME", filepath.Join(work, ".config"))
	rt, err := os.MkdirTemp("/dev/shm", "ward-test-")
	if err != nil {
		return err
	}
	env.Defer(func() { os.RemoveAll(rt) })
	env.Setenv("WARD_RUNTIME_DIR", rt)
	env.Setenv("CANARY", canary("script"))
	env.Setenv("CANARY2", canary("script2"))
	return nil
}

// cmdHash checks that the helper's "NAME HASH" line for a variable matches
// the hash of a value, without ever printing the value:
// hash FILE NAME VALUE.
func cmdHash(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: hash FILE NAME VALUE")
	}
	data := ts.ReadFile(args[0])
	want := args[1] + " " + helper.Hash(args[2])
	found := false
	for _, line := range strings.Split(data, "\n") {
		if line == want {
			found = true
		}
	}
	if found == neg {
		if neg {
			ts.Fatalf("%s: %s has the value (it should not)", args[0], args[1])
		}
		ts.Fatalf("%s: %s does not have the expected value", args[0], args[1])
	}
}

// cmdNoFile asserts that no file under DIR (recursively) contains VALUE:
// nofile DIR VALUE.
func cmdNoFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: nofile DIR VALUE")
	}
	dir := ts.MkAbs(args[0])
	found := scanForValue(dir, []byte(args[1]))
	if len(found) > 0 {
		ts.Fatalf("the canary was found in %d files: %s", len(found), strings.Join(found, ", "))
	}
}

// cmdStatus runs a program like exec and asserts its exit code:
// status CODE PROG [ARGS...].
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status: bad code %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
		// As a shell reports it: 128+N for a death by signal N.
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			got = 128 + int(ws.Signal())
		}
	} else if err != nil {
		ts.Fatalf("status: %v", err)
	}
	if got != want {
		ts.Fatalf("got exit code %d, want %d", got, want)
	}
}

// cmdExpand rewrites files with $VAR expanded from the script's
// environment: expand FILE...
func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: expand FILE...")
	}
	for _, f := range args {
		data := os.Expand(ts.ReadFile(f), ts.Getenv)
		if err := os.WriteFile(ts.MkAbs(f), []byte(data), 0o644); err != nil {
			ts.Fatalf("expand: %v", err)
		}
	}
}
