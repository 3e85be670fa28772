package main

// Short-lived cloud credentials without restarts: ward serves the child's
// AWS SDK its credentials on a loopback endpoint, refreshed from Vault's
// AWS secrets engine or from STS AssumeRole, and the child never
// restarts. The chain is real: Vault (or ward's AWS helper) asks the AWS
// emulator's STS for credentials that expire in 15 seconds, ward serves
// them, the child's SDK (Go, boto3, JavaScript) signs with them, and the
// emulator verifies every signature.

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/launcher/identity"
	"github.com/wardsecrets/ward/resolve/aws/awstest"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/testdata/helper"
)

const (
	// identityTTL is how long the credentials the children get live:
	// shorter than AWS's 900-second minimum, which the emulator lowers.
	identityTTL = 15 * time.Second
	// childDuration and childInterval: each child calls STS this often,
	// this long.
	childDuration = 60 * time.Second
	childInterval = 200 * time.Millisecond
	// minDistinctKeys is the fewest access keys a child must have signed
	// with: four or more rotations in a minute.
	minDistinctKeys = 4
)

func identityRoleARN(name string) string {
	return "arn:aws:iam::" + awstest.AccountID + ":role/ward-identity-" + name
}

// identityEmulator is an AWS emulator whose STS issues sessions as short
// as a second.
func identityEmulator(t *testing.T) *awstest.Server {
	t.Helper()
	emu := awstest.New()
	t.Cleanup(emu.Close)
	emu.SetMinSessionDuration(time.Second)
	return emu
}

// stsIdentityWard is an emulator with the role named name, a ward
// environment that reaches it, the role's ARN and a manifest serving the
// role as identity.aws (awssts://ARN?query), followed by rest.
func stsIdentityWard(t *testing.T, name, query, rest string) (emu *awstest.Server, w *wardEnv, role, manifest string) {
	t.Helper()
	emu = identityEmulator(t)
	role = identityRoleARN(name)
	emu.AddRole(awstest.Role{ARN: role})
	w = newWardEnv(t)
	w.env = append(w.env, emu.Env()...)
	return emu, w, role, w.manifest("version: 1\nidentity:\n  aws:\n    from: awssts://" + role + query + "\n" + rest)
}

// hostileAWSEnv are variables that would make the child's SDK take other
// credentials than ward's endpoint if ward let them through: another
// container endpoint, web identity, a credentials file whose [default]
// profile holds the emulator's long-term key, and (when profiles is set)
// a profile that does not exist. ward's own AWS helper reads ward's
// environment, so an awssts:// run leaves AWS_PROFILE out.
func hostileAWSEnv(t *testing.T, profiles bool) []string {
	t.Helper()
	creds := filepath.Join(t.TempDir(), "credentials")
	body := "[default]\naws_access_key_id = " + awstest.AccessKeyID + "\naws_secret_access_key = " + awstest.SecretAccessKey + "\n"
	if err := os.WriteFile(creds, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"AWS_SHARED_CREDENTIALS_FILE=" + creds,
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/not-ward",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN=not-the-token",
		"AWS_WEB_IDENTITY_TOKEN_FILE=/nonexistent/ward-test-token",
		"AWS_ROLE_ARN=" + identityRoleARN("hostile"),
	}
	if profiles {
		env = append(env, "AWS_PROFILE=ward-test-no-such-profile")
	}
	return env
}

// vaultAWSEngine mounts Vault's AWS secrets engine, pointed at the
// emulator, with an assumed_role role for roleARN whose credentials live
// ttl, and returns the mount, the role and a token whose policy is the
// README's: read the role's credentials, revoke leases.
func vaultAWSEngine(t *testing.T, emu *awstest.Server, roleARN string, ttl time.Duration) (mount, role, token string) {
	t.Helper()
	srv := vaulttest.Require(t)
	mount, role = vaulttest.Uniq("aws"), "deploy"
	if err := srv.Root.Sys().Mount(mount, &vaultapi.MountInput{Type: "aws"}); err != nil {
		t.Fatalf("mount the aws secrets engine: %v", err)
	}
	t.Cleanup(func() { srv.Root.Sys().Unmount(mount) })
	srv.Write(t, mount+"/config/root", map[string]any{
		"access_key": awstest.AccessKeyID, "secret_key": awstest.SecretAccessKey, "region": awstest.Region,
		"sts_endpoint": emu.URL(), "iam_endpoint": emu.URL(),
	})
	srv.Write(t, mount+"/roles/"+role, map[string]any{
		"credential_type": "assumed_role", "role_arns": roleARN,
		"default_sts_ttl": ttl.String(), "max_sts_ttl": ttl.String(),
	})
	emu.AddRole(awstest.Role{ARN: roleARN})
	policy := srv.Policy(t, fmt.Sprintf(`path "%s/creds/%s" { capabilities = ["read"] }
path "sys/leases/revoke" { capabilities = ["update"] }`, mount, role))
	token = srv.NewToken(t, &vaultapi.TokenCreateRequest{Policies: []string{policy}, TTL: "15m"})
	return mount, role, token
}

// vaultLeases counts the leases Vault holds under prefix.
func vaultLeases(t *testing.T, prefix string) int {
	t.Helper()
	sec, err := vaulttest.Require(t).Root.Logical().List("sys/leases/lookup/" + prefix)
	if err != nil {
		t.Fatalf("list leases under %s: %v", prefix, err)
	}
	if sec == nil || sec.Data["keys"] == nil {
		return 0
	}
	keys, _ := sec.Data["keys"].([]any)
	return len(keys)
}

// awsChild is one of the SDK children in testdata/awschild.
type awsChild struct {
	name string
	// command returns the program and its arguments and the variables it
	// needs, or why it cannot run here (its SDK is not installed).
	command func(t *testing.T) (argv, env []string, missing string)
}

var awsChildren = []awsChild{
	{name: "go", command: goChild},
	{name: "python", command: pythonChild},
	{name: "js", command: jsChild},
}

// awsChildProgram is testdata/awschild, the aws-sdk-go-v2 child.
var awsChildProgram = &testProgram{pkg: "./testdata/awschild"}

// goChild is the aws-sdk-go-v2 child's command.
func goChild(t *testing.T) ([]string, []string, string) {
	t.Helper()
	return []string{awsChildProgram.build(t), childDuration.String(), childInterval.String()}, nil, ""
}

