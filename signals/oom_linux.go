//go:build linux

package signals

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MemoryCgroup is the memory cgroup ward runs in, whose OOM kills tell a
// child the kernel killed for memory from one sent SIGKILL.
type MemoryCgroup struct {
	// dir is the cgroup's directory; events the file counting its OOM
	// kills (cgroup v2's memory.events, v1's memory.oom_control) and
	// limit the one holding its limit.
	dir, events, limit string
}

// OwnMemoryCgroup finds ward's memory cgroup, as /proc/self/cgroup names
// it under the mount /proc/self/mountinfo shows (a container's cgroup
// namespace shows its own cgroup as the root); nil when there is none to
// be read.
func OwnMemoryCgroup() *MemoryCgroup {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	// hierarchy-id:controllers:path; v1's memory hierarchy, else v2's
	// unified one ("0::path"), whose memory files exist only where its
	// memory controller is on.
	var v1, v2 string
	found1, found2 := false, false
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2, found2 = parts[2], true
		case containsField(parts[1], "memory"):
			v1, found1 = parts[2], true
		}
	}
	if found1 {
		if dir := cgroupDir(v1, func(fs, opts string) bool { return fs == "cgroup" && containsField(opts, "memory") }); dir != "" {
			return &MemoryCgroup{dir: dir, events: "memory.oom_control", limit: "memory.limit_in_bytes"}
		}
	}
	if found2 {
		if dir := cgroupDir(v2, func(fs, _ string) bool { return fs == "cgroup2" }); dir != "" {
			if _, err := os.Stat(filepath.Join(dir, "memory.events")); err == nil {
				return &MemoryCgroup{dir: dir, events: "memory.events", limit: "memory.max"}
			}
		}
	}
	return nil
}

// containsField reports whether the comma-separated list holds f.
func containsField(list, f string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == f {
			return true
		}
	}
	return false
}

// cgroupDir is the directory of the cgroup path on the first mount that
// match accepts (its filesystem type and super options), the mount's own
// root taken away from path; "" when no mount shows it.
func cgroupDir(path string, match func(fs, opts string) bool) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	return cgroupDirIn(f, path, match)
}

// cgroupDirIn is cgroupDir with the mount table read from r.
func cgroupDirIn(r io.Reader, path string, match func(fs, opts string) bool) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+4 || !match(fields[sep+1], fields[sep+3]) {
			continue
		}
		root, mountpoint := fields[3], fields[4]
		rel, ok := strings.CutPrefix(path, root)
		if !ok || (rel != "" && root != "/" && !strings.HasPrefix(rel, "/")) {
			continue
		}
		dir := filepath.Join(mountpoint, rel)
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
	}
	return ""
}

// OOMKills is how many processes the kernel's OOM killer has killed in
// the cgroup (and below it, in v2), -1 when that cannot be read.
func (c *MemoryCgroup) OOMKills() int64 {
	if c == nil {
		return -1
	}
	b, err := os.ReadFile(filepath.Join(c.dir, c.events))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}

// Limit is the memory limit that binds the cgroup (its own, or a
// smaller one of an ancestor's) in MiB as text, "" when it has none (v2's
// "max", v1's page-rounded maximum) or it cannot be read.
func (c *MemoryCgroup) Limit() string {
	n := c.limitBytes()
	if n <= 0 {
		return ""
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64) + " MiB"
}

// limitBytes is the memory limit that binds the cgroup, 0 when it has
// none or it cannot be read: the smallest of the cgroup's and its
// ancestors' (those ward's mount shows): a pod's limit on its own cgroup,
// the container's under it unlimited, or systemd's MemoryMax= on a slice.
// The cgroup's own alone, such a run's guard was weighed against the
// machine's memory, and went no sooner than ward (a lead of 2, 32 MiB of
// a 512 MiB pod weighed as 1 MiB; see OOMAhead).
func (c *MemoryCgroup) limitBytes() int64 {
	if c == nil {
		return 0
	}
	var least int64
	for dir := c.dir; ; dir = filepath.Dir(dir) {
		n, err := readInt(filepath.Join(dir, c.limit))
		if err != nil && !errors.Is(err, strconv.ErrSyntax) {
			// Past the top of the hierarchy (its root has no v2 limit
			// file, the mount's parent no cgroup's files).
			break
		}
		if err == nil && n < 1<<62 && (least == 0 || n < least) {
			least = n
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	return least
}

// readInt reads the one number the file at path holds (a cgroup's or
// /proc's).
func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// OOMAhead has the kernel's OOM killer take the process pid (ward's
// guard) before ward, and before any process up to margin bytes larger
// than it: its oom_score_adj is ward's raised by margin's share of the
// memory the killer weighs (the limit that binds ward's cgroup, else the
// machine's memory and swap), as the kernel scores (resident pages, plus
// oom_score_adj thousandths of that memory). Raising needs no privilege.
// The guard starts while the child runs, its Go runtime taking its first
// pages, at times the instant a child that filled its cgroup's limit is
// killed: the kernel frees the child's pages after it has stopped
// counting it, and the guard's page fault in between had a second
// process killed, the largest, ward (seen in tests: the child's OOM kill
// went unreported; ward 27 MB resident, the guard 22). It reports
// whether the score was set.
func OOMAhead(pid int, margin int64) bool {
	own, err := readInt("/proc/self/oom_score_adj")
	if err != nil {
		return false
	}
	weighed := ownMemoryCgroup().limitBytes()
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		if all := (int64(si.Totalram) + int64(si.Totalswap)) * int64(si.Unit); all > 0 && (weighed <= 0 || all < weighed) {
			weighed = all
		}
	}
	if weighed <= 0 {
		return false
	}
	adj := min(own+(margin*1000+weighed-1)/weighed, 1000)
	return os.WriteFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", []byte(strconv.FormatInt(adj, 10)), 0) == nil
}
