package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/resolve/aws/awstest"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/testdata/helper"
)

// TestMixedStoresAndScoping: one manifest mixing local://, vault:// (the
// real server, approle login from custom env variables) and awssm:// and
// ssm:// (the real SDK against the emulator) resolves in one run; none of
// the credentials ward used (AWS keys, role id, secret id, VAULT_TOKEN)
// reaches the child, and no canary reaches ward's output. The address
// is written with an upper-case scheme, as VAULT_ADDR takes it (the
// manifest refused HTTP://).
func TestMixedStoresAndScoping(t *testing.T) {
	c, addr, _ := testVault(t)
	aws := awstest.New()
	defer aws.Close()

	n := time.Now().UnixNano()
	approle := fmt.Sprintf("approle%d", n)
	mount := vaulttest.Require(t).MountKV(t, 2)
	vaultValue, awsValue, ssmValue, localValue := canary("vault"), canary("aws"), canary("ssm"), canary("local")
	kvPut(t, mount, "app", map[string]any{"token": vaultValue})
	aws.PutSecretString("prod/app", `{"api_key":"`+awsValue+`"}`)
	aws.PutParameter("/app/flag", ssmValue, true)

	if err := c.Sys().EnableAuthWithOptions(approle, &vaultapi.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Sys().DisableAuth(approle) })
	policy := fmt.Sprintf("path %q { capabilities = [\"read\"] }\npath \"sys/internal/ui/mounts/*\" { capabilities = [\"read\"] }", mount+"/data/*")
	if err := c.Sys().PutPolicy("mix"+fmt.Sprint(n), policy); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("auth/"+approle+"/role/app", map[string]any{"token_policies": "mix" + fmt.Sprint(n)}); err != nil {
		t.Fatal(err)
	}
	rid, err := c.Logical().Read("auth/" + approle + "/role/app/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := c.Logical().Write("auth/"+approle+"/role/app/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	roleID, secretID := rid.Data["role_id"].(string), sid.Data["secret_id"].(string)

	w := newWardEnv(t)
	w.set("app/local", localValue)
	m := w.manifest(fmt.Sprintf(`version: 1
stores:
  vault:
    address: %s
    auth:
      method: approle
      mount: %s
      role_id_env: APP_ROLE_ID
      secret_id_env: APP_SECRET_ID
env:
  FROM_VAULT: vault://%s/app#token
  FROM_AWS: awssm://prod/app#api_key
  FROM_SSM: ssm:///app/flag
  FROM_LOCAL: local://app/local
`, "HTTP"+strings.TrimPrefix(addr, "http"), approle, mount))
	cmd := w.command("run", "-m", m, "--", "helper", "env")
	cmd.Env = append(cmd.Env, aws.Env()...)
	cmd.Env = append(cmd.Env, "APP_ROLE_ID="+roleID, "APP_SECRET_ID="+secretID, "VAULT_TOKEN=not-for-the-child")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if code := exitCode(t, cmd.Run()); code != 0 {
		t.Fatalf("got exit code %d, want 0: %s", code, redactAll(stderr.String(), vaultValue, awsValue, ssmValue, localValue, secretID))
	}
	got := map[string]string{}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if name, h, ok := strings.Cut(line, " "); ok {
			got[name] = h
		}
	}
	for name, v := range map[string]string{"FROM_VAULT": vaultValue, "FROM_AWS": awsValue, "FROM_SSM": ssmValue, "FROM_LOCAL": localValue} {
		if got[name] != helper.Hash(v) {
			t.Errorf("%s: the child does not have the value", name)
		}
	}
	for _, name := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "APP_ROLE_ID", "APP_SECRET_ID", "VAULT_TOKEN"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s reached the child", name)
		}
	}
	for _, v := range []string{vaultValue, awsValue, ssmValue, localValue, secretID, roleID} {
		if strings.Contains(stdout.String(), v) || strings.Contains(stderr.String(), v) {
			t.Errorf("a canary or credential is in ward's output")
		}
	}
}

// TestStoppedStoreHoldsBackNoOtherPoll: the AWS helper stops answering
// (stopped; a slow Google endpoint does the same) while Vault's value
// changes: the change reaches the child within a few polls, with AWS's
// value kept. A poll read every polled store as one, and the Vault change
// waited for the stopped helper to be killed (39 s), though README says a
// store that takes requests and answers none holds back no other store's
// change.
func TestStoppedStoreHoldsBackNoOtherPoll(t *testing.T) {
	srv := vaulttest.Require(t)
	mount := srv.MountKV(t, 2)
	srvAWS, w := awsWard(t)
	va1, va2, aa := w.canary("stopv1"), w.canary("stopv2"), w.canary("stopa")
	srv.KVPut(t, mount, 2, "app", map[string]any{"b": va1})
	srvAWS.PutSecretString("slow/a", aa)
	w.env = append(w.env, "VAULT_ADDR="+srv.Addr, "VAULT_TOKEN="+srv.Token)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  A: awssm://slow/a\n  B: vault://%s/app#b\n%s", mount, fastRotation))
	cmd, stdout, stderr := wardWatch(t, w, m)
	go func() {
		for range stderr.ch {
		}
	}()
	if got := envListing(stdout); got["B"] != helper.Hash(va1) || got["A"] != helper.Hash(aa) {
		t.Fatalf("the first child does not have the first values")
	}
	aws := helperOf(t, cmd.Process.Pid, "ward-aws")
	syscall.Kill(aws, syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(aws, syscall.SIGKILL) })
	waitUntil(t, "the AWS helper stopped", func() bool { return threadsState(aws) == "T" })
	srv.KVPut(t, mount, 2, "app", map[string]any{"b": va2})
	got := make(chan map[string]string, 1)
	go func() {
		listed := map[string]string{}
		for line := range stdout.ch {
			if line == "end" {
				got <- listed
				return
			}
			if name, h, ok := strings.Cut(line, " "); ok {
				listed[name] = h
			}
		}
	}()
	// Well within the 30 s a stopped helper has before it is killed.
	select {
	case listed := <-got:
		if listed["B"] != helper.Hash(va2) || listed["A"] != helper.Hash(aa) {
			t.Errorf("the restarted child does not have Vault's new value and AWS's, kept")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Vault's change did not reach the child within 15s while the AWS helper was stopped")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitWithin(t, cmd, 90*time.Second)
}
