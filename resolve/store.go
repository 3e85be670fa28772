package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Store fetches whole documents from one secret backend. ref has no field:
// field selection happens once, after the fetch, for every variable that
// shares the document.
type Store interface {
	Fetch(ctx context.Context, ref Ref) (Secret, error)
}

// BatchStore is a Store that can fetch many documents in one call (AWS
// BatchGetSecretValue, GetParameters). Results and errors are indexed like
// refs; a nil error means the Secret at the same index is valid.
type BatchStore interface {
	Store
	FetchBatch(ctx context.Context, refs []Ref) ([]Secret, []error)
}

// BatchFailed is a batch's answer when all of it failed with err: no
// secret, and err for each of n references.
func BatchFailed(n int, err error) ([]Secret, []error) {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return make([]Secret, n), errs
}

// Secret is one fetched document.
type Secret struct {
	// Value is the whole document as bytes.
	Value []byte
	// Fields holds the document's fields when the store returns structured
	// data (Vault); nil means Value is parsed as a JSON object on demand.
	Fields map[string][]byte
	// Version identifies what was read (KV version, version id, mtime),
	// for audit lines and rotation. Never derived from the value.
	Version string
	// Updated is when the store says this version was written, where it
	// says (Azure Key Vault); zero otherwise. For check --resolve.
	Updated time.Time
	// Lease is set for dynamic secrets.
	Lease *Lease
	// Expires is when a value no lease renews stops working (an access
	// token, STS credentials); zero for values that do not expire.
	// Rotation reads such a value again when two thirds of its lifetime
	// have passed, not at every poll: each read is a new value, and a
	// new value restarts (or signals) the child. One with a Version too
	// (a static credential the store replaces on a schedule, or at once
	// when an operator asks) is polled as well.
	Expires time.Time
	// File is the local file the secret was read from, as it was when
	// read, for Watched schemes: rotation reads the secret again only
	// when the file's stamp changes. Nil for the other schemes.
	File *FileStamp
}

// FileStamp identifies a file's content without reading it: device,
// inode, size and modification time.
type FileStamp struct {
	Path  string
	Stamp string
}

// Whose says who may read path and who ward is, for a file ward may not
// read: a pod's arbitrary UID against a secret volume's root-owned 0400
// files, or an identity file of another user, gave a bare "permission
// denied". "" when path cannot be examined.
func Whose(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	groups, _ := os.Getgroups()
	return fmt.Sprintf(" (it has mode %04o, owned by uid %d and gid %d; ward runs as uid %d, gid %d, groups %v)", st.Mode().Perm(), s.Uid, s.Gid, os.Geteuid(), os.Getegid(), groups)
}

// RefusedHint is the advice for a file ward was refused (EACCES, EPERM):
// usual (chown, chmod, run ward as its user) when the file's mode does
// not let ward's user read it; when it does, something other than the
// mode refused, and owners and modes changed would change nothing: the
// hint said to change them of a file ward's own user may read.
func RefusedHint(path, usual string) string {
	if !modeLetsRead(path) {
		return usual
	}
	return "its owner and mode let ward's user read it, so something else refused: a security module (SELinux, AppArmor: ausearch -m avc, dmesg), an ACL (getfacl " + path + "), the file system's server (NFS's root_squash, a FUSE mount), or a container's seccomp profile"
}

// modeLetsRead reports whether path's mode bits, for its owner, group
// and others, let ward's user read it, root's override aside; false when
// path cannot be examined.
func modeLetsRead(path string) bool {
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	perm := st.Mode().Perm()
	if int(s.Uid) == os.Geteuid() {
		return perm&0o400 != 0
	}
	inGroup := int(s.Gid) == os.Getegid()
	if groups, err := os.Getgroups(); err == nil && !inGroup {
		for _, g := range groups {
			inGroup = inGroup || g == int(s.Gid)
		}
	}
	if inGroup {
		return perm&0o040 != 0
	}
	return perm&0o004 != 0
}