// pythonChild runs child.py with Debian's python3 and python3-boto3.
func pythonChild(t *testing.T) ([]string, []string, string) {
	t.Helper()
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import boto3").CombinedOutput(); err != nil {
		return nil, nil, fmt.Sprintf("no boto3 for %s (%v: %s): apt-get install python3-boto3, as scripts/test.sh does", python, err, strings.TrimSpace(lastLine(string(out))))
	}
	script, err := filepath.Abs("testdata/awschild/child.py")
	if err != nil {
		t.Fatal(err)
	}
	return []string{python, script, fmt.Sprint(childDuration.Seconds()), fmt.Sprint(childInterval.Seconds())}, nil, ""
}

// jsChild runs child.cjs with node and @aws-sdk/client-sts, installed
// once under $HOME/.cache/ward/npm (see npmPackage).
func jsChild(t *testing.T) ([]string, []string, string) {
	argv, env, missing := awsChildNPM.nodeChild(t, "@aws-sdk/client-sts")
	return append(argv, fmt.Sprint(childDuration.Seconds()), fmt.Sprint(childInterval.Seconds())), env, missing
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// npmPackage is the node_modules directory a test child's package.json
// asks for, installed once per content of the file under
// $HOME/.cache/ward/npm/CHILD-HASH (scripts/test.sh installs it there
// first, the same way).
type npmPackage struct {
	dir     string // testdata/awschild
	once    sync.Once
	modules string
	err     error
}

var (
	awsChildNPM   = &npmPackage{dir: "testdata/awschild"}
	cloudChildNPM = &npmPackage{dir: "testdata/cloudchild"}
)

// nodeModules returns the node_modules directory, installing the
// package.json's dependencies with npm when they are not there yet.
// nodeChild is node running the package's child.cjs with its libraries
// (named by libs for the reason it cannot run), or why it cannot run.
func (p *npmPackage) nodeChild(t *testing.T, libs string) (argv, env []string, missing string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, nil, "no node on $PATH: install Node.js 18 or later and npm"
	}
	modules, err := p.nodeModules()
	if err != nil {
		return nil, nil, "no " + libs + ": " + err.Error() + " (scripts/test.sh installs them)"
	}
	script, err := filepath.Abs(filepath.Join(p.dir, "child.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	return []string{node, script}, []string{"NODE_PATH=" + modules}, ""
}

func (p *npmPackage) nodeModules() (string, error) {
	p.once.Do(func() {
		pkg, err := os.ReadFile(filepath.Join(p.dir, "package.json"))
		if err != nil {
			p.err = err
			return
		}
		home, err := os.UserHomeDir()
		if err != nil {
			p.err = err
			return
		}
		sum := sha256.Sum256(pkg)
		dir := filepath.Join(home, ".cache", "ward", "npm", filepath.Base(p.dir)+"-"+hex.EncodeToString(sum[:])[:12])
		p.modules = filepath.Join(dir, "node_modules")
		stamp := filepath.Join(dir, ".installed")
		if _, err := os.Stat(stamp); err == nil {
			return
		}
		npm, err := exec.LookPath("npm")
		if err != nil {
			p.err = fmt.Errorf("not in %s, and no npm to install it", dir)
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			p.err = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "package.json"), pkg, 0o644); err != nil {
			p.err = err
			return
		}
		out, err := exec.Command(npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", dir).CombinedOutput()
		if err != nil {
			p.err = fmt.Errorf("npm install in %s: %v: %s", dir, err, lastLine(string(out)))
			return
		}
		p.err = os.WriteFile(stamp, nil, 0o644)
	})
	return p.modules, p.err
}

// childRun is `ward run` over an SDK child, under way.
type childRun struct {
	w      *wardEnv
	cmd    *exec.Cmd
	stdout io.Reader
	stderr io.Reader
}

// startWithChild starts `ward run` over argv with the manifest and the
// extra environment.
func startWithChild(t *testing.T, w *wardEnv, manifest string, env, argv []string) *childRun {
	t.Helper()
	cmd := w.command(append([]string{"run", "--log-level", "debug", "-m", manifest, "--"}, argv...)...)
	cmd.Env = append(cmd.Env, env...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &childRun{w: w, cmd: cmd, stdout: stdout, stderr: stderr}
}

// childReport is what one ward run over an SDK child showed.
type childReport struct {
	starts, ok, fail int
	// doneCalls and doneFailures are the child's own count.
	doneCalls, doneFailures int
	done                    bool
	firstFailure            string
	startLine               string
	// token is the AWS endpoint's, read from ward's private directory
	// while the child ran.
	token string
	// identityHeader is the child's IDENTITY_HEADER, read from its /proc
	// environ (Azure).
	identityHeader string
	stderr         []string
	code           int
	err            error
}

// collect reads the child's lines to its done line and ward's log to its
// end, and waits for ward; onStart, if not nil, sees each start line's
// rest (the child's pid first). It runs beside other runs, so it reports
// problems in err rather than failing a test; a run that outlasts
// deadline is killed.
func (r *childRun) collect(deadline time.Duration, onStart func(rep *childReport, rest string)) childReport {
	var rep childReport
	timer := time.AfterFunc(deadline, func() { r.cmd.Process.Kill() })
	defer timer.Stop()
	errDone := make(chan []string)
	go func() {
		var lines []string
		sc := bufio.NewScanner(r.stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		errDone <- lines
	}()
	sc := bufio.NewScanner(r.stdout)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "start":
			rep.starts++
			rep.startLine = rest
			if onStart != nil {
				onStart(&rep, rest)
			}
		case "ok":
			rep.ok++
		case "fail":
			rep.fail++
			if rep.firstFailure == "" {
				rep.firstFailure = rest
			}
		case "done":
			rep.done = true
			fmt.Sscan(rest, &rep.doneCalls, &rep.doneFailures)
		}
	}
	var ee *exec.ExitError
	if err := r.cmd.Wait(); errors.As(err, &ee) {
		rep.code = ee.ExitCode()
	} else if err != nil && rep.err == nil {
		rep.err = err
	}
	rep.stderr = <-errDone
	if !rep.done && rep.err == nil {
		rep.err = fmt.Errorf("the child's output ended before its done line (ward exited %d)", rep.code)
	}
	return rep
}

// readEndpointToken is collect's onStart for an AWS child: it reads the
// endpoint's token, once.
func (r *childRun) readEndpointToken(rep *childReport, _ string) {
	if rep.token == "" {
		rep.token, rep.err = endpointToken(r.w)
	}
}

// endpointToken reads the endpoint's token from ward's private directory.
func endpointToken(w *wardEnv) (string, error) {
	files, _ := filepath.Glob(filepath.Join(w.runtime, "*", "run-*", "aws-endpoint.token"))
	if len(files) != 1 {
		return "", fmt.Errorf("got %d endpoint token files under the runtime directory, want 1", len(files))
	}
	b, err := os.ReadFile(files[0])
	return string(b), err
}

// auditLog asserts that no key, secret key or session token STS issued,
// and not the endpoint's token, is in ward's log.
func auditLog(t *testing.T, emu *awstest.Server, stderr []string, token string) {
	t.Helper()
	log := strings.Join(stderr, "\n")
	secrets := emu.IssuedSecrets()
	if token != "" {
		secrets = append(secrets, token)
	}
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("ward's log holds a key or a token (%d bytes)", len(s))
		}
	}
}

