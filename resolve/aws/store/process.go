package store

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/wardsecrets/ward/resolve/bodylimit"
)

// maxProcessOutput bounds what a profile's credential_process may print
// on its stdout: one JSON document of keys, a few KiB.
const maxProcessOutput = 1 << 20

// processBound bounds the output of the credential_process the SDK's
// chain runs: a profile's own, or a source_profile's under an assumed
// role (role_arn with source_profile). It runs the same command the same
// way (sh -c, ward's environment, its stderr to the helper's) but reads
// at most maxProcessOutput of its stdout. The SDK's provider buffers all
// the process prints, without a bound: a process that printed without
// end (a loop, a wrapper's log on stdout) grew ward-aws by gigabytes
// until the timeout. Its stdin is /dev/null: the SDK gave it the
// helper's, which is ward's protocol socket, not the process's to read.
//
// The SDK's provider takes a command builder, but the load makes it
// with its own; and a source_profile's is given, during the load, to
// the STS client the assume-role provider calls, which the load keeps.
// So the load is given underRole (the one hook it has there, the
// assume-role provider's options), which wraps that client to sign its
// calls with ward's provider instead; after the load, bind finds the
// command in the profile and puts ward's provider in the direct case.
type processBound struct {
	cmd      *processCommand
	provider awssdk.CredentialsProvider
	// underRole is whether the chain's assume-role provider took it.
	underRole bool
}

func newProcessBound() *processBound {
	cmd := &processCommand{}
	return &processBound{cmd: cmd, provider: awssdk.NewCredentialsCache(&boundedProcess{Provider: processcreds.NewProviderCommand(cmd), cmd: cmd})}
}

// assumeRole is the load's option for the assume-role provider of a
// profile's role_arn: when the STS client it calls signs with the SDK's
// credential_process provider, the provider calls it through
// sourceProcessClient.
func (p *processBound) assumeRole(o *stscreds.AssumeRoleOptions) {
	c, ok := o.Client.(*sts.Client)
	if !ok || !awssdk.IsCredentialsProvider(c.Options().Credentials, (*processcreds.Provider)(nil)) {
		return
	}
	p.underRole = true
	o.Client = sourceProcessClient{Client: c, p: p}
}

// bind finds the command in cfg's profile, at the end of its
// source_profile chain, and replaces the chain's credential_process
// provider with ward's when it is the chain's own.
func (p *processBound) bind(cfg *awssdk.Config) {
	for _, src := range cfg.ConfigSources {
		if sc, ok := src.(config.SharedConfig); ok {
			for sc.Source != nil {
				sc = *sc.Source
				p.cmd.source = sc.Profile
			}
			p.cmd.command = sc.CredentialProcess
			break
		}
	}
	if !p.underRole {
		p.cmd.source = ""
	}
	if p.cmd.command != "" && awssdk.IsCredentialsProvider(cfg.Credentials, (*processcreds.Provider)(nil)) {
		cfg.Credentials = p.provider
	}
}

// sourceProcessClient is the assume-role provider's STS client, its
// calls signed with ward's credential_process provider.
type sourceProcessClient struct {
	*sts.Client
	p *processBound
}

func (c sourceProcessClient) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	if c.p.cmd.command != "" {
		optFns = append(optFns, func(o *sts.Options) { o.Credentials = c.p.provider })
	}
	return c.Client.AssumeRole(ctx, in, optFns...)
}

// ProcessOutputError is a credential_process that printed more than
// maxProcessOutput on its stdout.
type ProcessOutputError struct {
	// Source is the source_profile whose credential_process it was,
	// under an assumed role; "" for the profile's own.
	Source string
	Max    int
	Err    error
}

func (e *ProcessOutputError) Error() string {
	who := "the profile's credential_process"
	if e.Source != "" {
		who = fmt.Sprintf("the credential_process of AWS profile %q (the source_profile of the role the profile assumes)", e.Source)
	}
	return fmt.Sprintf("%s printed more than %d MiB on its stdout, where the AWS SDK reads one JSON document of keys: ward stopped reading it; check the command (a loop, a log written to stdout): %v", who, e.Max>>20, e.Err)
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
		return creds, &ProcessOutputError{Source: p.cmd.source, Max: maxProcessOutput, Err: err}
	}
	return creds, err
}

// processCommand makes the process as the SDK's DefaultNewCommandBuilder
// does, with its stdout bounded and no stdin.
type processCommand struct {
	command string
	// source is the source_profile the command is of, under an
	// assumed role.
	source string

	mu   sync.Mutex
	last *bodylimit.Writer
}

func (c *processCommand) NewCommand(ctx context.Context) (*exec.Cmd, error) {
	args := []string{"sh", "-c", c.command}
	if runtime.GOOS == "windows" {
		args = []string{"cmd.exe", "/C", c.command}
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = os.Environ()
	cmd.Stderr = os.Stderr
	w := &bodylimit.Writer{Left: maxProcessOutput}
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
	return c.last != nil && c.last.Over
}
