package secretdir

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// TestRuntimeBaseChoice checks the order New picks its base in, and that
// on Linux a place that is not tmpfs is skipped, or refused when the user
// asked for it by name.
func TestRuntimeBaseChoice(t *testing.T) {
	shm1, _ := tmpfsBase(t)
	shm2, _ := tmpfsBase(t)
	disk := t.TempDir()
	if onTmpfs(disk) {
		t.Fatalf("the test needs a directory that is not tmpfs; %s is tmpfs (set TMPDIR)", disk)
	}
	file := filepath.Join(shm1, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Where New goes when nothing is set: /run as root when it is tmpfs,
	// else /dev/shm.
	fallback := "/dev/shm"
	if os.Geteuid() == 0 && onTmpfs("/run") {
		fallback = "/run"
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"WARD_RUNTIME_DIR first", map[string]string{"WARD_RUNTIME_DIR": shm1, "RUNTIME_DIRECTORY": shm2, "XDG_RUNTIME_DIR": shm2}, shm1, ""},
		{"WARD_RUNTIME_DIR not on tmpfs is refused", map[string]string{"WARD_RUNTIME_DIR": disk, "XDG_RUNTIME_DIR": shm2}, "", "is not on tmpfs"},
		// A pod's emptyDir mounted elsewhere than the variable says, a
		// directory an image did not make: it is not there, whatever
		// the filesystem it would be on (ward said "is not on tmpfs").
		{"WARD_RUNTIME_DIR missing is refused as missing", map[string]string{"WARD_RUNTIME_DIR": shm1 + "/missing", "XDG_RUNTIME_DIR": shm2}, "", shm1 + "/missing does not exist"},
		{"WARD_RUNTIME_DIR a file is refused as one", map[string]string{"WARD_RUNTIME_DIR": file}, "", file + " is not a directory"},
		{"RUNTIME_DIRECTORY before XDG", map[string]string{"RUNTIME_DIRECTORY": shm1 + ":" + shm2, "XDG_RUNTIME_DIR": shm2}, shm1, ""},
		{"RUNTIME_DIRECTORY not on tmpfs is skipped", map[string]string{"RUNTIME_DIRECTORY": disk, "XDG_RUNTIME_DIR": shm2}, shm2, ""},
		{"XDG", map[string]string{"XDG_RUNTIME_DIR": shm2}, shm2, ""},
		{"XDG not on tmpfs is skipped", map[string]string{"XDG_RUNTIME_DIR": disk}, fallback, ""},
		{"XDG missing is skipped", map[string]string{"XDG_RUNTIME_DIR": shm1 + "/missing"}, fallback, ""},
		{"nothing set", nil, fallback, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runtimeBase(envOf(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want an error saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNewRefusesADiskRuntimeDir(t *testing.T) {
	disk := t.TempDir()
	if onTmpfs(disk) {
		t.Fatalf("the test needs a directory that is not tmpfs; %s is tmpfs (set TMPDIR)", disk)
	}
	if d, err := New(envOf(map[string]string{"WARD_RUNTIME_DIR": disk})); err == nil {
		d.Remove()
		t.Fatal("New accepted a $WARD_RUNTIME_DIR that is not tmpfs")
	}
	if entries, _ := os.ReadDir(disk); len(entries) != 0 {
		t.Errorf("New left %d entries on disk", len(entries))
	}
}

// TestRuntimeBaseOfAnotherUser: a base another user owns, or may write
// without the sticky bit, is not used. The attack: root runs ward with
// the $XDG_RUNTIME_DIR of the user it came from (su keeps it), and that
// user, owner of the base, exchanges root's ward-0 with a symbolic link
// over and over; a sweep that checked ward-0 and then read it through the
// link deleted root's run-* directories wherever the link pointed.
func TestRuntimeBaseOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the attacker runs as uid 65534")
	}
	const attacker = 65534
	base, _ := tmpfsBase(t)
	if err := os.Chown(base, attacker, attacker); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"XDG_RUNTIME_DIR": base})

	t.Run("skipped by New", func(t *testing.T) {
		d, err := New(env)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Remove()
		if strings.HasPrefix(d.Path, base+"/") {
			t.Errorf("New put the directory in %s, a base uid %d owns", d.Path, attacker)
		}
	})

	t.Run("refused as WARD_RUNTIME_DIR", func(t *testing.T) {
		if d, err := New(envOf(map[string]string{"WARD_RUNTIME_DIR": base})); err == nil {
			d.Remove()
			t.Errorf("New accepted a $WARD_RUNTIME_DIR owned by uid %d", attacker)
		} else if !strings.Contains(err.Error(), "uid 65534") {
			t.Errorf("the error does not name the owner: %v", err)
		}
	})

	t.Run("group-writable without the sticky bit", func(t *testing.T) {
		shared, _ := tmpfsBase(t)
		if err := os.Chmod(shared, 0o770); err != nil {
			t.Fatal(err)
		}
		if _, err := runtimeBase(envOf(map[string]string{"WARD_RUNTIME_DIR": shared})); err == nil {
			t.Error("a group-writable $WARD_RUNTIME_DIR without the sticky bit was accepted")
		}
		if err := os.Chmod(shared, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		if _, err := runtimeBase(envOf(map[string]string{"WARD_RUNTIME_DIR": shared})); err != nil {
			t.Errorf("a sticky base, as /dev/shm is, was refused: %v", err)
		}
	})

	t.Run("the sweep through a swapped link", func(t *testing.T) {
		// What the attacker wants deleted: a directory of root's named
		// as ward's run directories are.
		victim, _ := tmpfsBase(t)
		keep := filepath.Join(victim, "run-nightly")
		if err := os.MkdirAll(keep, 0o700); err != nil {
			t.Fatal(err)
		}
		root := userRootOf(base)
		if err := os.Mkdir(root, 0o700); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		link := filepath.Join(base, "link")
		if err := os.Symlink(victim, link); err != nil {
			t.Fatal(err)
		}
		h := &helperProc{lines: make(chan string, 1)}
		startAs(t, h, attacker, "swap", "SECRETDIR_TEST_SWAP_A="+root, "SECRETDIR_TEST_SWAP_B="+link)
		for range 20000 {
			Sweep(env)
			if !exists(t, keep) {
				t.Fatalf("uid %d made root's sweep delete %s, through %s exchanged with a link", attacker, keep, root)
			}
		}
		if exists(t, filepath.Join(victim, ".lock")) {
			t.Errorf("the sweep created a .lock in %s, through the link", victim)
		}
	})
}

// startAs runs helperMain(mode) as uid, from a copy of the test binary
// that uid may execute, and waits for its ready line.
func startAs(t *testing.T, h *helperProc, uid int, mode string, extra ...string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "secretdir-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "secretdir.test")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.cmd = exec.Command(exe, "-test.run=^$")
	h.cmd.Env = append([]string{helperVar + "=" + mode}, extra...)
	h.cmd.Stderr = &h.stderr
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		h.cmd.Wait()
	})
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		h.cmd.Wait()
		t.Fatalf("helper %s as uid %d did not get ready: %s", mode, uid, h.stderr.String())
	}
}

