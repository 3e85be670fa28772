package mask

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"slices"
	"testing"
)

// logText returns about size bytes of log-like lines (timestamp, level,
// words, numbers) with one of the values, in one of its forms, on about one
// line in a thousand.
func logText(r *rand.Rand, size int, secrets []Secret) []byte {
	levels := []string{"DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR"}
	words := []string{"request", "served", "user", "GET", "POST", "/api/v1/items", "status=200",
		"latency_ms=12", "retrying", "connection", "established", "cache", "miss", "hit", "db", "query",
		"committed", "worker", "started", "shutdown", "token", "refresh", "session", "id", "bytes"}
	var b bytes.Buffer
	b.Grow(size + 256)
	for b.Len() < size {
		fmt.Fprintf(&b, "2024-05-%02dT%02d:%02d:%02d.%03dZ %-5s ", 1+r.Intn(28), r.Intn(24), r.Intn(60), r.Intn(60), r.Intn(1000), levels[r.Intn(len(levels))])
		for i := 0; i < 6+r.Intn(8); i++ {
			b.WriteString(words[r.Intn(len(words))])
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "req=%08x", r.Uint32())
		if r.Intn(1000) == 0 {
			forms := Forms(secrets[r.Intn(len(secrets))].Value)
			b.WriteString(" auth=")
			b.Write(forms[r.Intn(len(forms))])
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// BenchmarkWriter masks 64 MiB of log-like text for 100 values, written in
// 32 KiB pieces as Copy does. "tokens" has values of 16 to 48 bytes;
// "short" adds a 4-byte value, the worst case for the skipping search;
// "long" has values of 60 to 300 bytes with non-ASCII letters in them,
// which have wrapped base64 and ASCII-only JSON forms too. "runs" is the
// worst case for runs of overlapping values (see Patterns.cover): two
// values of zeros, each overlapping itself and the other, in text that is
// half runs of zeros.
func BenchmarkWriter(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	tokens := make([]Secret, 100)
	for i := range tokens {
		tokens[i] = Secret{Name: fmt.Sprintf("SECRET_%d", i), Value: randToken(r, 16+r.Intn(33))}
	}
	short := append([]Secret{{Name: "PIN", Value: []byte("4711")}}, tokens[1:]...)
	long := make([]Secret, 100)
	for i := range long {
		v := randToken(r, 60+r.Intn(241))
		long[i] = Secret{Name: fmt.Sprintf("LONG_%d", i), Value: slices.Concat(v[:len(v)/2], []byte("äö"), v[len(v)/2:])}
	}
	zeros := append([]Secret{{Name: "ZEROS", Value: bytes.Repeat([]byte("0"), 8)}, {Name: "MORE_ZEROS", Value: bytes.Repeat([]byte("0"), 12)}}, tokens[2:]...)
	const size = 64 << 20
	for _, bc := range []struct {
		name    string
		secrets []Secret
	}{{"tokens", tokens}, {"short", short}, {"long", long}, {"runs", zeros}} {
		text := logText(r, size, bc.secrets)
		if bc.name == "runs" {
			for off := 0; off+4096 < len(text); off += 8192 {
				copy(text[off:off+4096], bytes.Repeat([]byte("0"), 4096))
			}
		}
		b.Run(bc.name, func(b *testing.B) {
			p, _ := Compile(bc.secrets)
			b.SetBytes(int64(len(text)))
			b.ResetTimer()
			for b.Loop() {
				w := NewWriter(io.Discard, p)
				for off := 0; off < len(text); off += 32 << 10 {
					w.Write(text[off:min(off+32<<10, len(text))])
				}
				w.Close()
			}
			b.ReportMetric(float64(p.Len()), "patterns")
		})
	}
}

// BenchmarkCompile compiles the values a start with --mask compiles
// before the child runs: "tokens", 100 random values of 16 to 48 bytes;
// "repeating", 100 values of 400 to 499 zeros, whose forms each continue
// every other at every place (see continuers.aligned); "zeros", one value
// of 64 KiB of zeros.
func BenchmarkCompile(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	var tokens, repeating []Secret
	for i := range 100 {
		tokens = append(tokens, Secret{Name: fmt.Sprint("T", i), Value: randToken(r, 16+r.Intn(33))})
		repeating = append(repeating, Secret{Name: fmt.Sprint("Z", i), Value: bytes.Repeat([]byte("0"), 400+i)})
	}
	zeros := []Secret{{Name: "ZEROS", Value: bytes.Repeat([]byte("0"), 64<<10)}}
	for _, bc := range []struct {
		name    string
		secrets []Secret
	}{{"tokens", tokens}, {"repeating", repeating}, {"zeros", zeros}} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				Compile(bc.secrets)
			}
		})
	}
}
