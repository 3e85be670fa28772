package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// TestLogsOnATerminal: with --log-format auto and a terminal, ward logs
// text, and a run is quiet: the per-document audit lines are debug
// detail there (at --log-level debug they show, with the time of day and
// the variables that read each document); check --resolve leaves its one
// summary line.
func TestLogsOnATerminal(t *testing.T) {
	w := newWardEnv(t)
	secret := canary("terminal")
	w.set("app/token", secret)
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://app/token\n  AGAIN: local://app/token\n")
	tests := []struct {
		name string
		args []string
		want []*regexp.Regexp // each must match a line
		not  *regexp.Regexp   // no line may match
	}{
		{
			"a run is quiet",
			[]string{"run", "-m", m, "--", "sh", "-c", "echo child-done"},
			[]*regexp.Regexp{regexp.MustCompile(`^child-done$`)},
			regexp.MustCompile(`level=`),
		},
		{
			"debug shows the audit lines",
			[]string{"run", "--log-level", "debug", "-m", m, "--", "sh", "-c", "echo child-done"},
			[]*regexp.Regexp{
				regexp.MustCompile(`^time=\d\d:\d\d:\d\d\.\d\d\d level=DEBUG msg="secret fetched" app=ward store=local ref=local://app/token vars=AGAIN,TOKEN duration=\S+ version=v1$`),
				regexp.MustCompile(`^child-done$`),
			},
			regexp.MustCompile(`level=INFO msg="secret fetched"`),
		},
		{
			"check --resolve: one line at info",
			[]string{"check", "--resolve", "-m", m},
			[]*regexp.Regexp{regexp.MustCompile(`^time=\d\d:\d\d:\d\d\.\d\d\d level=INFO msg="2 secrets from local in [0-9.]+ m?s" app=ward secrets=2 stores=local duration=\S+$`)},
			regexp.MustCompile(`secret fetched|level=DEBUG`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := w.command(tt.args...)
			// The environment's JSON setting would win over auto.
			cmd.Env = append(cmd.Env, "WARD_LOG_FORMAT=auto")
			ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 200})
			if err != nil {
				t.Fatal(err)
			}
			defer ptmx.Close()
			var got []string
			for line := range readLines(t, ptmx).ch {
				got = append(got, strings.TrimRight(line, "\r"))
			}
			if code := exitCode(t, cmd.Wait()); code != 0 {
				t.Fatalf("got exit code %d, want 0:\n%s", code, strings.Join(got, "\n"))
			}
			for _, line := range got {
				if strings.Contains(line, secret) {
					t.Fatalf("the canary reached the terminal")
				}
				if tt.not.MatchString(line) {
					t.Errorf("got the line %q, want none matching %s", line, tt.not)
				}
			}
			for _, re := range tt.want {
				found := false
				for _, line := range got {
					found = found || re.MatchString(line)
				}
				if !found {
					t.Errorf("no line matches %s in:\n%s", re, strings.Join(got, "\n"))
				}
			}
		})
	}
}
