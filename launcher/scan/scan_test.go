package scan

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/launcher/mask"
)

const value = "pw-7Hq2xL9vKe"

var secrets = []Secret{{Name: "DB_PASSWORD", Value: []byte(value)}}

// isolateGit keeps the tests' git, and the git Scan runs, away from the
// user's configuration and gives commits a fixed identity.
func isolateGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	for k, v := range map[string]string{
		"GIT_CONFIG_GLOBAL":   os.DevNull,
		"GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME":     "Test",
		"GIT_AUTHOR_EMAIL":    "test@example.com",
		"GIT_COMMITTER_NAME":  "Test",
		"GIT_COMMITTER_EMAIL": "test@example.com",
	} {
		t.Setenv(k, v)
	}
}

// newRepo makes a git repository in a temporary directory.
func newRepo(t *testing.T) string {
	t.Helper()
	isolateGit(t)
	dir := t.TempDir()
	git(t, dir, "-c", "init.defaultBranch=main", "init", "-q")
	return dir
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v: %s", args[0], err, out)
	}
	return strings.TrimSpace(string(out))
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func commitAll(t *testing.T, dir, msg string) string {
	t.Helper()
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", msg)
	return git(t, dir, "rev-parse", "HEAD")
}

func scan(t *testing.T, opts Options) []Finding {
	t.Helper()
	f, err := Scan(context.Background(), secrets, opts)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	checkNoValue(t, f)
	return f
}

// checkNoValue fails if the text or JSON report of f holds any form of the
// value.
func checkNoValue(t *testing.T, f []Finding) {
	t.Helper()
	var text, js bytes.Buffer
	if err := WriteText(&text, f); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&js, f); err != nil {
		t.Fatal(err)
	}
	for _, form := range mask.Forms([]byte(value)) {
		if bytes.Contains(text.Bytes(), form) || bytes.Contains(js.Bytes(), form) {
			t.Fatalf("a report holds a form of the value")
		}
	}
}

func TestScanTrackedFile(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "config/app.env", "# app\nDB_HOST=db\nDB_PASSWORD="+value+"\n")
	write(t, dir, "README", "nothing here\n")
	commitAll(t, dir, "add config")
	got := scan(t, Options{Dir: dir})
	want := []Finding{{Path: "config/app.env", Line: 3, Name: "DB_PASSWORD", Form: "plain"}}
	if !slices.Equal(got, want) {
		t.Errorf("got findings %+v, want %+v", got, want)
	}
	// Paths narrow the search.
	if got := scan(t, Options{Dir: dir, Paths: []string{"README"}}); len(got) != 0 {
		t.Errorf("got %d findings in README, want 0", len(got))
	}
	// A path that names nothing is an error, not a clean result.
	if _, err := Scan(context.Background(), secrets, Options{Dir: dir, Paths: []string{"READNE"}}); err == nil || !strings.Contains(err.Error(), "READNE") {
		t.Errorf("got err=%v for a missing path, want one naming it", err)
	}
	// From a subdirectory, paths are relative to it.
	got = scan(t, Options{Dir: filepath.Join(dir, "config")})
	if len(got) != 1 || got[0].Path != "app.env" {
		t.Errorf("got findings %+v from config/, want app.env", got)
	}
}

func TestScanIgnoredFileOnlyWithNoIgnore(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, ".gitignore", "*.local\n")
	write(t, dir, "secrets.local", "password: "+value+"\n")
	write(t, dir, "untracked.txt", "x\ny\n"+value+"\n")
	commitAll(t, dir, "ignore")
	git(t, dir, "rm", "-q", "--cached", "untracked.txt")

	got := scan(t, Options{Dir: dir})
	want := []Finding{{Path: "untracked.txt", Line: 3, Name: "DB_PASSWORD", Form: "plain"}}
	if !slices.Equal(got, want) {
		t.Errorf("got findings %+v, want only the untracked, not ignored, file", got)
	}
	got = scan(t, Options{Dir: dir, NoIgnore: true})
	want = []Finding{
		{Path: "secrets.local", Line: 1, Name: "DB_PASSWORD", Form: "plain"},
		{Path: "untracked.txt", Line: 3, Name: "DB_PASSWORD", Form: "plain"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("with NoIgnore got findings %+v, want %+v", got, want)
	}
}

