package supervise

import (
	"os"
	"testing"
	"time"

	"github.com/wardsecrets/ward/launcher/mask"
)

// TestFinishLeavesAReadCloseCannotEnd: a relay whose source is in
// blocking mode and never ends (a pty's master made blocking by Fd for
// its terminal settings, whose read the kernel did not end once the
// child's side was gone: seen once in a full run, tmux under --mask, ward
// waiting for good with its child gone) is closed when quiet and then
// left: finish returns. It waited for every relay to end, and a close
// does not end a blocking read.
func TestFinishLeavesAReadCloseCannotEnd(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// The writer stays open: the read never sees an end.
	defer w.Close()
	r.Fd() // blocking mode, as the pty's master is
	out, err := os.Create(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p, _ := mask.Compile(nil)
	m := &maskedIO{}
	m.relay(out, r, mask.NewSource(p))
	done := make(chan struct{})
	go func() {
		m.finish()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("finish waited 10s for a relay whose quiet source it closed")
	}
}
