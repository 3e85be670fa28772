package scan

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"

	"github.com/wardsecrets/ward/launcher/mask"
)

// insideWorkTree reports whether dir is inside a git work tree; without
// git, it is not.
func insideWorkTree(ctx context.Context, dir string) bool {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--is-inside-work-tree").Output()
	return err == nil && strings.TrimSpace(string(out)) == "true"
}

// scanHistory searches every blob reachable from any ref and names, for each
// blob with a finding, the first commit that added it and a path it had.
func (s *scanner) scanHistory(ctx context.Context) ([]Finding, error) {
	top, err := s.git(ctx, s.opts.Dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, err
	}
	root := strings.TrimSpace(string(top))
	out, err := s.git(ctx, root, "rev-list", "--all", "--objects")
	if err != nil {
		return nil, err
	}
	// Each line is an object name, then, for trees and blobs but the root
	// tree, a space and the first path the object was seen at.
	type object struct{ name, path string }
	var objects []object
	for _, line := range strings.Split(string(out), "\n") {
		name, path, ok := strings.Cut(line, " ")
		if ok && path != "" {
			objects = append(objects, object{name, path})
		}
	}
	if len(objects) == 0 {
		return nil, nil
	}

	cmd := exec.CommandContext(ctx, "git", "-C", root, "cat-file", "--batch")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	go func() {
		w := bufio.NewWriter(stdin)
		for _, o := range objects {
			w.WriteString(o.name + "\n")
		}
		w.Flush()
		stdin.Close()
	}()
	var findings []Finding
	found := map[string][]int{} // blob name -> indexes in findings
	br := bufio.NewReaderSize(stdout, 64<<10)
	readErr := func() error {
		for _, o := range objects {
			// "<name> <type> <size>\n<contents>\n"
			header, err := br.ReadString('\n')
			if err != nil {
				return fmt.Errorf("git cat-file: read header: %w", err)
			}
			fields := strings.Fields(header)
			if len(fields) != 3 {
				return fmt.Errorf("git cat-file: object %s: unexpected header", o.name)
			}
			size, err := strconv.ParseInt(fields[2], 10, 64)
			if err != nil {
				return fmt.Errorf("git cat-file: object %s: bad size", o.name)
			}
			body := io.LimitReader(br, size)
			if fields[1] == "blob" {
				err := s.search(body, func(line int, ow mask.Owner) {
					found[o.name] = append(found[o.name], len(findings))
					findings = append(findings, Finding{Path: o.path, Line: line, Name: ow.Name, Form: string(ow.Encoding)})
				})
				if err != nil {
					return fmt.Errorf("git cat-file: object %s: %w", o.name, err)
				}
			}
			// search stops early on a binary blob; skip what is left of it
			// and the newline after it.
			if _, err := io.Copy(io.Discard, body); err != nil {
				return fmt.Errorf("git cat-file: object %s: %w", o.name, err)
			}
			if _, err := br.Discard(1); err != nil {
				return fmt.Errorf("git cat-file: object %s: %w", o.name, err)
			}
		}
		return nil
	}()
	if readErr != nil {
		// Stop git and let the writer goroutine finish on a closed pipe.
		cmd.Process.Kill()
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		return nil, readErr
	}
	if err := cmd.Wait(); err != nil {
		return nil, s.gitError("cat-file", err, stderr.Bytes())
	}

	for name, idx := range found {
		commit, err := s.introducedBy(ctx, root, name)
		if err != nil {
			return nil, err
		}
		for _, i := range idx {
			findings[i].Commit = commit
		}
	}
	return findings, nil
}

// introducedBy returns the oldest commit, on any ref, whose diff adds blob
// (with -m, a merge is compared with each parent, so a blob that only a
// merge resolution added is found too).
func (s *scanner) introducedBy(ctx context.Context, root, blob string) (string, error) {
	out, err := s.git(ctx, root, "log", "--all", "-m", "--reverse", "--format=%H", "--find-object="+blob)
	if err != nil {
		return "", err
	}
	commit, _, _ := strings.Cut(string(out), "\n")
	if commit == "" {
		// Reachable only through a tag or a note pointing at it directly.
		return "unknown", nil
	}
	return commit, nil
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
