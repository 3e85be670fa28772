package scan

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/wardsecrets/ward/launcher/mask"
)

// inWorkTree reports whether dir is inside a git work tree; without git, it
// is not. Answers are kept: several paths often share a directory.
func (s *scanner) inWorkTree(ctx context.Context, dir string) bool {
	if in, ok := s.workTree[dir]; ok {
		return in
	}
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--is-inside-work-tree").Output()
	in := err == nil && strings.TrimSpace(string(out)) == "true"
	s.workTree[dir] = in
	return in
}

// git runs git in dir and returns its standard output.
func (s *scanner) git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, s.gitError(args[0], err, stderr.Bytes())
	}
	return out, nil
}

// gitError describes a failed git command with the first line of what it
// printed, masked: git may quote the content it choked on.
func (s *scanner) gitError(sub string, err error, stderr []byte) error {
	var masked bytes.Buffer
	w := mask.NewWriter(&masked, s.p)
	w.Write(stderr)
	w.Close()
	msg, _, _ := strings.Cut(strings.TrimSpace(masked.String()), "\n")
	if msg == "" {
		return fmt.Errorf("git %s: %w", sub, err)
	}
	return fmt.Errorf("git %s: %w: %s", sub, err, msg)
}
