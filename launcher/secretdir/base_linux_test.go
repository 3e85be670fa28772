package secretdir

import (
	"os"
	"strings"
	"testing"
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