func TestScanEncodedForms(t *testing.T) {
	dir := newRepo(t)
	b64 := base64.StdEncoding.EncodeToString([]byte(value))
	write(t, dir, "k8s/secret.yaml", "data:\n  password: "+b64+"\n")
	write(t, dir, "creds.json", `{"user":"app","basic":"`+base64.StdEncoding.EncodeToString([]byte("app:"+value))+`"}`+"\n")
	write(t, dir, "debug.log", "connect\nsent key "+strings.ToUpper(hex.EncodeToString([]byte(value)))+"\n")
	commitAll(t, dir, "encoded")
	got := scan(t, Options{Dir: dir})
	want := []Finding{
		{Path: "creds.json", Line: 1, Name: "DB_PASSWORD", Form: "base64"},
		{Path: "debug.log", Line: 2, Name: "DB_PASSWORD", Form: "hex"},
		{Path: "k8s/secret.yaml", Line: 2, Name: "DB_PASSWORD", Form: "base64"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got findings %+v, want %+v", got, want)
	}
}

func TestScanHistoryFindsRevertedValue(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "app.conf", "port = 8080\n")
	commitAll(t, dir, "first")
	write(t, dir, "app.conf", "port = 8080\npassword = "+value+"\n")
	leak := commitAll(t, dir, "oops")
	write(t, dir, "app.conf", "port = 8080\n")
	commitAll(t, dir, "revert")

	if got := scan(t, Options{Dir: dir}); len(got) != 0 {
		t.Errorf("got %d findings in the working tree, want 0", len(got))
	}
	got := scan(t, Options{Dir: dir, GitHistory: true})
	want := []Finding{{Path: "app.conf", Line: 2, Commit: leak, Name: "DB_PASSWORD", Form: "plain"}}
	if !slices.Equal(got, want) {
		t.Errorf("got findings %+v, want %+v", got, want)
	}
	var text bytes.Buffer
	WriteText(&text, got)
	if want := leak + ":app.conf:2: DB_PASSWORD (plain)\n"; text.String() != want {
		t.Errorf("got text %q, want %q", text.String(), want)
	}
}

func TestScanHistoryOnOtherBranch(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "README", "hello\n")
	commitAll(t, dir, "first")
	git(t, dir, "checkout", "-q", "-b", "feature")
	write(t, dir, "notes/todo.md", "- rotate\n- "+value+"\n")
	leak := commitAll(t, dir, "notes")
	git(t, dir, "checkout", "-q", "main")

	got := scan(t, Options{Dir: dir, GitHistory: true})
	want := []Finding{{Path: "notes/todo.md", Line: 2, Commit: leak, Name: "DB_PASSWORD", Form: "plain"}}
	if !slices.Equal(got, want) {
		t.Errorf("got findings %+v, want %+v", got, want)
	}
}

func TestScanBinaryOnlyWhenAsked(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "blob.bin", "\x00\x01\x02header\n"+value+"\n")
	commitAll(t, dir, "binary")
	if got := scan(t, Options{Dir: dir}); len(got) != 0 {
		t.Errorf("got %d findings in a binary file, want 0", len(got))
	}
	if got := scan(t, Options{Dir: dir, GitHistory: true}); len(got) != 0 {
		t.Errorf("got %d findings in a binary blob, want 0", len(got))
	}
	got := scan(t, Options{Dir: dir, Binary: true, GitHistory: true})
	if len(got) != 2 || got[0].Path != "blob.bin" || got[0].Line != 2 || got[1].Commit == "" {
		t.Errorf("with Binary got findings %+v, want blob.bin:2 in the tree and in history", got)
	}
	// Named, it is searched, as ripgrep searches a file it is given
	// (`ward scan app.db` passed in silence); beside it, the rest of a
	// directory named stays text only.
	write(t, dir, "other.bin", "\x00\x01"+value+"\n")
	want := []Finding{{Path: "blob.bin", Line: 2, Name: "DB_PASSWORD", Form: "plain"}}
	if got := scan(t, Options{Dir: dir, Paths: []string{".", "blob.bin"}}); !slices.Equal(got, want) {
		t.Errorf("named, got findings %+v, want %+v", got, want)
	}
}