// StampFile returns the stamp of the file at path now (following
// symlinks, as a read does); "" when it cannot be read.
func StampFile(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return Stamp(st)
}

// Stamp returns the stamp of a file's metadata. Its ctime too, which no
// writer sets: a value rewritten in place at the same length with its
// mtime put back (cp -p, rsync -t --inplace, touch -r) kept the stamp,
// and a poll, where no watch could be had, never saw the change.
func Stamp(st fs.FileInfo) string {
	dev, ino := uint64(0), uint64(0)
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		dev, ino = uint64(s.Dev), s.Ino
	}
	return fmt.Sprintf("%d:%d:%d:%d:%d", dev, ino, st.Size(), st.ModTime().UnixNano(), changeTime(st))
}

// Lease describes a dynamic secret's lease.
type Lease struct {
	ID        string
	TTL       time.Duration
	Renewable bool
	// Check is how often KeepLease asks whether the lease still exists
	// (rotation.poll): an operator may revoke it long before its next
	// renewal. Zero: never.
	Check time.Duration
}

// ErrNotFound marks a reference whose document does not exist.
var ErrNotFound = errors.New("not found")

// Field returns one field of s. A missing field names the fields that do
// exist, never their values.
func (s Secret) Field(name string) ([]byte, error) {
	fields := s.Fields
	if fields == nil {
		var err error
		fields, err = JSONFields(s.Value)
		if err != nil {
			return nil, err
		}
	}
	v, ok := fields[name]
	if !ok {
		names := make([]string, 0, len(fields))
		for k := range fields {
			names = append(names, k)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return nil, fmt.Errorf("no field %q: the secret has no fields", name)
		}
		return nil, fmt.Errorf("no field %q: the secret has %s", name, quoteList(names))
	}
	return v, nil
}

// JSONFields splits a JSON object into its fields: strings become their
// text, anything else (numbers, booleans, objects) its compact JSON text.
// The error never quotes the input, which may be a secret.
func JSONFields(b []byte) (map[string][]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		return nil, errors.New("the value is not a JSON object, so a #field cannot be selected from it")
	}
	out := make(map[string][]byte, len(obj))
	for k, raw := range obj {
		out[k] = FieldText(raw)
	}
	return out, nil
}

// FieldText renders one JSON value as ward delivers it: a string as its
// text, null as empty, anything else as compact JSON.
func FieldText(raw json.RawMessage) []byte {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []byte(s)
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		return []byte{}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.Bytes()
	}
	return []byte(raw)
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) == 1 {
		return "only " + q[0]
	}
	return strings.Join(q, ", ")
}

// LeaseKeeper is a store whose secrets can carry leases (Vault dynamic
// secrets): it keeps a lease alive and gives it back.
type LeaseKeeper interface {
	// KeepLease renews the lease in the background of the caller until it
	// can no longer be renewed (it nears its max TTL) or ctx ends. It
	// returns nil when the secret must be read again, with when the lease
	// ends as far as the store knows (zero when it does not), or ctx's
	// error.
	KeepLease(ctx context.Context, lease *Lease) (ends time.Time, err error)
	// Revoke ends a lease now.
	Revoke(ctx context.Context, lease *Lease) error
}

// Versioner is a store that can tell which version a reference currently
// names more cheaply than reading it (a metadata read, no payload): the
// rotation poll asks it first and reads only what changed. The string is
// compared with Secret.Version of the last read.
type Versioner interface {
	Version(ctx context.Context, ref Ref) (string, error)
}

// Resumer is a store that keeps something alive between requests (a
// token it renews): Resume makes that ready now, for a store opened in
// place of one that ended (its helper died), rather than at the next
// request, which may come too late for it.
type Resumer interface {
	Resume(ctx context.Context) error
}

// Closer is a store that holds resources (a login renewer, connections)
// to release when ward exits.
type Closer interface {
	Close() error
}

// Sleep waits d, or until ctx ends; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// SplitList splits a variable that lists several values (the endpoints
// or hosts the environment trusts a store's credentials with), separated
// by commas or spaces, as users write them either way.
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}
