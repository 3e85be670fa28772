package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
)

// maxProcessOutput bounds what a profile's credential_process may print
// on its stdout: one JSON document of keys, a few KiB.
const maxProcessOutput = 1 << 20

// boundProcess replaces the SDK's credential_process provider, when the
// chain chose the profile's, with one that runs the same command the
// same way (sh -c, ward's environment, its stderr to the helper's) but
// reads at most maxProcessOutput of its stdout. The SDK's buffers all
// the process prints, without a bound: a process that printed without
// end (a loop, a wrapper's log on stdout) grew ward-aws by gigabytes
// until the timeout. Its stdin is /dev/null: the SDK gave it the
// helper's, which is ward's protocol socket, not the process's to read.
//
// A credential_process of a source_profile, under an assumed role, is
// still the SDK's.
func boundProcess(cfg *awssdk.Config) {
	if !awssdk.IsCredentialsProvider(cfg.Credentials, (*processcreds.Provider)(nil)) {
		return
	}
	command := ""
	for _, src := range cfg.ConfigSources {
		if sc, ok := src.(config.SharedConfig); ok {
			command = sc.CredentialProcess
			break
		}
	}
	if command == "" {
		return
	}
	cmd := &processCommand{command: command}
	cfg.Credentials = awssdk.NewCredentialsCache(&boundedProcess{Provider: processcreds.NewProviderCommand(cmd), cmd: cmd})
}

// ProcessOutputError is a credential_process that printed more than
// maxProcessOutput on its stdout.
type ProcessOutputError struct {
	Max int
	Err error
}

func (e *ProcessOutputError) Error() string {
	return fmt.Sprintf("the profile's credential_process printed more than %d MiB on its stdout, where the AWS SDK reads one JSON document of keys: ward stopped reading it; check the command (a loop, a log written to stdout): %v", e.Max>>20, e.Err)
}

func (e *ProcessOutputError) Unwrap() error { return e.Err }

// boundedProcess is the SDK's process provider over processCommand,
// which says when the process printed too much.
type boundedProcess struct {
	*processcreds.Provider
	cmd *processCommand
}

func (p *boundedProcess) Retrieve(ctx context.Context) (awssdk.Credentials, error) {
	creds, err := p.Provider.Retrieve(ctx)
	if err != nil && p.cmd.overflowed() {
		return creds, &ProcessOutputError{Max: maxProcessOutput, Err: err}
	}
	return creds, err
}

// processCommand makes the process as the SDK's DefaultNewCommandBuilder
// does, with its stdout bounded and no stdin.
type processCommand struct {
	command string

	mu   sync.Mutex
	last *boundedWriter
}

func (c *processCommand) NewCommand(ctx context.Context) (*exec.Cmd, error) {
	args := []string{"sh", "-c", c.command}
	if runtime.GOOS == "windows" {
		args = []string{"cmd.exe", "/C", c.command}
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = os.Environ()
	cmd.Stderr = os.Stderr
	w := &boundedWriter{left: maxProcessOutput}
	// The SDK writes what the process prints here first, then to its
	// buffer: past the bound, neither, and the pipe closes.
	cmd.Stdout = w
	c.mu.Lock()
	c.last = w
	c.mu.Unlock()
	return cmd, nil
}

// overflowed reports whether the last process printed past the bound.
func (c *processCommand) overflowed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last != nil && c.last.over
}

// boundedWriter takes up to left bytes, then fails.
type boundedWriter struct {
	left int
	over bool
}

var errProcessOutput = errors.New("credential_process output past its bound")

func (w *boundedWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		w.over = true
		return 0, errProcessOutput
	}
	w.left -= len(p)
	return len(p), nil
}
