package secretdir

import (
	"slices"
	"testing"
)

func TestBaseCandidatesOrder(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		root bool
		want []string
	}{
		{"nothing set", nil, false, []string{"/dev/shm"}},
		{"nothing set, as root", nil, true, []string{"/run", "/dev/shm"}},
		{"XDG", map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, false, []string{"/run/user/1000", "/dev/shm"}},
		{"systemd before XDG", map[string]string{"RUNTIME_DIRECTORY": "/run/app", "XDG_RUNTIME_DIR": "/run/user/0"}, true, []string{"/run/app", "/run/user/0", "/run", "/dev/shm"}},
		{"systemd, several paths: the first", map[string]string{"RUNTIME_DIRECTORY": "/run/app:/run/app2"}, false, []string{"/run/app", "/dev/shm"}},
		{"systemd, empty first path", map[string]string{"RUNTIME_DIRECTORY": ":/run/app2"}, false, []string{"/dev/shm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := baseCandidates(envOf(tt.env), tt.root); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSweepBasesFollowNew(t *testing.T) {
	if got := sweepBases(envOf(map[string]string{"WARD_RUNTIME_DIR": "/x", "XDG_RUNTIME_DIR": "/y"})); !slices.Equal(got, []string{"/x"}) {
		t.Errorf("with $WARD_RUNTIME_DIR: got %v, want only it", got)
	}
	got := sweepBases(envOf(map[string]string{"RUNTIME_DIRECTORY": "/a:/b", "XDG_RUNTIME_DIR": "/dev/shm/"}))
	if got[0] != "/a" || slices.Contains(got, "/b") {
		t.Errorf("got %v, want the first systemd path first, and not the second", got)
	}
	n := 0
	for _, b := range got {
		if b == "/dev/shm" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("got /dev/shm %d times in %v, want once", n, got)
	}
}
