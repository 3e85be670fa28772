package store_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/gcp/gcptest"
	"github.com/wardsecrets/ward/resolve/gcp/store"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// executableAccount writes an external_account file whose subject token
// the shell script body gives (credential_source.executable, with
// outputFile when not ""), and points GOOGLE_APPLICATION_CREDENTIALS at
// it with executables allowed. It returns the emulator's subject token
// for the pool and the test's directory.
func executableAccount(t *testing.T, srv *gcptest.Server, body func(subject, dir string) string, timeoutMillis int, outputFile string) (subject, dir string) {
	t.Helper()
	dir = t.TempDir()
	path, err := srv.WriteExternalAccountFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := readJSON(t, path)
	b, err := os.ReadFile(cfg["credential_source"].(map[string]any)["file"].(string))
	if err != nil {
		t.Fatal(err)
	}
	subject = string(b)
	script := filepath.Join(dir, "subject-token.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"+body(subject, dir)), 0o700); err != nil {
		t.Fatal(err)
	}
	executable := map[string]any{"command": script + " --flag", "timeout_millis": timeoutMillis}
	if outputFile != "" {
		executable["output_file"] = outputFile
	}
	cfg["credential_source"] = map[string]any{"executable": executable}
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", path)
	t.Setenv("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")
	return subject, dir
}

// idToken is the executable's answer with subject as its token.
func idToken(subject string, expires int64) string {
	b, _ := json.Marshal(map[string]any{"version": 1, "success": true, "token_type": "urn:ietf:params:oauth:token-type:jwt", "id_token": subject, "expiration_time": expires})
	return string(b)
}

// TestAuthExecutable: an external_account file whose subject token an
// executable gives (pluggable auth), run by ward as the library
// documents: its arguments, the GOOGLE_EXTERNAL_ACCOUNT_* variables, and
// its output file read first, the executable not run again while the
// token there is valid.
func TestAuthExecutable(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("exec")
	srv.AddVersion(secretName("x"), []byte(v))
	_, dir := executableAccount(t, srv, func(subject, dir string) string {
		return `echo run >>` + dir + `/runs
echo "$1 $GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE $GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE $GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE $GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE" >` + dir + `/env
echo '` + idToken(subject, time.Now().Add(time.Hour).Unix()) + `' | tee "$GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE"
`
	}, 5000, filepath.Join(t.TempDir(), "out.json"))
	for range 2 {
		// A new store each time: its set-up gets a token again.
		if sec, err := newStore(t, srv, nil).Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/x")); err != nil || string(sec.Value) != v {
			t.Fatalf("fetch: %v", err)
		}
	}
	runs, _ := os.ReadFile(filepath.Join(dir, "runs"))
	if n := strings.Count(string(runs), "run"); n != 1 {
		t.Errorf("the executable ran %d times, want 1: the second set-up reads its output file", n)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env"))
	fields := strings.Fields(string(env))
	if len(fields) != 5 || fields[0] != "--flag" || fields[1] != gcptest.WorkloadPoolAudience || fields[2] != "urn:ietf:params:oauth:token-type:jwt" || fields[3] != "0" || !strings.HasSuffix(fields[4], "out.json") {
		t.Errorf("the executable got %q, want its argument, the audience, token type, interactive 0 and output file", env)
	}
	if n := srv.Calls(gcptest.MethodSTS); n != 2 {
		t.Errorf("got %d STS exchanges, want 2", n)
	}
}

// TestAuthExecutableOutputBounded: an external_account file's executable
// that prints without end (a loop, a wrapper's log on stdout) fails the
// set-up once it has printed 1 MiB, saying so and naming the program,
// without the hint about the subject token; the auth library read all
// of it into memory until the executable's timeout (30 s by default;
// 5 s here, the least the library takes): 1 GiB in those 5 s.
func TestAuthExecutableOutputBounded(t *testing.T) {
	srv := emulator(t)
	loop := resolvetest.Canary("exec-loop")
	for _, stream := range []string{"stdout", "stderr"} {
		t.Run(stream, func(t *testing.T) {
			redirect := ""
			if stream == "stderr" {
				redirect = " >&2"
			}
			executableAccount(t, srv, func(string, string) string {
				return "while :; do echo '" + loop + strings.Repeat("A", 4095-len(loop)) + "'" + redirect + "; done\n"
			}, 5000, "")
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := newStore(t, srv, nil).Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/x"))
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			checkError(t, "endless executable", err, []string{loop}, "get a Google access token with the credentials file GOOGLE_APPLICATION_CREDENTIALS=",
				"subject-token.sh (credential_source.executable) printed more than 1 MiB")
			if err != nil && strings.Contains(err.Error(), "check the subject token") {
				t.Errorf("the error sends the user to the subject token: %v", err)
			}
			if eo := (*store.ExecutableOutputError)(nil); !errors.As(err, &eo) {
				t.Errorf("the error is no ExecutableOutputError")
			}
			if took > 4*time.Second {
				t.Errorf("failed after %s, want well within the executable's 5 s", took.Round(time.Millisecond))
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("the set-up allocated %d MiB, want a few: the output was buffered", alloc>>20)
			}
			t.Logf("failed in %s, %d MiB allocated", took.Round(time.Millisecond), (after.TotalAlloc-before.TotalAlloc)>>20)
		})
	}
}

// TestAuthExecutableTimeout: an executable that does not finish, and
// leaves a process holding its output, fails at its timeout_millis.
func TestAuthExecutableTimeout(t *testing.T) {
	srv := emulator(t)
	executableAccount(t, srv, func(string, string) string { return "sleep 60\n" }, 5000, "")
	start := time.Now()
	_, err := newStore(t, srv, nil).Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/x"))
	took := time.Since(start)
	checkError(t, "stalled executable", err, nil, "get a Google access token with the credentials file", "did not finish within its timeout (5s")
	if took < 4*time.Second || took > 20*time.Second {
		t.Errorf("failed after %s, want about the executable's 5 s", took.Round(time.Millisecond))
	}
}