// TestScanUTF16Text: a file that starts with a UTF-16 byte-order mark
// (Windows PowerShell's > and Out-File write .env files so) is searched as
// the text it holds, in the working tree, staged and in history, lines
// counted in it; it passed every scan, as binary or as bytes that match
// no form. Without the mark, such bytes are still binary.
func TestScanUTF16Text(t *testing.T) {
	text := "# settings\r\nAPI_TOKEN=" + value + "\r\n"
	utf16 := func(order binary.AppendByteOrder, bom bool) string {
		var b []byte
		if bom {
			b = order.AppendUint16(b, 0xfeff)
		}
		for _, c := range text {
			b = order.AppendUint16(b, uint16(c))
		}
		return string(b)
	}
	dir := newRepo(t)
	write(t, dir, "le.env", utf16(binary.LittleEndian, true))
	write(t, dir, "be.env", utf16(binary.BigEndian, true))
	write(t, dir, "nomark.env", utf16(binary.LittleEndian, false))
	found := func(path string) Finding {
		return Finding{Path: path, Line: 2, Name: "DB_PASSWORD", Form: "plain"}
	}
	foundEverywhere(t, dir, "utf-16", []Finding{found("be.env"), found("le.env")})
}

// foundEverywhere checks that the findings in the repository dir are want
// in its working tree, staged once all is added, and in its history once
// that is committed with message (each found there with its commit).
func foundEverywhere(t *testing.T, dir, message string, want []Finding) {
	t.Helper()
	if got := scan(t, Options{Dir: dir}); !slices.Equal(got, want) {
		t.Errorf("in the working tree got findings %+v, want %+v", got, want)
	}
	git(t, dir, "add", ".")
	if got := scan(t, Options{Dir: dir, Staged: true}); !slices.Equal(got, want) {
		t.Errorf("staged got findings %+v, want %+v", got, want)
	}
	commitAll(t, dir, message)
	var history []Finding
	for _, f := range scan(t, Options{Dir: dir, GitHistory: true}) {
		if f.Commit != "" {
			f.Commit = ""
			history = append(history, f)
		}
	}
	if !slices.Equal(history, want) {
		t.Errorf("in history got findings %+v, want %+v", history, want)
	}
}

// TestScanBinaryStartingLikeUTF16: a binary file whose first bytes are
// FF FE by chance (or UTF-32's mark, FF FE 00 00), with NUL characters
// after them, is searched as bytes: it was decoded as UTF-16, and a
// value in it never found, named, staged or with --binary.
func TestScanBinaryStartingLikeUTF16(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "f.bin", "\xff\xfe\x00\x00"+strings.Repeat("\x00", 8)+"T="+value+"\r\n")
	want := []Finding{{Path: "f.bin", Line: 1, Name: "DB_PASSWORD", Form: "plain"}}
	for _, opts := range []Options{{Dir: dir, Paths: []string{"f.bin"}}, {Dir: dir, Binary: true}} {
		if got := scan(t, opts); !slices.Equal(got, want) {
			t.Errorf("%+v: got findings %+v, want %+v", opts, got, want)
		}
	}
	git(t, dir, "add", ".")
	if got := scan(t, Options{Dir: dir, Staged: true}); !slices.Equal(got, want) {
		t.Errorf("staged: got findings %+v, want %+v", got, want)
	}
	// UTF-16 text with a NUL character in it, before the value or after:
	// still decoded (the first fix searched it as bytes alone, and it
	// passed, staged too).
	for i, text := range []string{"X=\x00\r\nTOKEN=" + value + "\r\n", "TOKEN=" + value + "\r\nX=\x00\r\n"} {
		var b []byte
		b = binary.LittleEndian.AppendUint16(b, 0xfeff)
		for _, c := range text {
			b = binary.LittleEndian.AppendUint16(b, uint16(c))
		}
		name := fmt.Sprintf("nul%d.env", i)
		write(t, dir, name, string(b))
		want := []Finding{{Path: name, Line: 2 - i, Name: "DB_PASSWORD", Form: "plain"}}
		if got := scan(t, Options{Dir: dir, Paths: []string{name}}); !slices.Equal(got, want) {
			t.Errorf("%s named: got findings %+v, want %+v", name, got, want)
		}
		git(t, dir, "add", name)
		if got := scan(t, Options{Dir: dir, Staged: true, Paths: []string{name}}); !slices.Equal(got, want) {
			t.Errorf("%s staged: got findings %+v, want %+v", name, got, want)
		}
	}
}

