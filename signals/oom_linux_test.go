package signals

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCgroupDir finds a cgroup's directory as containers and hosts mount
// cgroupfs: v2 in a cgroup namespace (the container's own cgroup is the
// root), v2 on a host, v1 bind-mounted from the host's hierarchy without a
// cgroup namespace; a mount whose root is above the namespace's ("/..")
// or another cgroup's cannot tell, and gives "".
func TestCgroupDir(t *testing.T) {
	mnt := t.TempDir()
	for _, d := range []string{"kubepods/pod1/ctr", "ctr"} {
		if err := os.MkdirAll(filepath.Join(mnt, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	v2 := func(fs, _ string) bool { return fs == "cgroup2" }
	v1 := func(fs, opts string) bool { return fs == "cgroup" && containsField(opts, "memory") }
	line := func(root, fs, opts string) string {
		return "35 31 0:32 " + root + " " + mnt + " rw,nosuid shared:9 - " + fs + " cgroup " + opts + "\n"
	}
	tests := []struct {
		name, table, path string
		match             func(string, string) bool
		want              string
	}{
		{"v2 in a namespace", line("/", "cgroup2", "rw,nsdelegate"), "/", v2, mnt},
		{"v2 on a host", line("/", "cgroup2", "rw"), "/kubepods/pod1/ctr", v2, filepath.Join(mnt, "kubepods/pod1/ctr")},
		{"v1 bound from the host", line("/", "cgroup", "rw,cpu") + line("/docker/ctr", "cgroup", "rw,memory"), "/docker/ctr", v1, mnt},
		{"v1 below the bound one", line("/docker", "cgroup", "rw,memory"), "/docker/ctr", v1, filepath.Join(mnt, "ctr")},
		{"another cgroup's mount", line("/docker/ct", "cgroup", "rw,memory"), "/docker/ctr", v1, ""},
		{"a root above the namespace's", line("/..", "cgroup", "rw,memory"), "/", v1, ""},
		{"no such mount", line("/", "cgroup", "rw,cpu"), "/", v1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cgroupDirIn(strings.NewReader(tt.table), tt.path, tt.match); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
