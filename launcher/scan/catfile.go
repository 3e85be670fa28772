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
)

// catFile reads objects through one long-running `git cat-file --batch`:
// a feeding goroutine writes object names, each optionally followed by a
// space and a tag that git echoes back (%(rest)), and the objects come out
// in the same order. The feeder never waits for the reader, so git may
// buffer its output (--buffer) without the two waiting on each other.
type catFile struct {
	s       *scanner
	cmd     *exec.Cmd
	out     *bufio.Reader
	stderr  bytes.Buffer
	body    *io.LimitedReader // what is left of the current object
	fed     chan error
	stopped bool
}

// object is one object read by catFile. Body is valid until the next call
// to next.
type object struct {
	Name, Type, Tag string
	Size            int64
	Body            io.Reader
}

// startCatFile starts git cat-file in dir and runs feed in a goroutine to
// write its input; the input is closed when feed returns.
func (s *scanner) startCatFile(ctx context.Context, dir string, feed func(w *bufio.Writer) error) (*catFile, error) {
	c := &catFile{s: s, fed: make(chan error, 1)}
	c.cmd = s.command(ctx, dir, "cat-file", "--batch=%(objectname) %(objecttype) %(objectsize) %(rest)", "--buffer")
	c.cmd.Stderr = &c.stderr
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	c.out = bufio.NewReaderSize(stdout, 64<<10)
	go func() {
		w := bufio.NewWriterSize(stdin, 64<<10)
		err := feed(w)
		// A failed write means git has stopped; the reader sees why.
		w.Flush()
		stdin.Close()
		c.fed <- err
	}()
	return c, nil
}

// next returns the next object, or io.EOF after the last one.
func (c *catFile) next() (object, error) {
	if c.body != nil {
		// Skip what the caller left of the last object, and its newline.
		if _, err := io.Copy(io.Discard, c.body); err != nil {
			return object{}, fmt.Errorf("git cat-file: read object: %w", err)
		}
		if _, err := c.out.Discard(1); err != nil {
			return object{}, fmt.Errorf("git cat-file: read object: %w", err)
		}
		c.body = nil
	}
	header, err := c.out.ReadString('\n')
	if err == io.EOF && header == "" {
		return object{}, io.EOF
	}
	if err != nil {
		return object{}, fmt.Errorf("git cat-file: read header: %w", err)
	}
	// "<name> <type> <size> <tag>", or "<name> missing" for an object
	// the repository does not have.
	f := strings.SplitN(strings.TrimSuffix(header, "\n"), " ", 4)
	if len(f) != 4 {
		return object{}, fmt.Errorf("git cat-file: object %s: %s", f[0], strings.Join(f[1:], " "))
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return object{}, fmt.Errorf("git cat-file: object %s: bad size", f[0])
	}
	c.body = &io.LimitedReader{R: c.out, N: size}
	return object{Name: f[0], Type: f[1], Tag: f[3], Size: size, Body: c.body}, nil
}

// wait waits for git to exit and the feeder to return, and returns the
// first error of either.
func (c *catFile) wait() error {
	err := c.cmd.Wait()
	ferr := <-c.fed
	if err != nil && !c.stopped {
		return c.s.gitError("cat-file", err, c.stderr.Bytes())
	}
	return ferr
}

// stop kills git, after an error on the reading side, and waits for it and
// the feeder; a feeder that reads from another process needs that process
// stopped first.
func (c *catFile) stop() {
	c.stopped = true
	c.cmd.Process.Kill()
	c.cmd.Wait()
	<-c.fed
}
