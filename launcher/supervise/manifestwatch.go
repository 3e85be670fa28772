package supervise

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// manifestWatch tells the user, once, that the manifest changed while
// ward runs: ward reads it at the start only, and a developer who adds a
// variable to ward.yaml (and its value with `ward local set`) while the
// dev server runs otherwise waits in vain for the child to see it, even
// across restarts, which use the manifest ward started with.
type manifestWatch struct {
	file string
	link bool
	sum  []byte
	log  *slog.Logger
}

// newManifestWatch notes file's content as ward read it. It returns nil
// for a file it cannot tell changes of (not a regular file: reading a
// pipe would take its content).
func newManifestWatch(file string, log *slog.Logger) *manifestWatch {
	if file == "" {
		return nil
	}
	// ward moves to / once the child has started.
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil
	}
	if st, err := os.Stat(abs); err != nil || !st.Mode().IsRegular() {
		return nil
	}
	sum := manifestSum(abs)
	if sum == nil {
		return nil
	}
	st, err := os.Lstat(abs)
	link := err == nil && st.Mode()&os.ModeSymlink != 0
	return &manifestWatch{file: abs, link: link, sum: sum, log: log}
}

// manifestSum is the hash of file's content, nil when it cannot be read
// (an editor between its remove and its write) or is empty: a writer in
// place (VS Code, cp, a shell's >) empties the file before it writes
// it, and the empty file read then warned of a change, and stopped the
// watch, when the same content was written back.
func manifestSum(file string) []byte {
	b, err := os.ReadFile(file)
	if err != nil || len(b) == 0 {
		return nil
	}
	s := sha256.Sum256(b)
	return s[:]
}

// run watches the manifest's directory (editors save by renaming a new
// file over the old one; a ConfigMap swaps a link there) from watchDelay
// on, as the rotator does, until the first change or ctx's end.
func (w *manifestWatch) run(ctx context.Context) {
	if w == nil {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(watchDelay):
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		w.log.Debug("cannot watch the manifest for changes", "error", err.Error())
		return
	}
	defer fw.Close()
	if err := fw.Add(filepath.Dir(w.file)); err != nil {
		w.log.Debug("cannot watch the manifest for changes", "error", err.Error())
		return
	}
	// A change made before the watch started.
	if w.changed() {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case err, ok := <-fw.Errors:
			if !ok {
				return
			}
			// More happened in the directory than the kernel queues
			// (fs.inotify.max_queued_events; ward stopped meanwhile, a
			// checkout or a generator writing thousands of files there):
			// the manifest's own event may be among those lost. It was
			// never warned of.
			if errors.Is(err, fsnotify.ErrEventOverflow) && w.changed() {
				return
			}
		case ev, ok := <-fw.Events:
			if !ok {
				return
			}
			// Only the manifest's own events are read again for (a dev
			// server may write in the same directory all day), or any
			// when it is a link (a ConfigMap's, swapped through ..data).
			if (ev.Name == w.file || w.link) && w.changed() {
				return
			}
		}
	}
}

// changed reports, with a warning, whether the manifest's content is not
// what ward read.
func (w *manifestWatch) changed() bool {
	sum := manifestSum(w.file)
	if sum == nil {
		return false
	}
	if bytes.Equal(sum, w.sum) {
		w.log.Debug("the manifest was written; it holds what ward read", "file", w.file)
		return false
	}
	w.log.Warn("the manifest changed; this run goes on with the one it started with (restarts too): run ward again to use it", "file", w.file)
	return true
}
