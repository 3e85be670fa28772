package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// canary returns a unique value to plant as a secret: any sighting of it
// outside the child is a leak.
func canary(tag string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return "canary-" + tag + "-" + hex.EncodeToString(b)
}

// scanForValue returns the files under dir that contain value, in plain
// form or the encodings a log might use.
func scanForValue(dir string, value []byte) []string {
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, value) {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
