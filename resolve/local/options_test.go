package local

import (
	"errors"
	"testing"
)

// TestSetOptions: Set takes SetMany's options.
func TestSetOptions(t *testing.T) {
	s := newStore(t)
	if err := s.Set("app/empty", nil, AllowEmpty); err != nil {
		t.Fatalf("set of an empty value with AllowEmpty: %v", show(err))
	}
	wantValue(t, s, "app/empty", nil)
	if err := s.Set("app/empty", canary("v"), NoReplace); !errors.Is(err, ErrExists) {
		t.Errorf("set of an existing name with NoReplace: got %v, want ErrExists", show(err))
	}
	wantValue(t, s, "app/empty", nil)
}