// TestUserRootTakenByAnotherUser: on a shared machine any user may create
// /dev/shm/ward-UID for another UID, and the sticky bit then lets only
// them or root remove it. Every run of that UID with files failed ("remove
// it", which it could not). Its runs now use a root of their own beside
// it, ward-UID-RANDOM, reused from run to run and swept as ward-UID is.
func TestUserRootTakenByAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the squatter is uid 65534")
	}
	const attacker = 65534
	base, env := tmpfsBase(t)
	if err := os.Chmod(base, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	taken := userRootOf(base)
	if err := os.Mkdir(taken, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(taken, attacker, attacker); err != nil {
		t.Fatal(err)
	}

	d, err := New(env)
	if err != nil {
		t.Fatalf("New with %s taken by uid %d: %v", taken, attacker, err)
	}
	if err := d.Write([]File{{Path: "secret", Mode: 0o400, Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	own := filepath.Dir(d.Path)
	if !strings.HasPrefix(own, taken+"-") {
		t.Errorf("the run's directory %s is not in a root of this user's beside %s", d.Path, taken)
	}
	if st, err := os.Lstat(own); err != nil || !private(st) {
		t.Errorf("the root %s is not private: %v", own, err)
	}
	d.Remove()

	h, dir := startHelper(t, "killme", base, "SECRETDIR_TEST_DATA="+resolvetest.Canary("squat"))
	h.kill(t)
	if filepath.Dir(dir) != own {
		t.Errorf("a second run used %s, not the root %s the first made", filepath.Dir(dir), own)
	}
	Sweep(env)
	if exists(t, dir) {
		t.Error("Sweep left a killed run's directory in the root beside the taken one")
	}
	if st, err := os.Lstat(taken); err != nil || int(st.Sys().(*syscall.Stat_t).Uid) != attacker {
		t.Errorf("%s, uid %d's, was touched: %v", taken, attacker, err)
	}
}