// logRecords returns ward's JSON log records whose msg is msg.
func logRecords(stderr []string, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range stderr {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// checkChild asserts a run's figures: every call succeeded, the child
// started once, and it signed with at least minDistinctKeys keys of its
// role, which the emulator verified.
func checkChild(t *testing.T, emu *awstest.Server, rep childReport, roleARN string) {
	t.Helper()
	if rep.err != nil {
		t.Fatalf("%v; ward's log:\n%s", rep.err, redactAll(strings.Join(rep.stderr, "\n"), emu.IssuedSecrets()...))
	}
	keys := emu.RoleSessions(roleARN)
	signed := emu.SignedBy("sts.GetCallerIdentity")
	var used []string
	verified := 0
	for _, k := range keys {
		if n := signed[k]; n > 0 {
			used = append(used, k)
			verified += n
		}
	}
	refreshes := len(logRecords(rep.stderr, "aws identity refreshed"))
	restarts := len(logRecords(rep.stderr, "child restarted with the new secrets"))
	t.Logf("%s: %d calls (%d ok, %d failed), %d distinct access keys verified by the emulator (%d calls), %d refreshes, %d child starts, %d restarts",
		rep.startLine, rep.doneCalls, rep.ok, rep.fail, len(used), verified, refreshes, rep.starts, restarts)
	if rep.fail != 0 || rep.doneFailures != 0 {
		t.Errorf("%d calls failed; the first: %s", rep.fail, rep.firstFailure)
	}
	if want := int(childDuration / childInterval); rep.doneCalls < want*9/10 || rep.ok != rep.doneCalls {
		t.Errorf("got %d calls (%d ok), want about %d, all ok", rep.doneCalls, rep.ok, want)
	}
	if rep.starts != 1 || restarts != 0 {
		t.Errorf("the child started %d times (%d restarts), want once", rep.starts, restarts)
	}
	if len(used) < minDistinctKeys {
		t.Errorf("the emulator saw %d distinct access keys from the child, want at least %d", len(used), minDistinctKeys)
	}
	if verified != rep.ok {
		t.Errorf("the emulator verified %d calls signed with the role's keys, the child made %d", verified, rep.ok)
	}
	if rep.code != 0 {
		t.Errorf("ward exited %d, want the child's 0", rep.code)
	}
}

// sdkRun is one child of TestIdentitySDKs: its SDK, where its
// credentials come from, and what happened.
type sdkRun struct {
	name    string
	missing string
	role    string
	// mount and vrole are the Vault AWS engine's, for a Vault source.
	mount, vrole string
	w            *wardEnv
	run          *childRun
	rep          childReport
}

// TestIdentitySDKs runs the three SDK children under ward for a minute
// each, all at once, with credentials that expire every 15 seconds: from
// Vault's AWS secrets engine for each SDK, and from ward's own STS
// AssumeRole (awssts://, no Vault) for the Go child. The runs start one
// after the other and then run together (t.Parallel would run no more
// than GOMAXPROCS of them at once); each SDK reports in its own subtest.
func TestIdentitySDKs(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of SDK children: run without -short")
	}
	emu := identityEmulator(t)
	// Vault asks STS for at least 900 seconds (TestIdentityVaultSTSMinimum):
	// the emulator cuts every session to 15.
	emu.SetSessionLifetime(identityTTL)
	noVault := ""
	if os.Getenv("VAULT_TEST_ADDR") == "" || os.Getenv("VAULT_TEST_TOKEN") == "" {
		noVault = "no Vault test server: run scripts/vault-server.sh start DIR, then . DIR/vault.env"
	}

	var runs []*sdkRun
	for _, c := range awsChildren {
		r := &sdkRun{name: c.name + "/vault", role: identityRoleARN(c.name)}
		runs = append(runs, r)
		argv, childEnv, missing := c.command(t)
		if r.missing = missing; missing == "" {
			r.missing = noVault
		}
		if r.missing != "" {
			continue
		}
		var token string
		r.mount, r.vrole, token = vaultAWSEngine(t, emu, r.role, awstest.AWSMinSessionDuration)
		r.w = newWardEnv(t)
		m := r.w.manifest(fmt.Sprintf("version: 1\nidentity:\n  aws:\n    from: vault://%s/creds/%s\n", r.mount, r.vrole))
		env := slices.Concat(emu.Env(), hostileAWSEnv(t, true), childEnv, []string{"VAULT_ADDR=" + os.Getenv("VAULT_TEST_ADDR"), "VAULT_TOKEN=" + token})
		r.run = startWithChild(t, r.w, m, env, argv)
	}
	sts := &sdkRun{name: "go/awssts", role: identityRoleARN("assume")}
	runs = append(runs, sts)
	argv, _, _ := goChild(t)
	emu.AddRole(awstest.Role{ARN: sts.role, ExternalID: "ward-test"})
	sts.w = newWardEnv(t)
	m := sts.w.manifest(fmt.Sprintf("version: 1\nidentity:\n  aws:\n    from: awssts://%s?session_name=ward-go&duration=15m&external_id=ward-test\n", sts.role))
	sts.run = startWithChild(t, sts.w, m, slices.Concat(emu.Env(), hostileAWSEnv(t, false)), argv)

	var wg sync.WaitGroup
	for _, r := range runs {
		if r.run != nil {
			wg.Go(func() { r.rep = r.run.collect(childDuration+time.Minute, r.run.readEndpointToken) })
		}
	}
	wg.Wait()

	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			if r.missing != "" {
				vaulttest.RequireIntegration(t, r.missing)
			}
			checkChild(t, emu, r.rep, r.role)
			auditLog(t, emu, r.rep.stderr, r.rep.token)
			r.w.canaries = append(r.w.canaries, r.rep.token)
			if r.mount == "" {
				return
			}
			var ttls []string
			for _, rec := range logRecords(r.rep.stderr, "secret fetched") {
				if rec["vars"] == identity.SourceVar {
					ttls = append(ttls, fmt.Sprint(rec["lease_ttl"], " renewable=", rec["renewable"]))
				}
			}
			slices.Sort(ttls)
			t.Logf("vault leases as ward read them: %v", slices.Compact(ttls))
			if n := vaultLeases(t, r.mount+"/creds/"+r.vrole+"/"); n != 0 {
				t.Errorf("vault holds %d leases of the role after ward exited, want 0 (old ones revoked on refresh, the last on exit)", n)
			}
		})
	}
	if got := emu.Failures("sts.GetCallerIdentity"); len(got) != 0 {
		t.Errorf("the emulator refused GetCallerIdentity calls: %v", got)
	}
	if n := emu.SignedBy("sts.GetCallerIdentity")[awstest.AccessKeyID]; n != 0 {
		t.Errorf("%d calls were signed with the long-term key in ward's environment: ward let it reach a child", n)
	}
}

