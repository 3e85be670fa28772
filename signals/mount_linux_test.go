package signals

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestMountPointOfABindMount: a directory (its name with a space, which
// mountinfo escapes) and a file bind-mounted from
// the same file system (`mount --bind -o noexec DIR DIR`, a container's
// volume) are mounts of their own, and a program on them is said to be
// on them. mountPoint went up while the device stayed the same, and
// named the file system's root, which is not mounted noexec.
func TestMountPointOfABindMount(t *testing.T) {
	if os.Geteuid() != 0 {
		// As vaulttest.RequireIntegration: CI runs as root and sets it.
		if os.Getenv("WARD_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("WARD_REQUIRE_INTEGRATION=1 but bind mounts need root")
		}
		t.Skip("bind mounts need root (set WARD_REQUIRE_INTEGRATION=1 to make this a failure)")
	}
	base := t.TempDir()
	src, dir := filepath.Join(base, "src"), filepath.Join(base, "bind dir")
	for _, d := range []string{src, dir, filepath.Join(src, "sub")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(base, "file")
	for _, f := range []string{file, filepath.Join(src, "sub", "prog")} {
		if err := os.WriteFile(f, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bind := func(from, to string) {
		if err := syscall.Mount(from, to, "", syscall.MS_BIND, ""); err != nil {
			t.Fatalf("bind-mount %s: %v", from, err)
		}
		t.Cleanup(func() { syscall.Unmount(to, syscall.MNT_DETACH) })
	}
	bind(src, dir)
	bind(filepath.Join(src, "sub", "prog"), file)
	outer := mountPoint(base)
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "sub", "prog"), dir},
		{file, file},
		{filepath.Join(src, "sub", "prog"), outer},
	} {
		if got := mountPoint(c.path); got != c.want {
			t.Errorf("mountPoint(%s) = %q, want %q", c.path, got, c.want)
		}
	}
	if outer == dir || outer == "" {
		t.Errorf("mountPoint(%s) = %q, the bind mount's", base, outer)
	}
}
