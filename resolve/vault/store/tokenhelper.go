package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl"
)

// tokenHelper is the token_helper of the Vault CLI's own configuration
// ($VAULT_CONFIG_PATH, else ~/.vault): the program the CLI asks for its
// token (a keychain, a password manager) instead of keeping it in
// ~/.vault-token, where `vault login` then writes nothing. It returns ""
// when no helper is configured, and the configuration file's path.
func (s settings) tokenHelper(getenv func(string) string) (helper, config string, err error) {
	config = expandHome(strings.TrimSpace(getenv("VAULT_CONFIG_PATH")), s.home)
	if config == "" {
		if s.home == "" {
			return "", "", nil
		}
		config = filepath.Join(s.home, ".vault")
	}
	b, err := os.ReadFile(config)
	if errors.Is(err, os.ErrNotExist) {
		return "", config, nil
	}
	if err != nil {
		return "", config, fmt.Errorf("read the vault CLI's configuration: %w", err)
	}
	var c struct {
		TokenHelper string `hcl:"token_helper"`
	}
	if err := hcl.Decode(&c, string(b)); err != nil {
		return "", config, fmt.Errorf("read the vault CLI's configuration %s: %w", config, err)
	}
	helper = strings.TrimSpace(c.TokenHelper)
	if helper != "" && !filepath.IsAbs(helper) {
		// As the CLI: relative to the working directory.
		if helper, err = filepath.Abs(helper); err != nil {
			return "", config, err
		}
	}
	return helper, config, nil
}

// runTokenHelper asks a Vault CLI token helper for its token, as the CLI
// does: `HELPER get` through $SHELL -c (else /bin/sh), the token on its
// standard output. Its error says how the helper ended and never repeats
// what it wrote.
func runTokenHelper(ctx context.Context, helper, config string, getenv func(string) string) (string, error) {
	if _, err := os.Stat(helper); err != nil {
		return "", fmt.Errorf("the vault token helper (token_helper in %s): %w", config, err)
	}
	shell := getenv("SHELL")
	if shell == "" {
		shell = "/bin/sh"
	}
	cmd := exec.CommandContext(ctx, shell, "-c", strings.ReplaceAll(helper, `\`, `\\`)+" get")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("the vault token helper %s (token_helper in %s): %w: run %q to see why", helper, config, err, helper+" get")
	}
	return strings.TrimSpace(out.String()), nil
}