// TestIdentityEndpoint checks what the child gets and what the endpoint
// answers: the endpoint's variables and no other AWS credential variable,
// the token in a 0400 file and not in the environment, 401 without the
// token or with a wrong one, credentials with it, on 127.0.0.1 only; and
// no key or token in ward's log.
func TestIdentityEndpoint(t *testing.T) {
	emu := identityEmulator(t)
	role := identityRoleARN("endpoint")
	emu.AddRole(awstest.Role{ARN: role})
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nidentity:\n  aws:\n    from: awssts://%s?duration=15m\nenv:\n  APP_REGION: {value: eu-west-1}\n", role))
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	cmd.Env = append(cmd.Env, slices.Concat(emu.Env(), hostileAWSEnv(t, false))...)
	stdout, _ := cmd.StdoutPipe()
	stderrPipe, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out, errs := readLines(t, stdout), readLines(t, stderrPipe)
	t.Cleanup(func() {
		if t.Failed() {
			cmd.Process.Kill()
			for line := range errs.ch {
				t.Logf("ward: %s", redactAll(line, emu.IssuedSecrets()...))
			}
		}
	})
	listing := envListing(out)

	var addr string
	var stderr []string
	for addr == "" {
		line := errs.next("the endpoint's address")
		stderr = append(stderr, line)
		if recs := logRecords([]string{line}, "aws endpoint listening"); len(recs) == 1 {
			addr, _ = recs[0]["addr"].(string)
		}
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("the endpoint listens on %q, want 127.0.0.1", addr)
	}
	url := "http://" + addr + identity.AWSPath
	files, _ := filepath.Glob(filepath.Join(w.runtime, "*", "run-*", "aws-endpoint.token"))
	if len(files) != 1 {
		t.Fatalf("got %d token files, want 1", len(files))
	}
	tokenPath := files[0]
	st, err := os.Stat(tokenPath)
	if err != nil || st.Mode().Perm() != 0o400 {
		t.Errorf("token file: %v, mode %v, want 0400", err, st.Mode().Perm())
	}
	token, err := endpointToken(w)
	if err != nil {
		t.Fatal(err)
	}
	w.canaries = append(w.canaries, token)

	want := map[string]string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     helper.Hash(url),
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": helper.Hash(tokenPath),
		"AWS_SHARED_CREDENTIALS_FILE":            helper.Hash(os.DevNull),
		"APP_REGION":                             helper.Hash("eu-west-1"),
		"AWS_ENDPOINT_URL":                       helper.Hash(emu.URL()),
		"AWS_REGION":                             helper.Hash(awstest.Region),
	}
	for name, h := range want {
		if listing[name] != h {
			t.Errorf("the child's %s is not what it should be (present: %v)", name, listing[name] != "")
		}
	}
	for _, name := range identity.AWSStripped {
		if _, set := want[name]; !set && listing[name] != "" {
			t.Errorf("the child inherited %s", name)
		}
	}
	for name, h := range listing {
		if h == helper.Hash(token) {
			t.Errorf("the endpoint's token is in the child's environment, as %s", name)
		}
	}

	get := func(auth string) (int, map[string]string) {
		req, _ := http.NewRequest("GET", url, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]string
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &doc)
		return resp.StatusCode, doc
	}
	if code, doc := get(""); code != 401 || doc["AccessKeyId"] != "" {
		t.Errorf("without the token: got %d (credentials: %v), want 401 and none", code, doc["AccessKeyId"] != "")
	}
	if code, doc := get("not-" + token); code != 401 || doc["AccessKeyId"] != "" {
		t.Errorf("with a wrong token: got %d (credentials: %v), want 401 and none", code, doc["AccessKeyId"] != "")
	}
	code, doc := get(token)
	exp, perr := time.Parse(time.RFC3339, doc["Expiration"])
	if code != 200 || !emu.SessionKey(doc["AccessKeyId"]) || doc["SecretAccessKey"] == "" || doc["Token"] == "" || perr != nil {
		t.Fatalf("with the token: got %d, want 200 and credentials STS issued, with an RFC 3339 Expiration", code)
	}
	if left := time.Until(exp); left < 14*time.Minute || left > 15*time.Minute {
		t.Errorf("the served credentials expire in %s, want about 15m", left)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range errs.ch {
		stderr = append(stderr, line)
	}
	if len(logRecords(stderr, "aws endpoint refused a request")) == 0 {
		t.Errorf("the refused requests were not logged")
	}
	auditLog(t, emu, stderr, token)
	if _, err := os.Stat(tokenPath); !os.IsNotExist(err) {
		t.Errorf("the token file outlived ward: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("the endpoint still answers after ward exited")
	}
}

// TestIdentityStartFailure checks that an identity whose source refuses
// stops the run before the child starts, naming the identity and its
// reference, as a secret that cannot be resolved does; and that --exec,
// which leaves nobody to serve the endpoint, is refused.
func TestIdentityStartFailure(t *testing.T) {
	emu := identityEmulator(t)
	w := newWardEnv(t)
	role := identityRoleARN("unknown")
	m := w.manifest(fmt.Sprintf("version: 1\nidentity:\n  aws:\n    from: awssts://%s\n", role))
	w.env = append(w.env, emu.Env()...)
	code, stdout, stderr := w.run("run", "-m", m, "--", "helper", "env")
	if code != 125 || stdout != "" {
		t.Errorf("got exit %d and the child's output %q, want 125 and no child", code, stdout)
	}
	for _, want := range []string{"identity.aws", "awssts://" + role, "sts refused to let ward assume role"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the error does not say %q:\n%s", want, stderr)
		}
	}
	emu.AddRole(awstest.Role{ARN: role})
	code, _, stderr = w.run("run", "--exec", "-m", m, "--", "helper", "env")
	if code != 125 || !strings.Contains(stderr, "--exec cannot serve identity.aws") {
		t.Errorf("--exec: got exit %d, %q; want 125 saying --exec cannot serve it", code, stderr)
	}
	if n := emu.Sessions(); n != 0 {
		t.Errorf("%d sessions were issued for runs that could not serve them", n)
	}
	if keys := slices.Collect(maps.Keys(emu.SignedBy("sts.AssumeRole"))); len(keys) > 1 {
		t.Errorf("AssumeRole was signed with %v, want ward's own key only", keys)
	}
}

