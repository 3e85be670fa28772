// Command bench measures ward as whole processes, side by side with the
// baselines issue 15 sets its goals against (the empty Go program, /bin/true,
// direct Vault reads, cat, the old single binary), and writes the tables to
// testdata/bench/RESULTS.md and stdout:
//
//	go run ./testdata/bench [-n 150] [-old 9653bba] [-out FILE]
//
// It lives under testdata so that `go install github.com/wardsecrets/ward/...`
// does not install a program named bench; the go tool still builds it when
// it is named. The Vault rows need the Vault test server
// (scripts/vault-server.sh start DIR && . DIR/vault.env) and are skipped
// without one.
package main

import "os"

func main() {
	if len(os.Args) == 3 && os.Args[1] == childArg {
		os.Exit(child(os.Args[2]))
	}
	os.Exit(run(os.Args[1:]))
}