// TestScanTextStartingLikeUTF16: text that starts with the bytes FF FE or
// FE FF by chance (Latin-1's "ÿþ", or what a tool wrote before a .env's
// lines) and holds no NUL byte is searched as the bytes it is too, in the
// working tree, staged and in history: it was decoded as UTF-16 alone, and
// a value in it passed every scan.
func TestScanTextStartingLikeUTF16(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "latin1.env", "\xff\xfe# r\xe9glages\nTOKEN="+value+"\n")
	write(t, dir, "odd.env", "\xfe\xff\x01\nTOKEN="+value+"\n")
	want := []Finding{
		{Path: "latin1.env", Line: 2, Name: "DB_PASSWORD", Form: "plain"},
		{Path: "odd.env", Line: 2, Name: "DB_PASSWORD", Form: "plain"},
	}
	foundEverywhere(t, dir, "latin-1", want)
}

// TestScanValueWithOtherLineEnds: a value stored with Windows' line ends
// is found in a file that holds it with Unix's (git's core.autocrlf
// makes such a file at a commit), and the other way round.
func TestScanValueWithOtherLineEnds(t *testing.T) {
	windows := "first-line-" + value + "\r\nsecond line here\r\n"
	unix := "one line of it\nanother-" + value + "-line\n"
	two := []Secret{{Name: "WIN", Value: []byte(windows)}, {Name: "UNIX", Value: []byte(unix)}}
	dir := t.TempDir()
	write(t, dir, "lf.txt", "x\n"+strings.ReplaceAll(windows, "\r\n", "\n"))
	write(t, dir, "crlf.txt", "x\r\n"+strings.ReplaceAll(unix, "\n", "\r\n"))
	got, err := Scan(context.Background(), two, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{{Path: "crlf.txt", Line: 2, Name: "UNIX", Form: "plain"}, {Path: "lf.txt", Line: 2, Name: "WIN", Form: "plain"}}
	if !slices.Equal(got, want) {
		t.Errorf("got findings %+v, want %+v", got, want)
	}
}

func TestScanOutsideRepo(t *testing.T) {
	isolateGit(t)
	dir := t.TempDir()
	write(t, dir, ".gitignore", "*.local\n")
	write(t, dir, "a.local", value)
	write(t, dir, "sub/.git/config", value)
	write(t, dir, "sub/b.txt", "\n\n"+value)
	if err := os.Symlink(filepath.Join(dir, "a.local"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	got := scan(t, Options{Dir: dir})
	want := []Finding{
		{Path: "a.local", Line: 1, Name: "DB_PASSWORD", Form: "plain"},
		{Path: "sub/b.txt", Line: 3, Name: "DB_PASSWORD", Form: "plain"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got findings %+v, want %+v", got, want)
	}
	if _, err := Scan(context.Background(), secrets, Options{Dir: dir, GitHistory: true}); err == nil {
		t.Errorf("history outside a repository gave no error")
	}
}

func TestScanLineAcrossReads(t *testing.T) {
	isolateGit(t)
	dir := t.TempDir()
	// The value straddles the first 1 MiB read; lines before it are counted
	// in both reads.
	var b strings.Builder
	line := 1
	for b.Len()+len("filler line\n") <= 1<<20-5 {
		b.WriteString("filler line\n")
		line++
	}
	pad := 1<<20 - 5 - b.Len()
	b.WriteString(strings.Repeat("x", pad) + value + "\nafter\n" + value + "\n")
	write(t, dir, "big.log", b.String())
	got := scan(t, Options{Dir: dir})
	want := []Finding{
		{Path: "big.log", Line: line, Name: "DB_PASSWORD", Form: "plain"},
		{Path: "big.log", Line: line + 2, Name: "DB_PASSWORD", Form: "plain"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got findings %+v, want %+v", got, want)
	}
}

func TestScanSharedValueAndShortValues(t *testing.T) {
	isolateGit(t)
	dir := t.TempDir()
	write(t, dir, "x", "a "+value+" b 80\n")
	s := []Secret{
		{Name: "DB_PASSWORD", Value: []byte(value)},
		{Name: "PGPASSWORD", Value: []byte(value)},
		{Name: "PORT", Value: []byte("80")},
	}
	got, err := Scan(context.Background(), s, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "DB_PASSWORD" || got[1].Name != "PGPASSWORD" {
		t.Errorf("got findings %+v, want one per variable sharing the value", got)
	}
	if sk := Skipped(s); !slices.Equal(sk, []string{"PORT"}) {
		t.Errorf("got skipped=%v, want [PORT]", sk)
	}
	if got, err := Scan(context.Background(), s[2:], Options{Dir: dir}); err != nil || got != nil {
		t.Errorf("got %v, %v with no value long enough, want nothing", got, err)
	}
}

// countingReader counts what is read of r.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += n
	return n, err
}

// TestSearchOfMarkedBinaryStops: a binary file that starts with FF FE
// (UTF-32's mark among them), not named and without --binary, is passed
// over after its first reads, as any binary file: both of its searches,
// decoded and as bytes, stop there, and it was read to its end all the
// same (300 MB: 1.85 s, where it was 0.01 s). The bytes' search keeps its
// buffer from file to file: it took a new one of 1 MiB for each such file
// (3,000 small UTF-16 files: 1.57 s, where they took 0.06 s).
func TestSearchOfMarkedBinaryStops(t *testing.T) {
	p, _ := mask.Compile(secrets)
	s := &scanner{p: p}
	file := append([]byte{0xff, 0xfe, 0, 0}, bytes.Repeat([]byte{1, 0, 2, 0, 0, 0, 3, 0}, 2<<20)...)
	r := &countingReader{r: bytes.NewReader(file)}
	if err := s.search(r, func(int, mask.Owner) { t.Error("found a value in a file without one") }); err != nil {
		t.Fatal(err)
	}
	if r.n > 4<<20 {
		t.Errorf("read %d bytes of a binary file of %d, want its first reads only", r.n, len(file))
	}
	first := s.rawBuf[:1]
	utf16 := []byte{0xff, 0xfe, 'K', 0, '=', 0, 'v', 0, '\n', 0}
	if err := s.search(bytes.NewReader(utf16), func(int, mask.Owner) {}); err != nil {
		t.Fatal(err)
	}
	if &s.rawBuf[:1][0] != &first[0] {
		t.Errorf("the bytes' search of the second file took a new buffer")
	}
}

func TestGitErrorIsMasked(t *testing.T) {
	p, _ := mask.Compile(secrets)
	s := &scanner{p: p}
	err := s.gitError("log", fmt.Errorf("exit status 128"), []byte("fatal: bad revision '"+value+"'\nmore\n"))
	if strings.Contains(err.Error(), value) || !strings.Contains(err.Error(), "<ward:DB_PASSWORD>") {
		t.Errorf("git's message was not masked")
	}
	if strings.Contains(err.Error(), "more") {
		t.Errorf("got more than the first line of git's message")
	}
}

func TestWriteJSON(t *testing.T) {
	f := []Finding{
		{Path: "a.env", Line: 2, Name: "TOKEN", Form: "plain"},
		{Path: "b.env", Line: 7, Commit: "0123abcd", Name: "KEY", Form: "base64"},
	}
	var b bytes.Buffer
	if err := WriteJSON(&b, f); err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if _, ok := back[0]["commit"]; ok {
		t.Errorf("a working-tree finding has a commit key")
	}
	if back[1]["commit"] != "0123abcd" || back[1]["line"] != 7.0 || back[1]["form"] != "base64" {
		t.Errorf("got %v, want the second finding's fields", back[1])
	}
	b.Reset()
	WriteJSON(&b, nil)
	if strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("got %q for no findings, want []", b.String())
	}
	b.Reset()
	WriteText(&b, f)
	if want := "a.env:2: TOKEN (plain)\n0123abcd:b.env:7: KEY (base64)\n"; b.String() != want {
		t.Errorf("got text %q, want %q", b.String(), want)
	}
}

func TestScanPercentAndLineForms(t *testing.T) {
	dir := newRepo(t)
	const password = "p@ss w0rd/7Hq2"
	r := rand.New(rand.NewSource(1))
	der := make([]byte, 200)
	r.Read(der)
	b64 := base64.StdEncoding.EncodeToString(der) // 268 characters: 64, 64, 64, 64, 12
	var body []string
	for ; len(b64) > 64; b64 = b64[64:] {
		body = append(body, b64[:64])
	}
	body = append(body, b64)
	key := "-----BEGIN PRIVATE KEY-----\n" + strings.Join(body, "\n") + "\n-----END PRIVATE KEY-----\n"
	s := []Secret{{Name: "DB_PASSWORD", Value: []byte(password)}, {Name: "TLS_KEY", Value: []byte(key)}}

	write(t, dir, "db.url", "postgres://app:p%40ss%20w0rd%2F7Hq2@db/app\n")                           // Python quote, encodeURIComponent
	write(t, dir, "lower.txt", "\npassword=p%40ss%20w0rd%2f7Hq2\n")                                   // lower-case hex
	write(t, dir, "deploy.yaml", "tls:\n  key: |\n    "+strings.ReplaceAll(key, "\n", "\n    ")+"\n") // indented
	write(t, dir, "other.pem", "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
	commit := commitAll(t, dir, "forms")

	got, err := Scan(context.Background(), s, Options{Dir: dir, GitHistory: true})
	if err != nil {
		t.Fatal(err)
	}
	var want []Finding
	for _, c := range []string{"", commit} {
		want = append(want, Finding{Path: "db.url", Line: 1, Commit: c, Name: "DB_PASSWORD", Form: "url"})
		for i := range body {
			want = append(want, Finding{Path: "deploy.yaml", Line: 4 + i, Commit: c, Name: "TLS_KEY", Form: "line"})
		}
		want = append(want, Finding{Path: "lower.txt", Line: 2, Commit: c, Name: "DB_PASSWORD", Form: "url"})
	}
	if !slices.Equal(got, want) {
		t.Errorf("got findings %+v, want %+v", got, want)
	}
	var text bytes.Buffer
	WriteText(&text, got)
	if strings.Contains(text.String(), password) || strings.Contains(text.String(), body[0]) {
		t.Errorf("the report holds a value")
	}
}

// TestScanWrappedBase64: a value's base64 wrapped into lines, at 76
// characters with CRLF (a MIME part) and at 64 with LF (openssl base64),
// is found on the line where it starts.
func TestScanWrappedBase64(t *testing.T) {
	dir := newRepo(t)
	key := "tls-" + strings.Repeat("9fQ2xLm7", 10) // 84 bytes: 112 characters of base64
	b64 := base64.StdEncoding.EncodeToString([]byte(key))
	wrap := func(width int, eol string) string {
		var lines []string
		for s := b64; s != ""; s = s[min(width, len(s)):] {
			lines = append(lines, s[:min(width, len(s))])
		}
		return strings.Join(lines, eol) + eol
	}
	write(t, dir, "mail.eml", "Content-Transfer-Encoding: base64\r\n\r\n"+wrap(76, "\r\n")+"\r\n")
	write(t, dir, "key.b64", "# openssl base64\n"+wrap(64, "\n"))
	commitAll(t, dir, "wrapped")
	s := []Secret{{Name: "TLS_KEY", Value: []byte(key)}}
	got, err := Scan(context.Background(), s, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{
		{Path: "key.b64", Line: 2, Name: "TLS_KEY", Form: "base64"},
		{Path: "mail.eml", Line: 3, Name: "TLS_KEY", Form: "base64"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got findings %+v, want %+v", got, want)
	}
}

// TestScanValueInPath: a file whose name holds a value is a place that
// holds it (line 0), and no path scan reports shows the value: it is
// masked as <ward:NAME>. (scan printed such a path as it was.)
func TestScanValueInPath(t *testing.T) {
	isolateGit(t)
	dir := t.TempDir()
	write(t, dir, "leak-"+value+".txt", "DB_PASSWORD="+value+"\n")
	write(t, dir, "clean.txt", "nothing\n")
	got := scan(t, Options{Dir: dir})
	masked := "leak-<ward:DB_PASSWORD>.txt"
	want := []Finding{
		{Path: masked, Line: 0, Name: "DB_PASSWORD", Form: "plain in the path"},
		{Path: masked, Line: 1, Name: "DB_PASSWORD", Form: "plain"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got findings %+v, want %+v", redact(got), want)
	}
	var text, js bytes.Buffer
	WriteText(&text, got)
	WriteJSON(&js, got)
	if strings.Contains(text.String()+js.String(), value) {
		t.Errorf("scan's output shows the value")
	}
}

// redact hides the test value in findings printed on failure.
func redact(f []Finding) []Finding {
	out := slices.Clone(f)
	for i := range out {
		out[i].Path = strings.ReplaceAll(out[i].Path, value, "<VALUE>")
	}
	return out
}

// TestScanValueInStagedAndHistoryPaths: a file named with a value is a find
// for --staged (the commit would hold the name) and for --git-history (every
// clone holds it), even when its content holds none; the same content at a
// clean path is not. (Only the working tree's names were looked at.)
func TestScanValueInStagedAndHistoryPaths(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "clean.txt", "hi\n")
	write(t, dir, "file-"+value+".txt", "hi\n")
	stagedThenInHistory(t, dir, "file-"+value+".txt", "file-<ward:DB_PASSWORD>.txt")
}

// stagedThenInHistory stages what dir holds, wants --staged to find the
// value in the path of the file masked names (added, at named) alone,
// commits it, removes named and commits that, and wants --git-history
// to find it at the commit that added it.
func stagedThenInHistory(t *testing.T, dir, named, masked string) {
	t.Helper()
	git(t, dir, "add", "-A")
	want := []Finding{{Path: masked, Line: 0, Name: "DB_PASSWORD", Form: "plain in the path"}}
	if got := scan(t, Options{Dir: dir, Staged: true}); !slices.Equal(got, want) {
		t.Errorf("--staged: got findings %+v, want %+v", redact(got), want)
	}
	commit := commitAll(t, dir, "add")
	git(t, dir, "rm", "-rq", named)
	commitAll(t, dir, "rm")
	got := scan(t, Options{Dir: dir, GitHistory: true})
	want = []Finding{{Path: masked, Line: 0, Commit: commit, Name: "DB_PASSWORD", Form: "plain in the path"}}
	if !slices.Equal(got, want) {
		t.Errorf("--git-history: got findings %+v, want %+v", redact(got), want)
	}
}

// TestScanValueInHistoryDirectoryNames: a file under a directory named
// with a value is a find of --git-history, as it is of the working tree's
// scan and of --staged: only file names were read from the history's
// trees. Also when the same directory's tree was read first under a
// clean name (a copy of it committed before), and for a directory below
// the named one.
func TestScanValueInHistoryDirectoryNames(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "clean/sub/f.txt", "hi\n")
	commitAll(t, dir, "clean")
	write(t, dir, "dir-"+value+"/sub/f.txt", "hi\n")
	stagedThenInHistory(t, dir, "dir-"+value, "dir-<ward:DB_PASSWORD>/sub/f.txt")
}

// TestScanHistoryPathsNameTheirOwnValue: the same content (a .gitkeep)
// under folders named with two values, and the same file under a name
// with a value and one in base64: each path is reported for what its own
// name holds. The finds were the content's, and each path was reported
// for both values, both forms.
func TestScanHistoryPathsNameTheirOwnValue(t *testing.T) {
	const other = "tk-9Zp4wQ2mNa"
	two := []Secret{{Name: "DB_PASSWORD", Value: []byte(value)}, {Name: "API_TOKEN", Value: []byte(other)}}
	dir := newRepo(t)
	b64 := base64.StdEncoding.EncodeToString([]byte(value))
	write(t, dir, "p-"+value+"/.gitkeep", "")
	write(t, dir, "q-"+other+"/.gitkeep", "")
	write(t, dir, "r-"+b64+"/.gitkeep", "")
	commit := commitAll(t, dir, "add")
	got, err := Scan(context.Background(), two, Options{Dir: dir, GitHistory: true})
	if err != nil {
		t.Fatal(err)
	}
	checkNoValue(t, got)
	want := []Finding{
		{Path: "p-<ward:DB_PASSWORD>/.gitkeep", Commit: commit, Name: "DB_PASSWORD", Form: "plain in the path"},
		{Path: "q-<ward:API_TOKEN>/.gitkeep", Commit: commit, Name: "API_TOKEN", Form: "plain in the path"},
		{Path: "r-<ward:DB_PASSWORD>/.gitkeep", Commit: commit, Name: "DB_PASSWORD", Form: "base64 in the path"},
	}
	// The history's, not the working tree's.
	got = slices.DeleteFunc(got, func(f Finding) bool { return f.Commit == "" })
	slices.SortFunc(got, func(a, b Finding) int { return strings.Compare(a.Path, b.Path) })
	if !slices.Equal(got, want) {
		t.Errorf("got findings %+v, want %+v", got, want)
	}
}

// TestScanSubmodules searches the files of a submodule (a private
// config repository, vendored code) and of a repository nested in the
// work tree, as their own work trees: git lists them from the outside
// only as a directory. An ignored one stays unsearched, and one not
// checked out has nothing to search.
func TestScanSubmodules(t *testing.T) {
	cfg := newRepo(t)
	write(t, cfg, "prod.yml", "a: 1\ndeploy: "+value+"\n")
	write(t, cfg, "ignored.log", value+"\n")
	write(t, cfg, ".gitignore", "*.log\n")
	commitAll(t, cfg, "config")
	dir := newRepo(t)
	write(t, dir, ".gitignore", "ignored-repo/\n")
	git(t, dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", cfg, "config")
	commitAll(t, dir, "with a submodule")
	for _, nested := range []string{"nested", "ignored-repo"} {
		git(t, dir, "init", "-q", nested)
		write(t, filepath.Join(dir, nested), "n.txt", value+"\n")
	}
	want := []Finding{
		{Path: "config/prod.yml", Line: 2, Name: "DB_PASSWORD", Form: "plain"},
		{Path: "nested/n.txt", Line: 1, Name: "DB_PASSWORD", Form: "plain"},
	}
	if got := scan(t, Options{Dir: dir}); !slices.Equal(got, want) {
		t.Errorf("got findings %+v, want %+v", got, want)
	}

	clone := filepath.Join(t.TempDir(), "clone")
	git(t, dir, "clone", "-q", dir, clone)
	if got := scan(t, Options{Dir: clone}); len(got) > 0 {
		t.Errorf("a submodule not checked out: got findings %+v, want none", got)
	}
}

// TestWriteTextQuotesPaths prints a path that holds a line break, an
// escape sequence or bytes that are not UTF-8 quoted, as git does, so a
// finding stays one line and a terminal shows the name rather than obeys
// it.
func TestWriteTextQuotesPaths(t *testing.T) {
	dir := newRepo(t)
	names := []string{"new\nline.txt", "title\x1b]0;pwned\x07.txt", "latin\xe9.txt", "plain name.txt"}
	for _, n := range names {
		write(t, dir, n, value+"\n")
	}
	found := scan(t, Options{Dir: dir})
	var text bytes.Buffer
	if err := WriteText(&text, found); err != nil {
		t.Fatal(err)
	}
	want := `"latin\xe9.txt":1: DB_PASSWORD (plain)` + "\n" +
		`"new\nline.txt":1: DB_PASSWORD (plain)` + "\n" +
		`plain name.txt:1: DB_PASSWORD (plain)` + "\n" +
		`"title\x1b]0;pwned\a.txt":1: DB_PASSWORD (plain)` + "\n"
	if text.String() != want {
		t.Errorf("got text %q, want %q", text.String(), want)
	}
}

// TestScanSymbolicLinksAsCommitted: git commits a symbolic link as the
// text of where it leads, so a link to /opt/VALUE puts the value in the
// commit, and a link in a directory named after it puts it in a name. The
// working tree's scan and --staged passed both, which --git-history found
// once committed; a link's target is not followed (a link out of the
// repository holds no more than its text in the commit).
func TestScanSymbolicLinksAsCommitted(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "outside/secret.txt", "hi\n")
	for link, to := range map[string]string{"link": "/opt/" + value, "dir-" + value + "/l": "/etc/hosts", "clean": "outside/secret.txt"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(link)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(to, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "add", "-A")
	want := []Finding{
		{Path: "dir-<ward:DB_PASSWORD>/l", Line: 0, Name: "DB_PASSWORD", Form: "plain in the path"},
		{Path: "link", Line: 1, Name: "DB_PASSWORD", Form: "plain"},
	}
	for _, opts := range []Options{{Dir: dir}, {Dir: dir, Staged: true}, {Dir: dir, NoIgnore: true}} {
		if got := scan(t, opts); !slices.Equal(got, want) {
			t.Errorf("%+v: got findings %+v, want %+v", opts, redact(got), want)
		}
	}
}
