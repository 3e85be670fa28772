package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestLocalConcurrentSets: 20 `ward local set` processes at once lose
// nothing: the lock serialises them and each write keeps the others'.
func TestLocalConcurrentSets(t *testing.T) {
	w := newWardEnv(t)
	w.set("seed/first", canary("seed"))
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := w.command("local", "set", fmt.Sprintf("concurrent/n%02d", i))
			cmd.Stdin = strings.NewReader(canary("conc"))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Sprintf("set %d: %v: %s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	code, stdout, stderr := w.run("local", "list")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, stderr)
	}
	for i := 0; i < n; i++ {
		if !strings.Contains(stdout, fmt.Sprintf("concurrent/n%02d\t", i)) {
			t.Errorf("entry concurrent/n%02d was lost", i)
		}
	}
	if !strings.Contains(stdout, "seed/first\t") {
		t.Errorf("the entry set before was lost")
	}
}
