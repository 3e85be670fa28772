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

// TestLimitThatBinds: the memory limit that binds a cgroup is the
// smallest of its own and its ancestors': a pod's on the pod's cgroup
// with the container's own unlimited (v2's "max", v1's page-rounded
// maximum), or a container's own below a larger pod's. The cgroup's own
// alone, a parent's limit went unseen.
func TestLimitThatBinds(t *testing.T) {
	const v1None = "9223372036854771712"
	tests := []struct {
		name, file string
		limits     map[string]string // directory under the mount: its limit
		want       int64
	}{
		{"v2, the pod's", "memory.max", map[string]string{"pod": "536870912", "pod/ctr": "max"}, 512 << 20},
		{"v2, the container's below the pod's", "memory.max", map[string]string{"pod": "536870912", "pod/ctr": "67108864"}, 64 << 20},
		{"v2, a slice's above both", "memory.max", map[string]string{"slice": "33554432", "slice/pod": "536870912", "slice/pod/ctr": "max"}, 32 << 20},
		{"v2, none", "memory.max", map[string]string{"slice": "max", "slice/pod": "max", "slice/pod/ctr": "max"}, 0},
		{"v1, the pod's", "memory.limit_in_bytes", map[string]string{"": v1None, "pod": "536870912", "pod/ctr": v1None}, 512 << 20},
		{"v1, none", "memory.limit_in_bytes", map[string]string{"": v1None, "pod": v1None, "pod/ctr": v1None}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mnt := t.TempDir()
			deepest := mnt
			for dir, limit := range tt.limits {
				d := filepath.Join(mnt, dir)
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(d, tt.file), []byte(limit+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				if len(d) > len(deepest) {
					deepest = d
				}
			}
			c := &MemoryCgroup{dir: deepest, limit: tt.file}
			if got := c.limitBytes(); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}
