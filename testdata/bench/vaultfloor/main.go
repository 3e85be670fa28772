// Command vaultfloor is the least a Go program using vault/api does to read
// KV v2 documents the way ward's Vault store does, in one process: no
// child, no signals, no manifest, no helper.
//
//	vaultfloor WORKERS MOUNT PATH...
//
// It looks MOUNT up once (GET sys/internal/ui/mounts/MOUNT, which tells a
// KV v2 mount from a v1 one), then reads MOUNT/data/PATH for each PATH
// with WORKERS workers (testdata/bench passes ward's default fetch
// concurrency), on VAULT_ADDR with VAULT_TOKEN. testdata/bench sets ward's
// Vault rows beside it.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/vault/api"
)

func main() {
	if len(os.Args) < 4 {
		usage()
	}
	workers, err := strconv.Atoi(os.Args[1])
	if err != nil || workers < 1 {
		usage()
	}
	mount, paths := os.Args[2], os.Args[3:]
	c, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		fail(err)
	}
	if _, err := c.Logical().Read("sys/internal/ui/mounts/" + mount); err != nil {
		fail(err)
	}
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(workers, len(paths)) {
		wg.Go(func() {
			for k := int(next.Add(1)) - 1; k < len(paths); k = int(next.Add(1)) - 1 {
				s, err := c.Logical().Read(mount + "/data/" + paths[k])
				if err != nil || s == nil || s.Data["data"] == nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		// The paths only: a value is never printed.
		fail(fmt.Errorf("a read of %v failed or found nothing", paths))
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: vaultfloor WORKERS MOUNT PATH...")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "vaultfloor:", err)
	os.Exit(1)
}
