package local

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// TestIdentityFilesAgeWrites: an identity file as age-keygen writes it,
// comments and all, serves the store, the post-quantum one of
// `age-keygen -pq` too (age 1.3 makes those); one ward cannot use says
// what it is and what to do, never a byte of the key.
func TestIdentityFilesAgeWrites(t *testing.T) {
	keygen := func(id interface{ String() string }, public string) string {
		return fmt.Sprintf("# created: %s\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), public, id)
	}
	x, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, content string }{
		{"age-keygen", keygen(x, x.Recipient().String())},
		{"age-keygen -pq", keygen(pq, pq.Recipient().String())},
		// Saved again by Notepad: a byte order mark and CRLF.
		{"notepad", "\ufeff" + strings.ReplaceAll(keygen(x, x.Recipient().String()), "\n", "\r\n")},
		{"notepad, the identity first", "\ufeff" + x.String() + "\r\n"},
		// An old Mac editor's: CR alone ends each line.
		{"CR line ends", strings.ReplaceAll(keygen(x, x.Recipient().String()), "\n", "\r")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			if err := os.WriteFile(s.IdentityPath, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			v := canary("keygen")
			mustSet(t, s, "app/a", v)
			wantValue(t, s, "app/a", v)
			if got := fileBytes(t, s.IdentityPath); got != tc.content {
				t.Errorf("the identity file was changed")
			}
		})
	}

	// A passphrase-protected identity, as `age -p -o key.age` (binary) or
	// `age -p -a` (armored) writes it over age-keygen's output.
	protect := func(armored bool) string {
		r, err := age.NewScryptRecipient("correct horse battery staple")
		if err != nil {
			t.Fatal(err)
		}
		r.SetWorkFactor(10)
		var buf bytes.Buffer
		var out io.Writer = &buf
		var aw io.WriteCloser
		if armored {
			aw = armor.NewWriter(&buf)
			out = aw
		}
		w, err := age.Encrypt(out, r)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, keygen(x, x.Recipient().String()))
		w.Close()
		if aw != nil {
			aw.Close()
		}
		return buf.String()
	}
	const sshKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n"
	for _, tc := range []struct{ name, content, want string }{
		{"passphrase, binary", protect(false), "encrypted with a passphrase"},
		{"passphrase, armored", protect(true), "encrypted with a passphrase"},
		{"ssh key", sshKey, "is an SSH key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			if err := os.WriteFile(s.IdentityPath, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			err := s.Set("app/a", canary("refused"))
			if err == nil {
				t.Fatal("set succeeded with an identity ward cannot use")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), s.IdentityPath) {
				t.Errorf("got %q, want it to name %s and say %q", show(err), s.IdentityPath, tc.want)
			}
			if strings.Contains(err.Error(), "b3BlbnNz") || strings.Contains(err.Error(), "AGE-SECRET-KEY") {
				t.Errorf("the error quotes the key file: %q", err)
			}
		})
	}
}

// TestIdentityFileWithTrailingText: ward read the first identity of its
// file and nothing after it, so text after it (a public key pasted
// without its "#", a note) did no harm. Reading every identity of the
// file must not refuse such a file now: a line after an identity that is
// not one is let be.
func TestIdentityFileWithTrailingText(t *testing.T) {
	x, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	content := fmt.Sprintf("%s\npublic key: %s\n%s\n", x, x.Recipient(), x.Recipient())
	if err := os.WriteFile(s.IdentityPath, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	v := canary("pastedkey")
	mustSet(t, s, "app/a", v)
	wantValue(t, s, "app/a", v)
}
