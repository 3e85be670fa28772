package supervise

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/launcher/mask"
)

// writeLog records each write apart.
type writeLog struct{ writes [][]byte }

func (w *writeLog) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

// TestRegistrationsAreAtomic: a write to a pipe of more than PIPE_BUF
// bytes can be split by the child's (or another's) writes to the same
// pipe, and
// the runner then reads a broken ::add-mask:: line (and the child's line
// broken by it). A value whose registration is longer (a Google service
// account key's JSON: its percent-encoded form is over 4 KiB) is
// registered in pieces, each a write of at most PIPE_BUF bytes that the
// runner masks on its own; together they cover the whole form, none is
// short, and no piece ends inside a %XX escape or a UTF-8 character.
func TestRegistrationsAreAtomic(t *testing.T) {
	value := []byte(`{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\n` +
		strings.Repeat("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC€%é\n", 120) + `-----END PRIVATE KEY-----\n"}`)
	var full bytes.Buffer
	if _, err := mask.WriteAddMask(&full, []mask.Secret{{Name: "SA_KEY", Value: value}}); err != nil {
		t.Fatal(err)
	}
	var w writeLog
	if _, err := writeRegistrations(&w, []mask.Secret{{Name: "SA_KEY", Value: value}}); err != nil {
		t.Fatal(err)
	}
	const pipeBuf = 4096
	var pieces []string
	for _, b := range w.writes {
		if len(b) > pipeBuf {
			t.Errorf("a write of %d bytes, over PIPE_BUF (%d)", len(b), pipeBuf)
		}
		lines, ok := bytes.CutPrefix(b, []byte("\n"))
		if !ok || !bytes.HasSuffix(lines, []byte("\n")) {
			t.Fatalf("a write that is not whole lines after a line break: %d bytes", len(b))
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(lines, []byte("\n")), []byte("\n")) {
			data, ok := bytes.CutPrefix(line, []byte("::add-mask::"))
			if !ok {
				t.Fatalf("a line that is no ::add-mask:: line: %d bytes", len(line))
			}
			pieces = append(pieces, string(data))
		}
	}
	// Each line WriteAddMask would write is covered, in order, by pieces.
	var want []string
	for _, l := range strings.Split(strings.TrimSuffix(full.String(), "\n"), "\n") {
		want = append(want, strings.TrimPrefix(l, "::add-mask::"))
	}
	i := 0
	for _, data := range want {
		var got strings.Builder
		for got.Len() < len(data) && i < len(pieces) {
			p := pieces[i]
			i++
			if len(data) > pipeBuf && len(p) < 1024 {
				t.Errorf("a piece of %d bytes: a short piece would be masked all over the log", len(p))
			}
			if j := strings.LastIndexByte(p, '%'); j >= 0 && j > len(p)-3 {
				t.Errorf("a piece ends inside a %%XX escape: %q", p[j:])
			}
			if r := []rune(p); len(r) > 0 && r[len(r)-1] == '\uFFFD' {
				t.Errorf("a piece ends inside a UTF-8 character")
			}
			got.WriteString(p)
		}
		if got.String() != data {
			t.Fatalf("the pieces do not make up a registered form of %d bytes", len(data))
		}
	}
	if i != len(pieces) {
		t.Errorf("%d pieces left over", len(pieces)-i)
	}
	if len(pieces) <= len(want) {
		t.Fatalf("no form was long enough to need pieces: the test value is too short")
	}
}

// TestSignalledRotationsKeepMaskingBounded: with on_change: signal the
// child is never restarted, and each rotation used to add the values it
// replaced to what is masked for good: a long-running --mask service grew
// by one value (and its dozens of encoded forms, compiled again at each
// rotation) per rotation, without bound. The values the child started
// with and the latest earlier ones stay masked; older ones are dropped.
func TestSignalledRotationsKeepMaskingBounded(t *testing.T) {
	m := &masker{masking: true, registered: map[string]bool{}}
	value := func(i int) []byte { return []byte("rotated-value-" + strconv.Itoa(i)) }
	if _, err := m.setPlan([]mask.Secret{{Name: "file:tls.pem", Value: value(0)}, {Name: "STATIC", Value: []byte("static-value-1234")}}); err != nil {
		t.Fatal(err)
	}
	const rotations = 300
	for i := 1; i <= rotations; i++ {
		if err := m.addPlan([]mask.Secret{{Name: "file:tls.pem", Value: value(i)}, {Name: "STATIC", Value: []byte("static-value-1234")}}); err != nil {
			t.Fatal(err)
		}
	}
	all := m.all()
	if limit := 2 + 1 + maxEarlier; len(all) > limit {
		t.Errorf("after %d signalled rotations %d values are masked, want at most %d", rotations, len(all), limit)
	}
	masked := func(v []byte) bool {
		return slices.ContainsFunc(all, func(s mask.Secret) bool { return bytes.Equal(s.Value, v) })
	}
	for _, i := range []int{0, rotations, rotations - 1, rotations - maxEarlier} {
		if !masked(value(i)) {
			t.Errorf("the value of rotation %d is no longer masked", i)
		}
	}
	if !masked([]byte("static-value-1234")) {
		t.Error("the unchanged value is no longer masked")
	}
}