// TestIdentityCheckResolve checks that check --resolve shows the
// identity's row: its source, the role it serves and the expiry, never a
// key the source issued.
func TestIdentityCheckResolve(t *testing.T) {
	emu, w, _, m := stsIdentityWard(t, "check", "?duration=15m", "env:\n  APP_REGION: {value: eu-west-1}\n")
	code, stdout, stderr := w.run("check", "--resolve", "-m", m)
	secrets := emu.IssuedSecrets()
	if code != 0 {
		t.Fatalf("check --resolve: exit %d:\n%s", code, redactAll(stderr, secrets...))
	}
	if emu.Sessions() != 1 {
		t.Errorf("check --resolve made %d sessions, want 1", emu.Sessions())
	}
	row := regexp.MustCompile(`(?m)^identity\.aws\s+awssts\s+-\s+awssts://\S+ \(serves arn:aws:sts::[0-9]+:assumed-role/[^ ]+, expiring [0-9T:Z-]+, refreshed `)
	if !row.MatchString(stdout) {
		t.Errorf("no identity row in:\n%s", redactAll(stdout, secrets...))
	}
	for _, s := range secrets {
		if strings.Contains(stdout+stderr, s) {
			t.Errorf("check --resolve printed a credential the source issued")
		}
	}
}

// TestIdentityVaultSTSMinimum records what Vault's AWS secrets engine
// makes of STS credentials shorter than AWS's 15-minute minimum: it takes
// default_sts_ttl and max_sts_ttl of 15s when the role is written, and
// then refuses every read of its credentials, its aws-sdk-go checking
// DurationSeconds >= 900 before any request leaves Vault. Roles that
// serve ward must use 15m or more; the emulator, which would accept less,
// never sees the request.
func TestIdentityVaultSTSMinimum(t *testing.T) {
	emu := identityEmulator(t)
	role := identityRoleARN("vault-minimum")
	mount, vrole, _ := vaultAWSEngine(t, emu, role, identityTTL)
	srv := vaulttest.Require(t)
	sec, err := srv.Root.Logical().Read(mount + "/roles/" + vrole)
	if err != nil || fmt.Sprint(sec.Data["default_sts_ttl"]) != "15" {
		t.Fatalf("vault did not keep default_sts_ttl 15s: %v, %v", err, sec)
	}
	_, err = srv.Root.Logical().Read(mount + "/creds/" + vrole)
	if err == nil || !strings.Contains(err.Error(), "minimum field value of 900") {
		t.Errorf("reading 15s credentials: got %v, want the SDK's 900-second minimum", err)
	}
	if n := emu.Calls("sts.AssumeRole"); n != 0 {
		t.Errorf("the emulator got %d AssumeRole calls, want none: the check is Vault's own", n)
	}

	srv.Write(t, mount+"/roles/"+vrole, map[string]any{"default_sts_ttl": "15m", "max_sts_ttl": "15m"})
	emu.SetSessionLifetime(identityTTL)
	sec, err = srv.Root.Logical().Read(mount + "/creds/" + vrole)
	if err != nil {
		t.Fatalf("reading 15m credentials: %v", err)
	}
	// Vault gives the lease the credentials' own life: what STS answered.
	if sec.LeaseDuration > int(identityTTL/time.Second) || sec.LeaseDuration < 10 || sec.Renewable {
		t.Errorf("got a lease of %ds (renewable %v), want at most %s, not renewable", sec.LeaseDuration, sec.Renewable, identityTTL)
	}
	for _, f := range []string{"access_key", "secret_key", "security_token", "arn"} {
		if sec.Data[f] == nil {
			t.Errorf("vault's answer has no %s", f)
		}
	}
	t.Logf("vault asked for %v, STS cut the session to %s, vault's lease: %ds renewable=%v", awstest.AWSMinSessionDuration, identityTTL, sec.LeaseDuration, sec.Renewable)
}

// TestShortNonRenewableLease: a lease Vault will not renew, shorter than
// 90 s (STS credentials through Vault's AWS engine, cut to 15 s by the
// emulator as an account's session limit would), is read again before its
// end, not at once: each read gave a lease as short as the last, and ward
// restarted the child about every second.
func TestShortNonRenewableLease(t *testing.T) {
	emu := identityEmulator(t)
	role := identityRoleARN("short-lease")
	mount, vrole, token := vaultAWSEngine(t, emu, role, awstest.AWSMinSessionDuration)
	emu.SetSessionLifetime(identityTTL)
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  AK: vault://%s/creds/%s#access_key\n  SK: vault://%s/creds/%s#secret_key\nrotation:\n  debounce: 100ms\n", mount, vrole, mount, vrole))
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", "trap 'exit 0' TERM; echo started; while :; do sleep 0.1; done")
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+os.Getenv("VAULT_TEST_ADDR"), "VAULT_TOKEN="+token)
	stdout, stderr := started(t, cmd)
	stdout.waitFor("started")
	first := time.Now()
	// The lease is read again rereadRoom before its end, or halfway
	// through: the second start comes after 7.5 s, within the 15 s.
	stdout.nextWithin("the start with the new credentials", 2*identityTTL)
	if d := time.Since(first); d < identityTTL/3 || d > identityTTL {
		t.Errorf("the child was restarted %s after its start, want about %s (halfway through its %s lease)", d.Round(time.Millisecond), identityTTL/2, identityTTL)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitWithin(t, cmd, 30*time.Second)
	if !strings.Contains(stderr.String(), "vault lease is not renewable; reading the secret again before it ends") {
		t.Errorf("ward did not log when it reads the non-renewable lease again")
	}
}

