package supervise

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/resolve"
)

// TestResolveStopsOnSignal: a stop signal while a store blocks ends the
// resolve with 128+N within stop_timeout, even when the store ignores its
// context (a FIFO's open).
func TestResolveStopsOnSignal(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	store := &fakeStore{fetch: func(resolve.Ref) (resolve.Secret, error) {
		<-block // deaf to the context
		return resolve.Secret{}, errors.New("unblocked")
	}}
	ref, _ := testRegistry.ParseRef("pol://x")
	m := &manifest.Manifest{Rotation: manifest.DefaultRotation(), Env: []*manifest.EnvVar{{Name: "X", Ref: &ref}}}
	m.Rotation.StopTimeout = 100 * time.Millisecond
	o := Options{Manifest: m, Fetcher: &resolve.Fetcher{Stores: func(string) (resolve.Store, error) { return store, nil }}}
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGTERM
	done := make(chan int, 1)
	go func() {
		_, code, _ := resolveOrStop(context.Background(), o, sigs)
		done <- code
	}()
	select {
	case code := <-done:
		if code != 143 {
			t.Errorf("got code %d, want 143", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a blocked resolve kept ward from stopping")
	}
}

// TestMaskStream: the ::add-mask:: lines go to stderr, which the runner
// reads; to stdout only when stderr goes to a file.
func TestMaskStream(t *testing.T) {
	dir := t.TempDir()
	file, _ := os.Create(filepath.Join(dir, "out"))
	defer file.Close()
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	// ward's own stderr redirected to /dev/null (2>/dev/null, or closed:
	// the Go runtime opens /dev/null there) is named /dev/stderr.
	fd, err := syscall.Dup(int(devnull.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.NewFile(uintptr(fd), "/dev/stderr")
	defer stderr.Close()
	tests := []struct {
		name string
		f    *os.File
		want bool
	}{{"a regular file", file, true}, {"a pipe", w, false}, {"/dev/null", devnull, true}, {"/dev/null as stderr", stderr, true}}
	for _, tt := range tests {
		if got := toFile(tt.f); got != tt.want {
			t.Errorf("toFile(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
