package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wardsecrets/ward/resolve"
)

// errNoVersions is Version's answer for what Vault keeps no versions of
// (KV v1, other engines) or will not show: the poll reads the value.
var errNoVersions = errors.New("no version to compare")

// Version tells a KV v2 secret's current version from its metadata
// (MOUNT/metadata/PATH), without reading its data: the rotation poll asks
// it first and reads the data only when the version moved. Reading only
// metadata keeps the values out of polls (and out of the audit log's
// reads) while nothing changes. A current version that was deleted or
// destroyed answers with a version of its own, so that the poll reads it
// and reports what happened, as a data read does.
//
// The token needs "read" on MOUNT/metadata/PATH. Where Vault refuses it,
// the mount is remembered, with the token it refused, and later polls read
// values without asking again until the token changes: a 403 may also
// mean a token that expired or was revoked (a sink's file rewritten a
// moment later), which said nothing about the policy.
func (s *Store) Version(ctx context.Context, ref resolve.Ref) (string, error) {
	if v := ref.Options["version"]; v != "" {
		// A pinned version never moves. As the read records it: no
		// leading zeros (?version=01 is v1).
		if n, err := strconv.Atoi(v); err == nil {
			return "v" + strconv.Itoa(n), nil
		}
		return "v" + v, nil
	}
	gen, err := s.auth.current(ctx)
	if err != nil {
		return "", fmt.Errorf("version of %s: %w", ref.Raw, err)
	}
	m, err := s.mountFor(ctx, ref)
	if err != nil {
		return "", err
	}
	if m.kind != kindKV2 {
		return "", fmt.Errorf("version of %s: %w: %s is not a KV v2 mount", ref.Raw, errNoVersions, m.path)
	}
	s.mountsMu.Lock()
	refusedGen, refused := s.metadataRefused[m.path]
	s.mountsMu.Unlock()
	if refused && refusedGen == gen {
		return "", fmt.Errorf("version of %s: %w: the token may not read %smetadata/", ref.Raw, errNoVersions, m.path)
	}
	rel, err := relPath(ref, m)
	if err != nil {
		return "", err
	}
	apiPath := m.path + "metadata/" + rel
	rep, err := s.get(ctx, apiPath, nil)
	if err != nil {
		return "", fmt.Errorf("version of %s: %w", ref.Raw, err)
	}
	switch rep.status {
	case http.StatusOK:
	case http.StatusForbidden:
		// The token the request ended with (it may have logged in again).
		if g, err := s.auth.current(ctx); err == nil {
			gen = g
		}
		s.mountsMu.Lock()
		s.metadataRefused[m.path] = gen
		s.mountsMu.Unlock()
		return "", fmt.Errorf("version of %s: %w (GET %s): grant \"read\" on %q for polls that read no values", ref.Raw, ErrPermissionDenied, apiPath, apiPath)
	case http.StatusNotFound:
		// Gone: the read reports it.
		return "gone", nil
	default:
		return "", fmt.Errorf("version of %s (GET %s): %w", ref.Raw, apiPath, rep.err())
	}
	if rep.secret == nil {
		return "", fmt.Errorf("version of %s (GET %s): an empty answer", ref.Raw, apiPath)
	}
	cur := str(rep.secret.Data["current_version"])
	if cur == "" || cur == "0" {
		return "gone", nil
	}
	if versions, ok := rep.secret.Data["versions"].(map[string]any); ok {
		if v, ok := versions[cur].(map[string]any); ok {
			if destroyed, _ := v["destroyed"].(bool); destroyed || deletedBy(str(v["deletion_time"]), time.Now()) {
				return "v" + cur + " deleted", nil
			}
			// `vault kv metadata delete` and a write (Terraform replacing
			// a vault_kv_secret_v2) start the numbers again at 1: the
			// number the child has may name other data now.
			s.mountsMu.Lock()
			read, ok := s.written[m.path+"data/"+rel]
			s.mountsMu.Unlock()
			if num, at, _ := strings.Cut(read, " "); ok && num == cur && at != str(v["created_time"]) {
				return "v" + cur + " written again", nil
			}
		}
	}
	return "v" + cur, nil
}

// deletedBy reports whether a KV v2 version's deletion_time has come by
// now. A mount with delete_version_after gives every version the time of
// its deletion to come: until then the version is live.
func deletedBy(deletion string, now time.Time) bool {
	if deletion == "" {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, deletion)
	return err != nil || !t.After(now)
}