// TestIdentityMasked: with --mask, the credentials the AWS endpoint serves
// are masked in the child's output, the first ones and those that replace
// them while the child runs; under GitHub Actions each is registered with
// the runner's masking too, before it is served. The child prints them as
// a program that logs its credentials would.
func TestIdentityMasked(t *testing.T) {
	emu, w, _, m := stsIdentityWard(t, "masked", "?duration=6s", "")
	cmd := w.command("run", "--mask", "-m", m, "--", "helper", "print-aws-creds")
	cmd.Env = append(cmd.Env, "GITHUB_ACTIONS=true")
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("ward: %v\n%s", err, redactAll(errs.String(), emu.IssuedSecrets()...))
	}
	issued := emu.IssuedSecrets() // access key id, secret key, session token of each session
	if len(issued) < 6 || !strings.Contains(out.String(), "done") {
		t.Fatalf("%d sessions issued, want at least 2, and the child to see the second", len(issued)/3)
	}
	for i := 0; i < len(issued); i += 3 {
		keyID, secret, token := issued[i], issued[i+1], issued[i+2]
		if !strings.Contains(out.String(), keyID) {
			// Not a secret, and not masked: it shows the child printed
			// these credentials.
			t.Errorf("session %d: the child's output does not show its access key id", i/3)
		}
		for what, v := range map[string]string{"secret key": secret, "session token": token} {
			if strings.Contains(out.String(), v) {
				t.Errorf("session %d: its %s is in the child's output, unmasked", i/3, what)
			}
			if !strings.Contains(errs.String(), "::add-mask::"+v+"\n") {
				t.Errorf("session %d: its %s was not registered with the runner's masking", i/3, what)
			}
		}
	}
	if n := strings.Count(out.String(), "<ward:identity.aws>"); n < 4 {
		t.Errorf("%d masked values in the child's output, want the secret key and token of both credentials", n)
	}
}

// awsCredsWard is a ward whose Vault token reads dynamic AWS credentials
// (a lease each) from an AWS secrets engine on the emulator, for role: the
// reference to them and the prefix their leases are listed under.
func awsCredsWard(t *testing.T, role string) (emu *awstest.Server, w *wardEnv, ref, leases string) {
	t.Helper()
	emu = identityEmulator(t)
	_, addr, _ := testVault(t)
	mount, vrole, token := vaultAWSEngine(t, emu, identityRoleARN(role), awstest.AWSMinSessionDuration)
	w = newWardEnv(t)
	w.env = append(w.env, "VAULT_ADDR="+addr, "VAULT_TOKEN="+token)
	return emu, w, "vault://" + mount + "/creds/" + vrole + "#access_key", mount + "/creds/" + vrole + "/"
}

// TestExecKeepsLeases: with --exec no ward is left to give a lease back,
// and the program ward became uses the credentials: the store helper must
// not revoke them when ward's pipe to it closes at the exec. (It did,
// revoke_on_exit being the default, within milliseconds of the exec.) The
// program waits until the helper ward started is gone, and the lease must
// still be there.
func TestExecKeepsLeases(t *testing.T) {
	emu, w, ref, leases := awsCredsWard(t, "exec")
	m := w.manifest("version: 1\nenv:\n  KEY: " + ref + "\n")
	// After the exec the helper is this program's child; read and [ are
	// builtins, so no child of its own is listed while it looks.
	script := `for i in $(seq 400); do read -r kids < /proc/$$/task/$$/children; [ -z "$kids" ] && exit 0; sleep 0.05; done; exit 1`
	code, _, stderr := w.run("run", "--exec", "-m", m, "--", "sh", "-c", script)
	if code != 0 {
		t.Fatalf("exit %d (1: the helper was still running after 20s): %s", code, redactAll(stderr, emu.IssuedSecrets()...))
	}
	if n := vaultLeases(t, leases); n != 1 {
		t.Errorf("%d leases left once the helper was gone, want the program's 1: the helper revoked it at the exec", n)
	}
}

// TestFailedExecRevokesLeases: when the program --exec names cannot be
// started, no program holds the leases ward read, so ward gives them back
// before it exits (it left them to their TTL), unless
// rotation.revoke_on_exit is false.
func TestFailedExecRevokesLeases(t *testing.T) {
	emu, w, ref, prefix := awsCredsWard(t, "exec-fails")
	env := "env:\n  KEY: " + ref + "\n"
	for _, tc := range []struct {
		rotation string
		leases   int
	}{{"", 0}, {"rotation:\n  revoke_on_exit: false\n", 1}} {
		m := w.manifest("version: 1\n" + tc.rotation + env)
		code, _, stderr := w.run("run", "--exec", "-m", m, "--", "ward-test-no-such-program")
		if code != 127 || !strings.Contains(stderr, "ward-test-no-such-program") {
			t.Fatalf("%q: exit %d, want 127 naming the program: %s", tc.rotation, code, redactAll(stderr, emu.IssuedSecrets()...))
		}
		if n := vaultLeases(t, prefix); n != tc.leases {
			t.Errorf("%q: %d leases left after the exec failed, want %d", tc.rotation, n, tc.leases)
		}
	}
}

// TestIdentityProfiles: a profile's identity.aws replaces the manifest's
// (its role is the one served), a profile that writes it null serves none,
// and a profile without identity keeps the manifest's.
func TestIdentityProfiles(t *testing.T) {
	emu, w, baseRole, _ := stsIdentityWard(t, "profile-base", "", "")
	devRole := identityRoleARN("profile-dev")
	emu.AddRole(awstest.Role{ARN: devRole})
	m := w.manifest("version: 1\nidentity:\n  aws:\n    from: awssts://" + baseRole + "?duration=15m\n" +
		"profiles:\n  dev:\n    identity:\n      aws:\n        from: awssts://" + devRole + "?duration=15m\n" +
		"  none:\n    identity:\n      aws: null\n  plain:\n    env:\n      X: {value: x}\n")
	for _, tc := range []struct {
		profile, role string // role "": no identity row
	}{{"", baseRole}, {"dev", devRole}, {"none", ""}, {"plain", baseRole}} {
		args := []string{"check", "--resolve", "-m", m}
		if tc.profile != "" {
			args = append(args, "-p", tc.profile)
		}
		code, stdout, stderr := w.run(args...)
		if code != 0 {
			t.Fatalf("profile %q: exit %d: %s", tc.profile, code, redactAll(stderr, emu.IssuedSecrets()...))
		}
		row := ""
		for _, line := range strings.Split(stdout, "\n") {
			if strings.HasPrefix(line, "identity.aws") {
				row = line
			}
		}
		switch {
		case tc.role == "" && row != "":
			t.Errorf("profile %q: got an identity row, want none: %s", tc.profile, row)
		case tc.role != "" && !strings.Contains(row, "awssts://"+tc.role+"?") || tc.role != "" && !strings.Contains(row, "assumed-role/"+path.Base(tc.role)+"/"):
			t.Errorf("profile %q: the identity row does not serve %s: %q", tc.profile, tc.role, row)
		}
		for _, s := range emu.IssuedSecrets() {
			if strings.Contains(stdout+stderr, s) {
				t.Errorf("profile %q: an issued key is in ward's output", tc.profile)
			}
		}

		// A run serves what check showed: an endpoint, or none.
		args = append([]string{"run"}, args[2:]...)
		code, stdout, stderr = w.run(append(args, "--", "helper", "env")...)
		if code != 0 {
			t.Fatalf("profile %q: run: exit %d: %s", tc.profile, code, redactAll(stderr, emu.IssuedSecrets()...))
		}
		// The emulator's environment sets the variable empty, so that
		// no endpoint of the machine's is used.
		if h := listing(stdout)["AWS_CONTAINER_CREDENTIALS_FULL_URI"]; (h != "" && h != helper.Hash("")) != (tc.role != "") {
			t.Errorf("profile %q: the child has an AWS endpoint: %v, want %v", tc.profile, !(tc.role != ""), tc.role != "")
		}
	}
}

