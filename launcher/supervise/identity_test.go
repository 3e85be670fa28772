package supervise

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDefaultProfileCredentialsAsBotocoreReads: the default profile's
// credentials are found in every form botocore's configparser takes
// (boto3 used the keys of each row that names one), and not in a nested
// section's indented lines or another profile.
func TestDefaultProfileCredentialsAsBotocoreReads(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         []string
	}{
		{"equals", "[default]\naws_access_key_id = K\n", []string{"aws_access_key_id"}},
		{"colon", "[default]\naws_access_key_id: K\naws_secret_access_key: S\n", []string{"aws_access_key_id"}},
		{"indented first key", "[default]\n  aws_access_key_id = K\n", []string{"aws_access_key_id"}},
		{"a comment after the header", "[default] ; keys\naws_access_key_id = K\n", []string{"aws_access_key_id"}},
		{"profile default, CRLF, upper case", "[profile  default]\r\nROLE_ARN = arn\r\nsource_profile = x\r\n", []string{"role_arn", "source_profile"}},
		{"profile \"default\", quoted", "[profile \"default\"]\naws_access_key_id = K\n", []string{"aws_access_key_id"}},
		{"[ default ] is not it", "[ default ]\naws_access_key_id = K\n[ profile default]\nrole_arn = R\n", nil},
		{"DEFAULT's keys are every section's", "[DEFAULT]\naws_access_key_id = K\n[default]\nregion = x\n", []string{"aws_access_key_id"}},
		{"DEFAULT without a default profile", "[DEFAULT]\naws_access_key_id = K\n[profile other]\nregion = x\n", nil},
		{"the later section of the default profile wins", "[default]\naws_access_key_id = K\n[profile default]\nregion = x\n", nil},
		{"a nested section", "[default]\nregion = eu-west-1\ns3 =\n  role_arn = nested\n", nil},
		{"a continued value", "[default]\nregion = eu-west-1\n    credential_process = nested\n", nil},
		{"comments", "[default]\n# aws_access_key_id = K\n  ; role_arn = R\n", nil},
		{"another profile", "[default]\nregion = x\n[profile ops]\ncredential_process = /bin/false\n", nil},
	} {
		if got := defaultProfileCredentials(tc.config); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestAWSConfigFileWithATilde: an AWS_CONFIG_FILE of ~/... or $HOME/...
// that no shell expanded (systemd's Environment=, compose) is read under
// the child's HOME, as botocore reads it.
func TestAWSConfigFileWithATilde(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "aws.config"), []byte("[default]\naws_access_key_id = K\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"~/aws.config", "$HOME/aws.config", "${HOME}/aws.config"} {
		env := map[string]string{"HOME": home, "AWS_CONFIG_FILE": f}
		var log bytes.Buffer
		warnAWSConfig(slog.New(slog.NewTextHandler(&log, nil)), func(k string) string { return env[k] })
		if !strings.Contains(log.String(), "default profile holds credentials") || !strings.Contains(log.String(), filepath.Join(home, "aws.config")) {
			t.Errorf("%s: no warning naming %s: %q", f, filepath.Join(home, "aws.config"), log.String())
		}
	}
}