// TestIdentityAWSTokenMasked: the AWS endpoint's token, which the child
// reads from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (and which programs for
// Debian's botocore copy into AWS_CONTAINER_AUTHORIZATION_TOKEN, as the
// README shows), is masked with --mask in the child's output and
// registered with GitHub Actions' masking before the child starts, as
// IDENTITY_HEADER is.
func TestIdentityAWSTokenMasked(t *testing.T) {
	emu, w, _, m := stsIdentityWard(t, "token-masked", "", "")
	file := filepath.Join(t.TempDir(), "token")
	cmd := w.command("run", "--mask", "-m", m, "--", "/bin/sh", "-c", `cp "$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" "$0"; echo "token=$(cat "$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")"`, file)
	cmd.Env = append(cmd.Env, "GITHUB_ACTIONS=true")
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("ward: %v\n%s", err, redactAll(errs.String(), emu.IssuedSecrets()...))
	}
	b, err := os.ReadFile(file)
	token := string(b)
	if err != nil || len(token) < 32 {
		t.Fatalf("the child copied no endpoint token (%v, %d bytes)", err, len(token))
	}
	w.canaries = append(w.canaries, token)
	if !strings.HasPrefix(out.String(), "token=") {
		t.Fatalf("the child printed %d bytes, not its token line", out.Len())
	}
	if strings.Contains(out.String(), token) {
		t.Errorf("the endpoint's token is in the child's output, unmasked")
	}
	if !strings.Contains(errs.String(), "::add-mask::"+token+"\n") {
		t.Errorf("the endpoint's token was not registered with the runner's masking")
	}
}

// TestIdentityAddMaskMidLine: under GitHub Actions without --mask the
// child writes to ward's own stderr, where ward registers each refreshed
// credential with ::add-mask:: while the child runs. The runner takes a
// command only at the start of a line: one written after a partial line
// of the child's (a prompt, a progress message) is printed as output,
// value and all, and the value is never masked. The child here leaves a
// line open until it has been served the refreshed credentials.
func TestIdentityAddMaskMidLine(t *testing.T) {
	emu, w, _, m := stsIdentityWard(t, "mid-line", "?duration=6s", "")
	// ward's own info lines could end the child's line by chance: a
	// quiet ward, as CI jobs run it, writes none.
	cmd := w.command("run", "--log-level", "warn", "-m", m, "--", "/bin/sh", "-c", `printf 'progress: ' >&2; helper print-aws-creds > /dev/null; echo ' finished' >&2`)
	cmd.Env = append(cmd.Env, "GITHUB_ACTIONS=true")
	var errs strings.Builder
	cmd.Stderr = &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("ward: %v\n%s", err, redactAll(errs.String(), emu.IssuedSecrets()...))
	}
	issued := emu.IssuedSecrets()
	if len(issued) < 6 {
		t.Fatalf("%d sessions issued, want at least 2", len(issued)/3)
	}
	// The runner's lines: "\n", and a lone "\r", end one.
	lines := strings.FieldsFunc(errs.String(), func(r rune) bool { return r == '\n' || r == '\r' })
	for i := 0; i < len(issued); i += 3 {
		for what, v := range map[string]string{"secret key": issued[i+1], "session token": issued[i+2]} {
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.TrimLeft(l, " \t") == "::add-mask::"+v }) {
				t.Errorf("session %d: no line of ward's stderr registers its %s: the runner would print it", i/3, what)
			}
		}
	}
}

// TestIdentityOnExpiredStop: under rotation.on_expired: stop, identity
// credentials that expire while their source is down stop the child, as
// a value's do, and ward exits 125 so that a restart policy starts it
// again; the endpoint answered 503 meanwhile.
func TestIdentityOnExpiredStop(t *testing.T) {
	emu, w, _, m := stsIdentityWard(t, "expired-stop", "?duration=4s", "rotation:\n  on_expired: stop\n")
	cmd := w.command("run", "-m", m, "--", "helper", "sleep")
	out, errs := startedLines(t, cmd)
	out.waitFor("ready")
	issued := emu.IssuedSecrets()
	emu.Close()
	line := errs.skipUntil("the child stopped for expired credentials", func(l string) bool { return strings.Contains(l, "stopping the child") })
	if !strings.Contains(line, "identity.aws") || !strings.Contains(line, "on_expired: stop") {
		t.Errorf("ward stopped the child for another reason: %s", redactAll(line, issued...))
	}
	if code := exitWithin(t, cmd, 15*time.Second); code != 125 {
		t.Errorf("ward exited %d, want 125", code)
	}
	for _, s := range issued {
		if strings.Contains(line, s) {
			t.Errorf("ward's log holds a key or a token")
		}
	}
}

// TestIdentityAWSConfigDefaultProfile: a [default] profile in the AWS
// config file (AWS_CONFIG_FILE, or ~/.aws/config) that holds credentials
// of its own (keys, a role, SSO, credential_process, an `aws login`
// session) wins over the container endpoint in aws-sdk-go-v2's default
// chain, as in every SDK's, and AWS_SHARED_CREDENTIALS_FILE=/dev/null
// does not reach it: the child acts as whoever wrote the file, not as the
// identity. ward warns, naming the file and the settings, never their
// values; a profile with only a region gets no warning. The file is the
// one the child's SDK reads, from the child's environment: an
// AWS_CONFIG_FILE or HOME the manifest gives the child counts, ward's own
// does not.
func TestIdentityAWSConfigDefaultProfile(t *testing.T) {
	emu, w, role, m := stsIdentityWard(t, "config-default", "", "")
	key := w.canary("config-key")
	keys := "[default]\nregion = eu-west-1\naws_access_key_id = " + key + "\naws_secret_access_key = " + key + "\n"
	home, cleanHome := t.TempDir(), t.TempDir()
	if err := os.Mkdir(filepath.Join(home, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "aws-config")
	childConfig := filepath.Join(t.TempDir(), "child-aws-config")
	for _, tc := range []struct {
		name, file, body, configVar string
		want                        []string // settings the warning names; none: no warning
		// wardHome is ward's HOME (home when empty); env, the manifest's
		// env entries for the child.
		wardHome, env string
	}{
		{"home keys", filepath.Join(home, ".aws", "config"), keys, "", []string{"aws_access_key_id"}, "", ""},
		{"AWS_CONFIG_FILE sso", elsewhere, "[profile other]\nregion = eu-west-1\n\n[profile default]\nsso_session = corp\nsso_account_id = 123456789012\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n", elsewhere, []string{"sso_account_id", "sso_session"}, "", ""},
		{"home login session", filepath.Join(home, ".aws", "config"), "# aws login\n[default]\nLogin_Session = arn:aws:iam::123456789012:user/dev\n", "", []string{"login_session"}, "", ""},
		{"home region only", filepath.Join(home, ".aws", "config"), "[default]\nregion = eu-west-1\ns3 =\n  role_arn = nested\n[profile ops]\ncredential_process = /bin/false\n", "", nil, "", ""},
		{"the child's AWS_CONFIG_FILE", childConfig, keys, "", []string{"aws_access_key_id"}, cleanHome, "env:\n  AWS_CONFIG_FILE: {value: " + childConfig + "}\n"},
		{"the child's HOME", filepath.Join(home, ".aws", "config"), keys, "", nil, "", "env:\n  HOME: {value: " + cleanHome + "}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(tc.file, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			m := m
			if tc.env != "" {
				m = w.manifest("version: 1\nidentity:\n  aws:\n    from: awssts://" + role + "\n" + tc.env)
			}
			wardHome := cmp.Or(tc.wardHome, home)
			cmd := w.command("run", "-m", m, "--", "helper", "env")
			cmd.Env = append(withoutEnv(cmd.Env, "HOME", "AWS_CONFIG_FILE"), "HOME="+wardHome)
			if tc.configVar != "" {
				cmd.Env = append(cmd.Env, "AWS_CONFIG_FILE="+tc.configVar)
			}
			var errs strings.Builder
			cmd.Stderr = &errs
			if err := cmd.Run(); err != nil {
				t.Fatalf("ward: %v\n%s", err, redactAll(errs.String(), append(emu.IssuedSecrets(), key)...))
			}
			warnings := logRecords(strings.Split(errs.String(), "\n"), "the AWS config file's default profile holds credentials, which the child's AWS SDK uses before the identity endpoint: remove them from it or give the child another AWS_CONFIG_FILE")
			switch {
			case tc.want == nil && len(warnings) != 0:
				t.Errorf("warned about a default profile without credentials: %v", warnings)
			case tc.want != nil && len(warnings) != 1:
				t.Errorf("got %d warnings about the default profile's credentials, want 1; ward's log:\n%s", len(warnings), redactAll(errs.String(), append(emu.IssuedSecrets(), key)...))
			case tc.want != nil:
				if warnings[0]["file"] != tc.file || fmt.Sprint(warnings[0]["settings"]) != strings.Join(tc.want, ", ") {
					t.Errorf("the warning names %v and %v, want %s and %s", warnings[0]["file"], warnings[0]["settings"], tc.file, strings.Join(tc.want, ", "))
				}
			}
			if strings.Contains(errs.String(), key) {
				t.Errorf("ward's log holds the config file's key")
			}
		})
	}
}

// TestIdentityInheritedCredentialNamed: inherit: naming a credential
// variable the identity strips (AWS_ACCESS_KEY_ID, with identity.aws), by
// its name or a pattern, is one warning naming it, and the child does not
// get it: it was dropped in silence, where one declared under env: is
// warned of. The variables ward sets for the child (its endpoint's) are
// not named: the child has them.
func TestIdentityInheritedCredentialNamed(t *testing.T) {
	emu, w, role, _ := stsIdentityWard(t, "inherit-named", "", "")
	w.env = append(w.env, "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9/not-ward")
	m := w.manifest("version: 1\ninherit: [PATH, AWS_ACCESS_KEY_ID, \"AWS_ACCESS_*\", AWS_CONTAINER_CREDENTIALS_FULL_URI]\nidentity:\n  aws:\n    from: awssts://" + role + "\n")
	cmd := w.command("run", "-m", m, "--", "helper", "env")
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("ward: %v\n%s", err, redactAll(errs.String(), emu.IssuedSecrets()...))
	}
	warnings := logRecords(strings.Split(errs.String(), "\n"), "inherit: names cloud credential variables, which the identity endpoint's child does not get: declare one under env: (env://NAME) if the child must have it")
	if len(warnings) != 1 || warnings[0]["names"] != "AWS_ACCESS_KEY_ID" {
		t.Errorf("got %d warnings naming AWS_ACCESS_KEY_ID in inherit:, want 1 (%v)", len(warnings), warnings)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "AWS_ACCESS_KEY_ID ") {
			t.Errorf("the child got AWS_ACCESS_KEY_ID")
		}
	}
}

// TestIdentityAWSAlternateKeyNames: aws-sdk-go-v2 reads AWS_ACCESS_KEY
// and AWS_SECRET_KEY (the EC2 API tools' names) when AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY are unset, and its chain takes them before the
// container endpoint: ward must strip them from what the child inherits
// too, or the Go child acts as those keys' owner, not as the identity.
func TestIdentityAWSAlternateKeyNames(t *testing.T) {
	emu, w, role, m := stsIdentityWard(t, "alternate-keys", "", "")
	cmd := w.command("run", "-m", m, "--", awsChildProgram.build(t), "1s", "2s")
	// The emulator's long-term key, which it accepts as ward's own user.
	cmd.Env = append(cmd.Env, "AWS_ACCESS_KEY="+awstest.AccessKeyID, "AWS_SECRET_KEY="+awstest.SecretAccessKey)
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("ward: %v\n%s", err, redactAll(errs.String(), emu.IssuedSecrets()...))
	}
	var calls []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "ok ") || strings.HasPrefix(line, "fail ") {
			calls = append(calls, line)
		}
	}
	if len(calls) != 1 || !strings.HasPrefix(calls[0], "ok ") || !strings.Contains(calls[0], ":assumed-role/"+path.Base(role)+"/") {
		t.Errorf("the aws-sdk-go-v2 child's call did not act as the identity's role %s: %q", role, redactAll(strings.Join(calls, "; "), emu.IssuedSecrets()...))
	}
}
